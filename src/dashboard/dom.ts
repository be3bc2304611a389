// The few DOM helpers the page needs instead of a framework: build elements, and keep a table body in step with a
// list of rows, rebuilding only the rows whose content changed (a fleet of thousands of workers updates many times
// a second, and most rows stay as they are).

type Child = Node | string | null | undefined | false;

/** An element with attributes (`class`, `data-*`, `title`, ...) and children (strings become text). */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Readonly<Record<string, string | undefined>> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined) element.setAttribute(name, value);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return element;
}

/**
 * A horizontal bar filled to `percent` (0-100) showing `text`, with `label` (the whole figure) for the tooltip and
 * screen readers.
 */
export function bar(percent: number, text: string, label: string, tone: 'ok' | 'warn' | 'hot' = 'ok', wide = false): HTMLElement {
  const fill = el('span', { class: `bar-fill ${tone}` });
  // Set through the CSSOM: the page's Content-Security-Policy forbids inline style attributes, not this.
  fill.style.width = `${percent.toFixed(1)}%`;
  return el('span', { class: wide ? 'bar wide' : 'bar', role: 'img', 'aria-label': label, title: label }, fill, el('span', { class: 'bar-text' }, text));
}

const rowSignatures = new WeakMap<HTMLTableRowElement, string>();

/**
 * Makes `body` hold one row per item, in order: a row whose `signature` is unchanged is kept as it is, a new or
 * changed one is (re)built by `build`. Rows of items that are gone are removed.
 */
export function syncRows<T>(
  body: HTMLTableSectionElement,
  items: readonly T[],
  key: (item: T) => string,
  signature: (item: T) => string,
  build: (item: T) => HTMLTableRowElement,
): void {
  const existing = new Map<string, HTMLTableRowElement>();
  for (const row of Array.from(body.rows)) existing.set(row.dataset.key ?? '', row);
  let cursor: ChildNode | null = body.firstChild;
  for (const item of items) {
    const id = key(item);
    const sig = signature(item);
    let row = existing.get(id);
    existing.delete(id);
    if (row === undefined || rowSignatures.get(row) !== sig) {
      const fresh = build(item);
      fresh.dataset.key = id;
      rowSignatures.set(fresh, sig);
      if (row !== undefined) {
        if (row === cursor) cursor = row.nextSibling;
        row.remove();
      }
      row = fresh;
    }
    if (row !== cursor) body.insertBefore(row, cursor);
    cursor = row.nextSibling;
  }
  for (const row of existing.values()) row.remove();
}
