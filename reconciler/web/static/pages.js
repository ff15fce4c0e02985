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
const {diffView, planDialog} = window.meshPlans;  // (plans.js, shared with the panel)

/** The plan of a restore or a revert in a dialog, then its commit: exactly that plan (its
 * token in If-Match; a change in between is a 412, and the new plan is offered). */
function undoDialog(action, number, done) {
  const title = action === "restore"
    ? (number === 0 ? "Restore to revision 0 (before the first change)" : `Restore to revision ${number}`)
    : `Revert revision ${number}`;
  const intro = action === "restore"
    ? (number === 0 ? "The registries as they were before the first recorded change: every revision's changes undone."
                    : `The registries as they were right after revision ${number}: every later revision's changes undone.`)
    : `Only what revision ${number} changed is undone (each resource back to its entry before it); later revisions stay.`;
  return planDialog({
    id: "undo-dialog", title, intro, confirm: title, again: "Show the new plan",
    legend: ["before: now", `after: ${action === "restore" ? "restored" : "reverted"}`],
    nothing: action === "restore"
      ? `Nothing to change: the registries are as they were right after revision ${number}.`
      : `Nothing to change: what revision ${number} changed is already undone.`,
    plan: () => call(`/registries/${action}/${number}/plan`).then(withError),
    commit: token => call(`/registries/${action}/${number}`,
                          {method: "POST", headers: {"If-Match": `"${token}"`}}).then(withError),
    done: data => done(data.revision === null ? "Nothing to change."
      : `Revision ${data.revision}: ${action === "restore" ? `restored to r${number}`
                                                           : `reverted r${number}`}.`),
  });
}

