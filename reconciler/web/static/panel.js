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
  const answer = await meshPlans.send(method, path, body, headers);  // plans.js: every page's
  if (answer.status === 0) say(answer.error.message, "error");  // the server is not there
  if (!answer.ok) throw answer.error;  // message, status, body: for the fields it names
  return {data: answer.data, etag: answer.etag};
}

function say(text, kind = "ok") {
  status.textContent = text;
  status.className = kind;
}

// A form shows an error, or a new action starts: an earlier "Saved …" is no longer news,
// and must not stand green beside a red error.
function unsay() {
  if (status.className === "ok") {
    status.textContent = "";
    status.className = "";
  }
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
  if (kind.view) return renderView(name);
  const box = kind.box ? kind.box() : content(name);  // a kind shown inside another tab
  const plural = kind.plural || kind.list;
  const turn = rendering[name] = (rendering[name] || 0) + 1;
  const {data} = await api("GET", `/registries/${kind.path}`);
  if (sync === null) await syncStatus();
  if (turn !== rendering[name] || !box) return;  // a newer render is on its way
  const filter = el("input", {type: "search", "aria-label": `Filter ${plural}`,
                              placeholder: "Filter", class: "filter"});
  const table = el("table", {"aria-label": plural});
  table.append(el("thead", {}, el("tr", {}, el("th", {text: "Id"}), el("th", {text: "Name"}),
                                  ...(kind.detail ? [el("th", {text: kind.detailLabel,
                                                               class: "detail"})] : []),
                                  el("th", {text: "Actions"}))));
  const body = el("tbody");
  for (const entry of data[kind.list]) {
    const id = entry[kind.id];
    body.append(el("tr", {"data-id": id},
      el("td", {}, ...wordWrapped(id), ...syncBadge(kind, id)),
      el("td", {text: entry.name || ""}),
      ...(kind.detail ? [el("td", {class: "detail", text: kind.detail(entry)})] : []),
      el("td", {}, ...rowActions(name, id))));
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
}

function syncBadge(kind, id) {
  const state = sync[`${kind.kind}/${id}`];
  return state ? [" ", el("span", {class: `badge ${state}`, text: BADGE[state]})] : [];
}

function rowActions(name, id) {
  return id === "orchestrator_agent"  // updated on its own tab, never deleted
    ? [el("a", {href: "#orchestrator", text: "Edit on the Orchestrator tab"})]
    : [el("button", {text: "Edit", "aria-label": `Edit ${id}`, onclick: () => openForm(name, id)}),
       ...(FLOWS[name] ? [el("button", {text: "Diagram", class: "diagram",
                                        "aria-label": `Diagram of ${id}`,
                                        onclick: () => showDiagram(name, id).catch(
                                          error => say(error.message, "error"))})] : []),
       el("button", {text: "Delete", class: "danger", "aria-label": `Delete ${id}`,
                     onclick: () => remove(name, id)})];
}

// -- a workflow's diagram: its steps and transitions, drawn as the Graph page draws them ---

// The kinds with steps, by the panel's name: the Graph page's name of each.
const FLOWS = {workflows: "workflow", "integration-workflows": "integration-workflow"};
let diagramScripts = null;  // Cytoscape and the shared drawing (diagrams.js), once loaded
let flowDrawn = null;  // the open diagram's Cytoscape instance

// Load Cytoscape, its layered layout and diagrams.js when a diagram is first asked for:
// the panel's first tab does not wait for 500 KB of drawing code.
function loadDiagrams() {
  const scripts = ["/static/vendor/cytoscape/cytoscape.min.js",
                   "/static/vendor/cytoscape-dagre/cytoscape-dagre.min.js",
                   "/static/diagrams.js"];
  diagramScripts = diagramScripts || scripts.reduce((loaded, src) => loaded.then(
    () => new Promise((resolve, reject) => document.head.append(el("script", {
      src, onload: resolve, onerror: () => reject(new Error(`${src} cannot be loaded`))})))),
  Promise.resolve()).catch(error => {
    diagramScripts = null;  // asked again next time
    throw error;
  });
  return diagramScripts;
}

// The diagram of workflow `id` (of the list `name`) in a dialog: the server's answer
// (GET /registries/graph/workflow) drawn by diagrams.js, each step's agent a link to its
// neighbourhood on the Graph page, and a link to the workflow's own.
async function showDiagram(name, id) {
  const query = new URLSearchParams({kind: FLOWS[name], name: id});
  const [, {data}] = await Promise.all([loadDiagrams(),
                                        api("GET", `/registries/graph/workflow?${query}`)]);
  const dialog = diagramDialog();
  dialog.querySelector(".graph-link").href = `/graph#${FLOWS[name]}/${encodeURIComponent(id)}`;
  dialog.showModal();  // first: the drawing is fitted to the dialog's width
  flowDrawn?.destroy();
  flowDrawn = window.meshDiagrams.drawWorkflow(
    dialog.querySelector("#workflow-diagram"), data, {id, agent: agent => el("a", {
      href: `/graph#agent/${encodeURIComponent(agent)}`, text: `agent ${agent}`})});
  const title = dialog.querySelector("#workflow-title");
  title.tabIndex = -1;  // the dialog opens on its title, at its top (not on a step below)
  title.focus();
  window.meshctlFlow = flowDrawn;  // the tests read the drawing through it
}

// A window resized (a phone turned) with a diagram open: fit it to the new width.
window.addEventListener("resize", () => {
  if (flowDrawn && document.getElementById("diagram-dialog")?.open) {
    window.meshDiagrams.fitHeight(flowDrawn, flowDrawn.container(),
                                  Math.min(window.innerHeight * 0.85, 900));
  }
});

function diagramDialog() {
  let dialog = document.getElementById("diagram-dialog");
  if (!dialog) {
    dialog = el("dialog", {id: "diagram-dialog", class: "own",
                           "aria-labelledby": "workflow-title"},
                el("section", {id: "workflow-diagram"}),
                el("div", {class: "buttons"},
                   el("a", {class: "graph-link", text: "Its neighbourhood on the Graph page"}),
                   el("button", {type: "button", class: "cancel", text: "Close",
                                 onclick: () => dialog.close()})));
    document.body.append(dialog);
  }
  return dialog;
}

// -- the list tabs: a page at a time, searched and sorted by the server ----------------------

// Agents, tools, model profiles and workflows: the server (GET /registries/views/...) sends
// one page of rows with their columns (which, and how each is drawn), the total and how
// many match the search; the browser never holds the whole mesh. What each tab shows
// (search, sort, page) is kept while the panel is open.
const PAGE = 50;
const views = {};  // tab -> {q, sort, order, offset}

async function renderView(name) {
  const kind = KINDS[name];
  const box = content(name);
  const many = kind.plural || kind.list;
  const state = views[name] = views[name] || {q: "", sort: null, order: "asc", offset: 0};
  const turn = rendering[name] = (rendering[name] || 0) + 1;
  const query = new URLSearchParams({offset: String(state.offset), limit: String(PAGE)});
  if (state.q.trim()) query.set("q", state.q.trim());
  if (state.sort) {
    query.set("sort", state.sort);
    query.set("order", state.order);
  }
  const {data} = await api("GET", `/registries/${kind.view}?${query}`);
  if (sync === null) await syncStatus();
  if (turn !== rendering[name] || !box) return;  // a newer render is on its way
  if (state.offset > 0 && state.offset >= data.matched_count) {  // the page emptied (deletes)
    state.offset = Math.max(0, Math.floor((data.matched_count - 1) / PAGE) * PAGE);
    return renderView(name);
  }
  let shown = box.querySelector(".view");
  if (!shown) {  // the search box stays as typed in: only what it finds is drawn again
    const filter = el("input", {type: "search", "aria-label": `Search ${many}`,
                                placeholder: "Search every column", class: "filter"});
    let typing = null;
    filter.addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(() => {
        state.q = filter.value;
        state.offset = 0;
        renderView(name).catch(error => { if (error.status) say(error.message, "error"); });
      }, 150);
    });
    filter.value = state.q;
    shown = el("div", {class: "view"});
    box.replaceChildren(el("div", {class: "toolbar"}, filter,
                           el("button", {text: `Add ${kind.label}`, class: "add",
                                         onclick: () => openForm(name, null)})), shown);
  }
  const first = data.matched_count ? data.offset + 1 : 0;
  const last = data.offset + data.rows.length;
  const count = data.q
    ? `${data.matched_count} of ${plural(data.total_count, kind.label, many)} match “${data.q}”`
    : plural(data.total_count, kind.label, many);
  replaceKeepingFocus(shown,
    el("p", {class: "count", "aria-live": "polite",
             text: data.matched_count > PAGE ? `${count}; showing ${first}–${last}` : count}),
    el("div", {class: "scroll"}, viewTable(name, kind, many, data, state)),
    pager(name, many, data, state));
}

