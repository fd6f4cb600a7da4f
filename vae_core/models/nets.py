"""Encoder and decoder stacks shared by the families: an MLP, or strided convolutions."""

from __future__ import annotations

from torch import nn

CONV_CHANNELS = (32, 32, 64, 64)


def conv_downsamples(h: int, w: int) -> int:
    """Stride-2 stages: halve while both sides stay even and above 4 (64->4, 28->7, 8->4)."""
    n = 0
    while h % 2 == 0 and w % 2 == 0 and min(h, w) > 4 and n < len(CONV_CHANNELS):
        h, w, n = h // 2, w // 2, n + 1
    return max(n, 1)


def conv_down(c: int, h: int, w: int) -> tuple[list[nn.Module], tuple[int, int, int]]:
    """4x4 stride-2 convolutions with ReLU: the layers and the (C, H, W) they end at."""
    stages = conv_downsamples(h, w)
    chans = (c, *CONV_CHANNELS[:stages])
    layers: list[nn.Module] = []
    for cin, cout in zip(chans[:-1], chans[1:]):
        layers += [nn.Conv2d(cin, cout, 4, stride=2, padding=1), nn.ReLU()]
    return layers, (chans[-1], h >> stages, w >> stages)


def conv_up(c_out: int, h: int, w: int) -> list[nn.Module]:
    """The mirror of `conv_down`: transposed convolutions from its end shape back to (c_out, h, w);
    no activation after the last (it gives logits)."""
    stages = conv_downsamples(h, w)
    rev = (*CONV_CHANNELS[:stages][::-1], c_out)
    layers: list[nn.Module] = []
    for i, (cin, cout) in enumerate(zip(rev[:-1], rev[1:])):
        layers.append(nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1))
        if i < len(rev) - 2:
            layers.append(nn.ReLU())
    return layers


def _dense_stack(d_in: int, hidden: int, layers: int) -> list[nn.Module]:
    """`layers` Linear + ReLU pairs of width `hidden`, the first taking `d_in` features."""
    stack: list[nn.Module] = []
    for _ in range(layers):
        stack += [nn.Linear(d_in, hidden), nn.ReLU()]
        d_in = hidden
    return stack


def dense_encoder(arch: str, image_shape: tuple[int, int, int], hidden: int, layers: int = 1) -> nn.Sequential:
    """Images (B, C, H, W) -> features (B, hidden), through `layers` dense hidden layers."""
    c, h, w = image_shape
    if arch == "mlp":
        return nn.Sequential(nn.Flatten(), *_dense_stack(c * h * w, hidden, layers))
    down, (cb, bh, bw) = conv_down(c, h, w)
    return nn.Sequential(*down, nn.Flatten(), *_dense_stack(cb * bh * bw, hidden, layers))


def dense_decoder(arch: str, image_shape: tuple[int, int, int], d_in: int, hidden: int,
                  layers: int = 1) -> nn.Sequential:
    """A vector (B, d_in) -> Bernoulli logits (B, C, H, W), through `layers` dense hidden layers."""
    c, h, w = image_shape
    if arch == "mlp":
        return nn.Sequential(*_dense_stack(d_in, hidden, layers), nn.Linear(hidden, c * h * w),
                             nn.Unflatten(1, (c, h, w)))
    _, (cb, bh, bw) = conv_down(c, h, w)
    return nn.Sequential(
        *_dense_stack(d_in, hidden, layers), nn.Linear(hidden, cb * bh * bw), nn.ReLU(),
        nn.Unflatten(1, (cb, bh, bw)), *conv_up(c, h, w),
    )
