// The configuration panel: every read and write is a call to meshctl's REST API, the same
// one every other client uses. No framework, no build step.
"use strict";

const FORMS = JSON.parse(document.getElementById("forms").textContent);
// The kinds the panel lists, by its name for each: {kind, path, list, id, label}, the API's
// path and list key and the kinds table's id field and label, rendered into the page by the
// server from its own tables (no copy here). settings.js adds what it shows of its kinds.
const KINDS = JSON.parse(document.getElementById("kinds").textContent);
// The panel's name of each kind, for pickers of its ids ("Agent" -> "agents").
const PICK = Object.fromEntries(Object.entries(KINDS).map(([name, kind]) => [kind.kind, name]));
// Tabs drawn by their own function (the others are lists of KINDS); settings.js and
// governance.js add theirs.
const RENDERERS = {};
const status = document.getElementById("status");
let editing = null;  // {kind, id, version} of the open form
let sync = null;  // "Kind/name" -> in_sync, drifted, not_in_git, missing_live (with --manifests)

// -- calling the API ----------------------------------------------------------------------

async function api(method, path, body, headers = {}) {
  const token = sessionStorage.getItem("meshctl-token");
  const options = {method, headers: {...headers}};
  if (token) options.headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  document.body.classList.add("loading");
  let response;
  try {
    response = await fetch(path, options);
  } catch (error) {
    say("The server cannot be reached. Is meshctl serve running?", "error");
    throw error;
  } finally {
    document.body.classList.remove("loading");
  }
  if (response.status === 401) {
    const given = prompt("This server needs a token (kept for this session only):");
    if (given) {
      sessionStorage.setItem("meshctl-token", given);
      return api(method, path, body, headers);
    }
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = typeof data.detail === "string" ? data.detail
      : (data.detail || []).map(d => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
    throw Object.assign(new Error(detail || response.statusText), {status: response.status});
  }
  return {data, etag: response.headers.get("ETag")};
}

function say(text, kind = "ok") {
  status.textContent = text;
  status.className = kind;
}

// -- tabs -----------------------------------------------------------------------------------

const tabs = [...document.querySelectorAll("[role=tab]")];
tabs.forEach((tab, index) => {
  tab.addEventListener("click", () => show(tab.dataset.tab).catch(() => {}));
  tab.addEventListener("keydown", event => {
    const step = {ArrowRight: 1, ArrowLeft: -1}[event.key];
    if (step) {
      const next = tabs[(index + step + tabs.length) % tabs.length];
      next.focus();
      show(next.dataset.tab).catch(() => {});
    }
  });
});

function show(name) {
  for (const tab of tabs) {
    const selected = tab.dataset.tab === name;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    document.getElementById(`panel-${tab.dataset.tab}`).hidden = !selected;
  }
  if (location.hash.slice(1) !== name) location.hash = name;
  return render(name);
}

window.addEventListener("hashchange", () => {  // links, and the back and forward buttons
  const wanted = location.hash.slice(1);
  const open = tabs.find(tab => tab.getAttribute("aria-selected") === "true");
  if (tabs.some(tab => tab.dataset.tab === wanted) && open?.dataset.tab !== wanted) {
    show(wanted).catch(() => {});
  }
});

async function render(name) {
  try {
    if (RENDERERS[name]) return await RENDERERS[name]();
    return await renderList(name);
  } catch (error) {  // a network error is already said; say the server's own
    if (error.status) say(error.message, "error");
  }
}

// A refresh (after a change anywhere) must not take a keyboard user's focus away: the
// control that had it gets it back in the new content (the same label, or the same class).
function replaceKeepingFocus(box, ...children) {
  const had = box.contains(document.activeElement) ? document.activeElement : null;
  const label = had && had.getAttribute("aria-label");
  const kind = had && had.className;
  box.replaceChildren(...children);
  const again = label ? box.querySelector(`[aria-label="${CSS.escape(label)}"]`)
    : kind ? box.querySelector(`.${CSS.escape(kind.split(" ")[0])}`) : null;
  if (again) again.focus();
}

function content(name) {
  return document.querySelector(`[data-content=${name}]`);
}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

// -- lists ----------------------------------------------------------------------------------

async function syncStatus() {
  try {
    const {data} = await api("GET", "/registries/plan");
    sync = Object.fromEntries(data.resources.map(r => [`${r.kind}/${r.name}`, r.status]));
  } catch (error) {
    sync = {};  // the server knows no manifests (404), or they do not validate (400)
  }
}

const BADGE = {in_sync: "in sync", drifted: "drifted from git", not_in_git: "not in git",
               missing_live: "not live"};

const rendering = {};  // tab -> the number of its latest render
const turns = {};  // view -> its render under way (or the last one)

// Renders of a view with a form run one after another (a save's own render, and the one the
// change feed asks for, may overlap): each reads after the one before has drawn, so an older
// answer never replaces a newer one, and a form never keeps a version it did not show (its
// next save would be refused with 412).
// The view's render under way (if any) has drawn: what the view shows is what was read last.
function settled(view) {
  return (turns[view] || Promise.resolve()).catch(() => {});
}

function inTurn(view, draw) {
  const turn = (turns[view] || Promise.resolve()).catch(() => {}).then(draw);
  turns[view] = turn;
  return turn;
}

async function renderList(name) {
  const kind = KINDS[name];
  const box = kind.box ? kind.box() : content(name);  // a kind shown inside another tab
  const plural = kind.plural || kind.list;
  const turn = rendering[name] = (rendering[name] || 0) + 1;
  const {data} = await api("GET", `/registries/${kind.path}`);
  // A column of its own answer (access.js: whether each agent can run), asked for once the
  // table is drawn and filled in when it comes: the table is drawn as soon as without it.
  const column = kind.column;
  if (sync === null) await syncStatus();
  if (turn !== rendering[name] || !box) return;  // a newer render is on its way
  const filter = el("input", {type: "search", "aria-label": `Filter ${plural}`,
                              placeholder: "Filter", class: "filter"});
  const table = el("table", {"aria-label": plural});
  table.append(el("thead", {}, el("tr", {}, el("th", {text: "Id"}), el("th", {text: "Name"}),
                                  ...(kind.detail ? [el("th", {text: kind.detailLabel,
                                                               class: "detail"})] : []),
                                  ...(column ? [el("th", {text: column.label,
                                                          class: column.class})] : []),
                                  el("th", {text: "Actions"}))));
  const body = el("tbody");
  const cells = new Map();  // id -> its cell of `column`
  for (const entry of data[kind.list]) {
    const id = entry[kind.id];
    const state = sync[`${kind.kind}/${id}`];
    if (column) cells.set(id, el("td", {class: column.class, text: "…"}));
    body.append(el("tr", {"data-id": id},
      el("td", {}, id, ...(state ? [" ", el("span", {class: `badge ${state}`,
                                                    text: BADGE[state]})] : [])),
      el("td", {text: entry.name || ""}),
      ...(kind.detail ? [el("td", {class: "detail", text: kind.detail(entry)})] : []),
      ...(column ? [cells.get(id)] : []),
      el("td", {}, ...(id === "orchestrator_agent"  // updated on its own tab, never deleted
        ? [el("a", {href: "#orchestrator", text: "Edit on the Orchestrator tab"})]
        : [el("button", {text: "Edit", "aria-label": `Edit ${id}`,
                         onclick: () => openForm(name, id)}),
           el("button", {text: "Delete", class: "danger", "aria-label": `Delete ${id}`,
                         onclick: () => remove(name, id)})]))));
  }
  table.append(body);
  filter.addEventListener("input", () => {
    const text = filter.value.toLowerCase();
    for (const row of body.rows) row.hidden = !row.textContent.toLowerCase().includes(text);
  });
  filter.value = box.querySelector(".filter")?.value || "";
  replaceKeepingFocus(box, el("div", {class: "toolbar"}, filter,
                              el("button", {text: `Add ${kind.label}`, class: "add",
                                            onclick: () => openForm(name, null)})),
                      el("p", {class: "count", text: `${data.total_count} ${plural}`}), table);
  filter.dispatchEvent(new Event("input"));
  if (column) {
    await column.read().then(answer => column.fill(cells, data[kind.list], answer),
                             error => column.failed(cells, error));
    if (filter.value) filter.dispatchEvent(new Event("input"));  // it reads the column too
  }
}

async function remove(name, id) {
  const kind = KINDS[name];
  // What else goes in the same change (access.js: the governance rules naming an agent,
  // which would keep it), said in the question.
  let also = {changes: [], note: ""};
  try {
    if (kind.alsoRemove) also = await kind.alsoRemove(id);
  } catch (error) {
    say(error.message, "error");
    return;
  }
  if (!await confirmed(`Delete ${kind.label} '${id}'? This cannot be undone here ` +
                       `(meshctl rollback can).${also.note}`)) return;
  try {
    if (also.changes.length) {  // one plan, one revision
      await api("POST", "/registries/changes", {dry_run: false, changes: [
        {kind: kind.kind, name: id, entry: null}, ...also.changes]});
    } else {
      await api("DELETE", `/registries/${kind.path}/${encodeURIComponent(id)}`);
    }
    await (kind.refresh ? kind.refresh() : renderList(name));
    say(`Deleted ${kind.label} '${id}'${also.changes.length ? " and its governance rules" : ""}.`);
  } catch (error) {
    say(error.message, "error");
  }
}

function confirmed(text) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = text;
  dialog.showModal();
  return new Promise(resolve => dialog.addEventListener("close",
    () => resolve(dialog.returnValue === "yes"), {once: true}));
}

