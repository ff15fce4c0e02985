// The Governance tab (one section per policy, each with its own form and a JSON toggle, and
// the whole document as JSON) and the Accountability tab (the HITL checkpoints of each
// workflow, their roles taken from governance). Loaded after panel.js and settings.js.
"use strict";

// -- governance -------------------------------------------------------------------------------

const LEVELS = ["strict", "permissive"];
const governance = {version: null, document: null, root: null, notice: null, dirty: new Set()};

RENDERERS.governance = () => renderGovernance(false);

function renderGovernance(force) {
  return inTurn("governance", () => drawGovernance(force));
}

async function drawGovernance(force) {
  const box = content("governance");
  let data;
  try {
    ({data} = await api("GET", "/registries/governance"));
  } catch (error) {
    if (error.status !== 404) throw error;
    box.replaceChildren(el("p", {class: "empty", text: `${error.message}.`}));
    return;
  }
  const version = data.resource_version;
  delete data.resource_version;
  if (!force && governance.root && box.contains(governance.root)) {
    if (governance.version === version) return;
    if (governance.dirty.size) {  // never drop an unsaved edit: say so instead
      governance.notice.hidden = false;
      return;
    }
  }
  Object.assign(governance, {version, document: data});
  governance.dirty.clear();
  governance.notice = el("p", {class: "changed", role: "alert", hidden: true},
                         "Someone else changed the governance policies since you loaded them. ",
                         el("button", {type: "button", text: "Reload (drops your changes)",
                                       onclick: () => renderGovernance(true)}));
  const open = new Set([...box.querySelectorAll("details.policy[open]")]
    .map(section => section.dataset.policy));
  const sections = Object.entries(data.policies || {}).map(
    ([name, policy]) => policySection(name, policy, open.has(name)));
  const whole = jsonEditor("governance-json", data);
  const saveWhole = el("button", {type: "button", class: "save", id: "governance-json-save",
                                  text: "Save", "aria-label": "Save the whole document",
                                  onclick: () => saveGovernance(
                                    () => parsed(whole.querySelector("textarea").value,
                                                 "The governance document"),
                                    "Saved the governance policies.", null)});
  governance.root = el("div", {class: "governance"}, governance.notice,
    el("p", {class: "intro", text: `Version ${data.version}` +
             (data.last_updated ? `, last updated ${data.last_updated}` : "") +
             ". Each policy is its own section with its own Save; the API stores the " +
             "document as a whole, so a save sends it with that policy changed."}),
    ...sections,
    el("details", {class: "whole", "data-form": "governance-whole"},
       el("summary", {text: "Whole document as JSON"}),
       el("label", {for: "governance-json", text: "Governance document"}), whole,
       el("div", {class: "buttons"}, saveWhole)));
  replaceKeepingFocus(box, governance.root);
  updateSave();
}

function policySection(name, policy, open) {
  const id = `gov-${name}`;
  const spec = {"": {first: ["description", "enforcement_level"], long: ["description"],
                     choices: {enforcement_level: LEVELS}}};
  const problem = el("p", {class: "error", role: "alert", hidden: true});
  const unsaved = el("span", {class: "unsaved", text: "Unsaved changes", hidden: true});
  const level = el("span", {class: "badge level", text: policy.enforcement_level || "strict"});
  const section = el("details", {class: "policy", "data-policy": name, "data-form": id, id},
    el("summary", {}, el("span", {class: "name", text: name}), " ", level, " ", unsaved,
       el("span", {class: "summary-text", text: policy.description || ""})));
  // The form is built when the section is first opened: at 10,000 agents agent_tool_access
  // alone is a rule table of 90,000 elements, which the tab's first draw does not wait for.
  let fields = null;
  const build = () => {
    if (fields) return;
    fields = switchable(policy, id, `policy ${name}`,
                        value => editor(value, id, `policy ${name}`, spec));
    section.append(fields.node, problem, el("div", {class: "buttons"}, fields.toggle,
      el("button", {type: "button", class: "save", text: "Save policy",
                    "aria-label": `Save policy ${name}`, onclick: () => saveGovernance(
                      () => ({...governance.document, policies: {
                        ...governance.document.policies, [name]: fields.read()}}),
                      `Saved governance policy '${name}'.`, {name, problem})})));
    updateSave();
  };
  section.addEventListener("toggle", () => { if (section.open) build(); });
  if (open) {
    build();
    section.open = true;
  }
  const touched = () => {
    governance.dirty.add(name);
    unsaved.hidden = false;
  };
  section.addEventListener("input", touched);
  section.addEventListener("change", event => {
    if (event.target.tagName !== "DETAILS") touched();
  });
  return section;
}

