// A bar chart as inline SVG (one bar per latent dimension): the Traverse page loads without a chart
// library, which took ~40% of the browser's CPU for a page load.
const NS = "http://www.w3.org/2000/svg";
const PAD = { l: 56, r: 8, t: 8, b: 28 };

function node(name, attrs = {}, text = null) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== null) e.textContent = text;
  return e;
}

function niceTicks(hi, count) {
  const raw = (hi || 1) / count;
  const step = Math.pow(10, Math.floor(Math.log10(raw)));
  const unit = [1, 2, 5, 10].map((m) => m * step).find((s) => (hi || 1) / s <= count) || 10 * step;
  const out = [];
  for (let v = 0; v <= hi + unit * 1e-9; v += unit) out.push(+v.toPrecision(12));
  return out;
}

export default function (component) {
  const { data, parentElement } = component;
  const root = parentElement.querySelector(".bar-chart");
  const W = 720, H = data.height;
  const n = data.values.length;
  const top = Math.max(...data.values.filter(Number.isFinite), 0) * 1.05 || 1;
  const slot = (W - PAD.l - PAD.r) / Math.max(n, 1);
  const py = (v) => H - PAD.b - (v / top) * (H - PAD.t - PAD.b);
  const svg = node("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": data.title });
  for (const t of niceTicks(top, 4)) {
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
