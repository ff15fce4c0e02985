// The DOM helpers every page's scripts share, loaded first (base.html): an element from a
// tag, attributes and children; an id that wraps only between its words; "1 step".
"use strict";

/** `tag` with `attributes` ("text": its text; "on…": a listener; a value null, undefined
 * or false: left out) and `children`. */
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

/** An id (or a path) that may wrap only between its words (after "_" or "/"), never inside
 * one: a narrow screen shows "recommendation_" and "agent", not "recommendat" and "ion".
 * Text with spaces wraps at its spaces, as any text. */
function wordWrapped(text) {
  const nodes = [];
  if (/\s/.test(String(text))) return [String(text)];
  for (const part of String(text).split(/(?<=[_/])/)) {
    if (nodes.length) nodes.push(el("wbr"));
    nodes.push(part);
  }
  return nodes;
}

/** "1 revision", "2 revisions": no page says "1 revisions". */
function count(number, singular, plural = `${singular}s`) {
  return `${number} ${number === 1 ? singular : plural}`;
}
