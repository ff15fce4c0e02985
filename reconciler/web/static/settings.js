// The settings tabs: System settings, Context engineering (strategies and the processor
// pipeline) and Integrations, and the typed forms they (and governance.js) are built from.
// Loaded after panel.js, whose helpers it uses: api, say, el, content, jsonEditor,
// renderList, openForm, remove, choices, replaceKeepingFocus, updateSave.
"use strict";

// -- typed forms over JSON documents --------------------------------------------------------
// Each setting gets the control its value's type asks for: a checkbox for a boolean, a number
// input for a number, a text input for a string, one item per line for a list of strings, a
// table for a list of objects, a fieldset for an object (its `_description` as help text),
// the JSON editor for anything else. A form edits the document as it was loaded: reading it
// writes each shown value back into a copy, so every key it does not show survives a save
// (`_description`, `last_updated`, settings of newer runtimes), and a value keeps its type
// (a string "30" stays a string).

class Invalid extends Error {}  // what the person typed cannot be read: said, nothing sent

const isObject = value => value !== null && typeof value === "object" && !Array.isArray(value);
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const words = key => key.replace(/_/g, " ");

function shapeOf(value) {
  if (typeof value === "boolean") return "bool";
  if (typeof value === "number") return "number";
  if (typeof value === "string") return "text";
  if (Array.isArray(value)) {
    if (value.every(item => typeof item === "string")) return "list";
    if (value.every(isObject)) return "records";
  }
  return isObject(value) ? "object" : "json";
}

// `spec` says, per dotted path of an object ("" for the document, "workflow",
// "compaction.llm_summarization"), what the values alone do not: `known` settings the
// runtime reads (with its default) even when the file leaves them out, `choices` per key,
// `long` keys (a textarea), `first` keys, `skip` keys (not shown, kept), and `total` (show
// the sum of the `*_percentage` settings, which must be 100).
function editor(value, id, label, spec, path = []) {
  const shape = shapeOf(value);
  if (shape === "object") return objectEditor(value, id, label, spec, path);
  if (shape === "records") return recordsEditor(value, id, label);
  return fieldEditor(value, id, label, shape, spec[path.slice(0, -1).join(".")] || {},
                     path[path.length - 1]);
}

function fieldEditor(value, id, label, shape, options, key) {
  const listed = (options.choices || {})[key];
  const wrap = el("div", {class: `field ${listed ? "choice" : shape}`});
  const caption = el("label", {for: id, text: label});
  let input, read;
  if (listed) {
    input = el("select", {id});
    if (!listed.includes(value)) input.append(el("option", {value, text: `${value} (current)`}));
    for (const choice of listed) input.append(el("option", {value: choice, text: choice}));
    input.value = value;
    read = () => input.value;
    wrap.append(caption, input);
  } else if (shape === "bool") {
    input = el("input", {id, type: "checkbox"});
    input.checked = value;
    wrap.classList.add("check");
    wrap.append(input, caption);
    read = () => input.checked;
  } else if (shape === "number") {
    input = el("input", {id, type: "number", step: Number.isInteger(value) ? "1" : "any"});
    input.value = String(value);
    read = () => {
      if (input.value.trim() === "") throw new Invalid(`${label}: a number is needed`);
      return Number(input.value);
    };
    wrap.append(caption, input);
  } else if (shape === "list") {
    input = el("textarea", {id, rows: Math.min(Math.max(value.length, 2), 6),
                            "aria-describedby": `${id}-hint`});
    input.value = value.join("\n");
    read = () => input.value.split("\n").map(item => item.trim()).filter(Boolean);
    wrap.append(caption, input, el("small", {id: `${id}-hint`, text: "One per line"}));
  } else if (shape === "text") {
    const long = (options.long || []).includes(key) || value.length > 80;
    input = long ? el("textarea", {id, rows: 3}) : el("input", {id, type: "text"});
    input.value = value;
    read = () => input.value;
    wrap.append(caption, input);
  } else {
    const box = jsonEditor(id, value);
    read = () => parsed(box.querySelector("textarea").value, label);
    wrap.append(caption, box);
  }
  return {node: wrap, read, changed: () => !same(read(), value)};
}

function parsed(text, label) {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Invalid(`${label}: the JSON is not valid`);
  }
}

