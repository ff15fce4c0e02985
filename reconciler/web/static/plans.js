"use strict";
// A plan shown before it is committed, shared by every page that writes: the History page's
// restore and revert, and every save of the configuration panel (forms, governance sections,
// the processor pipeline, deletes). The server makes the plan (its one planner) and answers
// each change's diff, fields and dependents, the warnings, the access changes and a token;
// the dialog commits exactly that plan (the token in If-Match), so a change made in between
// is a 412: nothing written, the user's input kept, and a new plan offered.
// Exposed as window.meshPlans; nothing else is global (el, wordWrapped, count: dom.js).
(() => {
  /** One API call as {ok, status, data, etag, error}; `error` is what panel.js's api()
   * throws (message, status, body), for its field marks. A 401 asks for a token once. */
  async function send(method, path, body, headers = {}) {
    const token = sessionStorage.getItem("meshctl-token");
    const sent = {...headers};
    if (token) sent.Authorization = `Bearer ${token}`;
    if (body !== undefined) sent["Content-Type"] = "application/json";
    let response;
    document.body.classList.add("loading");  // as every request of the panel shows
    try {
      response = await fetch(path, {method, headers: sent,
                                    body: body === undefined ? undefined : JSON.stringify(body)});
    } catch (error) {
      const lost = new Error("The server cannot be reached. Is meshctl serve running?");
      return {ok: false, status: 0, data: {}, error: lost};
    } finally {
      document.body.classList.remove("loading");
    }
    if (response.status === 401) {
      const given = prompt("This server needs a token (kept for this session only):");
      if (given) {
        sessionStorage.setItem("meshctl-token", given);
        return send(method, path, body, headers);
      }
    }
    const data = await response.json().catch(() => ({}));
    const etag = response.headers.get("ETag");
    if (response.ok) return {ok: true, status: response.status, data, etag, error: null};
    const detail = typeof data.detail === "string" ? data.detail
      : (data.detail || []).map(d => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
    const error = Object.assign(new Error(detail || `the server answered ${response.status}`),
                                {status: response.status, body: data});
    return {ok: false, status: response.status, data, etag, error};
  }

  const ACTION_TEXT = {create: "created", update: "updated", delete: "deleted"};
  const MOST_NAMED = 20;  // dependents named in a change; the others counted

  /** One resource's change as a coloured, labelled diff: before in red, after in green, the
   * changed fields named, long lines wrapped; the dependents it touches and why it is
   * refused or breaks its callers. `change`: {kind, name, action, diff, fields, ...}. */
  function diffView(change, verb = ACTION_TEXT, legend = ["before", "after"]) {
    const lines = el("pre", {class: "diff-lines"});
    for (const line of (change.diff || "").split("\n")) {
      if (!line || line.startsWith("--- before/") || line.startsWith("+++ after/")) continue;
      const kind = line.startsWith("@@") ? "hunk" : line[0] === "-" ? "del"
        : line[0] === "+" ? "add" : "ctx";
      lines.append(el("span", {class: `line ${kind}`, text: kind === "hunk" ? "⋯" : line}), "\n");
    }
    const parts = [
      el("h3", {}, el("span", {class: `action ${change.action}`,
                               text: verb[change.action] || change.action}), " ",
         `${change.kind} `, el("code", {}, ...wordWrapped(change.name)))];
    if (change.fields && change.fields.length && change.action === "update") {
      parts.push(el("p", {class: "fields"}, "Fields: ",
        ...change.fields.flatMap((name, i) => [i ? ", " : "", el("code", {text: name})])));
    }
    const dependents = change.dependents || [];
    if (dependents.length) {  // the first few named (a tool of 10,000 agents: counted)
      const named = dependents.slice(0, MOST_NAMED);
      const more = dependents.length - named.length;
      parts.push(el("p", {class: "dependents"}, `Touches ${count(dependents.length,
                                                                  "dependent")}: `,
        ...named.flatMap((key, i) => [
          i ? ", " : "", el("code", {}, ...wordWrapped(`${key.kind}/${key.name}`))]),
        more ? ` and ${more} more` : ""));
    }
    for (const reason of change.breaking || []) {
      parts.push(el("p", {class: "breaking", text: `Breaks its callers: ${reason}`}));
    }
    if (change.refused) parts.push(el("p", {class: "problem", text: `Refused: ${change.refused}`}));
    parts.push(el("p", {class: "legend", "aria-hidden": "true"},
                  el("span", {class: "line del", text: `− ${legend[0]}`}), " ",
                  el("span", {class: "line add", text: `+ ${legend[1]}`})), lines);
    return el("section", {class: "diff", "aria-label": `${change.kind} ${change.name}: ` +
                                                       "before and after"}, ...parts);
  }

  const WILL = {create: "create", update: "update", delete: "delete"};

  /** The plan's warnings and access changes (`plan`: the plan JSON), when it has any. */
  function planNotes(plan) {
    const notes = [];
    const access = (plan && plan.access_changes) || [];
    if (access.length) {
      notes.push(el("h3", {class: "caption", text: "Access changes"}),
                 el("ul", {class: "access-changes"}, ...access.map(change => el("li", {
                   class: `access-change ${change.widens ? "widens" : "narrows"}`,
                   text: `${change.widens ? "+" : "−"} ${change.subject} may ` +
                         `${change.widens ? "now" : "no longer"} ${change.verb} ` +
                         `${change.object} (${change.reason})`}))));
    }
    const warnings = (plan && plan.warnings) || [];
    if (warnings.length) {
      notes.push(el("h3", {class: "caption", text: "Warnings"}),
                 el("ul", {class: "warnings"}, ...warnings.map(w => el("li", {
                   text: `${w.code}: ${w.message}`}))));
    }
    return notes;
  }

  /** A plan in a dialog, then its commit. `options`:
   *  id, title, intro: the dialog's; confirm: its commit button's text; legend: the diff's;
   *  plan(): the plan's answer ({ok, status, data, error}; data as plan_answer gives it);
   *  commit(token): the commit's answer; nothing: text of a plan without changes;
   *  again: the text of the button that plans anew after a 412; kept: say the input is kept;
   *  failed(answer): a plan that cannot be made (a refusal, a resource changed since the
   *  form read it) is handed back, the dialog closed; without it, it is shown in the dialog;
   *  done(data): after the commit; closed(): when it closes without a commit. */
  function planDialog(options) {
    const dialog = document.getElementById(options.id) || document.body.appendChild(
      el("dialog", {id: options.id, class: "own plan-dialog",
                    "aria-labelledby": `${options.id}-title`}));
    const message = el("p", {class: "problem", role: "alert"});
    const body = el("div", {class: "plan-body"}, el("p", {text: "Planning…"}));
    const cancel = el("button", {type: "button", class: "cancel", text: "Cancel"});
    const confirm = el("button", {type: "button", class: "save", text: options.confirm,
                                  disabled: ""});
    let committed = false;
    cancel.onclick = () => dialog.close();
    dialog.onclose = () => { if (!committed && options.closed) options.closed(); };
    dialog.replaceChildren(el("h2", {id: `${options.id}-title`, text: options.title}),
                           ...(options.intro ? [el("p", {class: "intro", text: options.intro})]
                             : []),
                           body, message, el("div", {class: "buttons"}, cancel, confirm));
    if (!dialog.open) dialog.showModal();

    async function planned() {
      confirm.disabled = true;
      confirm.hidden = false;
      message.textContent = "";
      body.replaceChildren(el("p", {text: "Planning…"}));
      const answer = await options.plan();
      const shown = answer.data || {};
      if (!answer.ok && options.failed) {
        committed = true;  // handed back: not a cancel
        dialog.close();
        options.failed(answer);
        return;
      }
      if (!answer.ok || !shown.plan) {  // no plan: a later revision conflicts, a rule breaks
        body.replaceChildren(el("p", {class: "refusal",
          text: answer.ok ? shown.detail : answer.error.message}));
        cancel.textContent = "Close";
        return;
      }
      if (!shown.changes.length) {
        body.replaceChildren(el("p", {class: "nothing", text: options.nothing}));
        cancel.textContent = "Close";
        confirm.hidden = true;
        cancel.focus();
        return;
      }
      const s = shown.plan.summary;
      body.replaceChildren(
        el("p", {class: "summary", text: `Plan: ${s.create} to create, ${s.update} to update, ` +
                                         `${s.delete} to delete` +
                                         (s.refused ? `, ${s.refused} refused.` : ".")}),
        ...shown.changes.map(change => diffView(change, WILL, options.legend)),
        ...planNotes(shown.plan));
      cancel.textContent = "Cancel";
      if (!shown.committable) {
        message.textContent = "The plan holds refusals (above): nothing can be committed.";
        return;
      }
      confirm.disabled = false;
      confirm.focus();
      confirm.onclick = async () => {
        confirm.disabled = true;
        const result = await options.commit(shown.token);
        if (result.status === 412) {
          message.textContent = "The registries changed since this plan was shown; nothing " +
                                `was written${options.kept ? ", and your input is kept" : ""}. ` +
                                "Look at the new plan:";
          const again = el("button", {type: "button", class: "replan", text: options.again,
                                      onclick: () => { again.remove(); planned(); }});
          message.append(" ", again);
          again.focus();
          return;
        }
        if (!result.ok) {
          message.textContent = result.error.message;
          return;
        }
        committed = true;
        dialog.close();
        options.done(result.data);
      };
    }
    return planned();
  }

  /** A dry run the engine refuses answers 200 with the `refusal` the commit would get
   * (no failed request for asking): handed on as that failed answer, for the caller to
   * mark the form's fields or say who uses the resource. */
  function refused(answer) {
    const refusal = answer.ok && answer.data && answer.data.refusal;
    if (!refusal) return answer;
    const error = Object.assign(new Error(refusal.detail), {status: refusal.status,
                                                            body: refusal});
    return {ok: false, status: refusal.status, data: refusal, error};
  }

  /** Plan `changes` (items of POST /registries/changes), show the plan, and commit it on
   * Save. Resolves {saved: data} after the commit, {failed: error} when no plan could be
   * made (the dialog closed: the caller marks its fields, or offers to load their version
   * on a 412), and {} when closed without saving (a "No changes" plan too). */
  function planChanges({title, intro = null, changes, kindVersions = {},
                        confirm = "Save", nothing = "No changes: nothing would be written."}) {
    const batch = {changes, kind_versions: kindVersions};
    return new Promise(resolve => {
      planDialog({
        id: "plan-dialog", title, intro, confirm, nothing, again: "Plan again", kept: true,
        legend: ["before: now", "after: saved"],
        plan: async () => refused(await send("POST", "/registries/changes",
                                             {...batch, dry_run: true})),
        commit: token => send("POST", "/registries/changes", batch, {"If-Match": `"${token}"`}),
        failed: answer => resolve({failed: answer.error}),
        done: data => resolve({saved: data}),
        closed: () => resolve({}),
      });
    });
  }

  window.meshPlans = {diffView, planDialog, planChanges, send};
})();
