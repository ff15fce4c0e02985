// The Plan, History and Graph pages: each reads the REST API like any other client.
"use strict";

const box = document.getElementById("page");

/** One API call: {ok, status, data}; a 401 asks for a token once and tries again. */
async function call(path, {method = "GET", headers = {}} = {}) {
  const token = sessionStorage.getItem("meshctl-token");
  const sent = token ? {...headers, Authorization: `Bearer ${token}`} : {...headers};
  let response;
  try {
    response = await fetch(path, {method, headers: sent});
  } catch (error) {
    throw new Error("The server cannot be reached. Is meshctl serve running?");
  }
  if (response.status === 401) {
    const given = prompt("This server needs a token (kept for this session only):");
    if (given) { sessionStorage.setItem("meshctl-token", given); return call(path, {method, headers}); }
  }
  const data = await response.json().catch(() => ({}));
  return {ok: response.ok, status: response.status, data};
}

function problem(answer) {
  const detail = answer.data.detail;
  return typeof detail === "string" ? detail : `the server answered ${answer.status}`;
}

async function get(path, method = "GET") {
  const answer = await call(path, {method});
  if (!answer.ok) throw new Error(problem(answer));
  return answer.data;
}

/** "1 revision", "2 revisions": no page says "1 revisions". */
function count(number, singular, plural = `${singular}s`) {
  return `${number} ${number === 1 ? singular : plural}`;
}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

const SYMBOL = {create: "+", update: "~", delete: "-"};

async function plan() {
  const data = await get("/registries/plan");
  if (data.configured === false) {  // a server without manifests: say what the page needs
    box.replaceChildren(
      el("p", {class: "intro", id: "plan-not-configured",
               text: "This server has no manifests to compare the live registries with, so " +
                     "there is no plan to show."}),
      el("p", {text: "Start it with the folder of your manifests, and this page shows what " +
                     "applying them would change and which resources have drifted:"}),
      el("pre", {class: "plan", text: "meshctl serve --manifests manifests/\n" +
                                      "meshctl serve --manifests manifests/ --watch   " +
                                      "# and keep live in step with them"}),
      el("p", {class: "help", text: "Every change made here is in History, where any " +
                                    "revision can be reverted or restored."}));
    return;
  }
  const lines = [];
  for (const change of data.plan.changes) {
    if (change.action === "noop") continue;
    const key = `${change.kind}/${change.name}`;
    lines.push(change.refused ? `  ! ${key}  ${change.refused}` : `  ${SYMBOL[change.action]} ${key}`);
    for (const field of change.fields || []) {
      lines.push(`      ${field.path}: ${JSON.stringify(field.old)} -> ${JSON.stringify(field.new)}`);
    }
  }
  const s = data.plan.summary;
  lines.push(`Plan: ${s.create} to create, ${s.update} to update, ${s.delete} to delete, ` +
             `${s.refused} refused.`);
  const badges = el("ul", {class: "badges"});
  for (const resource of data.resources.filter(r => r.status !== "in_sync")) {
    badges.append(el("li", {text: `${resource.kind}/${resource.name}: ${resource.status}`}));
  }
  box.replaceChildren(el("pre", {class: "plan", text: lines.join("\n")}), badges);
}

// -- history --------------------------------------------------------------------------------

const RELATIVE = new Intl.RelativeTimeFormat(undefined, {numeric: "auto"});
const UNITS = [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400],
               ["hour", 3600], ["minute", 60], ["second", 1]];

function ago(at) {
  const seconds = (at.getTime() - Date.now()) / 1000;
  if (Math.abs(seconds) < 45) return "just now";
  const [unit, size] = UNITS.find(([, size]) => Math.abs(seconds) >= size);
  return RELATIVE.format(Math.round(seconds / size), unit);
}

/** "3 minutes ago", with the exact time (UTC and local) on hover. */
function when(iso) {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return el("span", {text: iso});
  return el("time", {datetime: iso, title: `${iso} (${at.toLocaleString()})`, text: ago(at)});
}

// Relative times move on while the page is open.
setInterval(() => {
  for (const shown of document.querySelectorAll("time[datetime]")) {
    shown.textContent = ago(new Date(shown.getAttribute("datetime")));
  }
}, 30000);