function viewTable(name, kind, plural, data, state) {
  const sortBy = column => {
    state.order = state.sort === column.key && state.order === "asc" ? "desc" : "asc";
    state.sort = column.key;
    state.offset = 0;
    renderView(name).catch(error => { if (error.status) say(error.message, "error"); });
  };
  const head = data.columns.map(column => {
    const sorted = state.sort === column.key;
    return el("th", {class: column.narrow ? null : "wide-only",
                     "aria-sort": sorted ? (state.order === "asc" ? "ascending" : "descending")
                       : "none"},
              el("button", {type: "button", class: "sort", "aria-label": `Sort by ${column.label}`,
                            onclick: () => sortBy(column)},
                 column.label, el("span", {"aria-hidden": "true", class: "arrow",
                                           text: sorted ? (state.order === "asc" ? " ▲" : " ▼")
                                             : ""})));
  });
  const table = el("table", {"aria-label": plural, class: "view-table"},
                   el("thead", {}, el("tr", {}, ...head, el("th", {text: "Actions"}))));
  const body = el("tbody");
  for (const row of data.rows) {
    body.append(el("tr", {"data-id": row.id},
      ...data.columns.map(column => el("td", {class: [column.type === "runs" ? "access" : "",
                                                      column.narrow ? "" : "wide-only",
                                                      `col-${column.key}`].join(" ").trim()},
                                           ...cell(kind, column, row))),
      el("td", {class: "actions"}, ...rowActions(name, row.id))));
  }
  table.append(body);
  return table;
}


function cell(kind, column, row) {
  const value = row[column.key];
  switch (column.type) {
    case "id":
      return [el("span", {class: "id"}, ...wordWrapped(row.id)), ...syncBadge(kind, row.id),
              ...(row.loads || row.runs ? [] : [" ", runsBadge("unloadable", "does not load",
                                                                row.load_problem)])];
    case "list":
      return value.flatMap((item, index) => [...(index ? [", "] : []),
                                             el("span", {class: "item"}, ...wordWrapped(item))]);
    case "model":  // the profile's model, and the profile
      return row.model_name
        ? [row.model_name, " ", el("small", {class: "profile"}, "(",
                                   ...wordWrapped(row.model_profile_id), ")")]
        : wordWrapped(row.model_profile_id);
    case "parameters":
      return [row.parameters_text];
    case "count":
      return [String(value)];
    case "used_by":  // "none", "2 governance policies", "6 (1 agent, 1 workflow, …)"
      if (!value.count) return ["none"];
      return Object.keys(value.by_kind).length === 1 ? [value.text]
        : [String(value.count), " ", el("small", {text: `(${value.text})`})];
    case "runs":
      return runsCell(value);
    default:
      return wordWrapped(value || "");
  }
}

// "Can run": the server's verdict (the orchestrator lists the agent and governance lets it
// invoke it, or why not; the tools governance denies it, each with its reason).
function runsBadge(kind, text, title) {
  return el("span", {class: `verdict ${kind === "unloadable" ? "blocked" : kind}`, text, title});
}

function runsCell(runs) {
  const shown = [runsBadge(runs.verdict, runs.text), ...(runs.reason ? [` ${runs.reason}`] : [])];
  const denied = runs.denied_tools;
  if (denied.length) {
    shown.push(" ", runsBadge("denied", `${plural(denied.length, "tool")} denied`,
                              denied.map(item => `${item.tool}: ${item.reason}`).join("\n")),
               ` (${denied.map(item => item.tool).join(", ")})`);
  }
  return shown;
}

function pager(name, plural, data, state) {
  const pages = Math.max(1, Math.ceil(data.matched_count / PAGE));
  const at = Math.floor(data.offset / PAGE) + 1;
  const go = offset => {
    state.offset = offset;
    renderView(name).catch(error => { if (error.status) say(error.message, "error"); });
  };
  return el("nav", {class: "pager", "aria-label": `Pages of ${plural}`, hidden: pages === 1},
            el("button", {type: "button", class: "previous", text: "Previous",
                          "aria-label": `Previous page of ${plural}`, disabled: at === 1,
                          onclick: () => go(Math.max(0, data.offset - PAGE))}),
            el("span", {class: "at", text: `Page ${at} of ${pages}`}),
            el("button", {type: "button", class: "next", text: "Next",
                          "aria-label": `Next page of ${plural}`, disabled: at === pages,
                          onclick: () => go(data.offset + PAGE)}));
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
  // The plan first (plans.js), as one revision with what goes with it: a resource in use
  // has no plan, and is not offered for deletion at all; the question names who uses it.
  const planned = await meshPlans.planChanges({
    title: `Delete ${kind.label} '${id}'?`, confirm: "Delete",
    intro: `${also.note.trim()} The History page can undo it (Revert that revision).`.trim(),
    changes: [{kind: kind.kind, name: id, entry: null}, ...also.changes]});
  const error = planned.failed;
  if (error) {
    if (error.status === 400 && error.body?.used_by) {
      await confirmed(`${error.message}. Change them first so that none refers to it; ` +
                      "nothing was deleted.", null, "Close");
    }
    say(error.message, "error");
    return;
  }
  if (!planned.saved) return;
  try {
    await (kind.refresh ? kind.refresh() : renderList(name));
    say(`Deleted ${kind.label} '${id}'${also.changes.length ? " and its governance rules" : ""}.`);
  } catch (error) {
    say(error.message, "error");
  }
}

