// Whether an agent can run, as the runtime's governance decides: a section of the agent's
// form, and "Grant in governance…", which writes the agent and the rule it needs as one plan
// and one revision. (The agents table's "Can run" column comes with its rows, from the
// server's list view: panel.js.) Every decision is the server's (its one access model,
// /registries/access*); the panel only edits the rule it is asked to add, and shows the
// server's plan of the change before it is saved.
"use strict";

const ORCHESTRATOR = "orchestrator_agent";
const AGENTS = KINDS.agents;
const POLICY_KIND = "GovernancePolicy";

// A verdict ("can run", "denied"): a badge beside the sync badges, with a class of its own.
function badge(kind, text, title) {
  return el("span", {class: `verdict ${kind}`, text, title});
}

// -- the agent's form ---------------------------------------------------------------------------

// The access policy of a verb ("use" or "invoke"), with its version and list names, and the
// decisions for `subject` (an agent, or one being created) on each of `objects`.
async function accessPolicy(verb, subject, objects) {
  const query = new URLSearchParams({verb, subject});
  for (const name of objects) query.append("object", name);
  const {data} = await api("GET", `/registries/access/policy?${query}`);
  return data;
}

async function readOrchestrator() {
  try {
    const {data} = await api("GET", "/registries/orchestrator");
    const version = data.resource_version;
    delete data.resource_version;
    return {entry: data, version};
  } catch (error) {
    if (error.status === 404) return null;  // a mesh without an orchestrator
    throw error;
  }
}

let listening = null;  // the open form's listeners on the editor (the form outlives it)

AGENTS.extend = (box, editing) => {
  const tools = box.querySelector('[data-field="allowed_tools"]');
  const idInput = box.querySelector(`[data-field="${AGENTS.id}"] input`);
  if (!tools || !idInput || editing.id === ORCHESTRATOR) return;
  const view = {
    editing, idInput, list: tools,
    invoke: el("p", {class: "invoke", "aria-live": "polite"}),
    tools: el("ul", {class: "tool-access", "aria-live": "polite"}),
    wantInvoke: el("input", {type: "checkbox", id: "access-invoke"}),
    grant: el("button", {type: "button", class: "grant", text: "Grant in governance…",
                         hidden: true}),
    problem: el("p", {class: "access-problem", role: "alert", hidden: true}),
    plan: el("div", {class: "grant-plan", hidden: true}),
    state: null,  // what was read last: {subject, use, invoke, orchestrator}
  };
  const offer = el("div", {class: "field check offer", hidden: true}, view.wantInvoke,
                   el("label", {for: "access-invoke",
                                text: "Have the orchestrator invoke it (list it, and grant it " +
                                      "in governance)"}));
  view.offer = offer;
  tools.after(el("fieldset", {class: "access"},
                 el("legend", {text: "What the runtime will let it do"}),
                 view.invoke, el("p", {class: "caption", text: "Allowed tools:"}), view.tools,
                 offer, el("div", {class: "buttons"}, view.grant), view.problem, view.plan));
  const redraw = () => inTurn("agent-access", () => drawAccess(view)).catch(error => {
    view.invoke.textContent = `What governance decides cannot be read now: ${error.message}`;
  });
  let typing = null;
  view.list.addEventListener("change", redraw);
  idInput.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(redraw, 300);
  });
  view.wantInvoke.addEventListener("change", () => showGrant(view));
  view.grant.addEventListener("click", () => reviewGrant(view));
  // A plan is of the form as it was: any edit makes it stale, so it goes.
  listening?.abort();
  listening = new AbortController();
  const form = box.closest("form");
  form.addEventListener("input", () => dropPlan(view), {signal: listening.signal});
  form.addEventListener("change", () => dropPlan(view), {signal: listening.signal});
  redraw();
};

function selectedTools(view) {
  return checkedIn(view.list);
}

