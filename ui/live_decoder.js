// Decodes latent vectors in the browser while sliders move: no server round trip per frame.
// `decodeLatent` follows vae_core/export.py's layer list exactly (checked against it in tests).

let halfTable = null; // float16 bit pattern -> its float32 value, built on first use

function halfToFloat(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

function unpack(t) {
  const bytes = Uint8Array.from(atob(t.b64), (c) => c.charCodeAt(0));
  if (t.dtype !== "float16") return { shape: t.shape, data: new Float32Array(bytes.buffer) };
  if (!halfTable) halfTable = Float32Array.from({ length: 65536 }, (_, h) => halfToFloat(h));
  const halves = new Uint16Array(bytes.buffer);
  const data = new Float32Array(halves.length);
  for (let i = 0; i < halves.length; i++) data[i] = halfTable[halves[i]];
  return { shape: t.shape, data };
}

export function prepareLayers(layers) {
  return layers.map((l) => {
    const out = { ...l };
    if (l.w) out.w = unpack(l.w);
    if (l.b) out.b = unpack(l.b);
    if (l.w_xy) out.w_xy = unpack(l.w_xy);
    return out;
  });
}

export function decodeLatent(layers, z) {
  let x = Float32Array.from(z);
  let shape = [x.length];
  for (const l of layers) {
    if (l.op === "linear") {
      // a vector (D) -> (N), or after a broadcast each pixel's row: (P, D) -> (P, N)
      const [nOut, nIn] = l.w.shape;
      const rows = shape.length === 2 ? shape[0] : 1;
      const w = l.w.data;
      const y = new Float32Array(rows * nOut);
      for (let p = 0; p < rows; p++) {
        const xRow = p * nIn;
        for (let o = 0; o < nOut; o++) {
          let s = l.b.data[o];
          const row = o * nIn;
          for (let i = 0; i < nIn; i++) s += w[row + i] * x[xRow + i];
          y[p * nOut + o] = s;
        }
      }
      x = y;
      shape = shape.length === 2 ? [rows, nOut] : [nOut];
    } else if (l.op === "broadcast") {
      // z tiled over the grid beside each pixel's x and y: (P, K) first-layer pre-activations
      const [k, d] = l.w.shape;
      const [gh, gw] = l.grid;
      const fromZ = new Float32Array(k);
      for (let o = 0; o < k; o++) {
        let s = l.b.data[o];
        for (let i = 0; i < d; i++) s += l.w.data[o * d + i] * x[i];
        fromZ[o] = s;
      }
      const xs = evenly(gw), ys = evenly(gh), wxy = l.w_xy.data;
      const y = new Float32Array(gh * gw * k);
      for (let r = 0; r < gh; r++) {
        for (let c = 0; c < gw; c++) {
          const base = (r * gw + c) * k;
          for (let o = 0; o < k; o++) y[base + o] = fromZ[o] + wxy[2 * o] * xs[c] + wxy[2 * o + 1] * ys[r];
        }
      }
      x = y;
      shape = [gh * gw, k];
    } else if (l.op === "to_grid") {
      const [nPix, k] = shape;
      const y = new Float32Array(nPix * k);
      for (let p = 0; p < nPix; p++) for (let o = 0; o < k; o++) y[o * nPix + p] = x[p * k + o];
      x = y;
      shape = [k, ...l.grid];
    } else if (l.op === "relu") {
      for (let i = 0; i < x.length; i++) if (x[i] < 0) x[i] = 0;
    } else if (l.op === "unflatten") {
      shape = l.shape;
    } else if (l.op === "conv_transpose") {
      const [cIn, h, wd] = shape;
      const [, cOut, k] = l.w.shape;
      const s = l.stride, p = l.padding, w = l.w.data;
      const ho = (h - 1) * s - 2 * p + k, wo = (wd - 1) * s - 2 * p + k;
      const y = new Float32Array(cOut * ho * wo);
      for (let ci = 0; ci < cIn; ci++) {
        for (let iy = 0; iy < h; iy++) {
          for (let ix = 0; ix < wd; ix++) {
            const v = x[(ci * h + iy) * wd + ix];
            if (v === 0) continue; // after a ReLU most inputs are zero
            for (let co = 0; co < cOut; co++) {
              const wBase = (ci * cOut + co) * k * k;
              for (let ky = 0; ky < k; ky++) {
                const oy = iy * s - p + ky;
                if (oy < 0 || oy >= ho) continue;
                for (let kx = 0; kx < k; kx++) {
                  const ox = ix * s - p + kx;
                  if (ox < 0 || ox >= wo) continue;
                  y[(co * ho + oy) * wo + ox] += v * w[wBase + ky * k + kx];
                }
              }
            }
          }
        }
      }
      for (let co = 0; co < cOut; co++) {
        const b = l.b.data[co];
        for (let i = co * ho * wo; i < (co + 1) * ho * wo; i++) y[i] += b;
      }
      x = y;
      shape = [cOut, ho, wo];
    } else {
      throw new Error("unknown layer " + l.op);
    }
  }
  return { logits: x, shape };
}

// n points spaced evenly over [-1, 1], as torch.linspace(-1, 1, n) places them
function evenly(n) {
  return Float32Array.from({ length: n }, (_, i) => (n > 1 ? -1 + (2 * i) / (n - 1) : -1));
}

function draw(canvas, logits, shape) {
  const [c, h, w] = shape;
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(w, h);
  const n = h * w;
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < 3; ch++) {
      const v = logits[(c === 3 ? ch : 0) * n + i];
      img.data[4 * i + ch] = Math.round(255 / (1 + Math.exp(-v)));
    }
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

export default function (component) {
  const { data, parentElement } = component;
  const root = parentElement.querySelector(".live-root");
  if (root.dataset.signature === data.signature) return; // same model and start: keep the slider state
  root.dataset.signature = data.signature;
  root.innerHTML = "";
  const layers = prepareLayers(data.layers);
  const z = Float32Array.from(data.start);

  const sliders = document.createElement("div");
  sliders.className = "sliders";
  const view = document.createElement("div");
  view.className = "view";
  const canvas = document.createElement("canvas");
  canvas.setAttribute("data-testid", "live-canvas");
  const timing = document.createElement("div");
  timing.className = "timing";
  view.append(canvas, timing);
  root.append(sliders, view);

  let frame = 0;
  const render = () => {
    const t0 = performance.now();
    const { logits, shape } = decodeLatent(layers, z);
    draw(canvas, logits, shape);
    const ms = performance.now() - t0;
    timing.textContent = `decoded in your browser in ${ms.toFixed(1)} ms`;
    canvas.dataset.decodeMs = ms.toFixed(3);
    canvas.dataset.frame = String((frame += 1)); // one per image drawn: a page can time its own redraws
  };

  data.order.forEach((d, row) => {
    const label = document.createElement("label");
    const name = document.createElement("span");
    name.textContent = data.labels[row];
    if (!data.active[row]) name.className = "inactive";
    const input = document.createElement("input");
    Object.assign(input, { type: "range", min: data.lo[d], max: data.hi[d], step: 0.01, value: z[d] });
    input.setAttribute("aria-label", data.labels[row]);
    const value = document.createElement("output");
    value.textContent = z[d].toFixed(2);
    input.addEventListener("input", () => {
      z[d] = parseFloat(input.value);
      value.textContent = z[d].toFixed(2);
      render();
    });
    label.append(name, input, value);
    sliders.append(label);
  });
  render();
}