/** What a restore or a revert undid, from its record ("restore to r3", "revert of r5"). */
function undoLabel(revision) {
  const undo = revision.undo;
  if (undo && undo.action === "restore") return `restore to r${undo.revision}`;
  if (undo && undo.action === "revert") return `revert of r${undo.revision}`;
  const older = /^rollback to revision (\d+)$/.exec(revision.note || "");  // before labels
  return older ? `restore to r${older[1]}` : null;
}

const ACTION_TEXT = {create: "created", update: "updated", delete: "deleted"};

/** One resource's change as a coloured, labelled diff: before in red, after in green, the
 * changed fields named, long lines wrapped. `change`: {kind, name, action, diff, fields}. */
function diffView(change, verb = ACTION_TEXT, legend = ["before", "after"]) {
  const lines = el("pre", {class: "diff-lines"});
  for (const line of (change.diff || "").split("\n")) {
    if (!line || line.startsWith("--- before/") || line.startsWith("+++ after/")) continue;
    const kind = line.startsWith("@@") ? "hunk" : line[0] === "-" ? "del"
      : line[0] === "+" ? "add" : "ctx";
    const shown = kind === "hunk" ? "⋯" : line;
    lines.append(el("span", {class: `line ${kind}`, text: shown}), "\n");
  }
  const label = `${change.kind} ${change.name}`;
  const parts = [
    el("h3", {}, el("span", {class: `action ${change.action}`,
                             text: verb[change.action] || change.action}), " ",
       `${change.kind} `, el("code", {text: change.name}))];
  if (change.fields && change.fields.length && change.action === "update") {
    parts.push(el("p", {class: "fields"}, "Fields: ",
      ...change.fields.flatMap((name, i) => [i ? ", " : "", el("code", {text: name})])));
  }
  if (change.refused) parts.push(el("p", {class: "problem", text: `Refused: ${change.refused}`}));
  parts.push(el("p", {class: "legend", "aria-hidden": "true"},
                el("span", {class: "line del", text: `− ${legend[0]}`}), " ",
                el("span", {class: "line add", text: `+ ${legend[1]}`})), lines);
  return el("section", {class: "diff", "aria-label": `${label}: before and after`}, ...parts);
}

const WILL = {create: "create", update: "update", delete: "delete"};

/** The plan of a restore or a revert in a dialog, then its commit: exactly that plan (its
 * token in If-Match; a change in between is a 412, and the new plan is offered). */
async function undoDialog(action, number, done) {
  const dialog = document.getElementById("undo-dialog") || document.body.appendChild(
    el("dialog", {id: "undo-dialog", "aria-labelledby": "undo-title"}));
  const title = action === "restore"
    ? (number === 0 ? "Restore to revision 0 (before the first change)" : `Restore to revision ${number}`)
    : `Revert revision ${number}`;
  const intro = action === "restore"
    ? (number === 0 ? "The registries as they were before the first recorded change: every revision's changes undone."
                    : `The registries as they were right after revision ${number}: every later revision's changes undone.`)
    : `Only what revision ${number} changed is undone (each resource back to its entry before it); later revisions stay.`;
  const message = el("p", {class: "problem", role: "alert"});
  const body = el("div", {class: "plan-body"}, el("p", {text: "Planning…"}));
  const cancel = el("button", {type: "button", text: "Cancel", onclick: () => dialog.close()});
  const confirm = el("button", {type: "button", class: "save", text: title, disabled: ""});
  dialog.replaceChildren(el("h2", {id: "undo-title", text: title}),
                         el("p", {class: "intro", text: intro}), body, message,
                         el("div", {class: "buttons"}, cancel, confirm));
  if (!dialog.open) dialog.showModal();

  async function planned() {
    confirm.disabled = true;
    message.textContent = "";
    body.replaceChildren(el("p", {text: "Planning…"}));
    const answer = await call(`/registries/${action}/${number}/plan`);
    const plan = answer.data;
    if (!answer.ok || !plan.plan) {  // no plan: a later revision conflicts, or a rule breaks
      body.replaceChildren(el("p", {class: "refusal",
                                    text: answer.ok ? plan.detail : problem(answer)}));
      cancel.textContent = "Close";
      return;
    }
    const s = plan.plan.summary;
    if (!plan.changes.length) {
      body.replaceChildren(el("p", {class: "nothing", text: action === "restore"
        ? `Nothing to change: the registries are as they were right after revision ${number}.`
        : `Nothing to change: what revision ${number} changed is already undone.`}));
      cancel.textContent = "Close";
      return;
    }
    body.replaceChildren(
      el("p", {class: "summary", text: `Plan: ${s.create} to create, ${s.update} to update, ` +
                                       `${s.delete} to delete` +
                                       (s.refused ? `, ${s.refused} refused.` : ".")}),
      ...plan.changes.map(change => diffView(
        change, WILL, ["before: now", `after: ${action === "restore" ? "restored" : "reverted"}`])));
    cancel.textContent = "Cancel";
    if (!plan.committable) {
      message.textContent = "The plan holds refusals (above): nothing can be committed.";
      return;
    }
    confirm.disabled = false;
    confirm.onclick = async () => {
      confirm.disabled = true;
      const result = await call(`/registries/${action}/${number}`,
                                {method: "POST", headers: {"If-Match": `"${plan.token}"`}});
      if (result.status === 412) {
        message.textContent = "The registries changed since this plan was shown; nothing " +
                              "was written. Look at the new plan:";
        const again = el("button", {type: "button", text: "Show the new plan",
                                    onclick: () => { again.remove(); planned(); }});
        message.append(" ", again);
        return;
      }
      if (!result.ok) { message.textContent = problem(result); return; }
      dialog.close();
      done(result.data.revision === null ? "Nothing to change."
        : `Revision ${result.data.revision}: ${action === "restore" ? `restored to r${number}`
                                                                    : `reverted r${number}`}.`);
    };
  }
  await planned();
}