async function drawAccess(view) {
  if (!view.tools.isConnected) return;  // the form was closed
  const subject = view.idInput.value.trim();
  if (!subject) {
    view.state = null;
    view.invoke.textContent = "Give the agent an id to see what governance lets it do.";
    view.tools.replaceChildren();
    showGrant(view);
    return;
  }
  const selected = selectedTools(view);
  const [use, invoke, orchestrator] = await Promise.all([
    accessPolicy("use", subject, selected), accessPolicy("invoke", ORCHESTRATOR, [subject]),
    readOrchestrator()]);
  view.state = {subject, use, invoke, orchestrator};
  const invoked = invoke.decisions[0];
  const listed = (orchestrator?.entry.allowed_agents || []).includes(subject);
  view.state.listed = listed;
  view.state.invoked = Boolean(orchestrator) && listed && invoked.allowed;
  if (!orchestrator) {
    view.invoke.replaceChildren(badge("blocked", "not invoked"), " there is no orchestrator");
  } else if (view.state.invoked) {
    view.invoke.replaceChildren(badge("runs", "invoked"), " the orchestrator lists it, and " +
                                `${invoked.reason}`);
  } else {
    view.invoke.replaceChildren(badge("blocked", "not invoked"), listed
      ? ` the orchestrator lists it, but governance will not let it invoke it: ${invoked.reason}`
      : ` not listed by the orchestrator (and governance: ${invoked.reason})`);
  }
  view.invoke.dataset.invoked = String(view.state.invoked);
  const decided = new Map(use.decisions.map(decision => [decision.object, decision]));
  view.tools.replaceChildren(...(selected.length ? selected.map(tool => {
    const decision = decided.get(tool);
    return el("li", {"data-tool": tool, class: decision.allowed ? "allowed" : "denied"},
              badge(decision.allowed ? "runs" : "blocked",
                    decision.allowed ? "allowed" : "denied"),
              ` ${tool}: ${decision.reason}`);
  }) : [el("li", {text: "none selected"})]));
  showGrant(view);
}

// What a grant would add: the selected tools governance denies, and the invocation when asked.
function wanted(view) {
  const state = view.state;
  if (!state) return {tools: [], invoke: false};
  const denied = new Set(state.use.decisions.filter(d => !d.allowed).map(d => d.object));
  return {tools: selectedTools(view).filter(tool => denied.has(tool)),
          invoke: Boolean(state.orchestrator) && !state.invoked && view.wantInvoke.checked};
}

function showGrant(view) {
  const state = view.state;
  view.offer.hidden = !state || !state.orchestrator || state.invoked;
  const want = wanted(view);
  view.grant.hidden = !want.tools.length && !want.invoke;
  view.grant.textContent = want.tools.length || (want.invoke && !state.invoke.decisions[0].allowed)
    ? "Grant in governance…" : "Review the change…";
}

function dropPlan(view) {
  if (view.plan.hidden) return;
  view.plan.hidden = true;
  view.plan.replaceChildren();
  view.body = null;
}

// `entry` (a policy body, or null when the policy does not exist) with `names` granted to
// `subject`: each added to the allowed list of the subject's first rule, the rule the
// runtime's walk reaches first, and taken out of that rule's denied list (denied wins within
// a rule); a rule appended when the subject has none. The plan the server makes of it says
// whether that grants (an unreadable rule, say, would not).
function isRule(rule) {
  return rule !== null && typeof rule === "object" && !Array.isArray(rule);
}

function withGrant(policy, subject, names) {
  const entry = structuredClone(policy.entry) ||
    {description: `Access rules (${policy.policy}), created from the panel`,
     enforcement_level: "strict", rules: []};
  if (!Array.isArray(entry.rules)) return entry;
  let rule = entry.rules.find(one => isRule(one) && one.agent_id === subject);
  if (!rule) {
    rule = {agent_id: subject, [policy.allowed_list]: []};
    entry.rules.push(rule);
  }
  if (rule[policy.allowed_list] === undefined) rule[policy.allowed_list] = [];
  const allowed = rule[policy.allowed_list];
  if (Array.isArray(allowed)) allowed.push(...names.filter(name => !allowed.includes(name)));
  const denied = rule[policy.denied_list];
  if (Array.isArray(denied)) rule[policy.denied_list] = denied.filter(n => !names.includes(n));
  return entry;
}

