// The Plan, History and Graph pages: each reads the REST API like any other client.
"use strict";

const box = document.getElementById("page");

async function get(path, method = "GET") {
  const token = sessionStorage.getItem("meshctl-token");
  const headers = token ? {Authorization: `Bearer ${token}`} : {};
  let response;
  try {
    response = await fetch(path, {method, headers});
  } catch (error) {
    throw new Error("The server cannot be reached. Is meshctl serve running?");
  }
  if (response.status === 401) {
    const given = prompt("This server needs a token (kept for this session only):");
    if (given) { sessionStorage.setItem("meshctl-token", given); return get(path, method); }
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(typeof data.detail === "string" ? data.detail : response.statusText);
  return data;
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

async function history() {
  const data = await get("/registries/history");
  const table = el("table", {"aria-label": "revisions"},
    el("thead", {}, el("tr", {}, ...["Revision", "When", "Who", "Source", "Resources", ""]
      .map(text => el("th", {text})))));
  const body = el("tbody");
  const detail = el("pre", {class: "plan", id: "revision-diff"});
  for (const revision of data.revisions.slice().reverse()) {
    body.append(el("tr", {"data-revision": revision.revision},
      el("td", {text: revision.revision}), el("td", {text: revision.time}),
      el("td", {text: `${revision.user}@${revision.host}`}), el("td", {text: revision.source}),
      el("td", {text: revision.resources.join(", ")}),
      el("td", {},
         el("button", {text: "Diff", "aria-label": `Diff of revision ${revision.revision}`,
                       onclick: async () => {
                         const one = await get(`/registries/history/${revision.revision}`);
                         detail.textContent = one.diff;
                       }}),
         el("button", {text: "Rollback", class: "danger",
                       "aria-label": `Roll back to revision ${revision.revision}`,
                       onclick: async () => {
                         if (!confirm(`Return the registries to the state right after ` +
                                      `revision ${revision.revision}?`)) return;
                         try {
                           await get(`/registries/rollback/${revision.revision}`, "POST");
                           await history();
                         } catch (error) { detail.textContent = error.message; }
                       }}))));
  }
  table.append(body);
  box.replaceChildren(el("p", {text: count(data.total_count, "revision")}), table, detail);
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

const pages = {plan, history, graph};
function show() {
  pages[box.dataset.page]().catch(error => box.replaceChildren(el("p", {class: "error",
                                                                       text: error.message})));
}
show();
// A sync by the watch controller changes what the plan and the history show.
document.addEventListener("meshctl:synced", () => { if (box.dataset.page !== "graph") show(); });