function objectEditor(value, id, label, spec, path) {
  const options = spec[path.join(".")] || {};
  const node = path.length === 0 ? el("div", {class: "document", id})
    : el("fieldset", {class: "section", id}, el("legend", {text: label}));
  if (typeof value._description === "string") {
    node.append(el("p", {class: "help", id: `${id}-help`, text: value._description}));
    node.setAttribute("aria-describedby", `${id}-help`);
  }
  const known = options.known || {};
  const keys = [...new Set([...(options.first || []).filter(key => key in value || key in known),
                            ...Object.keys(value), ...Object.keys(known)])]
    .filter(key => !key.startsWith("_") && !(options.skip || []).includes(key));
  const parts = [];
  for (const key of keys) {
    const present = key in value;
    const part = editor(present ? value[key] : known[key], `${id}-${key}`, words(key), spec,
                        [...path, key]);
    if (!present) {
      part.node.classList.add("absent");
      part.node.append(el("small", {class: "default", text: isObject(known[key])
        ? "Not in the file: added when you change a setting in it."
        : `Not in the file: the runtime's default is ${JSON.stringify(known[key])}.`}));
    }
    parts.push({key, present, part});
    node.append(part.node);
  }
  if (!parts.length) node.append(el("p", {class: "empty", text: "No settings here."}));
  if (options.total) node.append(budgetTotal(node, parts, id));
  const read = () => {
    const out = {...value};
    for (const {key, present, part} of parts) {
      if (present || part.changed()) out[key] = part.read();
    }
    return out;
  };
  return {node, read, changed: () => !same(read(), value)};
}

function budgetTotal(node, parts, id) {
  const shares = parts.filter(({key, part}) => key.endsWith("_percentage") &&
                                               part.node.querySelector("input[type=number]"));
  const total = el("output", {class: "total", id: `${id}-total`, "aria-live": "polite"});
  const update = () => {
    const sum = shares.reduce((all, {part}) => {
      const share = Number(part.node.querySelector("input").value);
      return all + (Number.isNaN(share) ? 0 : share);
    }, 0);
    const shown = Math.round(sum * 1000) / 1000;
    total.textContent = `Total: ${shown}%${shown === 100 ? "" : " (must be 100)"}`;
    total.classList.toggle("bad", shown !== 100);
  };
  node.addEventListener("input", update);
  update();
  return total;
}

// A list of objects as a table: a column per key (union of the rows' keys), a cell control
// per value's type (lists as comma lists, objects as JSON text), rows added and removed.
// A long list (a rule per agent: 10,000 rows) is shown a page at a time with a filter; a
// row's controls are built when it is first shown, and a row never shown is read back as
// it came (so a save changes only what was edited).
const RECORDS_PAGE = 50;