// -- forms ----------------------------------------------------------------------------------

async function choices(of) {
  const kind = KINDS[PICK[of]];
  const {data} = await api("GET", `/registries/${kind.path}`);
  return data[kind.list].map(entry => entry[kind.id]);
}

async function openForm(name, id) {
  const kind = KINDS[name];
  const dialog = document.getElementById("editor");
  const form = document.getElementById("editor-form");
  let entry = {}, version = null;
  if (id !== null) {
    const {data} = await api("GET", `/registries/${kind.path}/${encodeURIComponent(id)}`);
    version = data.resource_version;
    delete data.resource_version;
    entry = data;
  }
  editing = {kind: name, id, version, entry};
  document.getElementById("editor-title").textContent =
    id === null ? `Add ${kind.label}` : `Edit ${kind.label} '${id}'`;
  form.querySelector(".changed").hidden = true;
  form.querySelector(".error").hidden = true;
  const box = form.querySelector(".fields");
  box.replaceChildren();
  for (const field of FORMS[kind.kind]) {
    box.append(await control(field, entry[field.name], id !== null && field.name === kind.id));
  }
  form.onsubmit = event => { event.preventDefault(); save(name); };
  form.querySelector(".cancel").onclick = () => dialog.close();
  form.querySelector(".copy").onclick = () => copyManifest(name);
  if (kind.extend) kind.extend(box, editing);  // access.js: what the agent may do
  dialog.showModal();
}