/** call()'s answer with the error the plan dialog shows. */
function withError(answer) {
  return {...answer, error: answer.ok ? null : new Error(problem(answer))};
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
    el("thead", {}, el("tr", {}, ...["Revision", "When", "Who", "Source", "Resources", "Actions"]
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
      el("td", {class: "resources"}, ...revision.resources.flatMap(
        (resource, index) => [...(index ? [", "] : []), ...wordWrapped(resource)])),
      el("td", {class: "actions"},
         el("button", {type: "button", text: "Changes",
                       "aria-label": `Changes of revision ${number}`,
                       onclick: () => showRevision(number, detail).catch(error => {
                         detail.replaceChildren(el("p", {class: "error", text: error.message}));
                       })}),
         el("button", {type: "button", text: "Revert this revision", class: "danger",
                       "aria-label": `Revert this revision (r${number})`,
                       onclick: () => undoDialog("revert", number, refresh)}),
         ...(number === newest ? [] : [
           el("button", {type: "button", text: "Restore to here", class: "danger",
                         "aria-label": `Restore to here (r${number})`,
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
                       "aria-label": "Restore to here (r0)",
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

// The Graph page: a search box first, then one resource's neighbourhood drawn by
// Cytoscape.js with the layered (dagre) layout, and a list of the same resources as buttons
// (the canvas is a picture; the list is how a keyboard or a screen reader moves through
// it). The server walks the references (/registries/graph/neighbourhood): the browser never
// holds the whole mesh. A workflow picked also shows its steps and transitions.
const GRAPH = {cy: null, flow: null, focus: null, asked: 0};
window.meshctlGraph = GRAPH;  // the tests read the drawing (node counts) through it

const FLOW_TYPES = ["workflow", "integration-workflow"];

function typeOf(id) { return id.slice(0, id.indexOf("/")); }
function nameOf(id) { return id.slice(id.indexOf("/") + 1); }
function kindLabel(id) { return typeOf(id).replace(/-/g, " "); }

/** "allowed_tools[1]" → "allowed_tools"; "steps[0].agent_id" → "steps[].agent_id". */
function fieldLabel(path) { return path.replace(/\[\d+\]/g, "[]").replace(/\[\]$/, ""); }

function edgeLabel(fields) {
  const names = [...new Set(fields)];
  return names.length <= 2 ? names.join(", ") : `${names.slice(0, 2).join(", ")} +${names.length - 2}`;
}

// Cytoscape's style, node sizes, layout and fitting: shared with the panel's Workflows
// tab (diagrams.js).
const {graphStyle, sized, fitHeight, layout, drawWorkflow} = window.meshDiagrams;

/** The controls' choices as query parameters. */
function choices() {
  const hops = document.getElementById("graph-hops").value;
  const transitive = document.getElementById("graph-transitive").checked;
  const boxes = [...document.querySelectorAll("#graph-kinds input[name=kind]")];
  const kinds = boxes.filter(box => box.checked).map(box => box.value);
  const query = new URLSearchParams({hops, transitive: String(transitive)});
  if (kinds.length < boxes.length) query.set("kinds", kinds.join(","));
  return query;
}

/** Draw `id`'s neighbourhood (and its steps, for a workflow), and list it. */
async function showFocus(id) {
  const asked = ++GRAPH.asked;
  const query = choices();
  query.set("kind", typeOf(id));
  query.set("name", nameOf(id));
  const answer = await call(`/registries/graph/neighbourhood?${query}`);
  if (asked !== GRAPH.asked) return;  // a later choice is on its way
  if (!answer.ok) {
    box.replaceChildren(el("p", {class: "error", role: "alert", text: problem(answer)}));
    return;
  }
  const data = answer.data;
  GRAPH.focus = id;
  document.getElementById("graph-search").value = id;
  const byId = Object.fromEntries(data.nodes.map(node => [node.id, node]));
  const c = data.counts;
  const summary = el("p", {id: "graph-summary"},
    el("strong", {text: `${kindLabel(id)} ${nameOf(id)}`}), ": ",
    `${count(c.dependencies, "direct dependency", "direct dependencies")}, ` +
    `${count(c.dependents, "direct dependent")}` +
    (data.transitive || c.transitive_dependents
      ? `, ${count(c.transitive_dependents, "transitive dependent")}` : "") +
    (data.truncated ? ` — the nearest ${data.nodes.length - 1} shown, ${data.omitted} more ` +
                      "(choose fewer hops or kinds)" : "") + ".");
  const canvas = el("div", {id: "graph-canvas", role: "img",
    "aria-label": `Dependency graph of ${id}: ${count(data.nodes.length, "resource")}; ` +
                  "the list below holds the same resources."});
  const legend = el("p", {class: "graph-legend", "aria-hidden": "true"},
    el("span", {class: "key direct", text: "→ direct reference"}),
    el("span", {class: "key dependent", text: "→ refers to it"}),
    el("span", {class: "key transitive", text: "⇢ through others (transitive)"}),
    el("span", {class: "key", text: "Arrows point at what is named; labels name the field."}));
  const list = nodeList(data, byId);
  const parts = [summary, canvas, legend, list];
  const flow = FLOW_TYPES.includes(typeOf(id))
    ? el("section", {id: "workflow-diagram", "aria-labelledby": "workflow-title"}) : null;
  if (flow) parts.push(flow);
  box.replaceChildren(...parts);
  delete box.dataset.drawn;
  draw(canvas, data, byId);
  if (flow) await workflowDiagram(flow, id);
  if (asked === GRAPH.asked) box.dataset.drawn = id;
}

function draw(canvas, data, byId) {
  const merged = new Map();  // one line per pair, naming every field that refers
  for (const edge of data.edges) {
    const pair = `${edge.from}→${edge.to}`;
    const seen = merged.get(pair) || {edge, fields: [], reach: edge.reach};
    seen.fields.push(fieldLabel(edge.field) + (edge.names ? ` → ${edge.names}` : ""));
    merged.set(pair, seen);
  }
  const elements = data.nodes.map(node => ({group: "nodes", data: sized({
    id: node.id, type: node.type, label: `${node.name}\n${node.label}${node.missing ? " (missing)" : ""}`}),
    classes: [node.role === "focus" ? "focus" : "", node.direct ? "" : "transitive",
              node.missing ? "missing" : ""].join(" ").trim()}));
  let index = 0;
  for (const {edge, fields, reach} of merged.values()) {
    const towards = edge.to === data.focus || byId[edge.from]?.role === "dependent";
    elements.push({group: "edges", data: {id: `e${index++}`, source: edge.from,
                                          target: edge.to, label: edgeLabel(fields)},
                   classes: `${reach}${towards ? " dependent" : ""}`});
  }
  if (GRAPH.cy) GRAPH.cy.destroy();
  GRAPH.cy = cytoscape({container: canvas, elements, style: graphStyle(),
                        layout: layout(canvas, "LR", elements), minZoom: 0.15, maxZoom: 3,
                        boxSelectionEnabled: false, autoungrabify: true});
  fitHeight(GRAPH.cy, canvas, Math.min(window.innerHeight * 0.7, 640));
  GRAPH.cy.on("tap", "node", event => { location.hash = event.target.id(); });
}

/** The shown resources as buttons, grouped as the picture shows them. */
function nodeList(data, byId) {
  const via = {};  // how each direct neighbour is tied to the focus: the fields
  for (const edge of data.edges) {
    const other = edge.from === data.focus ? edge.to : edge.to === data.focus ? edge.from : null;
    if (other) (via[other] = via[other] || []).push(fieldLabel(edge.field));
  }
  const groups = [
    ["Depends on (direct)", node => node.role !== "dependent" && node.role !== "focus" && node.direct],
    ["Depends on (through others)", node => node.role === "dependency" && !node.direct],
    ["Direct dependents", node => (node.role === "dependent" || node.role === "both") && node.direct],
    ["Transitive dependents", node => node.role === "dependent" && !node.direct],
  ];
  const section = el("section", {id: "graph-nodes", "aria-labelledby": "graph-nodes-title"},
    el("h2", {id: "graph-nodes-title", text: "Shown resources"}));
  for (const [title, wanted] of groups) {
    const nodes = data.nodes.filter(wanted);
    if (!nodes.length) continue;
    const slug = title.toLowerCase().replace(/[^a-z]+/g, "-").replace(/-$/, "");
    section.append(el("h3", {id: `graph-${slug}`, text: `${title} (${nodes.length})`}),
      el("ul", {class: `graph-list ${slug}`, "aria-labelledby": `graph-${slug}`},
        ...nodes.map(node => el("li", {"data-id": node.id},
          el("button", {type: "button", class: "linkish", "data-id": node.id,
                        "aria-label": `Show the neighbourhood of ${node.label} ${node.name}`,
                        onclick: () => { location.hash = node.id; }},
             el("span", {class: "kind", text: node.label}), " ", node.name),
          node.missing ? el("span", {class: "problem", text: " missing"}) : "",
          via[node.id] ? el("span", {class: "via", text: ` via ${[...new Set(via[node.id])].join(", ")}`})
                       : node.distance > 1 ? el("span", {class: "via", text: ` ${node.distance} hops away`}) : ""))));
  }
  if (section.children.length === 1) {
    section.append(el("p", {text: "Nothing refers to it and it refers to nothing" +
                                  " (of the kinds shown)."}));
  }
  return section;
}

/** A workflow's steps and transitions, drawn top to bottom, with the same as a list
 * (diagrams.js: the panel's Workflows tab draws the same); each step's agent a button to
 * its neighbourhood. */
async function workflowDiagram(section, id) {
  const query = new URLSearchParams({kind: typeOf(id), name: nameOf(id)});
  const data = await get(`/registries/graph/workflow?${query}`);
  if (GRAPH.flow) GRAPH.flow.destroy();
  GRAPH.flow = drawWorkflow(section, data, {id, agent: name => el("button", {
    type: "button", class: "linkish", "aria-label": `Show the neighbourhood of agent ${name}`,
    onclick: () => { location.hash = `agent/${name}`; }}, `agent ${name}`)});
}

/** The search box: a type-ahead over every resource's id, served by the API. */
function searchBox() {
  const input = document.getElementById("graph-search");
  const listbox = document.getElementById("graph-suggestions");
  let options = [], active = -1, timer = null, asked = 0;
  const close = () => {
    listbox.hidden = true; input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant"); active = -1;
    options = []; listbox.replaceChildren();
    clearTimeout(timer); asked++;  // an answer still on its way opens nothing
  };
  const mark = index => {
    active = index;
    options.forEach((option, i) => option.setAttribute("aria-selected", String(i === index)));
    if (index >= 0) {
      input.setAttribute("aria-activedescendant", options[index].id);
      options[index].scrollIntoView({block: "nearest"});
    }
  };
  const pick = option => { close(); location.hash = option.dataset.id; };
  async function suggest() {
    const text = input.value.trim();
    if (!text) { close(); return; }
    const mine = ++asked;
    const data = await get(`/registries/graph/search?${new URLSearchParams({q: text, limit: 20})}`);
    if (mine !== asked) return;
    options = data.matches.map((match, index) => el("li", {
      role: "option", id: `graph-option-${index}`, "data-id": match.id, "aria-selected": "false",
      onmousedown: event => { event.preventDefault(); pick(event.currentTarget); }},
      el("span", {class: "kind", text: match.label}), " ", match.name));
    if (!options.length) {
      listbox.replaceChildren(el("li", {class: "none", text: `No resource matches “${text}”.`}));
    } else {
      listbox.replaceChildren(...options);
      if (data.total > options.length) {
        listbox.append(el("li", {class: "none", text: `${data.total - options.length} more: type more of the id.`}));
      }
    }
    listbox.hidden = false;
    input.setAttribute("aria-expanded", "true");
    mark(options.length ? 0 : -1);
  }
  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(suggest, 120); });
  input.addEventListener("keydown", event => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (listbox.hidden) { suggest(); return; }
      if (!options.length) return;
      const step = event.key === "ArrowDown" ? 1 : -1;
      mark((active + step + options.length) % options.length);
    } else if (event.key === "Enter") {
      event.preventDefault();
      if (!listbox.hidden && active >= 0) pick(options[active]);
      else if (input.value.includes("/")) location.hash = input.value.trim();
    } else if (event.key === "Escape") {
      close();
    }
  });
  input.addEventListener("blur", () => setTimeout(close, 150));
}

/** The kind filter: a checkbox per kind, with how many there are (all checked). */
async function kindBoxes() {
  const data = await get("/registries/graph/kinds");
  const fieldset = document.getElementById("graph-kinds");
  fieldset.append(...data.kinds.map(kind => el("label", {},
    el("input", {type: "checkbox", name: "kind", value: kind.type, checked: ""}),
    ` ${kind.label} `, el("span", {class: "kind", text: `(${kind.count})`}))));
}

async function graph() {
  if (!GRAPH.started) {
    GRAPH.started = true;
    document.getElementById("graph-controls").addEventListener("submit", event =>
      event.preventDefault());  // the choices apply as they change
    searchBox();
    await kindBoxes();
    const again = () => { if (GRAPH.focus) showFocus(GRAPH.focus); };
    document.getElementById("graph-hops").addEventListener("change", again);
    document.getElementById("graph-transitive").addEventListener("change", again);
    document.getElementById("graph-kinds").addEventListener("change", again);
    window.addEventListener("hashchange", () => graph().catch(error =>
      box.replaceChildren(el("p", {class: "error", text: error.message}))));
  }
  const wanted = decodeURIComponent(location.hash.slice(1));
  if (wanted.includes("/")) { await showFocus(wanted); return; }
  box.replaceChildren(el("p", {class: "intro", id: "graph-intro",
    text: "Search for a resource of any kind above: its neighbourhood is drawn here — what it " +
          "refers to, what refers to it (directly, or with “Transitive dependents” through " +
          "others), N hops away, of the kinds you choose."}));
  document.getElementById("graph-search").focus();
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

if (box.dataset.page === "history") followRevisions(revisionMade);  // (events.js)

const pages = {plan, history, graph};
function show() {
  pages[box.dataset.page]().catch(error => box.replaceChildren(el("p", {class: "error",
                                                                       text: error.message})));
}
show();
// A sync by the watch controller changes what the plan and the history show.
document.addEventListener("meshctl:synced", () => { if (box.dataset.page !== "graph") show(); });