function recordsEditor(items, id, label) {
  const columns = [];
  for (const item of items) {
    for (const key of Object.keys(item)) {
      if (!key.startsWith("_") && !columns.includes(key)) columns.push(key);
    }
  }
  const sample = key => (items.find(item => key in item) || {})[key];
  const body = el("tbody");
  const table = el("table", {class: "records all-columns"},
                   el("thead", {}, el("tr", {}, ...columns.map(key => el("th", {text: words(key)})),
                                      el("th", {}, el("span", {class: "hidden-label",
                                                               text: "Remove"})))),
                   body);
  const rows = [];
  const paged = items.length > RECORDS_PAGE;
  let shown = RECORDS_PAGE;
  let query = "";
  const drawn = row => {  // the row's controls, built once
    if (row.tr) return row.tr;
    const number = row.number;
    const first = row.original[columns[0]];
    const name = typeof first === "string" && first ? first : `row ${number}`;
    row.cells = columns.map(key => cellEditor(row.original[key], sample(key),
                                              `${words(key)} of ${name}`,
                                              `${id}-${number}-${key}`));
    row.tr = el("tr", {}, ...row.cells.map(cell => el("td", {}, cell.input)));
    row.tr.append(el("td", {}, el("button", {
      type: "button", class: "danger remove", text: "Remove",
      "aria-label": `Remove ${name} from ${label}`, onclick: () => {
        row.removed = true;
        row.tr.remove();
        show();
        table.dispatchEvent(new Event("input", {bubbles: true}));
        updateSave();
      }})));
    return row.tr;
  };
  const count = el("p", {class: "count", "aria-live": "polite"});
  const more = el("button", {type: "button", class: "more", onclick: () => {
    shown += RECORDS_PAGE;
    show();
  }});
  const matches = row => {
    if (!query) return true;
    row.text = row.text || JSON.stringify(row.original).toLowerCase();
    return row.text.includes(query);
  };
  // The rows the page shows: the filter's first `shown`, then the rows added here.
  const show = () => {
    const kept = rows.filter(row => !row.removed && !row.added);
    const found = kept.filter(matches);
    const visible = [...found.slice(0, shown), ...rows.filter(r => r.added && !r.removed)];
    body.replaceChildren(...visible.map(drawn));
    if (!paged) return;
    const left = found.length - Math.min(shown, found.length);
    count.textContent = `${Math.min(shown, found.length)} of ${found.length}` +
      (query ? ` matching (${kept.length} in all)` : "") + " shown";
    more.textContent = `Show ${Math.min(left, RECORDS_PAGE)} more`;
    more.hidden = left <= 0;
  };
  const made = (original, added = false) => ({original, number: rows.length + 1, cells: null,
                                              tr: null, removed: false, added});
  items.forEach(item => rows.push(made(item)));
  show();
  const add = el("button", {type: "button", class: "add-row", text: "Add row",
                            "aria-label": `Add row to ${label}`, onclick: () => {
                              const row = made({}, true);
                              rows.push(row);
                              show();
                              if (row.cells.length) row.cells[0].input.focus();
                              table.dispatchEvent(new Event("input", {bubbles: true}));
                            }});
  table.setAttribute("aria-label", label);
  const filter = el("input", {type: "search", class: "records-filter",
                              placeholder: `Filter ${items.length} rows`,
                              "aria-label": `Filter ${label}`});
  filter.addEventListener("keydown", event => {
    if (event.key === "Enter") event.preventDefault();  // filtering submits nothing
  });
  filter.addEventListener("input", event => {
    event.stopPropagation();  // a filter is no edit
    query = filter.value.trim().toLowerCase();
    shown = RECORDS_PAGE;
    show();
  });
  const node = el("div", {class: "field records", id},
                  el("span", {class: "caption", id: `${id}-caption`, text: label}),
                  ...(paged ? [filter, count] : []),
                  el("div", {class: "scroll", role: "region", tabindex: "0",
                             "aria-labelledby": `${id}-caption`}, table),
                  ...(paged ? [more] : []),
                  ...(columns.length ? [add] : []));
  const read = () => rows.filter(row => !row.removed).map(row => {
    const out = {...row.original};
    if (!row.cells) return out;  // never shown: as it came
    columns.forEach((key, index) => {
      const value = row.cells[index].read();
      if (value === undefined) delete out[key];
      else out[key] = value;
    });
    return out;
  });
  return {node, read, changed: () => !same(read(), items)};
}

// One cell: `value` (undefined when the row has no such key; left empty, it stays absent).
function cellEditor(value, sample, label, id) {
  const shape = shapeOf(value === undefined ? sample : value);
  const absent = value === undefined;
  let input, read;
  if (shape === "bool") {
    input = el("input", {id, type: "checkbox", "aria-label": label});
    input.checked = value === true;
    read = () => (absent && !input.checked ? undefined : input.checked);
  } else if (shape === "number") {
    input = el("input", {id, type: "number", "aria-label": label,
                         step: Number.isInteger(value ?? sample) ? "1" : "any"});
    input.value = absent ? "" : String(value);
    read = () => {
      if (input.value.trim() === "") {
        if (absent) return undefined;
        throw new Invalid(`${label}: a number is needed`);
      }
      return Number(input.value);
    };
  } else if (shape === "list") {
    // A comma list in a box that grows with it (panel.css): every value stays in view.
    input = el("textarea", {id, rows: 1, "aria-label": label, "data-shape": "list"});
    input.value = absent ? "" : value.join(", ");
    read = () => (absent && input.value.trim() === "" ? undefined
      : input.value.split(/[,\n]/).map(item => item.trim()).filter(Boolean));
  } else if (shape === "text") {
    input = el("input", {id, type: "text", "aria-label": label});
    input.value = absent ? "" : value;
    read = () => (absent && input.value === "" ? undefined : input.value);
  } else {
    input = el("input", {id, type: "text", "aria-label": label, class: "json-cell",
                         spellcheck: "false"});
    input.value = absent ? "" : JSON.stringify(value);
    input.addEventListener("input", () => {
      let good = input.value.trim() === "";
      try { JSON.parse(input.value); good = true; } catch (error) { /* marked below */ }
      if (good) input.removeAttribute("aria-invalid");
      else input.setAttribute("aria-invalid", "true");
      updateSave();
    });
    read = () => (absent && input.value.trim() === "" ? undefined : parsed(input.value, label));
  }
  input.size = Math.min(Math.max(input.value.length, 6), 36);
  return {input, read};
}

