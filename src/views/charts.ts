/**
 * Geometry for the machine page's inline SVG charts (no script, no assets): one bar per build.
 * Templates draw the shapes; every label goes through the template's escaping like any text.
 */
export interface Bar {
  x: number;
  y: number;
  width: number;
  height: number;
  label: string;
  href: string;
}

export interface BarChart {
  width: number;
  height: number;
  bars: Bar[];
  max: number;
  /** Text for the largest value on the axis. */
  maxLabel: string;
}

export const CHART_WIDTH = 640;
export const CHART_HEIGHT = 120;

export function barChart(points: { value: number; label: string; href: string }[], format: (n: number) => string): BarChart {
  const max = Math.max(1, ...points.map((p) => p.value));
  const slot = CHART_WIDTH / Math.max(points.length, 1);
  const width = Math.max(1, Math.min(24, slot * 0.8));
  const bars = points.map((p, i) => {
    const height = Math.max(p.value > 0 ? 1 : 0, Math.round((p.value / max) * (CHART_HEIGHT - 4)));
    return { x: Math.round(i * slot + (slot - width) / 2), y: CHART_HEIGHT - height, width: Math.round(width), height, label: `${p.label}: ${format(p.value)}`, href: p.href };
  });
  return { width: CHART_WIDTH, height: CHART_HEIGHT, bars, max, maxLabel: format(max) };
}