async function reviewGrant(view) {
  await settled("agent-access");  // the decisions shown are those of the form as it is
  const problem = view.problem;
  problem.hidden = true;
  dropPlan(view);
  const {entry, missing} = collect("agents");
  if (missing.length) {
    problem.textContent = `Required: ${missing.join(", ")}`;
    problem.hidden = false;
    return;
  }
  const subject = entry[AGENTS.id];
  const editing = view.editing;
  try {
    // Read afresh what the grant edits, with the versions the save names, and decide again
    // what the form holds now.
    const [use, invoke, orchestrator] = await Promise.all([
      accessPolicy("use", subject, selectedTools(view)),
      accessPolicy("invoke", ORCHESTRATOR, [subject]), readOrchestrator()]);
    const changes = [{kind: AGENTS.kind, name: subject, entry,
                      resource_version: editing.version, create: editing.id === null}];
    const grants = [];  // [verb, subject, object] the plan must make allowed
    const tools = use.decisions.filter(d => !d.allowed).map(d => d.object);
    if (tools.length) {
      changes.push({kind: POLICY_KIND, name: use.policy, entry: withGrant(use, subject, tools),
                    resource_version: use.resource_version});
    }
    grants.push(...tools.map(tool => ["use", subject, tool]));
    const listed = orchestrator?.entry.allowed_agents || [];
    if (view.wantInvoke.checked && orchestrator &&
        !(listed.includes(subject) && invoke.decisions[0].allowed)) {
      if (!listed.includes(subject)) {
        changes.push({kind: AGENTS.kind, name: ORCHESTRATOR,
                      entry: {...orchestrator.entry, allowed_agents: [...listed, subject]},
                      resource_version: orchestrator.version});
      }
      if (!invoke.decisions[0].allowed) {
        changes.push({kind: POLICY_KIND, name: invoke.policy,
                      entry: withGrant(invoke, ORCHESTRATOR, [subject]),
                      resource_version: invoke.resource_version});
      }
      grants.push(["invoke", ORCHESTRATOR, subject]);
    }
    const body = {changes, dry_run: true};
    const {data} = await api("POST", "/registries/changes", body);
    if (data.refusal) {  // refused: the commit's answer, for the fields it names
      throw Object.assign(new Error(data.refusal.detail), {status: data.refusal.status,
                                                           body: data.refusal});
    }
    showPlan(view, body, data.plan, grants, editing.id === null ? subject : null);
    view.token = data.token;  // Save commits exactly this plan (412 if anything moved)
  } catch (error) {
    // The agent's fields the server names are marked on the form, as a save's are.
    const named = error.status === 412 ? [] : fieldErrors(error, {kind: AGENTS.kind,
                                                                   name: subject});
    if (named.length) markFieldErrors(view.idInput.closest(".fields"), named);
    problem.textContent = error.status === 412
      ? `${error.message}. Nothing was saved; your edits are kept: review again to read it anew.`
      : error.message;
    problem.hidden = false;
  }
}

const SYMBOLS = {create: "+", update: "~", delete: "-", add: "+", remove: "-", change: "~"};

function planLines(plan) {
  const changes = plan.changes.filter(change => change.action !== "noop");
  return changes.map(change => el("li", {class: "plan-change",
                                         "data-key": `${change.kind}/${change.name}`},
    `${SYMBOLS[change.action]} ${change.kind}/${change.name}`,
    el("ul", {}, ...(change.fields || []).map(field => el("li", {text:
      `${SYMBOLS[field.op]} ${field.path}: ` + (field.op === "change"
        ? `${JSON.stringify(field.old)} → ${JSON.stringify(field.new)}`
        : JSON.stringify(field.op === "remove" ? field.old : field.new))})))));
}