// A form that can be switched to the JSON editor and back ("JSON", a toggle button): what
// either holds is carried over to the other.
function switchable(value, id, label, build) {
  let form = build(value);
  let json = null;
  const holder = el("div", {class: "switchable"}, form.node);
  const toggle = el("button", {type: "button", class: "as-json", text: "JSON",
                               "aria-pressed": "false", "aria-label": `Edit ${label} as JSON`});
  toggle.addEventListener("click", () => {
    try {
      if (json === null) {
        const current = form.read();
        json = el("div", {class: "field json"},
                  el("label", {for: `${id}-json`, text: `${label} as JSON`}),
                  jsonEditor(`${id}-json`, current));
        holder.replaceChildren(json);
      } else {
        const current = parsed(json.querySelector("textarea").value, label);
        if (!isObject(current)) throw new Invalid(`${label}: the JSON must be an object`);
        form = build(current);
        json = null;
        holder.replaceChildren(form.node);
      }
      toggle.setAttribute("aria-pressed", String(json !== null));
      updateSave();
    } catch (error) {
      if (!(error instanceof Invalid)) throw error;
      say(error.message, "error");
    }
  });
  const read = () => (json === null ? form.read()
    : parsed(json.querySelector("textarea").value, label));
  return {node: holder, toggle, read};
}

// -- one-document kinds: system config, context strategies, integration config --------------

const DOCUMENTS = {};  // def.key -> {version, dirty, form, notice} of the form shown

// Render the document `def` names into `box`. Again on a change anywhere (the event stream)
// only when the document changed: an unsaved edit is never lost to someone else's change,
// which is announced instead.
function renderDocument(def, box, spec, force = false) {
  return inTurn(`document:${def.key}`, () => drawDocument(def, box, spec, force));
}

async function drawDocument(def, box, spec, force) {
  const absent = text => {
    delete DOCUMENTS[def.key];
    box.replaceChildren(el("p", {class: "empty", text}));
  };
  // A document the mesh does not have is not asked for: its 404 would be a failed request
  // in the browser's console on every look at the tab. The count of each kind tells.
  const {data: counted} = await api("GET", "/registries/graph/kinds");
  const kind = counted.kinds.find(each => each.kind === def.kind);
  if (kind && !kind.count) return absent(`There is no ${kind.label} yet; PUT one to create it.`);
  let data;
  try {
    ({data} = await api("GET", def.path));
  } catch (error) {  // removed since it was counted
    if (error.status !== 404) throw error;
    return absent(`${error.message}.`);
  }
  const version = data.resource_version;
  const document = def.wrapped ? data[def.wrapped] : {...data};
  delete document.resource_version;
  const shown = DOCUMENTS[def.key];
  if (shown && !force && box.contains(shown.form)) {
    if (shown.version === version) return;
    if (shown.dirty) {
      shown.notice.hidden = false;
      return;
    }
  }
  const state = {version, dirty: false};
  const fields = switchable(document, def.key, def.label,
                            value => editor(value, def.key, def.label, spec));
  const problem = el("p", {class: "error", role: "alert", hidden: true});
  const unsaved = el("span", {class: "unsaved", text: "Unsaved changes", hidden: true});
  const again = () => renderDocument(def, box, spec, true).catch(error => say(error.message,
                                                                               "error"));
  state.notice = el("p", {class: "changed", role: "alert", hidden: true},
                    `Someone else changed ${def.noun} since you loaded them. `,
                    el("button", {type: "button", text: "Reload (drops your changes)",
                                  onclick: again}));
  const save = el("button", {type: "button", class: "save", text: "Save",
                             "aria-label": `Save ${def.noun}`,
                             onclick: () => saveDocument(def, box, spec, state, fields,
                                                         problem)});
  state.form = el("div", {class: "doc", "data-form": def.key}, state.notice,
                  ...(def.intro ? [el("p", {class: "intro", text: def.intro})] : []),
                  ...(document.last_updated ? [el("p", {class: "meta",
                    text: `Last updated ${document.last_updated}.`})] : []),
                  fields.node, problem,
                  el("div", {class: "buttons"}, unsaved, fields.toggle,
                     el("button", {type: "button", class: "reset", text: "Reset",
                                   "aria-label": `Reset ${def.noun}`, onclick: again}),
                     save));
  const touched = () => {
    state.dirty = true;
    unsaved.hidden = false;
  };
  state.form.addEventListener("input", touched);
  state.form.addEventListener("change", touched);
  DOCUMENTS[def.key] = state;
  replaceKeepingFocus(box, state.form);
  updateSave();
}

