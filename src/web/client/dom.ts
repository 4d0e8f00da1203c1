/**
 * Building the page: elements and text nodes only. Nothing here (or anywhere in the UI) parses
 * markup, so text a job printed is always text, whatever it contains.
 */
export type Child = Node | string | number | null | undefined | false | Child[];

export interface Attrs {
  [name: string]: string | number | boolean | undefined | null | EventHandlers;
}
type EventHandlers = { [K in keyof HTMLElementEventMap]?: (e: HTMLElementEventMap[K]) => void };

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs & { on?: EventHandlers } = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === 'on') {
      for (const [event, handler] of Object.entries(value as EventHandlers)) {
        el.addEventListener(event, handler as EventListener);
      }
    } else if (value === true) el.setAttribute(name, '');
    else if (value !== false && value !== undefined && value !== null) el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

export function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number | undefined> = {},
  ...children: Child[]
): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs))
    if (value !== undefined) el.setAttribute(name, String(value));
  append(el, children);
  return el;
}

export function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's content. */
export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

/**
 * Redraws `parent` without losing the keyboard's place: a refreshed list would otherwise drop
 * the focus to the page's start every few seconds. The link or control focused before (by its
 * `href` or `id`) is focused again when the new content has it.
 */
export function redraw(parent: Element, ...children: Child[]): void {
  const active = document.activeElement;
  const inside = active instanceof Element && parent.contains(active);
  const href = inside ? active.getAttribute('href') : null;
  const id = inside ? active.id : '';
  replace(parent, ...children);
  if (!inside) return;
  const again = href
    ? parent.querySelector(`[href="${CSS.escape(href)}"]`)
    : id
      ? parent.querySelector(`#${CSS.escape(id)}`)
      : null;
  if (again instanceof HTMLElement || again instanceof SVGElement) again.focus();
}