// Ask a yes-or-no question in the page's own dialog: `yes` and `no` name the buttons
// (Delete and Cancel unless said); Escape answers no. Without `yes` (null) it only tells,
// with one button. True when the answer is yes.
function confirmed(text, yes = "Delete", no = "Cancel") {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = text;
  const yesButton = dialog.querySelector("button[value=yes]");
  yesButton.textContent = yes || "";
  yesButton.hidden = !yes;
  dialog.querySelector("button[value=no]").textContent = no;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise(resolve => dialog.addEventListener("close",
    () => resolve(dialog.returnValue === "yes"), {once: true}));
}

// -- forms ----------------------------------------------------------------------------------

// The ids of kind `of` a select offers whole (a context strategy's model profile, a step's
// connector). A kind the server lists a page at a time (agents, tools, profiles,
// workflows) comes as ids alone, at most a page of the API's largest: never the mesh.
async function choices(of) {
  const kind = KINDS[PICK[of]];
  if (kind.view) {
    const {data} = await api("GET", `/registries/${kind.view}?fields=id&limit=500`);
    return data.rows.map(row => row.id);
  }
  const {data} = await api("GET", `/registries/${kind.path}`);
  return data[kind.list].map(entry => entry[kind.id]);
}

// -- pickers of existing ids, searched by the server ------------------------------------------

const PICKS = 50;  // a picker shows this many ids at a time; its search finds the others

// Where a picker finds the ids of kind `of`: `(q, only) => {ids, matched, total}`, the
// first PICKS ids whose id holds every word of `q` (`only`: of those ids alone, to learn
// which exist). A kind with a list view is searched by the server, ids only, so a picker
// never downloads the mesh; the small kinds (connectors, auth profiles) are read once.
function idSource(of) {
  const kind = KINDS[PICK[of]];
  if (kind.view) {
    return async (q = "", only = null) => {
      const asked = !q.trim() && !only && early[of] ? await early[of] : null;
      if (asked) return asked;  // the first page, asked for ahead (prefetch)
      const query = new URLSearchParams({fields: "id", match: "id", limit: String(PICKS)});
      if (q.trim()) query.set("q", q.trim());
      for (const id of only || []) query.append("ids", id);
      const {data} = await api("GET", `/registries/${kind.view}?${query}`);
      return {ids: data.rows.map(row => row.id), matched: data.matched_count,
              total: data.total_count};
    };
  }
  let all = null;
  return async (q = "", only = null) => {
    all = all || await choices(of);
    const found = all.filter(id => matches(id, q) && (!only || only.includes(id)));
    return {ids: found.slice(0, PICKS), matched: found.length, total: all.length};
  };
}

// The first page of ids of kinds about to be drawn, asked for ahead (`prefetch`): the
// Orchestrator tab asks for its pickers' pages while it reads the orchestrator, so the two
// round trips overlap. Taken by idSource until `forget`.
const early = {};

function prefetch(...kinds) {
  for (const of of new Set(kinds)) {
    if (!KINDS[PICK[of]]?.view) continue;
    delete early[of];  // (so the source asks the server)
    early[of] = idSource(of)("").catch(() => null);  // a failure: asked again when drawn
  }
}

function forget() {
  for (const of of Object.keys(early)) delete early[of];
}

// Whether `id` holds every word of `q` (case-insensitive), as the server's `match=id`.
function matches(id, q) {
  const text = id.toLowerCase();
  return q.toLowerCase().split(/\s+/).filter(Boolean).every(word => text.includes(word));
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
  unsay();
  document.getElementById("editor-title").textContent =
    id === null ? `Add ${kind.label}` : `Edit ${kind.label} '${id}'`;
  form.querySelector(".changed").hidden = true;
  form.querySelector(".error").hidden = true;
  const box = form.querySelector(".fields");
  box.replaceChildren(...await drawFields(name, entry, id));
  editing.initial = shownValues(formFields(name), box);
  form.onsubmit = event => { event.preventDefault(); save(name); };
  form.querySelector(".cancel").onclick = () => leave(name);
  dialog.oncancel = event => {  // Escape: ask first when something was changed
    if (!unsaved(name).length) return;
    event.preventDefault();
    leave(name);
  };
  form.querySelector(".reapply").onclick = () => reapply(name).catch(error => {
    const shown = form.querySelector(".error");  // deleted meanwhile, say: the form stays
    shown.textContent = `Their version cannot be read: ${error.message}`;
    shown.hidden = false;
  });
  form.querySelector(".copy").onclick = () => copyManifest(name);
  if (kind.extend) kind.extend(box, editing);  // access.js: what the agent may do
  dialog.showModal();
}

// The controls of a kind's form, filled from `values`.
async function drawFields(name, values, id) {
  const kind = KINDS[name];
  return Promise.all(formFields(name).map(field => control(
    field, values[field.name], id !== null && field.name === kind.id, "field",
    field.of === kind.kind ? id : null)));
}

// The labels of the fields of the open form that no longer show what they showed when it
// opened (or when it was last loaded).
function unsaved(name) {
  if (!editing || editing.kind !== name || !editing.initial) return [];
  const now = shownValues(formFields(name), document.getElementById("editor"));
  return formFields(name).filter(field => field.name in editing.initial &&
                                          now[field.name] !== editing.initial[field.name])
    .map(field => field.label);
}

// Close the form, asking first when it holds changes (Cancel, Escape): nothing typed is
// thrown away by one key.
async function leave(name) {
  const changed = unsaved(name);
  if (changed.length && !await confirmed(
      `Discard your unsaved changes to ${changed.join(", ")}?`, "Discard changes",
      "Keep editing")) {
    return;
  }
  document.getElementById("editor").close();
  editing = null;
}

// Leaving the page with a changed form open asks too (the browser's own question).
window.addEventListener("beforeunload", event => {
  if (editing && document.getElementById("editor").open && unsaved(editing.kind).length) {
    event.preventDefault();
    event.returnValue = "";
  }
});