// The kind of each one-document form, as /registries/changes names it.
const DOCUMENT_KINDS = {system: "SystemConfig", strategies: "ContextStrategies",
                        integration: "IntegrationConfig"};

async function saveDocument(def, box, spec, state, fields, problem) {
  problem.hidden = true;
  const refuse = text => {
    problem.textContent = text;
    problem.hidden = false;
    say(text, "error");
  };
  let document;
  try {
    document = fields.read();
  } catch (error) {
    if (!(error instanceof Invalid)) throw error;
    return refuse(error.message);
  }
  // The plan first (plans.js): the document is its kind's one entry, named "default".
  const planned = await meshPlans.planChanges({
    title: `Save ${def.noun}`, changes: [{kind: DOCUMENT_KINDS[def.key], name: "default",
                                          entry: document, resource_version: state.version}]});
  if (planned.failed) {
    return refuse(planned.failed.status === 412
      ? `Someone else changed ${def.noun} meanwhile: Reset loads theirs (dropping your ` +
        "changes); then make yours again." : planned.failed.message);
  }
  if (!planned.saved) return;  // closed unsaved: the form keeps every edit
  await renderDocument(def, box, spec, true);  // "Saved" once the form shows what was saved
  say(`Saved ${def.noun}.`);
}

// What upstream's orchestrator reads from system_config.json, with its default for a
// setting the file leaves out (its config.py).
const SYSTEM_KNOWN = {
  orchestrator: {max_iterations: 10, iteration_timeout_seconds: 30},
  workflow: {max_duration_seconds: 300, max_agent_invocations: 20},
  agent: {default_max_iterations: 5, default_iteration_timeout_seconds: 30,
          max_duplicate_invocations: 2},
  llm: {timeout_seconds: 30, max_retries: 3, max_tokens_per_request: 2000,
        max_tokens_per_session: 50000},
  governance: {max_tool_invocations_per_session: 50, max_llm_calls_per_session: 30},
  safety: {consecutive_no_progress_limit: 2, malformed_response_limit: 3},
  schema: {default_version: "1.0", strict_validation: true, validation_failure_limit: 3,
           log_validation_sample: true, max_validation_sample_chars: 500},
  context_engineering: {enabled: false, processor_pipeline_enabled: true},
  compaction: {enabled: false, method: "rule_based"},
  memory: {enabled: false, retrieval_mode: "reactive"},
  artifacts: {versioning_enabled: false},
};
const SYSTEM = {key: "system", kind: "SystemConfig", path: "/registries/system-config",
                label: "System settings",
                noun: "the system settings",
                intro: "Limits, timeouts and switches the orchestrator reads " +
                       "(system_config.json). Save replaces the whole document."};

function systemSpec() {
  const spec = {"": {first: ["version"], skip: ["last_updated"], known: Object.fromEntries(
    Object.keys(SYSTEM_KNOWN).map(section => [section, {}]))}};
  for (const [section, known] of Object.entries(SYSTEM_KNOWN)) spec[section] = {known};
  spec.compaction.choices = {method: ["rule_based", "llm_based"]};
  spec.memory.choices = {retrieval_mode: ["reactive", "proactive"]};
  return spec;
}

RENDERERS.system = () => renderDocument(SYSTEM, content("system"), systemSpec());

// -- context engineering ----------------------------------------------------------------------

const STRATEGIES = {key: "strategies", kind: "ContextStrategies",
                    path: "/registries/context/strategies",
                    label: "Context strategies", noun: "the context strategies",
                    intro: "Token budgets, compaction, memory, artifacts and prefix caching " +
                           "(context_strategies.json)."};

