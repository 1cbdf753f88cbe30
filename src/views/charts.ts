/**
 * Geometry for the pages' inline SVG bar charts (no script, no assets): one bar per point, a
 * y axis with its scale (0, half, the largest value) and an x axis labelled at a few evenly spread
 * points (build ids, or days). Templates draw the shapes; every label goes through the template's
 * escaping like any text.
 */
export interface Bar {
  x: number;
  y: number;
  width: number;
  height: number;
  label: string;
  href: string | null;
}

export interface Tick {
  /** Where along its axis (pixels in the chart's own coordinates). */
  at: number;
  label: string;
  /** How the label sits on its point: the last one ends there, so it is never cut off. */
  anchor?: 'middle' | 'end';
}

export interface BarChart {
  width: number;
  height: number;
  /** Where the plot area starts: the y labels are left of it, the x labels below. */
  left: number;
  plotHeight: number;
  bars: Bar[];
  max: number;
  /** Text for the largest value on the axis. */
  maxLabel: string;
  yTicks: Tick[];
  xTicks: Tick[];
  /** What each axis counts, said under and beside it. */
  xTitle: string;
  yTitle: string;
}

export const CHART_WIDTH = 640;
export const CHART_HEIGHT = 150;
const LEFT = 64;
const BOTTOM = 34;
const X_LABELS = 6;

export interface ChartPoint {
  value: number;
  /** The point's name on the x axis (a build id, a date). */
  tick: string;
  /** The bar's tooltip. */
  label: string;
  href: string | null;
}

export function barChart(points: ChartPoint[], format: (n: number) => string, titles: { x: string; y: string } = { x: 'build', y: '' }): BarChart {
  const max = Math.max(1, ...points.map((p) => p.value));
  const plotWidth = CHART_WIDTH - LEFT;
  const plotHeight = CHART_HEIGHT - BOTTOM;
  const slot = plotWidth / Math.max(points.length, 1);
  const width = Math.max(1, Math.min(24, slot * 0.8));
  const bars = points.map((p, i) => {
    const height = Math.max(p.value > 0 ? 1 : 0, Math.round((p.value / max) * (plotHeight - 4)));
    return { x: Math.round(LEFT + i * slot + (slot - width) / 2), y: plotHeight - height, width: Math.round(width), height, label: `${p.label}: ${format(p.value)}`, href: p.href };
  });
  const yTicks = [0, max / 2, max].map((v) => ({ at: Math.round(plotHeight - (v / max) * (plotHeight - 4)), label: format(v) }));
  // the first and last point, and a few between, never two labels on top of each other
  const every = Math.max(1, Math.ceil(points.length / X_LABELS));
  const xTicks = points
    .map((p, i) => ({ i, p }))
    .filter(({ i }) => i % every === 0 || i === points.length - 1)
    .filter(({ i }, k, all) => k === all.length - 1 || points.length - 1 - i >= every / 2 || i === 0)
    .map(({ i, p }) => (i === points.length - 1 && points.length > 1 ? { at: CHART_WIDTH, label: p.tick, anchor: 'end' as const } : { at: Math.round(LEFT + i * slot + slot / 2), label: p.tick }));
  return { width: CHART_WIDTH, height: CHART_HEIGHT, left: LEFT, plotHeight, bars, max, maxLabel: format(max), yTicks, xTicks, xTitle: titles.x, yTitle: titles.y };
}
