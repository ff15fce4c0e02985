// The watch controller's status on every page (a badge in the header) and, on the Plan
// page, its details: the last sync, its errors with file:line, the drifted resources, and
// a "Sync now" button. Polled from GET /registries/watch/status; hidden when no controller
// runs here (200 with "configured": false).
"use strict";

(function () {
  const badge = document.getElementById("watch-status");
  const detail = document.getElementById("watch-detail");
  const EVERY_MS = 3000;

  function headers() {
    const token = sessionStorage.getItem("meshctl-token");
    return token ? {Authorization: `Bearer ${token}`} : {};
  }

  function node(tag, text, className) {
    const made = document.createElement(tag);
    if (text !== undefined) made.textContent = text;
    if (className) made.className = className;
    return made;
  }

  function summary(status) {
    const last = status.last_sync || {};
    const good = last.result === "synced" || last.result === "in_sync";
    let text = good ? `Watch: in sync at rev ${status.revision}` : `Watch: sync ${last.result}`;
    if (status.drifted_count) text += ` · ${status.drifted_count} drifted`;
    if (status.pending_count && !good) text += ` · ${status.pending_count} pending`;
    if (!status.running) text += " (stopped)";
    return {text, good};
  }

  let lastSeen = null;

  function render(status) {
    const {text, good} = summary(status);
    const seen = `${status.controller.started} ${status.sync_count}`;
    if (lastSeen !== null && seen !== lastSeen) {
      document.dispatchEvent(new CustomEvent("meshctl:synced", {detail: status}));
    }
    lastSeen = seen;
    badge.hidden = false;
    badge.textContent = text;
    badge.className = `badge ${good && !status.drifted_count ? "in_sync" : good ? "drifted" : "not_in_git"}`;
    if (!detail) return;
    const last = status.last_sync || {};
    const source = status.controller.source;
    const from = source.type === "git"
      ? `git ${source.repo} (${source.branch}) at ${(source.commit || "?").slice(0, 12)}`
      : source.paths.join(", ");
    const parts = [node("h2", "Watch controller"),
                   node("p", `Following ${from}; self-heal ${status.controller.self_heal ? "on" : "off"}.`),
                   node("p", `Last sync ${last.time} (${last.trigger}): ${last.message}`,
                        good ? "ok" : "error")];
    if ((last.errors || []).length) {
      const list = node("ul", undefined, "badges");
      for (const error of last.errors) {
        const where = error.file ? `${error.file}:${error.line}: ` : "";
        list.append(node("li", `${where}${error.message}`));
      }
      parts.push(list);
    }
    if (status.last_good_sync && !good) {
      parts.push(node("p", `Live stays at the last good sync: revision ${status.last_good_sync.revision}.`));
    }
    for (const [label, key] of [["Drifted", "drifted"], ["Pending", "pending"]]) {
      if (!status[key].length) continue;
      parts.push(node("p", `${label}: ${status[`${key}_count`]}`));
      const list = node("ul", undefined, "badges");
      for (const item of status[key]) list.append(node("li", `${item.kind}/${item.name}: ${item.status}`));
      parts.push(list);
    }
    if (status.running) {
      const button = node("button", "Sync now", "save");
      button.addEventListener("click", async () => {
        await fetch("/registries/watch/sync", {method: "POST", headers: headers()});
        setTimeout(refresh, 500);
      });
      parts.push(button);
    }
    detail.replaceChildren(...parts);
  }

  async function refresh() {
    try {
      const response = await fetch("/registries/watch/status", {headers: headers()});
      const status = response.ok ? await response.json() : {configured: false};
      // No controller here (200, "configured": false): no badge, no section.
      if (status.configured === false) {
        badge.hidden = true; if (detail) detail.replaceChildren(); return;
      }
      render(status);
    } catch (error) {
      badge.hidden = true;
    }
  }

  refresh();
  setInterval(refresh, EVERY_MS);
})();