function showPlan(view, body, plan, grants, creating) {
  const problems = [];
  if (creating) {
    const own = plan.changes.find(c => c.kind === AGENTS.kind && c.name === creating);
    if (own && own.action !== "create") problems.push(`agent '${creating}' already exists`);
  }
  for (const [verb, subject, object] of grants) {
    const found = plan.access_changes.find(c => c.verb === verb && c.subject === subject &&
                                                c.object === object);
    if (!found || !found.allowed) {
      problems.push(`the plan does not let ${subject} ${verb} ${object}` +
                    (found ? `: ${found.reason}` : ""));
    }
  }
  const changes = planLines(plan);
  const access = plan.access_changes.map(change => el("li", {
    class: `access-change ${change.widens ? "widens" : "narrows"}`,
    text: `${change.widens ? "+" : "-"} ${change.subject} may ${change.widens ? "now" :
      "no longer"} ${change.verb} ${change.object} (${change.reason})`}));
  const warnings = plan.warnings.map(w => el("li", {text: `${w.code}: ${w.message}`}));
  const commit = el("button", {type: "button", class: "commit",
                               text: `Save ${plural(changes.length, "change")} as one revision`,
                               disabled: problems.length > 0});
  const back = el("button", {type: "button", class: "back", text: "Back to the form"});
  view.plan.replaceChildren(
    el("h3", {text: `The plan: ${plural(changes.length, "change")}, one revision`}),
    el("ul", {class: "plan-changes"}, ...changes),
    el("p", {class: "caption", text: "Access:"}),
    el("ul", {class: "access-changes"}, ...(access.length ? access
      : [el("li", {text: "no change"})])),
    ...(warnings.length ? [el("p", {class: "caption", text: "Warnings:"}),
                           el("ul", {class: "warning"}, ...warnings)] : []),
    ...(problems.length ? [el("p", {class: "access-problem", role: "alert",
                                    text: `Not saved: ${problems.join("; ")}.`})] : []),
    el("div", {class: "buttons"}, back, commit));
  view.body = body;
  view.plan.hidden = false;
  back.addEventListener("click", () => { dropPlan(view); view.grant.focus(); });
  commit.addEventListener("click", () => commitGrant(view, body));
  commit.focus();
}

async function commitGrant(view, body) {
  if (view.body !== body) return;  // the form changed since: review again
  const names = body.changes.map(change => `${change.kind === POLICY_KIND ? "policy" :
    "agent"} '${change.name}'`);
  const listed = names.length > 1 ? `${names.slice(0, -1).join(", ")} and ${names.at(-1)}`
    : names[0];
  try {
    const {data} = await api("POST", "/registries/changes", {...body, dry_run: false},
                             {"If-Match": `"${view.token}"`});
    document.getElementById("editor").close();
    editing = null;
    await renderList("agents");
    say(`Saved ${listed} in one revision (revision ${data.revision}).`);
  } catch (error) {
    dropPlan(view);
    view.problem.textContent = error.status === 412
      ? `${error.message}. Nothing was saved; your edits are kept: review again to read it anew.`
      : error.message;
    view.problem.hidden = false;
  }
}

// -- deleting an agent ----------------------------------------------------------------------

// An access policy naming an agent keeps it from being deleted, and its rules cannot go
// first while the agent asks for what they grant: the agent's own rules, and its name in
// other rules' lists, go in the same change as the agent.
AGENTS.alsoRemove = async id => {
  const policies = await Promise.all([accessPolicy("use", id, []),
                                      accessPolicy("invoke", ORCHESTRATOR, [])]);
  const changes = [];
  for (const policy of policies) {
    const entry = policy.entry;
    if (!entry || !Array.isArray(entry.rules)) continue;
    let named = false;
    const rules = [];
    for (const rule of entry.rules) {
      if (isRule(rule) && rule.agent_id === id) {
        named = true;
        continue;
      }
      const kept = isRule(rule) ? {...rule} : rule;
      for (const list of [policy.allowed_list, policy.denied_list]) {
        if (isRule(rule) && Array.isArray(rule[list]) && rule[list].includes(id)) {
          kept[list] = rule[list].filter(name => name !== id);
          named = true;
        }
      }
      rules.push(kept);
    }
    if (named) {
      changes.push({kind: POLICY_KIND, name: policy.policy, entry: {...entry, rules},
                    resource_version: policy.resource_version});
    }
  }
  const names = changes.map(change => change.name).join(" and ");
  return {changes, note: changes.length ? ` Governance names it: its rules in ${names} ` +
                                          "go with it, in the same revision." : ""};
};