// After someone else changed the resource (a 412, or the change feed): read their version,
// fill the form with it, and put back every field the user changed, so nothing is typed
// again; what they changed is listed, and a field both changed is said (the user's value
// kept, theirs shown). Save then writes over their version, with its version.
async function reapply(name) {
  const kind = KINDS[name];
  const form = document.getElementById("editor-form");
  const mine = collect(name).entry;
  const labels = unsaved(name);
  const changed = formFields(name).filter(field => labels.includes(field.label));
  const {data} = await api("GET", `/registries/${kind.path}/${encodeURIComponent(editing.id)}`);
  const version = data.resource_version;
  delete data.resource_version;
  const before = editing.entry;
  const theirs = formFields(name).filter(field => canonical(before[field.name]) !==
                                                  canonical(data[field.name]));
  const merged = {...data};
  for (const field of changed) {
    if (field.name in mine) merged[field.name] = mine[field.name];
    else delete merged[field.name];
  }
  const box = form.querySelector(".fields");
  // What their version shows untouched: the base every field is compared with from now on.
  const shownTheirs = el("div", {}, ...await drawFields(name, data, editing.id));
  editing.initial = shownValues(formFields(name), shownTheirs);
  editing.entry = data;
  editing.version = version;
  box.replaceChildren(...await drawFields(name, merged, editing.id));
  if (kind.extend) kind.extend(box, editing);
  const show = value => value === undefined ? "(not set)" : JSON.stringify(value);
  const lines = theirs.map(field => el("li", {"data-changed": field.name, text:
    `${field.label}: theirs ${show(before[field.name])} → ${show(data[field.name])}` +
    (changed.includes(field) ? `; yours kept: ${show(mine[field.name])}` : "")}));
  const conflicts = theirs.filter(field => changed.includes(field)).length;
  form.querySelector(".changed-text").textContent = `Loaded their version. ` +
    (lines.length ? `They changed ${plural(lines.length, "field")}` +
      (conflicts ? `, ${conflicts} of which you changed too (your value is kept)` : "") + ". "
      : "They changed none of this form's fields. ") +
    `Your edits (${changed.map(field => field.label).join(", ") || "none"}) are re-applied: ` +
    "check and Save.";
  form.querySelector(".compare").replaceChildren(...lines);
  form.querySelector(".reapply").hidden = true;
  form.querySelector(".error").hidden = true;
  form.querySelector(".save").focus();
}

// The fields a kind's dialog shows: not those only the orchestrator has (its own tab edits
// them), so a worker agent's form never offers "Allowed Agents".
function formFields(name) {
  return FORMS[KINDS[name].kind].filter(field => !field.orchestrator_only);
}

// `self`: the id of the resource edited when the field refers to its kind, never offered as
// a reference to itself.
async function control(field, value, locked, prefix = "field", self = null) {
  const id = `${prefix}-${field.name}`;
  if (field.control === "steps") return stepsEditor(field, id, Array.isArray(value) ? value : []);
  if (field.control === "agent_steps") {  // an agent workflow's steps (steps.js)
    return agentStepsEditor(field, id, Array.isArray(value) ? value : []);
  }
  if (field.control === "multi") {  // a checklist: one click never replaces the others
    const list = await checklist(id, field.label, idSource(field.of),
                                 Array.isArray(value) ? value : [], choice => `${id}-${choice}`,
                                 self === null ? [] : [self]);
    list.classList.add("field", "multi");
    Object.assign(list.dataset, {field: field.name, control: field.control});
    return list;
  }
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
    // A value outside the set stays what it is (saving never changes it unasked): shown as
    // written, and validation says why it is refused.
    if (typeof value === "string" && !field.choices.includes(value)) {
      input.append(el("option", {value, text: `${value} (as written)`}));
    }
    input.value = value ?? field.default ?? field.choices[0];
  } else if (field.control === "picker") {
    input = el("select", {id, required: field.required});
    await searchedSelect(input, idSource(field.of), value ?? "", wrap, field.label);
  } else if (field.control === "list") {
    input = el("textarea", {id, rows: 3, placeholder: field.example});
    input.value = (value || []).join("\n");
  } else if (field.control === "json") {
    input = jsonEditor(id, value === undefined ? (field.nullable ? null : field.empty) : value);
  } else {
    input = el("input", {id, type: "text", required: field.required, readonly: locked,
                         placeholder: field.example});
    input.value = value ?? "";
  }
  wrap.insertBefore(input, wrap.children[1] || null);
  // Bounds, default and an example, shown before saving (the field table the API checks).
  const said = [field.control === "list" ? "One per line" : null, field.hint].filter(Boolean);
  if (said.length) {
    wrap.append(el("small", {id: `${id}-hint`, class: "hint", text: said.join(". ")}));
    describe(wrap.querySelector("input, select, textarea"), `${id}-hint`);
  }
  return wrap;
}

// A select of existing ids (`source`, idSource) holding `current`: its first PICKS ids, and
// past those a search box after it (the server searches; the select is filled with what
// it finds, the value chosen kept), saying how many more a search would find.
async function searchedSelect(select, source, current, wrap, label) {
  const fill = (found, keep) => {
    const ids = keep && !found.ids.includes(keep) ? [keep, ...found.ids] : found.ids;
    select.replaceChildren(el("option", {value: "", text: "—"}),
                           ...ids.map(choice => el("option", {value: choice, text: choice})));
    select.value = keep;
  };
  const first = await source("");
  fill(first, current);
  if (first.total <= PICKS) return;
  const more = el("small", {class: "more", "aria-live": "polite"});
  const count = found => {
    const unseen = found.matched - found.ids.length;
    more.textContent = unseen > 0 ? `${unseen} more: refine the search` : "";
  };
  const search = el("input", {type: "search", class: "picker-search", placeholder: "Search",
                              "aria-label": `Search ${label}`});
  let typing = null;
  search.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(async () => {
      const text = search.value;
      const found = await source(text).catch(() => null);
      if (!found || search.value !== text) return;
      fill(found, select.value);
      count(found);
    }, 150);
  });
  count(first);
  wrap.append(search, more);
}