async function showRevision(number, detail) {
  const one = await get(`/registries/history/${number}`);
  const label = undoLabel(one);
  detail.replaceChildren(
    el("h2", {text: `Revision ${number}` + (label ? ` (${label})` : "")}),
    el("p", {class: "meta"}, when(one.time), ` by ${one.user}@${one.host} (${one.source})`),
    ...one.changes.map(change => diffView(
      change, ACTION_TEXT, [`before r${number}`, `after r${number}`])));
}

async function history(notice) {
  const data = await get("/registries/history");
  const status = document.getElementById("status");
  const table = el("table", {"aria-label": "revisions", class: "revisions"},
    el("thead", {}, el("tr", {}, ...["Revision", "When", "Who", "Source", "Resources", ""]
      .map(text => el("th", {text})))));
  const body = el("tbody");
  // The revision's changes being read stay shown when the list is redrawn.
  const detail = document.getElementById("revision-diff") ||
    el("section", {id: "revision-diff", "aria-live": "polite"});
  const refresh = text => history().then(() => {
    if (text) { status.textContent = text; status.className = "ok"; }
  });
  const revisions = data.revisions.slice().reverse();
  const newest = revisions.length ? revisions[0].revision : null;
  for (const revision of revisions) {
    const number = revision.revision;
    const label = undoLabel(revision);
    body.append(el("tr", {"data-revision": number},
      el("td", {class: "number", text: number}), el("td", {}, when(revision.time)),
      el("td", {text: `${revision.user}@${revision.host}`}),
      el("td", {}, revision.source,
         ...(label ? [" ", el("span", {class: "badge undo", text: label})] : [])),
      el("td", {class: "resources", text: revision.resources.join(", ")}),
      el("td", {class: "actions"},
         el("button", {type: "button", text: "Changes",
                       "aria-label": `Changes of revision ${number}`,
                       onclick: () => showRevision(number, detail).catch(error => {
                         detail.replaceChildren(el("p", {class: "error", text: error.message}));
                       })}),
         el("button", {type: "button", text: "Revert this revision", class: "danger",
                       "aria-label": `Revert revision ${number}`,
                       onclick: () => undoDialog("revert", number, refresh)}),
         ...(number === newest ? [] : [
           el("button", {type: "button", text: "Restore to here", class: "danger",
                         "aria-label": `Restore to revision ${number}`,
                         onclick: () => undoDialog("restore", number, refresh)})]))));
  }
  if (data.revisions.length && data.revisions[0].revision === 1) {
    // Revision 0: the state before the first recorded change (revision 1's befores).
    body.append(el("tr", {"data-revision": 0, class: "origin"},
      el("td", {class: "number", text: "0"}), el("td", {text: "before r1"}),
      el("td", {text: "—"}), el("td", {text: "the state before the first recorded change"}),
      el("td", {class: "resources", text: ""}),
      el("td", {class: "actions"},
         el("button", {type: "button", text: "Restore to here", class: "danger",
                       "aria-label": "Restore to revision 0",
                       onclick: () => undoDialog("restore", 0, refresh)}))));
  }
  table.append(body);
  box.replaceChildren(
    el("p", {text: count(data.total_count, "revision")}),
    el("p", {class: "help", text: "“Revert this revision” undoes only that revision's " +
      "changes; “Restore to here” returns the registries to the state right after it. Both " +
      "show their plan first, and are recorded as new revisions."}),
    el("div", {class: "scroll"}, table), detail);
  if (notice) { status.textContent = notice; status.className = "ok"; }
}