// The document's policies as change items: each it names written whole, each loaded one it
// no longer names deleted (the API's PUT of the whole document does the same).
function policyChanges(document) {
  const named = document.policies;
  const gone = Object.keys(governance.document.policies || {}).filter(name => !(name in named));
  return [...Object.entries(named).map(([name, entry]) => ({kind: "GovernancePolicy", name,
                                                            entry})),
          ...gone.map(name => ({kind: "GovernancePolicy", name, entry: null}))];
}

// Save the document `build` gives (the loaded one with one policy changed, or the JSON);
// the server's refusal is shown where the save was asked for.
async function saveGovernance(build, done, where) {
  const refuse = text => {
    if (where) {
      where.problem.textContent = text;
      where.problem.hidden = false;
    }
    say(text, "error");
  };
  if (where) where.problem.hidden = true;
  let document;
  try {
    document = build();
  } catch (error) {
    if (!(error instanceof Invalid)) throw error;
    return refuse(error.message);
  }
  if (!isObject(document.policies)) {  // never read as "delete every policy"
    return refuse("The governance document needs a 'policies' object.");
  }
  // The plan first (plans.js), fenced on the policies as loaded (their version together).
  const planned = await meshPlans.planChanges({
    title: where ? `Save governance policy '${where.name}'` : "Save the governance policies",
    changes: policyChanges(document), kindVersions: {GovernancePolicy: governance.version}});
  if (planned.failed) {
    return refuse(planned.failed.status === 412
      ? "Someone else changed the governance policies meanwhile: reload and retry."
      : planned.failed.message);
  }
  if (!planned.saved) return;  // closed unsaved: every edit stays
  if (where) {  // the other sections keep what is being edited in them
    governance.dirty.delete(where.name);
    const kept = new Set(governance.dirty);
    governance.dirty.clear();  // let the render below through, then restore what it keeps
    const sections = [...content("governance").querySelectorAll("details.policy")]
      .filter(section => kept.has(section.dataset.policy));
    await renderGovernance(true);
    for (const section of sections) {
      const fresh = content("governance").querySelector(
        `details.policy[data-policy="${CSS.escape(section.dataset.policy)}"]`);
      if (fresh) fresh.replaceWith(section);
      governance.dirty.add(section.dataset.policy);
    }
  } else {
    await renderGovernance(true);
  }
  say(done);  // once the page shows what was saved
}

// -- accountability: the HITL checkpoints of a workflow ----------------------------------------

const TRIGGERS = ["pre_workflow", "after_agent", "before_completion"];
const CHECKPOINT_TYPES = ["approval", "decision", "input", "escalation"];
const ON_TIMEOUT = ["auto_approve", "auto_reject", "cancel_workflow", "proceed_with_default"];
const accountability = {picked: null, signature: null, workflow: null, version: null,
                        roles: [], limits: {}};

RENDERERS.accountability = () => renderAccountability(false);
const WORKFLOWS = KINDS.workflows;  // the server's path, list key and id field

function renderAccountability(force) {
  return inTurn("accountability", () => drawAccountability(force));
}

