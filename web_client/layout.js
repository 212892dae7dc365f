// @ts-check
/**
 * The one layout engine of the room's video area, a pure function: the area's size and the tiles in it go
 * in, one box per tile comes out. Grid (every tile alike), speaker view and presentation (one tile large —
 * the active speaker, a pinned or spotlit participant, or a shared screen — and the others in a strip beside
 * it on wide areas, below it on tall ones) are the same computation. Boxes never overlap and never shrink
 * below {@link MIN_TILE}: past that the area scrolls (`extent` is then larger than the area).
 */

/** Camera tiles are shown 4:3. */
export const TILE_ASPECT = 4 / 3;
/** Below this a name no longer fits on its tile and a face is too small to read. */
export const MIN_TILE = Object.freeze({ width: 136, height: 102 });

/**
 * @typedef {{x: number, y: number, width: number, height: number}} Box
 * @typedef {{width: number, height: number, gap?: number, ids: string[], focus?: string|null}} LayoutInput
 * @typedef {{boxes: Map<string, Box>, extent: {width: number, height: number}, mode: "grid"|"focus"}} Layout
 */

/**
 * Lays the tiles out.
 * @param {LayoutInput} input `focus`: the id shown large (null or unknown: a grid of all)
 * @returns {Layout}
 */
export function computeLayout({ width, height, gap = 12, ids, focus = null }) {
  const area = { x: 0, y: 0, width: Math.max(0, width), height: Math.max(0, height) };
  /** @type {Map<string, Box>} */
  const boxes = new Map();
  if (ids.length === 0 || area.width === 0 || area.height === 0) {
    return { boxes, extent: { width: area.width, height: area.height }, mode: "grid" };
  }
  const others = focus && ids.includes(focus) ? ids.filter((id) => id !== focus) : null;
  if (!focus || !others) {
    const bottom = gridIn(area, ids, gap, boxes);
    return { boxes, extent: { width: area.width, height: Math.max(area.height, bottom) }, mode: "grid" };
  }
  if (others.length === 0) {
    boxes.set(focus, area);
    return { boxes, extent: { width: area.width, height: area.height }, mode: "focus" };
  }
  let main;
  let strip;
  // A strip of tiles at the right, one or two columns wide, as narrow as a readable tile allows.
  const columns = others.length > 6 && area.width >= 1100 ? 2 : 1;
  const stripWidth = Math.max(Math.round(area.width * 0.22), MIN_TILE.width * columns + gap * (columns - 1));
  if (area.width >= area.height && area.width - stripWidth - gap >= MIN_TILE.width * 2) {
    main = { x: 0, y: 0, width: area.width - stripWidth - gap, height: area.height };
    strip = { x: main.width + gap, y: 0, width: stripWidth, height: area.height };
  } else {
    // A tall or small area (a phone): the large tile on top, the strip below it (scrolling if need be).
    const mainHeight = Math.max(MIN_TILE.height, Math.round(Math.min(area.width / TILE_ASPECT, area.height * 0.58)));
    main = { x: 0, y: 0, width: area.width, height: mainHeight };
    strip = { x: 0, y: mainHeight + gap, width: area.width, height: Math.max(MIN_TILE.height, area.height - mainHeight - gap) };
  }
  boxes.set(focus, main);
  const bottom = gridIn(strip, others, gap, boxes);
  return { boxes, extent: { width: area.width, height: Math.max(area.height, bottom) }, mode: "focus" };
}

/**
 * Lays ids out as a grid of equal 4:3 tiles in a rectangle, as large as fits (never below MIN_TILE), centred.
 * @param {Box} rect
 * @param {string[]} ids
 * @param {number} gap
 * @param {Map<string, Box>} boxes receives one box per id
 * @returns {number} the bottom edge of the grid (beyond the rectangle when it has to scroll)
 */
function gridIn(rect, ids, gap, boxes) {
  const count = ids.length;
  let best = { columns: 1, tileWidth: 0 };
  for (let columns = 1; columns <= count; columns++) {
    const rows = Math.ceil(count / columns);
    const byWidth = (rect.width - gap * (columns - 1)) / columns;
    const byHeight = ((rect.height - gap * (rows - 1)) / rows) * TILE_ASPECT;
    const tileWidth = Math.min(byWidth, byHeight);
    if (tileWidth > best.tileWidth + 0.5) best = { columns, tileWidth };
  }
  let { columns } = best;
  let tileWidth = Math.floor(best.tileWidth);
  if (tileWidth < MIN_TILE.width) {
    // Too many to fit: as many readable tiles per row as the width allows, and the rows scroll.
    columns = Math.max(1, Math.min(count, Math.floor((rect.width + gap) / (MIN_TILE.width + gap))));
    tileWidth = Math.max(MIN_TILE.width, Math.floor((rect.width - gap * (columns - 1)) / columns));
    if (columns === 1) tileWidth = Math.max(MIN_TILE.width, Math.floor(Math.min(rect.width, tileWidth)));
  }
  const tileHeight = Math.floor(tileWidth / TILE_ASPECT);
  const rows = Math.ceil(count / columns);
  const gridHeight = rows * tileHeight + (rows - 1) * gap;
  const top = rect.y + Math.max(0, Math.floor((rect.height - gridHeight) / 2));
  ids.forEach((id, index) => {
    const row = Math.floor(index / columns);
    // The last row, if shorter, is centred too.
    const inRow = row === rows - 1 ? count - row * columns : columns;
    const rowWidth = inRow * tileWidth + (inRow - 1) * gap;
    const left = rect.x + Math.max(0, Math.floor((rect.width - rowWidth) / 2));
    const column = index - row * columns;
    boxes.set(id, { x: left + column * (tileWidth + gap), y: top + row * (tileHeight + gap), width: tileWidth, height: tileHeight });
  });
  return top + gridHeight;
}

/**
 * Tells whether two boxes overlap (touching edges do not count).
 * @param {Box} a
 * @param {Box} b
 */
export function overlaps(a, b) {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

/**
 * Chooses which tile is shown large: a shared screen first, then the hosts' spotlight, then the viewer's pin,
 * then (in speaker view) the active speaker; null for a grid.
 * @param {{screen: string|null, spotlight: string|null, pinned: string|null, speaker: string|null,
 *          view: "grid"|"speaker", present: (id: string) => boolean}} choice
 * @returns {string|null}
 */
export function chooseFocus({ screen, spotlight, pinned, speaker, view, present }) {
  for (const id of [screen, spotlight, pinned]) if (id && present(id)) return id;
  if (view === "speaker" && speaker && present(speaker)) return speaker;
  return null;
}
