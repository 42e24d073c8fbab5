// A line chart of one measurement over time, drawn as SVG: no library. A
// time axis, the value axis in the measurement's unit, and its normal range
// shaded; screen readers get its title and description, and the table
// beside it holds every value.

const SVG = "http://www.w3.org/2000/svg";

export interface Point {
  at: number;
  value: number;
}

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

const round = (v: number) => String(Math.round(v * 10) / 10);

/** A time as an axis says it: to the second within two hours, the hour within a day and a half, else the date. */
function tickText(ms: number, span: number): string {
  const d = new Date(ms);
  if (span <= 2 * 3_600_000) return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  if (span <= 36 * 3_600_000) return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  return d.toLocaleDateString(undefined, { month: "short", day: "numeric" });
}

export function lineChart(title: string, unit: string, points: Point[], normal?: [number, number]): SVGSVGElement {
  const [w, h] = [360, 170];
  const [left, right, top, bottom] = [40, 10, 10, 30];
  const id = `chart-${Math.random().toString(36).slice(2)}`;
  const chart = svg("svg", { viewBox: `0 0 ${w} ${h}`, role: "img", class: "chart", "aria-labelledby": `${id}-t ${id}-d` });
  const values = points.map((p) => p.value);
  const [lo, hi] = [Math.min(...values), Math.max(...values)];
  chart.append(
    svg("title", { id: `${id}-t` }, `${title} (${unit})`),
    svg(
      "desc",
      { id: `${id}-d` },
      (points.length ? `${points.length} readings from ${round(lo)} to ${round(hi)} ${unit}` : "no readings") +
        (normal ? `; the normal range, ${normal[0]} to ${normal[1]} ${unit}, is shaded` : "") +
        (points.length ? `; from ${new Date(points[0].at).toLocaleString()} to ${new Date(points[points.length - 1].at).toLocaleString()}` : ""),
    ),
  );
  if (points.length === 0) return chart;
  // The value axis spans the readings and the normal range, with a margin.
  const [vMin, vMax] = [Math.min(lo, normal?.[0] ?? lo), Math.max(hi, normal?.[1] ?? hi)];
  const margin = Math.max((vMax - vMin) * 0.08, 0.5);
  const [y0, y1] = [vMin - margin, vMax + margin];
  const [t0, t1] = [points[0].at, points[points.length - 1].at];
  const x = (t: number) => left + ((t - t0) / Math.max(1, t1 - t0)) * (w - left - right);
  const y = (v: number) => h - bottom - ((v - y0) / (y1 - y0)) * (h - top - bottom);
  if (normal) {
    chart.append(
      svg("rect", { class: "normal", x: left, y: y(normal[1]), width: w - left - right, height: y(normal[0]) - y(normal[1]), fill: "#dcfce7" }),
    );
  }
  // Axes: values at the normal range's ends (or the readings'), four times.
  chart.append(
    svg("line", { x1: left, y1: top, x2: left, y2: h - bottom, stroke: "#4a5360" }),
    svg("line", { x1: left, y1: h - bottom, x2: w - right, y2: h - bottom, stroke: "#4a5360" }),
  );
  for (const v of normal ?? [lo, hi]) {
    chart.append(svg("text", { x: left - 4, y: y(v) + 3, "font-size": 9, "text-anchor": "end", fill: "#374151" }, round(v)));
  }
  chart.append(svg("text", { x: 2, y: top + 2, "font-size": 9, fill: "#374151", "dominant-baseline": "hanging" }, unit));
  for (let i = 0; i < 4; i++) {
    const t = t0 + ((t1 - t0) * i) / 3;
    const anchor = i === 0 ? "start" : i === 3 ? "end" : "middle";
    chart.append(
      svg("line", { x1: x(t), y1: h - bottom, x2: x(t), y2: h - bottom + 4, stroke: "#4a5360" }),
      svg("text", { x: x(t), y: h - bottom + 15, "font-size": 9, "text-anchor": anchor, fill: "#374151" }, tickText(t, t1 - t0)),
    );
  }
  chart.append(
    svg("polyline", {
      points: points.map((p) => `${x(p.at).toFixed(1)},${y(p.value).toFixed(1)}`).join(" "),
      fill: "none",
      stroke: "#1d4ed8",
      "stroke-width": 1.5,
    }),
  );
  return chart;
}