async function drawAccountability(force) {
  const box = content("accountability");
  const ids = await choices("Workflow");  // ids alone (panel.js): not every workflow whole
  if (!ids.length) {
    box.replaceChildren(el("p", {class: "empty", text: "There are no workflows."}));
    return;
  }
  const picked = ids.includes(accountability.picked) ? accountability.picked : ids[0];
  const [{data: workflow}, policies] = await Promise.all([
    api("GET", `/registries/${WORKFLOWS.path}/${encodeURIComponent(picked)}`),
    api("GET", "/registries/governance").then(({data}) => data, () => null)]);
  const version = workflow.resource_version;
  delete workflow.resource_version;
  const control = ((policies || {}).policies || {}).hitl_access_control || {};
  const signature = JSON.stringify([ids, picked, version, policies && policies.resource_version]);
  if (!force && signature === accountability.signature && box.querySelector("table")) return;
  Object.assign(accountability, {picked, signature, workflow, version,
                                 roles: Array.isArray(control.roles) ? control.roles : [],
                                 limits: control.checkpoint_timeout_limits || {}});
  const select = el("select", {id: "hitl-workflow"});
  for (const id of ids) select.append(el("option", {value: id, text: id}));
  select.value = picked;
  select.addEventListener("change", () => {
    accountability.picked = select.value;
    renderAccountability(true).catch(error => say(error.message, "error"));
  });
  const checkpoints = workflow.hitl_checkpoints || [];
  const body = el("tbody");
  checkpoints.forEach(checkpoint => {
    const id = checkpoint.checkpoint_id;
    const timeout = checkpoint.timeout_config || {};
    body.append(el("tr", {"data-id": id},
      el("td", {}, ...wordWrapped(id)), el("td", {text: checkpoint.checkpoint_name || ""}),
      el("td", {}, ...wordWrapped(checkpoint.trigger_point || "")),
      el("td", {}, ...wordWrapped(checkpoint.agent_id || "—")),
      el("td", {}, ...wordWrapped(checkpoint.required_role || "")),
      el("td", {text: checkpoint.checkpoint_type || ""}),
      el("td", {text: timeout.enabled ? `${timeout.timeout_seconds} s, then ` +
                                         `${timeout.on_timeout || "auto_approve"}` : "none"}),
      el("td", {},
         el("button", {type: "button", text: "Edit", "aria-label": `Edit checkpoint ${id}`,
                       onclick: reported(() => editCheckpoint(id))}),
         el("button", {type: "button", text: "Delete", class: "danger",
                       "aria-label": `Delete checkpoint ${id}`,
                       onclick: reported(() => deleteCheckpoint(id))}))));
  });
  const roles = accountability.roles.map(role => el("li", {},
    el("code", {text: role.role_id}), ` ${role.role_name || ""}: `,
    (role.allowed_checkpoint_types || []).join(", ")));
  replaceKeepingFocus(box,
    el("div", {class: "toolbar"},
       el("label", {for: "hitl-workflow", text: "Workflow"}), select,
       el("button", {type: "button", class: "add", text: "Add checkpoint",
                     onclick: reported(() => editCheckpoint(null))})),
    el("p", {class: "count", text: `${checkpoints.length} checkpoints in ${picked}`}),
    el("div", {class: "scroll"},
       el("table", {class: "checkpoints all-columns", "aria-label": "HITL checkpoints"},
          el("thead", {}, el("tr", {}, ...["Id", "Name", "Trigger", "Agent", "Role", "Type",
                                           "Timeout", "Actions"].map(text => el("th", {text})))),
          body)),
    el("details", {class: "roles"},
       el("summary", {text: `Roles (governance policy hitl_access_control): ` +
                            `${accountability.roles.length}`}),
       roles.length ? el("ul", {}, ...roles)
         : el("p", {text: "There is no hitl_access_control policy, or it has no roles."})));
}

function checkpointDialog() {
  let dialog = document.getElementById("checkpoint-editor");
  if (!dialog) {
    dialog = el("dialog", {id: "checkpoint-editor", class: "own",
                           "aria-labelledby": "checkpoint-title"},
                el("form", {method: "dialog", novalidate: true, "data-form": "checkpoint"},
                   el("h2", {id: "checkpoint-title"}), el("div", {class: "fields"}),
                   el("p", {class: "warning", "aria-live": "polite"}),
                   el("p", {class: "error", role: "alert", hidden: true}),
                   el("div", {class: "buttons"},
                      el("button", {type: "button", class: "cancel", text: "Cancel",
                                    onclick: () => dialog.close()}),
                      el("button", {type: "submit", class: "save", text: "Save"}))));
    document.body.append(dialog);
  }
  return dialog;
}