async function control(field, value, locked, prefix = "field") {
  const id = `${prefix}-${field.name}`;
  const label = el("label", {for: id, text: field.label + (field.required ? " *" : "")});
  const wrap = el("div", {class: `field ${field.control}`, "data-field": field.name,
                          "data-control": field.control}, label);
  let input;
  if (field.control === "textarea") {
    input = el("textarea", {id, rows: 3, required: field.required});
    input.value = value ?? "";
  } else if (field.control === "number") {
    input = el("input", {id, type: "number", min: field.minimum, max: field.maximum,
                         required: field.required});
    input.value = value ?? field.default ?? "";
  } else if (field.control === "bool") {
    input = el("input", {id, type: "checkbox"});
    input.checked = value ?? field.default ?? false;
  } else if (field.control === "choice") {
    input = el("select", {id});
    for (const choice of field.choices) input.append(el("option", {value: choice, text: choice}));
    input.value = value ?? field.default ?? field.choices[0];
  } else if (field.control === "picker") {
    input = el("select", {id, required: field.required}, el("option", {value: "", text: "—"}));
    for (const choice of await choices(field.of)) input.append(el("option", {value: choice,
                                                                           text: choice}));
    input.value = value ?? "";
  } else if (field.control === "multi") {
    input = el("select", {id, multiple: true, size: 5});
    for (const choice of await choices(field.of)) {
      const option = el("option", {value: choice, text: choice});
      option.selected = (value || []).includes(choice);
      input.append(option);
    }
  } else if (field.control === "list") {
    input = el("textarea", {id, rows: 3, "aria-describedby": `${id}-hint`});
    input.value = (value || []).join("\n");
    wrap.append(el("small", {id: `${id}-hint`, text: "One per line"}));
  } else if (field.control === "json") {
    input = jsonEditor(id, value === undefined ? (field.nullable ? null : field.empty) : value);
  } else {
    input = el("input", {id, type: "text", required: field.required, readonly: locked});
    input.value = value ?? "";
  }
  wrap.insertBefore(input, wrap.children[1] || null);
  return wrap;
}