// Add `id` to what describes `control` (its aria-describedby).
function describe(control, id) {
  const ids = (control.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
  if (!ids.includes(id)) control.setAttribute("aria-describedby", [...ids, id].join(" "));
}

// -- errors on their field ------------------------------------------------------------------

// The fields an error names, as [{name, where, msg}]: a 422's `detail` and a 400's
// `errors` are lists of {type, loc, msg}, loc ["body", field, ...]. With `resource`
// ({kind, name}), only the engine's findings about that resource (a 400's say which).
function fieldErrors(error, resource = null) {
  const body = error.body || {};
  const items = Array.isArray(body.detail) ? body.detail : (body.errors || []);
  return items.filter(item => Array.isArray(item.loc) && item.loc[0] === "body" &&
                              item.loc.length > 1 && (!resource || !item.kind ||
                              (item.kind === resource.kind && item.name === resource.name)))
    .map(item => ({name: String(item.loc[1]), where: item.loc.slice(1).join("."),
                   msg: item.msg}));
}

// Take the server's marks (messages, aria-invalid) off every field in `container`.
function clearFieldErrors(container) {
  for (const message of container.querySelectorAll(".field-error")) message.remove();
  for (const control of container.querySelectorAll("[data-server-error]")) {
    control.removeAttribute("aria-invalid");
    control.removeAttribute("data-server-error");
    const ids = (control.getAttribute("aria-describedby") || "").split(" ")
      .filter(id => id && !id.endsWith("-error"));
    if (ids.length) control.setAttribute("aria-describedby", ids.join(" "));
    else control.removeAttribute("aria-describedby");
  }
}

// Mark each field `errors` name in `container`: aria-invalid, the message next to it (its
// aria-describedby), cleared as soon as the field is edited; focus moves to the first. The
// errors no field of the form shows are returned, for the form's own message.
function markFieldErrors(container, errors) {
  clearFieldErrors(container);
  const elsewhere = [];
  let first = null;
  for (const error of errors) {
    const wrap = container.querySelector(`[data-field="${CSS.escape(error.name)}"]`);
    const step = ["steps", "agent_steps"].includes(wrap?.dataset.control) &&
      /^steps\.(\d+)\.?(\w*)/.exec(error.where);
    const row = step && wrap.querySelectorAll("tbody tr")[Number(step[1])];
    const control = (row && (row.querySelector(`[data-key="${step[2]}"]`) ||
                             row.querySelector("[data-key]"))) || (wrap && wrap.querySelector(
      ".options input, input:not([type=search]), select, textarea"));
    if (!control) {
      elsewhere.push(`${error.where}: ${error.msg}`);
      continue;
    }
    const id = `${wrap.id || control.id}-error`;
    let message = wrap.querySelector(".field-error");
    if (!message) {
      message = el("small", {id, class: "field-error"});
      const editor = control.closest(".json-box");
      if (editor) editor.after(message);
      else wrap.append(message);
    }
    message.append(el("span", {text: error.where === error.name ? error.msg
                                     : `${error.where}: ${error.msg}`}));
    control.setAttribute("aria-invalid", "true");
    control.setAttribute("data-server-error", "");
    describe(control, id);
    wrap.addEventListener("input", () => clearFieldErrors(wrap), {once: true});
    wrap.addEventListener("change", () => clearFieldErrors(wrap), {once: true});
    first = first || control;
  }
  if (first) {
    first.focus();
    first.scrollIntoView({block: "center"});
  }
  return elsewhere;
}

// Show a refused save in a form: each field's error on it, the rest in `shown` (the form's
// message line, kept short: it scrolls rather than push Save away).
function showRefusal(container, shown, error, resource = null) {
  unsay();
  const errors = fieldErrors(error, resource);
  const elsewhere = markFieldErrors(container, errors);
  const text = errors.length ? (elsewhere.length ? elsewhere.join("; ")
                                : `Not saved: ${plural(errors.length, "field")} to fix, ` +
                                  "marked above.") : error.message;
  shown.textContent = text;
  shown.hidden = false;
  if (!errors.length) shown.scrollIntoView({block: "nearest"});
}

function plural(number, singular, many = `${singular}s`) {
  return `${number} ${number === 1 ? singular : many}`;
}

// Past this many choices a checklist gets a search box.
const FILTER_FROM = 8;
// At most this many chosen values are drawn as chips; the others are counted (a search
// finds each, checked).
const CHIPS = 50;

// A reference list as checkboxes, never a bare multi-select (where a plain click or an
// arrow key replaces the whole selection): each choice a checkbox of its own, and the
// chosen values always shown above it as chips (each with a button to take it out). The
// list shows the chosen values first, then the others, a page in all (`source`, idSource: the
// server searches them, so the mesh is never downloaded); a long list gets a search box
// and says how many more a search would find. What is chosen is kept in `box.picked`
// (checkedIn), shown or not. A chosen value that names nothing that exists is kept, checked
// and marked, never dropped silently. `exclude`: ids never offered (the resource itself).
async function checklist(id, legend, source, chosen, idFor, exclude = []) {
  const box = el("fieldset", {id, class: "checklist"}, el("legend", {text: legend}));
  const list = {box, legend, source, idFor, exclude, picked: [...chosen], missing: new Set(),
                chips: el("ul", {class: "chips", "aria-label": `${legend}: chosen`}),
                options: el("div", {class: "options"}),
                more: el("p", {class: "more", "aria-live": "polite"}), text: ""};
  box.picked = list.picked;
  box.addEventListener("change", () => drawChips(list));
  const first = await source("");
  drawChips(list);
  box.append(list.chips);
  if (first.total > FILTER_FROM || chosen.length > FILTER_FROM) box.append(searchBox(list));
  box.append(list.options, list.more);
  drawOptions(list, first);
  if (chosen.length && first.matched > first.ids.length) markMissing(list, chosen);
  return box;
}

// Which of the first chosen values name nothing (a page the first answer did not hold all
// of): asked after the list is drawn, each marked "(not found)" when the answer comes.
function markMissing(list, chosen) {
  const shown = chosen.slice(0, PICKS);
  list.source("", shown).then(known => {
    const gone = shown.filter(value => !known.ids.includes(value));
    for (const value of gone) list.missing.add(value);
    if (gone.length) drawOptions(list, list.found);  // drawn again, marked
  }).catch(() => {});  // unmarked: nothing is lost, the value stays chosen
}

// The checklist's search box: the server is asked after a pause in typing; Enter asks at
// once and picks the one value found (it never sends the form).
function searchBox(list) {
  const filter = el("input", {type: "search", class: "option-filter", placeholder: "Search",
                              "aria-label": `Search ${list.legend}`});
  let typing = null;
  const search = async () => {
    clearTimeout(typing);
    const text = filter.value;
    const found = await list.source(text);
    if (filter.value !== text) return;  // typed on meanwhile: a newer search follows
    list.text = text;
    drawOptions(list, found);
  };
  filter.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => search().catch(error => say(error.message, "error")), 150);
  });
  filter.addEventListener("keydown", event => {
    if (event.key !== "Enter") return;
    event.preventDefault();
    search().then(() => {
      const shown = list.options.querySelectorAll("input");
      if (shown.length === 1 && !shown[0].checked) shown[0].click();
    }).catch(error => say(error.message, "error"));
  });
  return filter;
}