function strategiesSpec(profiles) {
  return {
    "": {first: ["version"], skip: ["last_updated"]},
    "context_compilation.default_budget_allocation": {total: true},
    compaction: {choices: {compaction_method: ["rule_based", "llm_based"]}},
    "compaction.llm_summarization": {choices: {model_profile_id: profiles,
                                               quality_level: ["fast", "standard", "high"]}},
    memory_layer: {choices: {retrieval_mode: ["reactive", "proactive"]}},
  };
}

function part(box, name, title, help) {
  let found = box.querySelector(`[data-part="${name}"]`);
  if (!found) {
    found = el("div", {"data-part": name});
    box.append(el("section", {class: "part", "aria-labelledby": `part-${name}`},
                  el("h3", {id: `part-${name}`, text: title}),
                  ...(help ? [el("p", {class: "help", text: help})] : []), found));
  }
  return found;
}

RENDERERS.context = async () => {
  const box = content("context");
  const strategies = part(box, "strategies", "Strategies");
  const pipeline = part(box, "pipeline", "Processor pipeline",
                        "The processors run in this order on every context compilation; a " +
                        "disabled one is skipped. No two may share an order.");
  const profiles = await choices("ModelProfile").catch(() => []);
  await Promise.all([renderDocument(STRATEGIES, strategies, strategiesSpec(profiles)),
                     renderPipeline(pipeline)]);
};

KINDS.processors.refresh = () => renderPipeline(part(content("context"), "pipeline"), true);
const PROCESSORS = `/registries/${KINDS.processors.path}`;

let pipelineShown = null;  // what the table shows: ids and versions, in order
let pipelineVersion = null;  // the whole pipeline's version, for a reorder's If-Match

function renderPipeline(box, force = false) {
  return inTurn("pipeline", () => drawPipeline(box, force));
}

async function drawPipeline(box, force) {
  const {data} = await api("GET", PROCESSORS);
  pipelineVersion = data.resource_version;
  const {list, id} = KINDS.processors;
  const rows = (await Promise.all(data[list].map(processor => api(
    "GET", `${PROCESSORS}/${encodeURIComponent(processor[id])}`))))
    .map(({data: entry}) => {
      const version = entry.resource_version;
      delete entry.resource_version;
      return {id: entry[id], version, entry};
    });
  const order = row => (typeof row.entry.order === "number" ? row.entry.order : 999);
  rows.sort((a, b) => order(a) - order(b));
  const signature = JSON.stringify(rows.map(row => [row.id, row.version]));
  if (!force && signature === pipelineShown && box.querySelector("table")) return;
  pipelineShown = signature;
  const body = el("tbody");
  rows.forEach((row, index) => {
    const position = el("input", {type: "number", step: "1", class: "order",
                                  "aria-label": `Order of ${row.id}`});
    position.value = String(order(row));
    position.addEventListener("change", () => changeProcessor(
      box, row, {order: Number(position.value)}, `Moved '${row.id}' to order ${position.value}.`));
    const enabled = el("input", {type: "checkbox", id: `enable-${row.id}`,
                                 "aria-label": `Enable ${row.id}`});
    enabled.checked = row.entry.enabled !== false;
    enabled.addEventListener("change", () => changeProcessor(
      box, row, {enabled: enabled.checked},
      `${enabled.checked ? "Enabled" : "Disabled"} '${row.id}'.`));
    body.append(el("tr", {"data-id": row.id, class: enabled.checked ? "" : "off"},
      el("td", {}, position),
      el("td", {}, el("strong", {text: row.entry.name || row.id}), " ",
         el("code", {}, ...wordWrapped(row.id)),
         ...(row.entry._description ? [el("br"), el("small", {text: row.entry._description})]
           : [])),
      el("td", {}, enabled),
      el("td", {},
         el("button", {type: "button", text: "↑", class: "up", "aria-label": `Move ${row.id} up`,
                       disabled: index === 0, onclick: () => move(box, rows, index, -1)}),
         el("button", {type: "button", text: "↓", class: "down",
                       "aria-label": `Move ${row.id} down`, disabled: index === rows.length - 1,
                       onclick: () => move(box, rows, index, 1)}),
         el("button", {type: "button", text: "Edit", "aria-label": `Edit ${row.id}`,
                       onclick: () => openForm("processors", row.id)}),
         el("button", {type: "button", text: "Delete", class: "danger",
                       "aria-label": `Delete ${row.id}`,
                       onclick: () => remove("processors", row.id)}))));
  });
  const active = rows.filter(row => row.entry.enabled !== false).length;
  replaceKeepingFocus(box,
    el("div", {class: "toolbar"}, el("button", {type: "button", class: "add",
                                                text: "Add context processor",
                                                onclick: () => openForm("processors", null)})),
    el("p", {class: "count", text: `${rows.length} processors, ${active} enabled`}),
    el("div", {class: "scroll"},
       el("table", {class: "pipeline all-columns", "aria-label": "processor pipeline"},
          el("thead", {}, el("tr", {}, el("th", {text: "Order"}), el("th", {text: "Processor"}),
                                  el("th", {text: "Enabled"}), el("th", {text: "Actions"}))),
          body)));
}

