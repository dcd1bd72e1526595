// The submission details as inline SVG, drawn here (no chart library): a histogram of per-sample PSNR, a
// confusion matrix, a ROC curve. Every mark carries its number in `data-*` and a <title> for screen readers.

import { s } from "./dom.js";

const W = 480;
const H = 240;
const PAD = 36;

export function binsFor(values, count) {
  const min = Math.min(...values);
  const max = Math.max(...values);
  const width = max > min ? (max - min) / count : 1;
  const bins = Array.from({ length: count }, (_, i) => ({ from: min + i * width, to: min + (i + 1) * width, n: 0 }));
  for (const value of values) bins[Math.min(count - 1, Math.floor((value - min) / width))].n += 1;
  return bins;
}

export function histogram(values, { unit = "dB", label = "PSNR" } = {}) {
  const count = Math.max(1, Math.min(20, Math.ceil(Math.sqrt(values.length))));
  const bins = values.length ? binsFor(values, count) : [];
  const tallest = Math.max(1, ...bins.map((b) => b.n));
  const barWidth = (W - 2 * PAD) / Math.max(1, bins.length);
  const svg = s("svg", { class: "chart histogram", viewBox: `0 0 ${W} ${H}`, role: "img",
    "aria-label": `${label} histogram of ${values.length} samples`, "data-values": values.length });
  bins.forEach((bin, i) => {
    const height = ((H - 2 * PAD) * bin.n) / tallest;
    svg.append(s("rect", { class: "bar", x: PAD + i * barWidth + 1, y: H - PAD - height, width: barWidth - 2,
      height, "data-count": bin.n, "data-from": bin.from, "data-to": bin.to },
    s("title", {}, `${bin.from.toFixed(2)}–${bin.to.toFixed(2)} ${unit}: ${bin.n} samples`)));
  });
  svg.append(axes(bins.length ? `${bins[0].from.toFixed(1)} ${unit}` : "", bins.length ?
    `${bins[bins.length - 1].to.toFixed(1)} ${unit}` : "", `${tallest}`));
  return svg;
}

function axes(left, right, top) {
  return s("g", { class: "axes" },
    s("line", { x1: PAD, y1: H - PAD, x2: W - PAD, y2: H - PAD }),
    s("line", { x1: PAD, y1: PAD, x2: PAD, y2: H - PAD }),
    s("text", { x: PAD, y: H - PAD + 16 }, left),
    s("text", { x: W - PAD, y: H - PAD + 16, "text-anchor": "end" }, right),
    s("text", { x: PAD - 6, y: PAD + 4, "text-anchor": "end" }, top));
}

export function confusionMatrix(matrix) {
  const n = matrix.length;
  const size = 28;
  const side = 40 + n * size;
  const largest = Math.max(1, ...matrix.flat());
  const svg = s("svg", { class: "chart confusion", viewBox: `0 0 ${side} ${side}`, role: "img",
    "aria-label": `confusion matrix, ${n} classes (rows: true class, columns: predicted)`, "data-classes": n });
  for (let k = 0; k < n; k += 1) {
    svg.append(s("text", { x: 40 + k * size + size / 2, y: 28, "text-anchor": "middle", class: "label" }, k));
    svg.append(s("text", { x: 28, y: 40 + k * size + size / 2 + 4, "text-anchor": "end", class: "label" }, k));
  }
  matrix.forEach((row, i) => row.forEach((count, j) => {
    const cell = s("g", { class: i === j ? "cell diagonal" : "cell", "data-row": i, "data-column": j,
      "data-count": count });
    cell.append(s("rect", { x: 40 + j * size, y: 40 + i * size, width: size - 1, height: size - 1,
      "fill-opacity": (0.08 + 0.92 * count / largest).toFixed(3) }, s("title", {}, `true ${i}, predicted ${j}: ${count}`)));
    cell.append(s("text", { x: 40 + j * size + size / 2, y: 40 + i * size + size / 2 + 4, "text-anchor": "middle" },
      count));
    svg.append(cell);
  }));
  return svg;
}

export function rocCurve(points, auc) {
  const side = 260;
  const inner = side - 2 * PAD;
  const at = ([fpr, tpr]) => `${(PAD + fpr * inner).toFixed(1)},${(side - PAD - tpr * inner).toFixed(1)}`;
  return s("svg", { class: "chart roc", viewBox: `0 0 ${side} ${side}`, role: "img",
    "aria-label": `ROC curve${auc === null || auc === undefined ? "" : `, AUC ${Number(auc).toFixed(3)}`}`,
    "data-points": points.length },
  s("line", { class: "chance", x1: PAD, y1: side - PAD, x2: side - PAD, y2: PAD }),
  s("polyline", { class: "curve", points: points.map(at).join(" ") }),
  s("g", { class: "axes" },
    s("line", { x1: PAD, y1: side - PAD, x2: side - PAD, y2: side - PAD }),
    s("line", { x1: PAD, y1: PAD, x2: PAD, y2: side - PAD }),
    s("text", { x: side / 2, y: side - 8, "text-anchor": "middle" }, "false positive rate"),
    s("text", { x: 12, y: side / 2, "text-anchor": "middle", transform: `rotate(-90 12 ${side / 2})` },
      "true positive rate")));
}