// The rows of the list: the chosen values the search matches, then what the server found
// (`found`, of idSource) that is not chosen; and how many more a search would find.
function drawOptions(list, found) {
  list.found = found;
  const chosen = list.picked.filter(value => matches(value, list.text));
  const shownChosen = chosen.slice(0, PICKS);
  const offered = found.ids.filter(value => !list.picked.includes(value) &&
                                            !list.exclude.includes(value))
    .slice(0, Math.max(0, PICKS - shownChosen.length));  // a page in all
  if (found.matched <= found.ids.length) {  // the whole answer: a chosen value not in it is not
    for (const value of shownChosen) {
      if (!found.ids.includes(value) && !list.exclude.includes(value)) list.missing.add(value);
    }
  }
  list.options.replaceChildren(...[...shownChosen, ...offered]
    .map(value => optionRow(list, value)));
  // What the server matched that no row shows (the resource itself is never offered).
  const shown = shownChosen.filter(value => !list.missing.has(value)).length + offered.length;
  const unseen = Math.max(0, found.matched - shown -
                          list.exclude.filter(value => matches(value, list.text)).length);
  list.more.textContent = unseen ? `${unseen} more: refine the search` : "";
  list.more.hidden = !unseen;
}

function optionRow(list, value) {
  const id = list.idFor(value);
  const input = el("input", {type: "checkbox", id, value});
  input.checked = list.picked.includes(value);
  input.addEventListener("change", () => {
    const at = list.picked.indexOf(value);
    if (input.checked && at < 0) list.picked.push(value);
    if (!input.checked && at >= 0) list.picked.splice(at, 1);
  });
  return el("div", {class: "option", "data-value": value}, input,
            el("label", {for: id}, ...wordWrapped(value),
               ...(list.missing.has(value) ? [" (not found)"] : [])));
}

// The chips of the chosen values (the first CHIPS of them; the others counted).
function drawChips(list) {
  const {picked, chips, box} = list;
  const unpick = value => () => {
    picked.splice(picked.indexOf(value), 1);
    const row = box.querySelector(`.option[data-value="${CSS.escape(value)}"] input`);
    if (row) row.checked = false;
    box.dispatchEvent(new Event("change", {bubbles: true}));
    (chips.querySelector("button.unpick") || box.querySelector(".options input"))?.focus();
  };
  const drawn = picked.slice(0, CHIPS).map(value => el("li", {class: "chip"}, ...wordWrapped(value),
    el("button", {type: "button", class: "unpick", text: "×", "aria-label": `Remove ${value}`,
                  onclick: unpick(value)})));
  if (picked.length > CHIPS) {
    drawn.push(el("li", {class: "none", text: `and ${picked.length - CHIPS} more`}));
  }
  chips.replaceChildren(...(drawn.length ? drawn : [el("li", {class: "none",
                                                         text: "none chosen"})]));
}

// An integration workflow's steps as a table, one row a step: its id; its type, a select of
// the types the runner knows; what the type needs (a rest_call's connector, a
// security_transform's policy), a picker of those that exist; its failure policy, a
// select; every other key as JSON. A value the runner does not know, or a name that does
// not exist, stays selected and marked, never dropped. Rows are added, removed and moved.
async function stepsEditor(field, id, steps) {
  const needs = {};  // type -> {key, choices}
  for (const [type, need] of Object.entries(field.step_needs)) {
    needs[type] = {key: need.key, choices: await choices(need.of)};
  }
  const own = new Set(["id", "type", "failure_policy",
                       ...Object.values(needs).map(need => need.key)]);
  const box = el("fieldset", {id, class: "field steps", "data-field": field.name,
                              "data-control": field.control},
                 el("legend", {text: field.label + (field.required ? " *" : "")}));
  box.needKeys = Object.values(needs).map(need => need.key);
  const body = el("tbody");
  const select = (label, key, values, current, unknown) => {
    const input = el("select", {"aria-label": label, "data-key": key});
    for (const value of values) input.append(el("option", {value, text: value || "—"}));
    if (current !== undefined && current !== null && !values.includes(current)) {
      input.append(el("option", {value: current, text: `${current} (${unknown})`}));
    }
    input.value = current ?? "";
    return input;
  };
  const renumber = () => [...body.rows].forEach((row, index) => {
    for (const input of row.querySelectorAll("[data-key]")) {
      input.setAttribute("aria-label", `Step ${index + 1} ${input.dataset.key}`);
    }
    row.querySelector("th").textContent = String(index + 1);
  });
  const needCell = (row, type, current) => {
    const need = needs[type];
    row.cells[3].replaceChildren(need ? select("", need.key, ["", ...need.choices], current,
                                               "not found") : el("span", {text: "—"}));
  };
  const addRow = (step, focus = false) => {
    const type = step.type;
    const typeSelect = select("", "type", type === undefined ? ["", ...field.step_types]
      : field.step_types, type, "unknown to the runner");
    const rest = Object.fromEntries(Object.entries(step).filter(([key]) => !own.has(key)));
    const more = el("input", {type: "text", class: "json-cell", "data-key": "other settings (JSON)"});
    more.value = JSON.stringify(rest);
    more.addEventListener("input", () => {
      let good = false;
      try {
        const parsed = JSON.parse(more.value);
        good = parsed !== null && typeof parsed === "object" && !Array.isArray(parsed);
      } catch (error) { /* shown below */ }
      if (good) more.removeAttribute("aria-invalid");
      else more.setAttribute("aria-invalid", "true");
      updateSave();
    });
    const idInput = el("input", {type: "text", "data-key": "id"});
    idInput.value = step.id ?? "";
    const move = by => {
      const row = typeSelect.closest("tr");
      const to = by < 0 ? row.previousElementSibling : row.nextElementSibling?.nextElementSibling;
      if (by < 0 && !to) return;
      body.insertBefore(row, to ?? null);
      renumber();
      box.dispatchEvent(new Event("change", {bubbles: true}));
    };
    const row = el("tr", {}, el("th", {scope: "row"}), el("td", {}, idInput),
                   el("td", {}, typeSelect), el("td"),
                   el("td", {}, select("", "failure_policy", ["", ...field.failure_policies],
                                       step.failure_policy, "unknown to the runner")),
                   el("td", {}, more),
                   el("td", {}, el("button", {type: "button", text: "↑", class: "up",
                                              "aria-label": "Move up", onclick: () => move(-1)}),
                      el("button", {type: "button", text: "↓", class: "down",
                                    "aria-label": "Move down", onclick: () => move(1)}),
                      el("button", {type: "button", text: "Remove", class: "danger",
                                    onclick: () => {
                                      row.remove();
                                      renumber();
                                      box.dispatchEvent(new Event("change", {bubbles: true}));
                                    }})));
    row.step = step;  // the step as read: keys the row does not show are kept
    needCell(row, type, needs[type] ? step[needs[type].key] : undefined);
    typeSelect.addEventListener("change", () => {
      const need = needs[typeSelect.value];
      needCell(row, typeSelect.value, need ? row.step[need.key] : undefined);
      renumber();
    });
    body.append(row);
    renumber();
    if (focus) idInput.focus();
  };
  for (const step of steps) addRow(step && typeof step === "object" ? step : {});
  const head = el("tr", {}, ...["#", "Id", "Type", "Needs", "On failure", "Other settings (JSON)",
                                ""].map(text => el("th", {text})));
  box.append(el("div", {class: "scroll"}, el("table", {class: "records steps"},
                                                el("thead", {}, head), body)),
             el("button", {type: "button", class: "add-step", text: "Add step",
                           onclick: () => addRow({}, true)}));
  if (field.hint) box.append(el("small", {class: "hint", text: field.hint}));
  return box;
}