function labelled(id, text, input, hint) {
  return el("div", {class: `field${input.type === "checkbox" ? " check" : ""}`},
            ...(input.type === "checkbox" ? [input, el("label", {for: id, text})]
              : [el("label", {for: id, text}), input]),
            ...(hint ? [el("small", {id: `${id}-hint`, text: hint})] : []));
}

function picker(id, values, current, describe = value => value, empty = null) {
  const select = el("select", {id});
  if (empty !== null) select.append(el("option", {value: "", text: empty}));
  if (current && !values.includes(current)) {
    select.append(el("option", {value: current, text: `${current} (not in the list)`}));
  }
  for (const value of values) select.append(el("option", {value, text: describe(value)}));
  select.value = current || (empty !== null ? "" : values[0] || "");
  return select;
}

// A click handler running `action`, whose failure is said in the status line.
function reported(action) {
  return () => action().catch(error => say(error.message, "error"));
}

// What the table showed when an action began, once any render under way has drawn: the
// action finds its checkpoint by id in it, and writes against its version (so a change made
// meanwhile by someone else is a 412, and the user's own last save is not).
async function shownCheckpoints(id) {
  await settled("accountability");
  const {workflow, version} = accountability;
  const index = id === null ? null
    : (workflow.hitl_checkpoints || []).findIndex(item => item.checkpoint_id === id);
  if (index === -1) {
    say(`Checkpoint '${id}' is no longer in workflow '${workflow.workflow_id}'.`, "error");
    return null;
  }
  return {workflow, version, index};
}

async function editCheckpoint(id) {
  const shown = await shownCheckpoints(id);
  if (shown) openCheckpoint(shown);
}

