// An agent workflow's steps as a table (the "agent_steps" control of reconciler/web/fields.py),
// one row a step: its id and name, its agent (a picker of the existing agents, searched by
// the server: panel.js's searchedSelect), its sequence and timeout, where a success and a
// failure go (a select of the other steps and the terminal outcomes), whether it may fail
// partly, and its retry policy and context compilation as JSON editors. Rows are added,
// removed and moved (a move swaps the two steps' sequences, so the table's order stays the
// order they run in).
//
// Nothing is lost: each row keeps the step as read, keys the form does not show included,
// and a control still showing what it showed when the form opened leaves its key as read
// (present or absent), so an untouched table reads back exactly the steps it was given.
"use strict";

// What each control of a row holds, by the step's key: how it is drawn and read.
const STEP_COLUMNS = {
  step_id: "text", step_name: "text", agent_id: "agent", sequence: "number",
  timeout_seconds: "number", on_success: "transition", on_failure: "transition",
  allow_partial_failure: "bool", retry_policy: "json", context_compilation: "json"};
// A step id as validation and the runtime's lookups expect: a word.
const STEP_ID = /^\w+$/;

let stepRows = 0;  // rows drawn so far: each control's id is its own

// The table of `steps` for `field` (FORMS' entry), its fieldset's id `id`.
async function agentStepsEditor(field, id, steps) {
  const box = el("fieldset", {id, class: "field steps agent-steps", "data-field": field.name,
                              "data-control": field.control},
                 el("legend", {text: field.label + (field.required ? " *" : "")}));
  // The agents' first page is asked once for the whole table; searches go to the server.
  const source = idSource(field.agent_of);
  let first = null;
  box.agents = (q = "", only = null) => {
    if (q.trim() || only) return source(q, only);
    first = first || source("").catch(error => { first = null; throw error; });
    return first;
  };
  box.outcomes = field.outcomes;
  const body = el("tbody");
  const problem = el("p", {id: `${id}-problem`, class: "problem", "aria-live": "polite"});
  box.problem = problem;
  const head = el("tr", {}, ...["#", "Id and name", "Agent", "Sequence and timeout (s)",
                                "On success and on failure", "Partial failure",
                                "Retry policy (JSON)", "Context compilation (JSON)", ""]
    .map(text => el("th", {text})));
  box.append(el("div", {class: "scroll"}, el("table", {class: "records steps agent-steps"},
                                                el("thead", {}, head), body)),
             problem,
             el("button", {type: "button", class: "add-step", text: "Add step",
                           onclick: () => addStepRow(box, {}, true).catch(
                             error => say(error.message, "error"))}));
  if (field.hint) {
    box.append(el("small", {id: `${id}-hint`, class: "hint", text: field.hint}));
  }
  // The server's message about a step (panel.js's markFieldErrors puts it at the end of the
  // field) goes right under the table, beside the marked cells rather than past the hint.
  new MutationObserver(() => {
    const message = box.querySelector(":scope > .field-error");
    const table = box.querySelector(":scope > .scroll");
    if (message && message.previousElementSibling !== table) table.after(message);
  }).observe(box, {childList: true});
  for (const step of steps) {
    await addStepRow(box, step && typeof step === "object" && !Array.isArray(step) ? step : {},
                     false, false);
  }
  stepsChanged(box, false);
  return box;
}