// The steps a steps table holds: each row's step as read, with what the row shows set (a
// key set to nothing is left out); invalid JSON throws, as a JSON editor's does.
function readSteps(box) {
  return [...box.querySelectorAll("tbody tr")].map(row => {
    const step = {...row.step};
    const shown = Object.fromEntries([...row.querySelectorAll("[data-key]")]
      .map(input => [input.dataset.key, input.value]));
    const more = JSON.parse(shown["other settings (JSON)"]);
    delete shown["other settings (JSON)"];
    for (const key of Object.keys(step)) {
      if (!(key in shown) && !(key in more) && !box.needKeys.includes(key)) {
        delete step[key];  // taken out of the JSON (a need its type does not show is kept)
      }
    }
    for (const [key, value] of Object.entries({...shown, ...more})) {
      if (value === "" && key in shown) delete step[key];
      else step[key] = value;
    }
    return step;
  });
}

// The values a checklist has chosen, in its order: shown or not (a search shows a page).
function checkedIn(box) {
  const list = box.picked ? box : box.querySelector(".checklist");
  return list ? [...list.picked] : [];
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
    if (scope) {  // a field the server refused stays editable, and Save usable
      save.disabled = Boolean(scope.querySelector("[aria-invalid=true]:not([data-server-error])"));
    }
  }
}

function collect(name) {
  return collectFrom(formFields(name), document.getElementById("editor"),
                     (editing && editing.entry) || {}, editing && editing.initial,
                     Boolean(editing) && editing.id === null);
}

// What a field's control holds now, as the entry would hold it (undefined: an empty number;
// a JSON editor holding invalid JSON throws).
function readField(field, wrap, base) {
  const input = wrap.querySelector("input, select, textarea");
  if (field.control === "bool") return input.checked;
  if (field.control === "number") return input.value === "" ? undefined : Number(input.value);
  if (field.control === "multi") return keepOrder(base, checkedIn(wrap));
  if (field.control === "steps") return readSteps(wrap);
  if (field.control === "agent_steps") return readAgentSteps(wrap);  // (steps.js)
  if (field.control === "list") return input.value.split("\n").map(s => s.trim()).filter(Boolean);
  if (field.control === "json") return JSON.parse(input.value);
  return input.value;
}

// `chosen`, in the order `before` had them, the new ones after: picking one more tool does
// not reorder the others (a reorder is a change of its own in the plan).
function keepOrder(before, chosen) {
  const old = Array.isArray(before) ? before.filter(value => chosen.includes(value)) : [];
  return [...old, ...chosen.filter(value => !old.includes(value))];
}

// What each field shows when a form opens: a field still showing it was not touched.
function shownValues(fields, container) {
  const shown = {};
  for (const field of fields) {
    const wrap = container.querySelector(`[data-field="${field.name}"]`);
    if (!wrap) continue;
    try {
      shown[field.name] = canonical(readField(field, wrap, undefined));
    } catch (error) { /* invalid JSON shown (cannot be: it was written from a value) */ }
  }
  return shown;
}

// A value as text with object keys sorted: two values are the same when their texts are.
function canonical(value) {
  return JSON.stringify(value, (key, item) => item && typeof item === "object" &&
    !Array.isArray(item) ? Object.fromEntries(Object.keys(item).sort().map(k => [k, item[k]]))
    : item);
}