function openCheckpoint(shown) {
  const {roles, limits} = accountability;
  const {workflow, index} = shown;
  const checkpoints = workflow.hitl_checkpoints || [];
  const original = index === null ? {} : checkpoints[index];
  const dialog = checkpointDialog();
  const form = dialog.querySelector("form");
  dialog.querySelector("#checkpoint-title").textContent = index === null
    ? `Add a checkpoint to ${workflow.workflow_id}`
    : `Edit checkpoint '${original.checkpoint_id}' of ${workflow.workflow_id}`;
  const agents = [...new Set((workflow.steps || []).map(step => step.agent_id)
    .filter(Boolean))];
  const roleIds = roles.map(role => role.role_id);
  const roleName = Object.fromEntries(roles.map(role => [role.role_id, role.role_name]));
  const timeout = original.timeout_config || {};
  const text = (id, value, extra = {}) => {
    const input = el("input", {id, type: "text", ...extra});
    input.value = value ?? "";
    return input;
  };
  const inputs = {
    id: text("cp-id", original.checkpoint_id, {readonly: index !== null, required: true,
                                                 pattern: "\\w+", autofocus: index === null}),
    name: text("cp-name", original.checkpoint_name, {maxlength: 100, required: true,
                                                     autofocus: index !== null}),
    description: el("textarea", {id: "cp-description", rows: 2, required: true}),
    trigger: picker("cp-trigger", TRIGGERS, original.trigger_point || "after_agent"),
    agent: picker("cp-agent", agents, original.agent_id, value => value, "—"),
    role: picker("cp-role", roleIds, original.required_role,
                 value => (roleName[value] ? `${value} (${roleName[value]})` : value), "—"),
    type: picker("cp-type", CHECKPOINT_TYPES, original.checkpoint_type || "approval"),
    timed: el("input", {id: "cp-timeout-enabled", type: "checkbox"}),
    seconds: el("input", {id: "cp-timeout-seconds", type: "number", step: "1",
                          min: limits.min_timeout_seconds, max: limits.max_timeout_seconds,
                          "aria-describedby": "cp-timeout-seconds-hint"}),
    onTimeout: picker("cp-on-timeout", ON_TIMEOUT, timeout.on_timeout || "auto_approve"),
  };
  inputs.description.value = original.description ?? "";
  inputs.timed.checked = timeout.enabled === true;
  inputs.seconds.value = String(timeout.timeout_seconds ?? limits.default_timeout_seconds ?? 3600);
  const advanced = {
    notification_config: original.notification_config ??
      {enabled: true, channels: ["dashboard"], urgency: "normal"},
    trigger_condition: original.trigger_condition ?? null,
    ui_schema: original.ui_schema ?? {},
  };
  const bounds = limits.min_timeout_seconds !== undefined
    ? `Between ${limits.min_timeout_seconds} and ${limits.max_timeout_seconds} s ` +
      "(governance checkpoint_timeout_limits)" : "Seconds";
  const warning = dialog.querySelector(".warning");
  const advise = () => {  // the type the role may handle: a warning (H003), not a refusal
    inputs.agent.disabled = inputs.trigger.value !== "after_agent";
    inputs.seconds.disabled = inputs.onTimeout.disabled = !inputs.timed.checked;
    const role = roles.find(item => item.role_id === inputs.role.value);
    const allowed = role && role.allowed_checkpoint_types;
    warning.textContent = Array.isArray(allowed) && !allowed.includes("*") &&
      !allowed.includes(inputs.type.value)
      ? `Role '${role.role_id}' handles ${allowed.join(", ")}, not ${inputs.type.value}: ` +
        "it can be saved, with a warning." : "";
  };
  const box = form.querySelector(".fields");
  box.replaceChildren(
    labelled("cp-id", "Checkpoint id *", inputs.id),
    labelled("cp-name", "Name *", inputs.name),
    labelled("cp-description", "Description *", inputs.description),
    labelled("cp-trigger", "Trigger point", inputs.trigger),
    labelled("cp-agent", "After agent (a step's agent)", inputs.agent),
    labelled("cp-role", "Required role *", inputs.role),
    labelled("cp-type", "Checkpoint type", inputs.type),
    el("fieldset", {class: "section"}, el("legend", {text: "Timeout"}),
       labelled("cp-timeout-enabled", "Time out", inputs.timed),
       labelled("cp-timeout-seconds", "Timeout (seconds)", inputs.seconds, bounds),
       labelled("cp-on-timeout", "On timeout", inputs.onTimeout)),
    el("details", {class: "advanced"}, el("summary", {text: "Notifications, condition, UI"}),
       ...Object.entries(advanced).map(([key, value]) => el("div", {class: "field json"},
         el("label", {for: `cp-${key}`, text: words(key)}), jsonEditor(`cp-${key}`, value)))));
  form.onchange = advise;
  advise();
  const problem = form.querySelector(".error");
  problem.hidden = true;
  form.onsubmit = event => {
    event.preventDefault();
    saveCheckpoint(shown, original, inputs, problem).catch(error => say(error.message, "error"));
  };
  updateSave();
  dialog.showModal();
}