const COLUMNS = ["model-profile", "tool", "agent", "workflow", "governance-policy"];

async function graph() {
  const data = await get("/registries/graph");
  const ns = "http://www.w3.org/2000/svg";
  const byColumn = COLUMNS.map(prefix => data.nodes.filter(n => n.id.startsWith(prefix + "/")));
  const height = Math.max(...byColumn.map(c => c.length), 1) * 22 + 40;
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 1000 ${height}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "dependency graph");
  const at = {};
  byColumn.forEach((nodes, column) => nodes.forEach((node, row) => {
    at[node.id] = {x: 20 + column * 200, y: 30 + row * 22};
  }));
  const lines = [];
  for (const edge of data.edges) {
    const from = at[edge.from], to = at[edge.to];
    if (!from || !to) continue;
    const line = document.createElementNS(ns, "line");
    Object.entries({x1: from.x, y1: from.y, x2: to.x + 150, y2: to.y}).forEach(([k, v]) =>
      line.setAttribute(k, v));
    line.dataset.from = edge.from;
    line.dataset.to = edge.to;
    svg.append(line);
    lines.push(line);
  }
  const picked = el("p", {id: "dependents", "aria-live": "polite"});
  for (const node of data.nodes) {
    const place = at[node.id];
    if (!place) continue;
    const text = document.createElementNS(ns, "text");
    text.setAttribute("x", place.x);
    text.setAttribute("y", place.y + 4);
    text.setAttribute("tabindex", "0");
    text.dataset.id = node.id;
    text.textContent = node.name;
    const pick = () => {
      const dependents = new Set([node.id]);
      let grew = true;
      while (grew) {
        grew = false;
        for (const edge of data.edges) {
          if (dependents.has(edge.to) && !dependents.has(edge.from)) {
            dependents.add(edge.from); grew = true;
          }
        }
      }
      dependents.delete(node.id);
      for (const line of lines) line.classList.toggle("lit", dependents.has(line.dataset.from) &&
        (dependents.has(line.dataset.to) || line.dataset.to === node.id));
      picked.textContent = `${node.id}: ${count(dependents.size, "dependent")}` +
        (dependents.size ? ` (${[...dependents].join(", ")})` : "");
    };
    text.addEventListener("click", pick);
    text.addEventListener("keydown", event => { if (event.key === "Enter") pick(); });
    svg.append(text);
  }
  box.replaceChildren(el("p", {text: "Click a resource to see what depends on it."}), svg, picked);
}

// The History page follows the API's event stream (read with fetch, which can send a
// token): a revision made anywhere appears at once. With the plan dialog open, the list is
// redrawn when it closes (a confirm of a plan gone stale is refused with 412 meanwhile).
let missed = false;
function revisionMade() {
  const dialog = document.getElementById("undo-dialog");
  if (dialog && dialog.open) {
    if (!missed) dialog.addEventListener("close", () => { missed = false; history(); }, {once: true});
    missed = true;
    return;
  }
  history().catch(() => {});
}

async function follow(last) {
  const token = sessionStorage.getItem("meshctl-token");
  const headers = {Accept: "text/event-stream", "Last-Event-ID": String(last)};
  if (token) headers.Authorization = `Bearer ${token}`;
  try {
    const response = await fetch("/registries/events", {headers});
    if (!response.ok) throw new Error(String(response.status));
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const id = /^id: (\d+)$/m.exec(event);
        if (id) { last = Number(id[1]); revisionMade(); }
      }
    }
  } catch (error) { /* the server went away: try again below */ }
  setTimeout(() => follow(last), 1000);
}

if (box.dataset.page === "history") {
  fetch("/health").then(response => response.json()).then(health => follow(health.revision),
                                                            () => {});
}

const pages = {plan, history, graph};
function show() {
  pages[box.dataset.page]().catch(error => box.replaceChildren(el("p", {class: "error",
                                                                       text: error.message})));
}
show();
// A sync by the watch controller changes what the plan and the history show.
document.addEventListener("meshctl:synced", () => { if (box.dataset.page !== "graph") show(); });
