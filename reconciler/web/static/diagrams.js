// What the Graph page (pages.js) and the panel's Workflows tab (panel.js) both draw with
// Cytoscape.js (vendored, with the dagre layout): one style for resources and references,
// and a workflow's steps and transitions top to bottom, from the server's answer
// (GET /registries/graph/workflow). Shared here so the two pages draw the same picture.
// Exposed as window.meshDiagrams; nothing global besides (el, count: dom.js).
"use strict";

(() => {
  // One colour per kind, light fill and a darker border (the text stays dark on all).
  const KIND_COLOURS = {
    "model-profile": ["#dbeafe", "#1d4ed8"], "tool": ["#dcfce7", "#15803d"],
    "agent": ["#fef3c7", "#b45309"], "workflow": ["#ede9fe", "#6d28d9"],
    "governance-policy": ["#fee2e2", "#b91c1c"], "system-config": ["#f1f5f9", "#475569"],
    "context-strategies": ["#cffafe", "#0e7490"], "context-processor": ["#ccfbf1", "#0f766e"],
    "auth-profile": ["#fce7f3", "#be185d"], "security-policy": ["#ffe4e6", "#be123c"],
    "integration-config": ["#e0e7ff", "#4338ca"], "connector": ["#fae8ff", "#a21caf"],
    "integration-workflow": ["#f3e8ff", "#7e22ce"],
  };

  function graphStyle() {
    const style = [
      {selector: "node", style: {
        "label": "data(label)", "text-wrap": "wrap", "text-max-width": "400px",
        "text-valign": "center", "text-halign": "center", "font-size": "11px",
        "font-family": "system-ui, sans-serif", "color": "#1b1f24", "shape": "round-rectangle",
        "width": "data(w)", "height": "data(h)", "border-width": 1}},
      {selector: "node.focus", style: {"border-width": 4, "font-weight": "bold"}},
      {selector: "node.transitive", style: {"border-style": "dashed", "background-opacity": 0.45,
                                           "color": "#3f4750"}},
      {selector: "node.missing", style: {"border-color": "#b42318", "border-style": "dotted",
                                        "background-color": "#fff"}},
      {selector: "edge", style: {
        "curve-style": "bezier", "target-arrow-shape": "triangle", "width": 1.6,
        "line-color": "#3f4750", "target-arrow-color": "#3f4750", "label": "data(label)",
        "font-size": "9px", "color": "#1b1f24", "text-background-color": "#ffffff",
        "text-background-opacity": 0.9, "text-background-padding": "2px",
        "text-background-shape": "round-rectangle"}},
      {selector: "edge.dependent", style: {"line-color": "#b45309",
                                           "target-arrow-color": "#b45309"}},
      {selector: "edge.transitive", style: {"line-style": "dashed", "width": 1,
                                            "line-color": "#8c959f",
                                            "target-arrow-color": "#8c959f",
                                            "color": "#5b6570"}},
    ];
    for (const [type, [fill, border]] of Object.entries(KIND_COLOURS)) {
      style.push({selector: `node[type = "${type}"]`, style: {"background-color": fill,
                                                               "border-color": border}});
    }
    return style;
  }

  // A node's size from its label (two lines at 11 px), as Cytoscape draws the text.
  const measure = document.createElement("canvas").getContext("2d");
  function sized(data, pad = 16) {
    measure.font = "11px system-ui, sans-serif";
    const lines = String(data.label).split("\n");
    const widest = Math.max(...lines.map(line => measure.measureText(line).width));
    return {...data, w: Math.ceil(widest) + pad, h: lines.length * 14 + pad - 4};
  }

  // The canvas as tall as the drawing needs at its width (at most `most` px), redrawn to
  // fit: a wide, flat neighbourhood leaves no empty band on a phone.
  function fitHeight(cy, container, most) {
    const box = cy.elements().boundingBox();
    if (!box.w) return;
    const height = Math.min(Math.max(container.clientWidth * box.h / box.w + 28, 200), most);
    container.style.height = `${Math.round(height)}px`;
    cy.resize();
    cy.fit(undefined, 12);
  }

  // Layered: dependents, the resource, its dependencies from left to right, the ranks as
  // far apart as the longest edge label (less on a phone), so labels sit between the
  // nodes; a workflow's steps top to bottom.
  function layout(container, direction, elements = []) {
    const across = direction === "LR";
    measure.font = "9px system-ui, sans-serif";
    const label = Math.max(0, ...elements.filter(e => e.group === "edges")
      .map(e => measure.measureText(e.data.label || "").width));
    const room = container.clientWidth >= 700 ? 280 : 120;
    return {name: "dagre", rankDir: direction, nodeSep: across ? 18 : 24,
            rankSep: across ? Math.min(Math.max(60, label * 1.15 + 40), room) : 60,
            edgeSep: 8, padding: 12, fit: true, animate: false};
  }

  const END_STYLE = /error|terminate|dead|fail|abort/i;
  const FLOW_STYLE = [
    {selector: 'node[type = "step"]', style: {"background-color": "#ede9fe",
                                              "border-color": "#6d28d9"}},
    {selector: 'node[type = "end"]', style: {"shape": "ellipse", "background-color": "#f6f8fa",
                                             "border-color": "#5b6570"}},
    {selector: "node.good", style: {"background-color": "#dafbe1", "border-color": "#1a7f37"}},
    {selector: "node.bad", style: {"background-color": "#ffebe9", "border-color": "#b42318"}},
    {selector: 'node[type = "hitl"]', style: {"shape": "round-diamond",
                                              "background-color": "#fff8c5",
                                              "border-color": "#7d4e00"}},
    {selector: "edge.success", style: {"line-color": "#1a7f37", "target-arrow-color": "#1a7f37"}},
    {selector: "edge.failure", style: {"line-color": "#b42318", "target-arrow-color": "#b42318",
                                       "line-style": "dashed"}},
    {selector: "edge.hitl", style: {"line-color": "#7d4e00", "target-arrow-color": "#7d4e00",
                                    "line-style": "dotted"}},
  ];

  // The steps as a list (what a keyboard and a screen reader read of the picture); each
  // step's agent drawn by `agent(name)` (a button or a link to its neighbourhood).
  function stepList(data, agent) {
    const steps = el("ol", {class: "workflow-steps"});
    const out = {};
    for (const move of data.transitions) (out[move.from] = out[move.from] || []).push(move);
    for (const step of data.steps) {
      const moves = (out[step.id] || []).map(move => `on ${move.on} → ${move.to}`).join("; ");
      const detail = step.connector ? `connector ${step.connector}` : step.policy
        ? `policy ${step.policy}` : step.type || "";
      steps.append(el("li", {"data-step": step.id}, el("strong", {text: step.id}),
        step.name !== step.id ? ` — ${step.name}` : "", " (",
        step.agent ? agent(step.agent) : detail, ")", moves ? `: ${moves}` : ""));
    }
    return steps;
  }

  // The picture's nodes and edges: start, each step, the ends, the HITL checkpoints.
  function flowElements(data) {
    const named = Object.fromEntries(data.steps.map(step => [step.id, step]));
    const elements = [{group: "nodes", data: sized({id: "start", label: "start", type: "end"}),
                       classes: "start"}];
    for (const step of data.steps) {
      elements.push({group: "nodes", data: sized({id: `step:${step.id}`, type: "step",
        label: `${step.sequence ? `${step.sequence}. ` : ""}${step.name}\n` +
               (step.agent || step.connector || step.policy || step.type || "")})});
    }
    for (const end of data.ends) {
      elements.push({group: "nodes", data: sized({id: `end:${end}`, label: end, type: "end"}),
                     classes: END_STYLE.test(end) ? "bad" : "good"});
    }
    if (data.steps.length) {
      elements.push({group: "edges", data: {id: "f-start", source: "start",
                                            target: `step:${data.steps[0].id}`, label: ""}});
    }
    data.transitions.forEach((move, index) => {
      const target = named[move.to] ? `step:${move.to}` : `end:${move.to}`;
      elements.push({group: "edges", data: {id: `f${index}`, source: `step:${move.from}`,
                                            target, label: move.on}, classes: move.on});
    });
    data.checkpoints.forEach((point, index) => {
      const node = `hitl:${index}`;
      elements.push({group: "nodes", data: sized({
        id: node, type: "hitl", label: `HITL ${point.name || point.id}\nrole ${point.role}`}, 40)});
      for (const step of point.after) {
        elements.push({group: "edges", data: {id: `h${index}-${step}`, source: `step:${step}`,
                                              target: node, label: "after"}, classes: "hitl"});
      }
      for (const end of point.before) {
        elements.push({group: "edges", data: {id: `h${index}-${end}`, source: node,
                                              target: `end:${end}`, label: "before"},
                       classes: "hitl"});
      }
    });
    return elements;
  }

  // Draw a workflow's steps and transitions (`data`, the server's answer) into `section`:
  // a title, the picture (on_success green, on_failure dashed red, to the next step or an
  // end; HITL checkpoints as diamonds) and the same as a list. Answers the Cytoscape
  // instance (its owner destroys it before drawing again).
  function drawWorkflow(section, data, {agent = name => `agent ${name}`, id = ""} = {}) {
    const canvas = el("div", {id: "workflow-canvas", role: "img", "aria-label":
      `Steps of ${id || data.title}: ${count(data.steps.length, "step")}; the list below ` +
      "has them."});
    const checkpoints = data.checkpoints.map(point => el("li", {},
      `HITL checkpoint ${point.id} (${point.type || "checkpoint"}, role ${point.role}), ` +
      (point.after.length ? `after ${point.after.join(", ")}` : point.before.length
        ? `before ${point.before.join(", ")}` : point.trigger || "")));
    section.replaceChildren(
      el("h2", {id: "workflow-title",
                text: `Steps of ${data.title}` + (data.mode ? ` (${data.mode})` : "")}),
      canvas, stepList(data, agent),
      ...(checkpoints.length ? [el("ul", {class: "workflow-checkpoints"}, ...checkpoints)] : []));
    const elements = flowElements(data);
    const flow = cytoscape({container: canvas, elements, layout: layout(canvas, "TB", elements),
      minZoom: 0.15, maxZoom: 3, boxSelectionEnabled: false, autoungrabify: true,
      style: [...graphStyle().filter(rule => rule.selector === "node" ||
                                             rule.selector === "edge"), ...FLOW_STYLE]});
    fitHeight(flow, canvas, Math.min(window.innerHeight * 0.85, 900));
    return flow;
  }

  window.meshDiagrams = {graphStyle, sized, fitHeight, layout, drawWorkflow};
})();