function readCheckpoint({workflow, index}, original, inputs) {
  const {limits} = accountability;
  const checkpoint = {...original};
  const set = (key, value) => {
    if (value === "" && !(key in original)) delete checkpoint[key];
    else checkpoint[key] = value;
  };
  set("checkpoint_id", inputs.id.value.trim());
  set("checkpoint_name", inputs.name.value.trim());
  set("description", inputs.description.value.trim());
  set("trigger_point", inputs.trigger.value);
  if (inputs.trigger.value === "after_agent" && inputs.agent.value) {
    checkpoint.agent_id = inputs.agent.value;
  } else {
    delete checkpoint.agent_id;
  }
  set("required_role", inputs.role.value);
  set("checkpoint_type", inputs.type.value);
  const missing = [["checkpoint_id", "Checkpoint id"], ["checkpoint_name", "Name"],
                   ["description", "Description"], ["required_role", "Required role"]]
    .filter(([key]) => !checkpoint[key]).map(([, label]) => label);
  if (missing.length) throw new Invalid(`Required: ${missing.join(", ")}`);
  if (!/^\w+$/.test(checkpoint.checkpoint_id)) {
    throw new Invalid("The checkpoint id takes letters, digits and _ only");
  }
  const others = (workflow.hitl_checkpoints || []).filter((_, at) => at !== index);
  if (others.some(other => other.checkpoint_id === checkpoint.checkpoint_id)) {
    throw new Invalid(`There is already a checkpoint '${checkpoint.checkpoint_id}'`);
  }
  if (checkpoint.trigger_point === "after_agent" && !checkpoint.agent_id) {
    throw new Invalid("A checkpoint after an agent needs the agent");
  }
  const timeout = {...(original.timeout_config || {}), enabled: inputs.timed.checked};
  if (inputs.timed.checked) {
    const seconds = Number(inputs.seconds.value);
    if (inputs.seconds.value === "" || !Number.isInteger(seconds)) {
      throw new Invalid("The timeout needs a whole number of seconds");
    }
    const [low, high] = [limits.min_timeout_seconds, limits.max_timeout_seconds];
    if ((low !== undefined && seconds < low) || (high !== undefined && seconds > high)) {
      throw new Invalid(`The timeout must be between ${low} and ${high} seconds`);
    }
    Object.assign(timeout, {timeout_seconds: seconds, on_timeout: inputs.onTimeout.value});
  }
  if (inputs.timed.checked || original.timeout_config || index === null) {
    checkpoint.timeout_config = timeout;
  }
  for (const key of ["notification_config", "trigger_condition", "ui_schema"]) {
    const value = parsed(document.getElementById(`cp-${key}`).value, words(key));
    if (value === null && !(key in original)) delete checkpoint[key];
    else checkpoint[key] = value;
  }
  return checkpoint;
}

async function saveCheckpoint(shown, original, inputs, problem) {
  const {workflow, index} = shown;
  let checkpoint;
  try {
    checkpoint = readCheckpoint(shown, original, inputs);
  } catch (error) {
    if (!(error instanceof Invalid)) throw error;
    problem.textContent = error.message;
    problem.hidden = false;
    return;
  }
  const list = [...(workflow.hitl_checkpoints || [])];
  if (index === null) list.push(checkpoint);
  else list[index] = checkpoint;
  const saved = await putCheckpoints(shown, list, problem, `Save checkpoint ` +
    `'${checkpoint.checkpoint_id}' of workflow '${workflow.workflow_id}'`);
  if (!saved) return;
  document.getElementById("checkpoint-editor").close();
  await renderAccountability(true);  // "Saved" once the table shows it
  say(`Saved checkpoint '${checkpoint.checkpoint_id}' of workflow '${workflow.workflow_id}'.`);
}

async function deleteCheckpoint(id) {
  const shown = await shownCheckpoints(id);
  if (!shown) return;
  const {workflow, index} = shown;
  const list = workflow.hitl_checkpoints.filter((_, at) => at !== index);
  const deleted = await putCheckpoints(
    shown, list, null, `Delete checkpoint '${id}' of workflow '${workflow.workflow_id}'?`,
    "Delete");
  await renderAccountability(true);
  if (deleted) say(`Deleted checkpoint '${id}' of workflow '${workflow.workflow_id}'.`);
}

// Write the workflow with `list` as its checkpoints, from the version shown, after its plan
// (plans.js: Save commits exactly it). True once written.
async function putCheckpoints({workflow, version}, list, problem, title, confirm = "Save") {
  const planned = await meshPlans.planChanges({title, confirm, changes: [
    {kind: WORKFLOWS.kind, name: workflow[WORKFLOWS.id], resource_version: version,
     entry: {...workflow, hitl_checkpoints: list}}]});
  const error = planned.failed;
  if (!error) return Boolean(planned.saved);
  const text = error.status === 412
    ? "Someone else changed this workflow meanwhile: close, and retry on the reloaded list."
    : error.message;
  if (problem) {
    problem.textContent = text;
    problem.hidden = false;
  }
  say(text, "error");
  return false;
}