// The entry to write: `base` (the entry as read) with only the fields the user set or
// changed. A field still showing what it showed when the form opened (`initial`) keeps
// what `base` has, present or absent: a save never adds `"allowed_agents": []` or
// `"input_schema": null` nobody entered. When `creating`, a required field is written as
// shown (an empty schema `{}` the user accepted).
function collectFrom(fields, container, base, initial = null, creating = false) {
  const entry = {...base};
  const missing = [];
  for (const field of fields) {
    const wrap = container.querySelector(`[data-field="${field.name}"]`);
    if (!wrap) continue;
    const value = readField(field, wrap, base[field.name]);
    if (field.required && (value === "" || value === undefined)) missing.push(field.label);
    if (initial && field.name in initial && !(creating && field.required) &&
        canonical(field.control === "multi" ? readField(field, wrap, undefined) : value)
          === initial[field.name]) {
      continue;  // untouched
    }
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
  clearFieldErrors(form);
  shown.hidden = true;
  if (missing.length) {
    unsay();
    markFieldErrors(form, formFields(name).filter(f => missing.includes(f.label))
      .map(f => ({name: f.name, where: f.name, msg: "Required"})));
    shown.textContent = `Required: ${missing.join(", ")}`;
    shown.hidden = false;
    return;
  }
  if (editing.id !== null && canonical(entry) === canonical(editing.entry)) {
    // Nothing set or changed: no write, so no revision.
    document.getElementById("editor").close();
    editing = null;
    say(`No changes: ${kind.label} '${entry[kind.id]}' is as it was; nothing was saved.`);
    return;
  }
  // The plan first (plans.js): Save there commits exactly it, as one revision.
  const creating = editing.id === null;
  const planned = await meshPlans.planChanges({
    title: `${creating ? "Add" : "Save"} ${kind.label} '${entry[kind.id]}'`,
    changes: [{kind: kind.kind, name: entry[kind.id], entry,
               ...(creating ? {create: true} : {resource_version: editing.version})}]});
  const error = planned.failed;
  if (error?.status === 412) {  // the form keeps every edit; theirs can be loaded under it
    stale(form, `Someone else changed ${kind.label} '${editing.id}' since you opened it: ` +
                "nothing was saved, and your edits are kept.");
    return;
  }
  if (error) {
    showRefusal(form, shown, error, {kind: kind.kind, name: entry[kind.id]});
    return;
  }
  if (!planned.saved) return;  // the plan closed unsaved: the form keeps every edit
  document.getElementById("editor").close();
  editing = null;
  await (kind.refresh ? kind.refresh() : renderList(name));
  say(`Saved ${kind.label} '${entry[kind.id]}'.`);
}

// Say in the form that its resource changed elsewhere, offering to load their version
// under the user's edits.
function stale(form, text) {
  unsay();
  const box = form.querySelector(".changed");
  box.querySelector(".changed-text").textContent = text;
  box.querySelector(".compare").replaceChildren();
  box.querySelector(".reapply").hidden = false;
  box.hidden = false;
  box.scrollIntoView({block: "nearest"});
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
let orchestrator = null;  // the drawn form: {unsaved(), mine()}

// Draw the orchestrator's tab afresh, unless it holds unsaved edits (a change made elsewhere
// then only says so, and offers to load it under them): `mine`, edits to put back over the
// version read; `force`, draw even over edits (after they were saved).
function renderOrchestrator(mine = null, force = false) {
  return inTurn("orchestrator", () => {
    if (!mine && !force && orchestrator && orchestrator.unsaved()) {
      orchestrator.stale("Someone else changed the registries while you were editing. " +
                         "Your edits are kept.");
      return undefined;
    }
    return drawOrchestrator(mine).finally(forget);
  });
}

async function drawOrchestrator(mine = null) {
  const box = content("orchestrator");
  prefetch("Agent", ...FORMS.Agent.map(field => field.of).filter(Boolean));
  const {data} = await api("GET", "/registries/orchestrator");
  const version = data.resource_version;
  delete data.resource_version;
  const listed = list => (list || []).filter(a => a !== "orchestrator_agent");
  const fields = FORMS.Agent.filter(f => !["agent_id", "allowed_agents"].includes(f.name));
  const shownValuesOf = async values => el("div", {class: "fields"}, ...await Promise.all(
    fields.map(field => control(field, values[field.name], false, "orch"))));
  // The list as read, unless the user's edits changed it: the agents it lists first, the
  // others a page at a time from the server (10,000 agents are never downloaded).
  const [list, form] = await Promise.all([
    checklist("allow", "Allowed agents", idSource("Agent"),
              mine?.allowed ?? listed(data.allowed_agents), agent => `allow-${agent}`,
              ["orchestrator_agent"]),
    shownValuesOf(mine ? {...data, ...mine.fields} : data)]);
  list.classList.add("allowed");
  // What each field shows for the version read: edits are measured from it.
  const initial = shownValues(fields, mine ? await shownValuesOf(data) : form);
  const initialAllowed = canonical([...listed(data.allowed_agents)].sort());
  const problem = el("p", {class: "error", role: "alert", hidden: true});
  const notice = el("div", {class: "changed", hidden: true},
                    el("p", {class: "changed-text", role: "alert"}),
                    el("button", {type: "button", class: "reapply",
                                  text: "Load their version and re-apply my edits",
                                  onclick: () => renderOrchestrator(orchestrator.mine())
                                    .catch(error => say(error.message, "error"))}));
  const changedFields = () => {
    const now = shownValues(fields, form);
    return fields.filter(f => f.name in initial && now[f.name] !== initial[f.name]);
  };
  orchestrator = {
    unsaved: () => box.contains(form) && (changedFields().length > 0 ||
                   canonical([...checkedIn(list)].sort()) !== initialAllowed),
    mine: () => {
      const {entry} = collectFrom(fields, form, data, initial);
      const fieldsMine = {};
      for (const field of changedFields()) fieldsMine[field.name] = entry[field.name];
      const allowedChanged = canonical([...checkedIn(list)].sort()) !== initialAllowed;
      return {fields: fieldsMine, allowed: allowedChanged ? checkedIn(list) : null};
    },
    stale: text => {
      notice.querySelector(".changed-text").textContent = text;
      notice.hidden = false;
    },
  };
  const saveButton = el("button", {text: "Save", class: "save", onclick: async () => {
    const {entry, missing} = collectFrom(fields, form, data, initial);
    clearFieldErrors(form);
    problem.hidden = true;
    if (missing.length) {
      unsay();
      markFieldErrors(form, fields.filter(f => missing.includes(f.label))
        .map(f => ({name: f.name, where: f.name, msg: "Required"})));
      problem.textContent = `Required: ${missing.join(", ")}`;
      problem.hidden = false;
      return;
    }
    const unlisted = (data.allowed_agents || []).filter(a => a === "orchestrator_agent");
    entry.allowed_agents = keepOrder(data.allowed_agents, [...unlisted, ...checkedIn(list)]);
    if (!("allowed_agents" in data) && !entry.allowed_agents.length) delete entry.allowed_agents;
    if (canonical(entry) === canonical(data)) {
      say("No changes: the orchestrator is as it was; nothing was saved.");
      return;
    }
    const planned = await meshPlans.planChanges({  // the plan first (plans.js)
      title: "Save the orchestrator", changes: [
        {kind: "Agent", name: "orchestrator_agent", entry, resource_version: version}]});
    if (planned.saved) {
      await renderOrchestrator(null, true);
      say("Saved the orchestrator.");
    } else if (planned.failed) {
      const error = planned.failed;
      if (error.status === 412) {  // the tab keeps every edit; theirs can be loaded under it
        orchestrator.stale("Someone else changed the orchestrator since you loaded it: " +
                           "nothing was saved, and your edits are kept.");
        say("Not saved: someone else changed the orchestrator meanwhile.", "error");
      } else {
        showRefusal(form, problem, error, {kind: "Agent", name: "orchestrator_agent"});
        say("Not saved: the orchestrator has errors, shown on its fields.", "error");
      }
    }
  }});
  box.replaceChildren(el("p", {text: "orchestrator_agent: it can be updated, never deleted."}),
                      notice, list, form, el("div", {class: "buttons orchestrator-save"},
                                             problem, saveButton));
  if (mine) {
    orchestrator.stale("Loaded their version; your edits are re-applied: check and Save.");
    notice.querySelector(".reapply").hidden = true;
    saveButton.focus();
  }
}

// -- live -------------------------------------------------------------------------------------

function revised(revision) {
  sync = null;  // the sync status changed with it
  const open = tabs.find(tab => tab.getAttribute("aria-selected") === "true");
  if (editing && editing.id !== null && revision.changes.some(c => c.name === editing.id)) {
    stale(document.getElementById("editor-form"),
          "Someone else changed this resource while you were editing. Your edits are kept.");
  } else if (open && !document.getElementById("editor").open && !document.querySelector(
      "dialog.own[open]")) {
    render(open.dataset.tab).catch(() => {});
  }
}

// After every script of the page has run (settings.js and governance.js add tabs).
document.addEventListener("DOMContentLoaded", () => {
  show(location.hash.slice(1) || tabs[0].dataset.tab).catch(() => {});
});
followRevisions(revised);  // (events.js)
