/** Small DOM helpers for the session UI: elements are built from text only (never HTML) and lists are updated in place. */

/**
 * Creates an element. `text` sets textContent, `dataset` data attributes, `on<event>` listeners; other
 * keys become attributes (`true` gives an empty attribute, `false`/null/undefined none).
 * @param {string} tag
 * @param {Record<string, any>} [props]
 * @param {...(Node|string|null|undefined|false)} children strings become text nodes
 * @returns {HTMLElement}
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") element.textContent = String(value);
    else if (key === "className") element.className = value;
    else if (key === "hidden") element.hidden = true;
    else if (key === "dataset") Object.assign(element.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") element.addEventListener(key.slice(2), value);
    else element.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined && child !== false) element.append(child);
  }
  return element;
}

/**
 * Brings a container's children in line with a list, reusing the element of each key so that focus and
 * state survive re-rendering (a button the user just pressed stays focused).
 * @template T
 * @param {HTMLElement} container
 * @param {T[]} items
 * @param {(item: T) => string} keyOf
 * @param {(item: T) => HTMLElement} create
 * @param {(element: HTMLElement, item: T, index: number) => void} update
 */
export function syncList(container, items, keyOf, create, update) {
  /** @type {Map<string, HTMLElement>} */
  const existing = new Map();
  for (const child of [...container.children]) {
    if (child instanceof HTMLElement && child.dataset.key !== undefined) existing.set(child.dataset.key, child);
    else child.remove();
  }
  /** @type {Element|null} */
  let previous = null;
  items.forEach((item, index) => {
    const key = keyOf(item);
    let element = existing.get(key);
    if (element) {
      existing.delete(key);
    } else {
      element = create(item);
      element.dataset.key = key;
    }
    update(element, item, index);
    const expected = previous ? previous.nextElementSibling : container.firstElementChild;
    if (expected !== element) container.insertBefore(element, expected);
    previous = element;
  });
  for (const element of existing.values()) element.remove();
}

/**
 * Sets an element's text only when it changes (avoids needless screen reader and layout work).
 * @param {Element} element
 * @param {string} text
 */
export function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

/**
 * Wires a WAI-ARIA tab list: click or arrow keys select a tab and show its panel.
 * @param {HTMLElement} tablist
 * @param {(tab: HTMLElement) => void} [onSelect]
 * @returns {(tab: HTMLElement, focus?: boolean) => void} selects a tab
 */
export function makeTabs(tablist, onSelect) {
  const tabs = () => /** @type {HTMLElement[]} */ ([...tablist.querySelectorAll('[role="tab"]')]).filter((t) => !t.hidden);
  /**
   * @param {HTMLElement} tab
   * @param {boolean} [focus]
   */
  const select = (tab, focus = false) => {
    for (const other of tablist.querySelectorAll('[role="tab"]')) {
      const selected = other === tab;
      other.setAttribute("aria-selected", String(selected));
      other.setAttribute("tabindex", selected ? "0" : "-1");
      const panel = document.getElementById(other.getAttribute("aria-controls") || "");
      if (panel) {
        panel.hidden = !selected;
        panel.tabIndex = selected ? 0 : -1;
      }
    }
    if (focus) tab.focus();
    if (onSelect) onSelect(tab);
  };
  tablist.addEventListener("click", (event) => {
    const tab = event.target instanceof Element ? event.target.closest('[role="tab"]') : null;
    if (tab instanceof HTMLElement) select(tab);
  });
  tablist.addEventListener("keydown", (event) => {
    const list = tabs();
    const index = list.indexOf(/** @type {HTMLElement} */ (document.activeElement));
    if (index < 0) return;
    let next = -1;
    if (event.key === "ArrowRight" || event.key === "ArrowDown") next = (index + 1) % list.length;
    else if (event.key === "ArrowLeft" || event.key === "ArrowUp") next = (index - 1 + list.length) % list.length;
    else if (event.key === "Home") next = 0;
    else if (event.key === "End") next = list.length - 1;
    if (next < 0) return;
    event.preventDefault();
    select(list[next], true);
  });
  return select;
}

/**
 * Sets a numeric attribute from a server limit, or removes it when the server sent none.
 * @param {Element} input
 * @param {string} name
 * @param {number|undefined} value
 */
export function setLimit(input, name, value) {
  if (value === undefined) input.removeAttribute(name);
  else input.setAttribute(name, String(value));
}