// A row for `step`; `fresh`: a step added in this form (every value it shows is written).
async function addStepRow(box, step, fresh = false, announce = true) {
  const body = box.querySelector("tbody");
  const rowId = `${box.id}-r${++stepRows}`;
  const row = el("tr", {class: "step"});
  row.step = step;
  row.fresh = fresh;
  const controls = {};
  for (const [key, type] of Object.entries(STEP_COLUMNS)) {
    controls[key] = await stepControl(box, type, key, step[key], `${rowId}-${key}`);
  }
  if (fresh) {  // a new step runs last: after the highest sequence shown
    const shown = [...body.querySelectorAll("[data-key=sequence]")]
      .filter(input => input.value !== "").map(input => Number(input.value))
      .filter(Number.isFinite);
    if (shown.length) controls.sequence.value = String(Math.max(...shown) + 1);
  }
  const kept = Object.keys(step).filter(key => !(key in STEP_COLUMNS));
  const move = by => {
    const other = by < 0 ? row.previousElementSibling : row.nextElementSibling;
    if (!other) return;
    body.insertBefore(by < 0 ? row : other, by < 0 ? other : row);
    // The order shown is the order they run in: the two steps swap their sequences too.
    const mine = row.querySelector("[data-key=sequence]");
    const theirs = other.querySelector("[data-key=sequence]");
    if (mine.value !== "" && theirs.value !== "") [mine.value, theirs.value] = [theirs.value, mine.value];
    stepsChanged(box);
    const button = row.querySelector(by < 0 ? "button.up" : "button.down");
    (button.disabled ? row.querySelector(by < 0 ? "button.down" : "button.up") : button).focus();
  };
  row.append(
    el("th", {scope: "row"}),
    el("td", {}, controls.step_id, controls.step_name,
       ...(kept.length ? [el("small", {class: "kept", text: `Also kept: ${kept.join(", ")}`})]
         : [])),
    el("td", {class: "agent"}, controls.agent_id),
    el("td", {}, controls.sequence, controls.timeout_seconds),
    el("td", {}, controls.on_success, controls.on_failure),
    el("td", {}, controls.allow_partial_failure),
    el("td", {}, controls.retry_policy),
    el("td", {}, controls.context_compilation),
    el("td", {class: "moves"},
       el("button", {type: "button", text: "↑", class: "up", "aria-label": "Move up",
                     onclick: () => move(-1)}),
       el("button", {type: "button", text: "↓", class: "down", "aria-label": "Move down",
                     onclick: () => move(1)}),
       el("button", {type: "button", text: "Remove", class: "danger", onclick: () => {
         const next = row.nextElementSibling || row.previousElementSibling;
         row.remove();
         stepsChanged(box);
         (next?.querySelector("button.danger") || box.querySelector("button.add-step")).focus();
       }})));
  body.append(row);
  // What each control shows now is what the step as read means: untouched, it is kept so.
  for (const control of row.querySelectorAll("[data-key]")) {
    control.initial = fresh ? undefined : canonical(stepValue(control, row));
  }
  row.addEventListener("input", () => stepsChanged(box, false));
  row.addEventListener("change", () => stepsChanged(box, false));
  if (announce) {
    stepsChanged(box);
    if (fresh) controls.step_id.focus();
  }
  return row;
}

// One control of a row, filled with `value`; its data-key names the step's key it holds.
async function stepControl(box, type, key, value, id) {
  if (type === "agent") {
    const wrap = el("div", {class: "picker"});
    const select = el("select", {id, "data-key": key});
    wrap.append(select);
    await searchedSelect(select, box.agents, typeof value === "string" ? value : "", wrap,
                         `step ${key}`);
    if (value !== undefined && typeof value !== "string") keepAsWritten(select, value);
    return wrap;
  }
  if (type === "transition") {
    const select = el("select", {id, "data-key": key});
    select.written = value;
    fillTransition(select, [], box.outcomes);  // the other steps: filled by stepsChanged
    return select;
  }
  if (type === "json") {
    const editor = jsonEditor(id, value === undefined ? null : value);
    const area = editor.querySelector("textarea");
    area.dataset.key = key;
    area.rows = 3;
    if (value === undefined) area.value = "";  // absent: left out unless something is typed
    area.addEventListener("input", () => {  // empty is allowed: the key is left out
      if (area.value.trim() === "") {
        area.removeAttribute("aria-invalid");
        editor.querySelector(".problem").textContent = "";
        updateSave();
      }
    });
    return editor;
  }
  if (type === "bool") {
    const input = el("input", {type: "checkbox", id, "data-key": key});
    input.checked = value === true;
    if (value !== undefined && typeof value !== "boolean") input.written = value;
    return el("div", {class: "check"}, input);
  }
  const input = el("input", {id, "data-key": key, type: type === "number" ? "number" : "text",
                             step: type === "number" ? "1" : null,
                             placeholder: {step_id: "id", step_name: "name",
                                           timeout_seconds: "timeout"}[key] ?? null});
  if (type === "number" && value !== undefined && value !== null && typeof value !== "number") {
    input.type = "text";  // not a number: shown as written, kept unless changed
  }
  input.value = value === undefined || value === null ? "" : String(value);
  return input;
}

// A select holding a value it would not offer (not a string): shown as written.
function keepAsWritten(select, value) {
  const text = JSON.stringify(value);
  select.append(el("option", {value: text, text: `${text} (as written)`}));
  select.value = text;
  select.written = value;
}