// Plan, show and commit `changes` of the pipeline (plans.js), then show the pipeline as it
// is (a plan closed unsaved puts back what the table showed); `done` is said once shown.
async function planPipeline(box, title, changes, done, kindVersions = {}) {
  const planned = await meshPlans.planChanges({title, changes, kindVersions});
  const error = planned.failed;
  const said = error ? [error.status === 412 ? "Someone else changed the pipeline " +
                        "meanwhile: shown again as it is now." : error.message, "error"]
    : planned.saved ? [done] : null;
  await renderPipeline(box, true);  // said once the pipeline shows it
  if (said) say(...said);
}

function changeProcessor(box, row, changes, done) {
  return planPipeline(box, done.replace(/\.$/, ""), [
    {kind: KINDS.processors.kind, name: row.id, entry: {...row.entry, ...changes},
     resource_version: row.version}], done);
}

// Swap two processors' orders in one plan, so the swap is one revision (no two processors
// may share an order at any moment), fenced on the whole pipeline's version.
function move(box, rows, index, step) {
  const [first, second] = [rows[index], rows[index + step]];
  const where = step < 0 ? "up" : "down";
  return planPipeline(box, `Move '${first.id}' ${where}`, [
    {kind: KINDS.processors.kind, name: first.id,
     entry: {...first.entry, order: second.entry.order}},
    {kind: KINDS.processors.kind, name: second.id,
     entry: {...second.entry, order: first.entry.order}},
  ], `Moved '${first.id}' ${where}.`, {[KINDS.processors.kind]: pipelineVersion});
}

// -- integrations -------------------------------------------------------------------------------

// What the integrations tab shows of its lists beyond the server's table (KINDS): a plural
// for the count and a column of what matters.
const INTEGRATION_LISTS = {
  connectors: {detailLabel: "Type · auth profile",
               detail: entry => [entry.type, entry.auth_profile].filter(Boolean).join(" · ")},
  "auth-profiles": {plural: "auth profiles", detailLabel: "Type", detail: entry => entry.type},
  "security-policies": {plural: "security policies", detailLabel: "Rules",
                        detail: entry => (entry.rules || [])
                          .map(rule => `${rule.field} → ${rule.action}`).join(", ")},
  "integration-workflows": {plural: "integration workflows", detailLabel: "Trigger · steps",
                            detail: entry => `${entry.trigger} · ${(entry.steps || []).length}`},
};
const INTEGRATION_TITLES = {connectors: "Connectors", "auth-profiles": "Auth profiles",
                            "security-policies": "Security policies",
                            "integration-workflows": "Integration workflows"};
for (const [name, shown] of Object.entries(INTEGRATION_LISTS)) {
  Object.assign(KINDS[name], shown, {box: () => content("integrations")
    .querySelector(`[data-part="${name}"]`)});
}

const INTEGRATION = {key: "integration", kind: "IntegrationConfig",
                     path: "/registries/integration/system-config",
                     wrapped: "config", label: "Integration config",
                     noun: "the integration config",
                     intro: "Retry policies, throughput limits, circuit-breaker defaults, " +
                            "event channels, observability and idempotency of the " +
                            "integration fabric (integration/system_config.json)."};
const INTEGRATION_SPEC = {
  "": {first: ["version"], skip: ["last_updated"]},
  throughput_limits: {choices: {backpressure_mode: ["queue", "reject", "shed_load"]}},
};

RENDERERS.integrations = async () => {
  const box = content("integrations");
  for (const [name, title] of Object.entries(INTEGRATION_TITLES)) part(box, name, title);
  const config = part(box, "integration-config", "Integration config");
  await Promise.all([...Object.keys(INTEGRATION_LISTS).map(name => renderList(name)),
                     renderDocument(INTEGRATION, config, INTEGRATION_SPEC)]);
};