function jsonEditor(id, value) {
  const area = el("textarea", {id, rows: 6, class: "json", spellcheck: "false",
                               "aria-describedby": `${id}-problem`});
  area.value = JSON.stringify(value, null, 2);
  const problem = el("small", {id: `${id}-problem`, class: "problem", "aria-live": "polite"});
  const check = () => {
    try {
      JSON.parse(area.value);
      problem.textContent = "";
      area.removeAttribute("aria-invalid");
    } catch (error) {
      problem.textContent = jsonProblem(area.value, error);
      area.setAttribute("aria-invalid", "true");
    }
    updateSave();
  };
  area.addEventListener("input", check);
  const format = el("button", {type: "button", text: "Format", class: "format",
                               onclick: () => { try {
                                 area.value = JSON.stringify(JSON.parse(area.value), null, 2);
                               } catch (error) { /* shown already */ } check(); }});
  const box = el("div", {class: "json-box"}, area, format, problem);
  return box;
}

function jsonProblem(text, error) {
  const match = /position (\d+)/.exec(error.message);
  if (!match) return `Invalid JSON: ${error.message}`;
  const before = text.slice(0, Number(match[1]));
  const line = before.split("\n").length;
  const column = before.length - before.lastIndexOf("\n");
  return `Invalid JSON at line ${line}, column ${column}`;
}

function updateSave() {  // a save button is disabled while its form holds invalid JSON
  for (const save of document.querySelectorAll(".save")) {
    const scope = save.closest("[data-form], #editor-form, [role=tabpanel]");
    if (scope) save.disabled = Boolean(scope.querySelector("[aria-invalid=true]"));
  }
}

function collect(name) {
  return collectFrom(FORMS[KINDS[name].kind], document.getElementById("editor"),
                     (editing && editing.entry) || {});
}

function collectFrom(fields, container, base) {
  const entry = {...base};
  const missing = [];
  for (const field of fields) {
    const wrap = container.querySelector(`[data-field="${field.name}"]`);
    if (!wrap) continue;
    const input = wrap.querySelector("input, select, textarea");
    let value;
    if (field.control === "bool") value = input.checked;
    else if (field.control === "number") value = input.value === "" ? undefined : Number(input.value);
    else if (field.control === "multi") value = [...input.selectedOptions].map(o => o.value);
    else if (field.control === "list") value = input.value.split("\n").map(s => s.trim()).filter(Boolean);
    else if (field.control === "json") value = JSON.parse(input.value);
    else value = input.value;
    if (field.required && (value === "" || value === undefined)) missing.push(field.label);
    if (value === undefined || (value === "" && !field.required &&
                                (!(field.name in entry) || field.control === "picker"))) {
      delete entry[field.name];
    } else {
      entry[field.name] = value;
    }
  }
  return {entry, missing};
}

async function save(name) {
  const kind = KINDS[name];
  const form = document.getElementById("editor-form");
  const shown = form.querySelector(".error");
  const {entry, missing} = collect(name);
  if (missing.length) {
    shown.textContent = `Required: ${missing.join(", ")}`;
    shown.hidden = false;
    return;
  }
  try {
    if (editing.id === null) {
      await api("POST", `/registries/${kind.path}`, entry);
    } else {
      await api("PUT", `/registries/${kind.path}/${encodeURIComponent(editing.id)}`, entry,
                {"If-Match": `"${editing.version}"`});
    }
  } catch (error) {
    shown.textContent = error.status === 412
      ? "Someone else changed it meanwhile. Close, reload and retry." : error.message;
    shown.hidden = false;
    return;
  }
  document.getElementById("editor").close();
  editing = null;
  await (kind.refresh ? kind.refresh() : renderList(name));
  say(`Saved ${kind.label} '${entry[kind.id]}'.`);
}

