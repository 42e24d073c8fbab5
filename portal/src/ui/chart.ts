// A small line chart of one measurement over time, drawn as SVG: no
// library, readable by screen readers through its title and the table
// beside it.

const SVG = "http://www.w3.org/2000/svg";

export interface Point {
  at: number;
  value: number;
}

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

export function lineChart(title: string, unit: string, points: Point[]): SVGSVGElement {
  const [w, h, pad] = [320, 120, 28];
  const chart = svg("svg", { viewBox: `0 0 ${w} ${h}`, role: "img", class: "chart" });
  const label = svg("title", {});
  const values = points.map((p) => p.value);
  const [lo, hi] = [Math.min(...values), Math.max(...values)];
  label.textContent = `${title}: ${points.length} readings from ${lo} to ${hi} ${unit}`;
  chart.append(label);
  if (points.length === 0) return chart;
  const [t0, t1] = [points[0].at, points[points.length - 1].at];
  const x = (t: number) => pad + ((t - t0) / Math.max(1, t1 - t0)) * (w - 2 * pad);
  const y = (v: number) => h - pad / 2 - ((v - lo) / Math.max(1e-9, hi - lo)) * (h - pad);
  chart.append(
    svg("polyline", {
      points: points.map((p) => `${x(p.at).toFixed(1)},${y(p.value).toFixed(1)}`).join(" "),
      fill: "none",
      stroke: "#1d4ed8",
      "stroke-width": 2,
    }),
  );
  for (const [v, at] of [
    [hi, y(hi)],
    [lo, y(lo)],
  ]) {
    const t = svg("text", { x: 2, y: at + 4, "font-size": 8, fill: "#4a5360" });
    t.textContent = String(Math.round(v * 10) / 10);
    chart.append(t);
  }
  return chart;
}
