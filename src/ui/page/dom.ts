/** The page builds its elements with these: an element by id, an HTML element, an SVG one. */

const SVGNS = "http://www.w3.org/2000/svg";

export type Attrs = Readonly<Record<string, string | number>>;

/** The page's element with this id (src/ui/page.ts; test/ui/page.test.ts checks each exists). */
export function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (node === null) throw new Error(`the page has no element #${id}`);
  return node as T;
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K, attrs: Attrs = {}, text?: string | number,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = String(text);
  return node;
}

export function s<K extends keyof SVGElementTagNameMap>(
  tag: K, attrs: Attrs = {}, text?: string | number,
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = String(text);
  return node;
}
