// @ts-check
/**
 * A member's check-in mood ratings (1-10) as a small line chart: the geometry is a pure function of the
 * ratings (tested in node), and the SVG is built from it with presentation attributes only — the page's
 * Content-Security-Policy allows no inline style. The chart always comes with a text summary, which is what
 * a screen reader announces and what a reader who cannot tell the line apart reads.
 */

const SVG_NS = "http://www.w3.org/2000/svg";
export const MIN_RATING = 1;
export const MAX_RATING = 10;

/**
 * @typedef {{at: string, rating: number, session_id?: string}} Mood
 * @typedef {{x: number, y: number, rating: number, at: string}} ChartPoint
 * @typedef {{width: number, height: number, points: ChartPoint[], line: string,
 *   grid: Array<{y: number, label: string}>, label: string, summary: string}} MoodChart
 */

/**
 * The ratings in time order, dropping anything that is not a whole rating from 1 to 10 or has no readable time.
 * @param {Mood[]} moods
 * @returns {Mood[]}
 */
export function usableMoods(moods) {
  return moods.filter((m) => Number.isInteger(m.rating) && m.rating >= MIN_RATING && m.rating <= MAX_RATING
    && !Number.isNaN(Date.parse(m.at)))
    .sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
}

/**
 * Says the ratings in words: "5 ratings, from 3 to 7, latest 6".
 * @param {Mood[]} moods
 * @returns {string}
 */
export function moodSummary(moods) {
  const kept = usableMoods(moods);
  if (!kept.length) return "No mood ratings kept in this period.";
  const latest = kept[kept.length - 1].rating;
  if (kept.length === 1) return `1 rating: ${latest}`;
  const ratings = kept.map((m) => m.rating);
  const low = Math.min(...ratings);
  const high = Math.max(...ratings);
  const spread = low === high ? `all ${low}` : `from ${low} to ${high}`;
  return `${kept.length} ratings, ${spread}, latest ${latest}`;
}

/** @param {number} value */
const round = (value) => Math.round(value * 10) / 10;

/**
 * The chart's geometry: x by time across the plot (a single rating in the middle), y from 1 at the bottom
 * to 10 at the top, and guide lines at 1, 5 and 10.
 * @param {Mood[]} moods
 * @param {{width?: number, height?: number, pad?: number}} [size]
 * @returns {MoodChart}
 */
export function moodChart(moods, { width = 320, height = 120, pad = 16 } = {}) {
  const kept = usableMoods(moods);
  const times = kept.map((m) => Date.parse(m.at));
  const first = times[0];
  const span = times.length ? times[times.length - 1] - first : 0;
  const left = pad * 2; // room for the scale's labels
  const right = width - pad;
  const top = pad / 2;
  const bottom = height - pad;
  /** @param {number} rating */
  const yOf = (rating) => round(bottom - ((rating - MIN_RATING) / (MAX_RATING - MIN_RATING)) * (bottom - top));
  const points = kept.map((m, i) => ({
    x: round(span > 0 ? left + ((times[i] - first) / span) * (right - left) : (left + right) / 2),
    y: yOf(m.rating), rating: m.rating, at: m.at,
  }));
  const line = points.map((p, i) => `${i ? "L" : "M"}${p.x} ${p.y}`).join(" ");
  return {
    width, height, points, line,
    grid: [MIN_RATING, 5, MAX_RATING].map((rating) => ({ y: yOf(rating), label: String(rating) })),
    label: "Check-in mood ratings over time, 1 (low) to 10 (high)",
    summary: moodSummary(kept),
  };
}

/**
 * @param {Document} doc @param {string} tag @param {Record<string, string|number>} attributes
 * @returns {SVGElement}
 */
function svg(doc, tag, attributes) {
  const element = /** @type {SVGElement} */ (doc.createElementNS(SVG_NS, tag));
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  return element;
}

/**
 * Builds the chart's SVG element: an image with an accessible name (the label) and description (the summary).
 * @param {MoodChart} chart
 * @param {string} idPrefix unique in the page, for the title and description ids
 * @param {(iso: string) => string} formatTime how a rating's time is written in its tooltip
 * @param {Document} [doc]
 * @returns {SVGElement}
 */
export function renderMoodChart(chart, idPrefix, formatTime, doc = document) {
  const root = svg(doc, "svg", {
    viewBox: `0 0 ${chart.width} ${chart.height}`, width: chart.width, height: chart.height, role: "img",
    "aria-labelledby": `${idPrefix}-title`, "aria-describedby": `${idPrefix}-desc`, class: "mood-chart",
    "data-testid": "mood-chart", "data-points": chart.points.length,
  });
  const title = svg(doc, "title", { id: `${idPrefix}-title` });
  title.textContent = chart.label;
  const desc = svg(doc, "desc", { id: `${idPrefix}-desc` });
  desc.textContent = chart.summary;
  root.append(title, desc);
  for (const line of chart.grid) {
    root.append(svg(doc, "line", { x1: 28, x2: chart.width - 8, y1: line.y, y2: line.y, stroke: "#ccc", "stroke-width": 1 }));
    const label = svg(doc, "text", { x: 4, y: line.y + 4, "font-size": 11, fill: "#444", "aria-hidden": "true" });
    label.textContent = line.label;
    root.append(label);
  }
  if (chart.points.length > 1) {
    root.append(svg(doc, "path", { d: chart.line, fill: "none", stroke: "#1f5fa8", "stroke-width": 2 }));
  }
  for (const point of chart.points) {
    const dot = svg(doc, "circle", { cx: point.x, cy: point.y, r: 4, fill: "#1f5fa8", "data-rating": point.rating });
    const tip = svg(doc, "title", {});
    tip.textContent = `${formatTime(point.at)}: ${point.rating} of 10`;
    dot.append(tip);
    root.append(dot);
  }
  return root;
}
