// The live training curves as inline SVG. They are redrawn every second or two while a run trains:
// a chart library's full redraw cost the browser most of a core per watching tab, this a few ms.
const NS = "http://www.w3.org/2000/svg";
const W = 320, H = 210;
const PAD = { l: 52, r: 10, t: 24, b: 34 };
const TRAIN = "#1f77b4", TEST = "#d62728";

function node(name, attrs = {}, text = null) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== null) e.textContent = text;
  return e;
}

function niceTicks(lo, hi, count) {
  const span = hi - lo || Math.abs(hi) || 1;
  const raw = span / count;
  const step = Math.pow(10, Math.floor(Math.log10(raw)));
  const unit = [1, 2, 5, 10].map((m) => m * step).find((s) => span / s <= count) || 10 * step;
  const out = [];
  for (let v = Math.ceil(lo / unit) * unit; v <= hi + unit * 1e-9; v += unit) out.push(+v.toPrecision(12));
  return out;
}

const label = (v) => (Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(1) : +v.toPrecision(4));

function finite(xs, ys) {
  const pts = [];
  for (let i = 0; i < Math.min(xs.length, ys.length); i++) {
    if (Number.isFinite(xs[i]) && Number.isFinite(ys[i])) pts.push([xs[i], ys[i]]);
  }
  return pts;
}

function panel(p) {
  const train = finite(p.steps, p.values);
  const test = finite(p.test_steps, p.test_values);
  const all = train.concat(test);
  const svg = node("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", class: "panel" });
  const last = train.length ? train[train.length - 1][1] : null;
  svg.setAttribute("aria-label", `${p.title}: ${last === null ? "no value yet" : "last " + label(last)}`);
  svg.append(node("text", { x: (PAD.l + W - PAD.r) / 2, y: 14, "text-anchor": "middle", class: "title" }, p.title));
  if (!all.length) return svg;
  let [x0, x1] = [Math.min(...all.map((q) => q[0])), Math.max(...all.map((q) => q[0]))];
  let [y0, y1] = [Math.min(...all.map((q) => q[1])), Math.max(...all.map((q) => q[1]))];
  if (x1 === x0) x1 = x0 + 1;
  const pad = (y1 - y0) * 0.05 || Math.abs(y1) * 0.05 || 1;
  [y0, y1] = [y0 - pad, y1 + pad];
  const px = (x) => PAD.l + ((x - x0) / (x1 - x0)) * (W - PAD.l - PAD.r);
  const py = (y) => H - PAD.b - ((y - y0) / (y1 - y0)) * (H - PAD.t - PAD.b);
  for (const t of niceTicks(y0, y1, 4)) {
    svg.append(node("line", { x1: PAD.l, x2: W - PAD.r, y1: py(t), y2: py(t), class: "grid" }));
    svg.append(node("text", { x: PAD.l - 4, y: py(t) + 3, "text-anchor": "end", class: "tick" }, label(t)));
  }
  for (const t of niceTicks(x0, x1, 3)) {
    svg.append(node("text", { x: px(t), y: H - PAD.b + 13, "text-anchor": "middle", class: "tick" }, label(t)));
  }
  svg.append(node("text", { x: (PAD.l + W - PAD.r) / 2, y: H - 4, "text-anchor": "middle", class: "axis" }, "step"));
  const path = (pts) => pts.map((q) => `${px(q[0]).toFixed(1)},${py(q[1]).toFixed(1)}`).join(" ");
  if (train.length) {
    svg.append(node("polyline", { points: path(train), fill: "none", stroke: TRAIN, "stroke-width": 1, class: "train" }));
  }
  if (test.length) {
    svg.append(node("polyline", { points: path(test), fill: "none", stroke: TEST, "stroke-width": 1.5 }));
    for (const q of test) svg.append(node("circle", { cx: px(q[0]), cy: py(q[1]), r: 2.5, fill: TEST, class: "test" }));
  }
  return svg;
}

export default function (component) {
  const { data, parentElement } = component;
  const root = parentElement.querySelector(".live-curves");
  const legend = document.createElement("div");
  legend.className = "legend";
  legend.innerHTML =
    `<span style="color:${TRAIN}">━ train, per step</span>` +
    (data.panels.some((p) => p.test_values.length) ? `<span style="color:${TEST}">●━ test, per epoch</span>` : "");
  const panels = document.createElement("div");
  panels.className = "panels";
  panels.append(...data.panels.map(panel));
  root.replaceChildren(panels, legend);
}