function copyManifest(name) {
  const kind = KINDS[name];
  const {entry} = collect(name);
  const spec = {...entry};
  delete spec[kind.id];
  const text = `apiVersion: agentmesh.io/v1\nkind: ${kind.kind}\nmetadata:\n` +
    `  name: ${entry[kind.id]}\nspec: ${JSON.stringify(spec, null, 2).replace(/\n/g, "\n  ")}\n`;
  navigator.clipboard?.writeText(text);
  say("Copied the manifest (YAML accepts this JSON-style spec).");
}

// -- the orchestrator ------------------------------------------------------------------------

RENDERERS.orchestrator = renderOrchestrator;

function renderOrchestrator() {
  return inTurn("orchestrator", drawOrchestrator);
}

async function drawOrchestrator() {
  const box = content("orchestrator");
  const {data} = await api("GET", "/registries/orchestrator");
  const version = data.resource_version;
  delete data.resource_version;
  const agents = (await choices("Agent")).filter(id => id !== "orchestrator_agent");
  const list = el("fieldset", {class: "allowed"}, el("legend", {text: "Allowed agents"}));
  for (const agent of agents) {
    const input = el("input", {type: "checkbox", id: `allow-${agent}`, value: agent});
    input.checked = (data.allowed_agents || []).includes(agent);
    list.append(el("div", {}, input, el("label", {for: `allow-${agent}`, text: agent})));
  }
  const fields = FORMS.Agent.filter(f => !["agent_id", "allowed_agents"].includes(f.name));
  const form = el("div", {class: "fields"});
  for (const field of fields) form.append(await control(field, data[field.name], false, "orch"));
  const problem = el("p", {class: "error", role: "alert", hidden: true});
  const saveButton = el("button", {text: "Save", class: "save", onclick: async () => {
    const {entry, missing} = collectFrom(fields, form, data);
    if (missing.length) {
      problem.textContent = `Required: ${missing.join(", ")}`;
      problem.hidden = false;
      return;
    }
    entry.allowed_agents = [...list.querySelectorAll("input:checked")].map(i => i.value);
    try {
      await api("PUT", "/registries/orchestrator", entry, {"If-Match": `"${version}"`});
      await renderOrchestrator();
      say("Saved the orchestrator.");
    } catch (error) {
      say(error.status === 412 ? "Someone else changed it meanwhile: reload and retry."
                               : error.message, "error");
    }
  }});
  box.replaceChildren(el("p", {text: "orchestrator_agent: it can be updated, never deleted."}),
                      list, form, problem, saveButton);
}

// -- live -------------------------------------------------------------------------------------

function revised(revision) {
  sync = null;  // the sync status changed with it
  const open = tabs.find(tab => tab.getAttribute("aria-selected") === "true");
  if (editing && editing.id !== null && revision.changes.some(c => c.name === editing.id)) {
    document.querySelector("#editor .changed").hidden = false;
  } else if (open && !document.getElementById("editor").open && !document.querySelector(
      "dialog.own[open]")) {
    render(open.dataset.tab).catch(() => {});
  }
}

// The event stream, read with fetch rather than EventSource: fetch can send the token of a
// protected server. Reconnects after a second with Last-Event-ID, so no revision is missed.
async function follow(last = null) {
  const token = sessionStorage.getItem("meshctl-token");
  const headers = {Accept: "text/event-stream"};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (last !== null) headers["Last-Event-ID"] = String(last);
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
        const data = /^data: (.*)$/m.exec(event);
        if (id) last = Number(id[1]);
        if (data) revised(JSON.parse(data[1]));
      }
    }
  } catch (error) { /* the server went away: try again below */ }
  setTimeout(() => follow(last), 1000);
}

// After every script of the page has run (settings.js and governance.js add tabs).
document.addEventListener("DOMContentLoaded", () => {
  show(location.hash.slice(1) || tabs[0].dataset.tab).catch(() => {});
});
// Follow from the revision served when the page loaded (/health needs no token), so a
// revision made before the stream is connected (or the token typed in) is not missed.
fetch("/health").then(response => response.json())
  .then(health => follow(health.revision), () => follow());
