"""A decoder as a flat list of layers, for running it outside PyTorch (e.g. in a browser).

Gaussian VAEs export as they are. An M2 decoder takes [z, onehot(y)]; for one class y its first
layer's y columns are a constant, folded into that layer's bias, so the exported decoder takes z alone.

Each layer is a dict: {"op": "linear", "w": (out, in), "b": (out,)}, {"op": "relu"},
{"op": "unflatten", "shape": [C, H, W]}, or {"op": "conv_transpose", "w": (C_in, C_out, k, k),
"b": (C_out,), "stride": s, "padding": p}. A spatial-broadcast decoder starts with {"op": "broadcast",
"w": (K, D), "b": (K,), "w_xy": (K, 2), "grid": [gh, gw]}: pixel p of the grid gets w·z + b + w_xy·(x_p, y_p),
x and y spaced evenly over [-1, 1], giving (P, K) per-pixel features; "linear" then acts on each pixel's
row, and {"op": "to_grid", "grid": [gh, gw]} turns (P, K) into (K, gh, gw). The output is logits; apply
a sigmoid for pixels.
`run_layers` is the reference implementation in NumPy that other runtimes are checked against.
"""

from __future__ import annotations

import base64

import numpy as np
from torch import nn

from .models import LatentModel
from .models.nets import PixelsToImage, SpatialBroadcast


def decoder_layers(model: LatentModel, y: int | None = None) -> list[dict]:
    """The decoder of a gaussian model, or of an m2 model for the class `y`."""
    if model.latent_space.kind == "codebook":
        raise ValueError("a VQ-VAE decodes a grid of codes, not a vector z: its decoder is not exported")
    if model.latent_space.kind == "style_class" and y is None:
        raise ValueError("an m2 decoder is exported for one class: pass y")
    layers = []
    for module in model.decoder:
        if isinstance(module, nn.Linear):
            layers.append({"op": "linear", "w": module.weight, "b": module.bias})
        elif isinstance(module, SpatialBroadcast):
            layers.append({"op": "broadcast", "w": module.from_z.weight, "b": module.from_z.bias,
                           "w_xy": module.from_xy.weight, "grid": list(module.grid_shape)})
        elif isinstance(module, PixelsToImage):
            layers.append({"op": "to_grid", "grid": list(module.grid_shape)})
        elif isinstance(module, nn.ReLU):
            layers.append({"op": "relu"})
        elif isinstance(module, nn.Unflatten):
            layers.append({"op": "unflatten", "shape": list(module.unflattened_size)})
        elif isinstance(module, nn.ConvTranspose2d):
            layers.append({
                "op": "conv_transpose", "w": module.weight, "b": module.bias,
                "stride": module.stride[0], "padding": module.padding[0],
            })
        else:
            raise ValueError(f"cannot export decoder layer {type(module).__name__}")
    layers = [{k: (v.detach().cpu().float().numpy() if hasattr(v, "detach") else v) for k, v in layer.items()}
              for layer in layers]
    if y is not None and model.latent_space.kind == "style_class":  # fold onehot(y) into the first bias
        first, d = layers[0], model.latent_space.dim
        layers[0] = {**first, "w": first["w"][:, :d].copy(), "b": first["b"] + first["w"][:, d + int(y)]}
    return layers


def encode_layers(layers: list[dict]) -> list[dict]:
    """JSON-safe: arrays become {"shape": [...], "b64": little-endian float32}, or float16 (with
    "dtype": "float16") when every value is exactly a float16: the weights of a checkpoint stored in
    float16 travel in half the bytes and decode to the same numbers."""
    def pack(a: np.ndarray) -> dict:
        a32 = np.ascontiguousarray(a, dtype="<f4")
        a16 = a32.astype("<f2")
        if np.array_equal(a16.astype("<f4"), a32):
            return {"shape": list(a.shape), "dtype": "float16", "b64": base64.b64encode(a16.tobytes()).decode("ascii")}
        return {"shape": list(a.shape), "b64": base64.b64encode(a32.tobytes()).decode("ascii")}

    return [{k: pack(v) if isinstance(v, np.ndarray) else v for k, v in layer.items()} for layer in layers]


def _even(n: int) -> np.ndarray:
    """n points spaced evenly over [-1, 1], as torch.linspace(-1, 1, n) places them."""
    return np.linspace(-1.0, 1.0, n, dtype=np.float32) if n > 1 else np.full(1, -1.0, np.float32)


def run_layers(layers: list[dict], z: np.ndarray) -> np.ndarray:
    """Decode one latent vector (D,) to logits with NumPy, following the layer list literally."""
    x = np.asarray(z, dtype=np.float32)
    for layer in layers:
        op = layer["op"]
        if op == "linear":  # a vector (D,), or after a broadcast one row per pixel (P, D)
            x = x @ layer["w"].T + layer["b"]
        elif op == "broadcast":
            gh, gw = layer["grid"]
            ys, xs = np.meshgrid(_even(gh), _even(gw), indexing="ij")
            coords = np.stack([xs.ravel(), ys.ravel()], 1)  # (P, 2), row-major pixels
            x = (layer["w"] @ x + layer["b"])[None, :] + coords @ layer["w_xy"].T
        elif op == "to_grid":
            x = x.T.reshape(x.shape[1], *layer["grid"])
        elif op == "relu":
            x = np.maximum(x, 0)
        elif op == "unflatten":
            x = x.reshape(layer["shape"])
        elif op == "conv_transpose":
            w, s, p = layer["w"], layer["stride"], layer["padding"]
            c_in, h, wd = x.shape
            c_out, k = w.shape[1], w.shape[2]
            full = np.zeros((c_out, (h - 1) * s + k, (wd - 1) * s + k), np.float32)
            for ky in range(k):
                for kx in range(k):  # each kernel tap scatters the whole input, strided
                    full[:, ky : ky + (h - 1) * s + 1 : s, kx : kx + (wd - 1) * s + 1 : s] += np.einsum(
                        "ihw,io->ohw", x, w[:, :, ky, kx]
                    )
            x = full[:, p : full.shape[1] - p, p : full.shape[2] - p] + layer["b"][:, None, None]
        else:
            raise ValueError(f"unknown op {op!r}")
    return x