// What `control` holds, as the step would hold it (undefined: the key left out). A JSON
// editor holding invalid JSON throws, as the form's own do.
function stepValue(control, row) {
  const key = control.dataset.key;
  if (control.type === "checkbox") {
    if (control.written !== undefined && !control.checked) return control.written;
    return control.checked ? true : (key in row.step ? false : undefined);
  }
  if (control.tagName === "TEXTAREA") {
    return control.value.trim() === "" ? undefined : JSON.parse(control.value);
  }
  if (control.tagName === "SELECT" && control.written !== undefined &&
      control.value === (typeof control.written === "string" ? control.written
                         : JSON.stringify(control.written))) {
    return control.written;  // a value outside the choices, unchanged
  }
  if (control.value === "") return undefined;
  if (control.type === "number") return Number(control.value);
  if (control.type === "text" && STEP_COLUMNS[key] === "number") {  // a non-number as read
    return canonical(control.value) === canonical(String(row.step[key])) ? row.step[key]
      : (Number.isFinite(Number(control.value)) ? Number(control.value) : control.value);
  }
  return control.value;
}

// The steps the table holds: each row's step as read, with the keys whose control the
// user changed set (or left out, when emptied), and new rows as shown.
function readAgentSteps(box) {
  return [...box.querySelectorAll("tbody tr.step")].map(row => {
    const step = {...row.step};
    for (const control of row.querySelectorAll("[data-key]")) {
      const value = stepValue(control, row);
      if (!row.fresh && canonical(value) === control.initial) continue;  // untouched
      if (value === undefined) delete step[control.dataset.key];
      else step[control.dataset.key] = value;
    }
    return step;
  });
}

// After a row is added, removed, moved or edited: number the rows, name their controls,
// refill each transition's choices with the steps there are now, and say what would be
// refused (an id missing, not a word, or used twice; a step without an agent), marked on
// its control (Save is disabled while it is: updateSave). `notify`: tell the form.
function stepsChanged(box, notify = true) {
  const rows = [...box.querySelectorAll("tbody tr.step")];
  const ids = rows.map(row => row.querySelector("[data-key=step_id]").value.trim());
  const problems = [];
  rows.forEach((row, index) => {
    row.querySelector("th").textContent = String(index + 1);
    for (const control of row.querySelectorAll("[data-key]")) {
      control.setAttribute("aria-label", `Step ${index + 1} ${control.dataset.key}`);
    }
    row.querySelector(".picker-search")?.setAttribute("aria-label",
                                                      `Search step ${index + 1} agent`);
    for (const button of row.querySelectorAll("td.moves button")) {
      button.setAttribute("aria-label", `${button.classList.contains("up") ? "Move up"
        : button.classList.contains("down") ? "Move down" : "Remove"} step ${index + 1}`);
    }
    row.querySelector("button.up").disabled = index === 0;
    row.querySelector("button.down").disabled = index === rows.length - 1;
    for (const key of ["on_success", "on_failure"]) {
      fillTransition(row.querySelector(`[data-key=${key}]`), ids.filter((id, at) =>
        id && at !== index), box.outcomes);
    }
    const id = ids[index];
    const said = !id ? "an id is required"
      : !STEP_ID.test(id) ? `id '${id}' may hold only letters, digits and _`
      : ids.indexOf(id) !== index ? `id '${id}' is used by step ${ids.indexOf(id) + 1} too`
      : null;
    flag(box, row.querySelector("[data-key=step_id]"), said, index, problems);
    flag(box, row.querySelector("[data-key=agent_id]"),
         row.querySelector("[data-key=agent_id]").value ? null : "an agent is required",
         index, problems);
  });
  box.problem.textContent = problems.join("; ");
  updateSave();
  if (notify) box.dispatchEvent(new Event("change", {bubbles: true}));
}

// Mark `control` with what is wrong with it (or clear the mark), unless the server's mark
// is on it (panel.js clears that when the field is edited).
function flag(box, control, said, index, problems) {
  if (said) problems.push(`Step ${index + 1}: ${said}`);
  if (control.hasAttribute("data-server-error")) return;
  if (said) {
    control.setAttribute("aria-invalid", "true");
    describe(control, box.problem.id);
  } else {
    control.removeAttribute("aria-invalid");
  }
}

// The choices of an on_success / on_failure select: nothing (the default said), the other
// steps, the terminal outcomes, and a value it held that is none of these, kept and marked.
function fillTransition(select, others, outcomes) {
  const current = select.options.length ? select.value
    : (typeof select.written === "string" ? select.written : "");
  const none = select.dataset.key === "on_success" ? "— next step" : "— terminate_with_error";
  const options = [el("option", {value: "", text: none})];
  const steps = others.map(id => el("option", {value: id, text: id}));
  if (steps.length) options.push(el("optgroup", {label: "Steps"}, ...steps));
  options.push(el("optgroup", {label: "Ends"},
                  ...outcomes.map(id => el("option", {value: id, text: id}))));
  if (current && !others.includes(current) && !outcomes.includes(current)) {
    options.push(el("option", {value: current, text: `${current} (not a step)`}));
  }
  select.replaceChildren(...options);
  select.value = current;
}
