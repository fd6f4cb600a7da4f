// Charts drawn as inline SVG in the page (ui/svg_charts.py): the Train page's live curves, redrawn every
// 2 s while a run trains (a chart library's redraw cost the browser most of a core per watching tab),
// and Traverse's KL bars (loading a chart library took ~40% of that page's load in the browser).
const NS = "http://www.w3.org/2000/svg";

// --- helpers, and the live curves (one panel per training term)
const W = 320, H = 210;
const LIVE_PAD = { l: 52, r: 10, t: 24, b: 34 };
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
  svg.append(node("text", { x: (LIVE_PAD.l + W - LIVE_PAD.r) / 2, y: 14, "text-anchor": "middle", class: "title" }, p.title));
  if (!all.length) return svg;
  let [x0, x1] = [Math.min(...all.map((q) => q[0])), Math.max(...all.map((q) => q[0]))];
  let [y0, y1] = [Math.min(...all.map((q) => q[1])), Math.max(...all.map((q) => q[1]))];
  if (x1 === x0) x1 = x0 + 1;
  const pad = (y1 - y0) * 0.05 || Math.abs(y1) * 0.05 || 1;
  [y0, y1] = [y0 - pad, y1 + pad];
  const px = (x) => LIVE_PAD.l + ((x - x0) / (x1 - x0)) * (W - LIVE_PAD.l - LIVE_PAD.r);
  const py = (y) => H - LIVE_PAD.b - ((y - y0) / (y1 - y0)) * (H - LIVE_PAD.t - LIVE_PAD.b);
  for (const t of niceTicks(y0, y1, 4)) {
    svg.append(node("line", { x1: LIVE_PAD.l, x2: W - LIVE_PAD.r, y1: py(t), y2: py(t), class: "grid" }));
    svg.append(node("text", { x: LIVE_PAD.l - 4, y: py(t) + 3, "text-anchor": "end", class: "tick" }, label(t)));
  }
  for (const t of niceTicks(x0, x1, 3)) {
    svg.append(node("text", { x: px(t), y: H - LIVE_PAD.b + 13, "text-anchor": "middle", class: "tick" }, label(t)));
  }
  svg.append(node("text", { x: (LIVE_PAD.l + W - LIVE_PAD.r) / 2, y: H - 4, "text-anchor": "middle", class: "axis" }, "step"));
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

function drawLive(root, data) {
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

// --- bars: one per latent dimension, its value on hover
const BAR_PAD = { l: 56, r: 8, t: 8, b: 28 };

function drawBars(root, data) {
  const W = 720, H = data.height, PAD = BAR_PAD;
  const n = data.values.length;
  const top = Math.max(...data.values.filter(Number.isFinite), 0) * 1.05 || 1;
  const slot = (W - PAD.l - PAD.r) / Math.max(n, 1);
  const py = (v) => H - PAD.b - (v / top) * (H - PAD.t - PAD.b);
  const svg = node("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": data.title });
  for (const t of niceTicks(0, top, 4)) {
    svg.append(node("line", { x1: PAD.l, x2: W - PAD.r, y1: py(t), y2: py(t), class: "grid" }));
    svg.append(node("text", { x: PAD.l - 4, y: py(t) + 3, "text-anchor": "end", class: "tick" }, String(t)));
  }
  svg.append(node("text", { x: 12, y: (PAD.t + H - PAD.b) / 2, "text-anchor": "middle", class: "axis",
                            transform: `rotate(-90 12 ${(PAD.t + H - PAD.b) / 2})` }, data.y_title));
  const every = Math.ceil(n / 24); // at most ~24 labels under the bars
  data.values.forEach((v, i) => {
    const x = PAD.l + i * slot;
    const value = Number.isFinite(v) ? Math.max(v, 0) : 0;
    const bar = node("rect", { x: x + slot * 0.1, y: py(value), width: slot * 0.8, height: py(0) - py(value),
                               fill: data.colors[i], class: "bar" });
    bar.append(node("title", {}, `${data.labels[i]}: ${Number.isFinite(v) ? v.toFixed(3) : "—"} ${data.unit}`));
    svg.append(bar);
    if (i % every === 0) {
      svg.append(node("text", { x: x + slot / 2, y: H - PAD.b + 13, "text-anchor": "middle", class: "tick" },
                      data.labels[i]));
    }
  });
  root.replaceChildren(svg);
}

export default function (component) {
  const { data, parentElement } = component;
  const live = parentElement.querySelector(".live-curves");
  if (live) drawLive(live, data);
  else drawBars(parentElement.querySelector(".bar-chart"), data);
}
