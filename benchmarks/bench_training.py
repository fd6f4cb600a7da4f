"""Training throughput: vae_core.fit on in-memory tensors against the common per-item DataLoader loop.

Same textbook MNIST VAE (784-400-20 MLP, Bernoulli likelihood), batch 128, Adam 1e-3, in one process,
in short trials that alternate between the methods so that background load hits them alike. Then how close
fit gets to this machine's float32 matmul peak. The full run also times variants of a plain
in-memory loop (plain Adam; fused Adam; bfloat16 forward) and profiles fit's step by operator.

    python benchmarks/bench_training.py            # 12 interleaved trials of 100 steps per method
    python benchmarks/bench_training.py --quick    # seconds: 2 trials of 10 steps, fit vs per-item only
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import _common
import numpy as np
import torch
from PIL import Image

import vae_core as vc

IMAGE_SHAPE = (1, 28, 28)
LATENT, HIDDEN, BATCH, LR = 20, 400, 128, 1e-3
N_PIX = 28 * 28
# Multiply-adds of one example's forward pass: encoder 784x400, heads 400x(20+20), decoder 20x400 + 400x784.
FORWARD_FLOPS = 2 * (N_PIX * HIDDEN + HIDDEN * 2 * LATENT + LATENT * HIDDEN + HIDDEN * N_PIX)
TRAIN_FLOPS = 3 * FORWARD_FLOPS  # backward ~ 2x forward (grads of inputs and of weights)


def model_config() -> vc.ModelConfig:
    return vc.ModelConfig(image_shape=IMAGE_SHAPE, latent_dim=LATENT, arch="mlp", hidden=HIDDEN)


def fresh_model(seed: int = 0) -> vc.VAE:
    torch.manual_seed(seed)
    return vc.VAE(model_config())


# --- the common way: a map-style Dataset handing out one image at a time ----------------------


class PerItemMNIST(torch.utils.data.Dataset):
    """torchvision's MNIST with transforms.ToTensor(), step for step, without needing torchvision.

    Per item: index the uint8 tensor, make a PIL image, copy it back to an array, HWC -> CHW, to float, /255.
    """

    def __init__(self, images_u8: np.ndarray, labels: np.ndarray) -> None:
        self.data = torch.from_numpy(images_u8)  # (N, 28, 28) uint8, as torchvision keeps it
        self.targets = torch.from_numpy(np.asarray(labels, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int):
        img, target = self.data[index], int(self.targets[index])
        img = Image.fromarray(img.numpy(), mode="L")
        # ToTensor(): PIL -> array copy -> (H, W, C) -> (C, H, W) -> float in [0, 1]
        x = torch.from_numpy(np.array(img, np.uint8, copy=True))
        x = x.view(img.size[1], img.size[0], 1).permute((2, 0, 1)).contiguous()
        return x.to(dtype=torch.get_default_dtype()).div(255), target


def per_item_epoch(model: vc.VAE, loader, max_steps: int | None = None) -> tuple[int, float]:
    """The textbook loop; returns (samples, seconds)."""
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    model.train()
    n, t0 = 0, time.perf_counter()
    for step, (x, _) in enumerate(loader):
        if max_steps is not None and step >= max_steps:
            break
        logits, mu, logvar = model(x)
        loss = vc.elbo_terms(logits, x, mu, logvar).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        n += x.shape[0]
    return n, time.perf_counter() - t0


def plain_in_memory_epoch(
    model: vc.VAE, images: torch.Tensor, seed: int, fused: bool = False, bf16: bool = False
) -> tuple[int, float]:
    """The obvious loop over one pre-loaded tensor with randperm batches (no callbacks, no guards).

    fused: Adam's single-kernel CPU implementation; bf16: the forward pass under bfloat16 autocast
    (the loss is computed in float32).
    """
    opt = torch.optim.Adam(model.parameters(), lr=LR, fused=fused or None)
    model.train()
    order = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(seed))
    t0 = time.perf_counter()
    for start in range(0, images.shape[0], BATCH):
        x = images[order[start : start + BATCH]]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits, mu, logvar = model(x)
        loss = vc.elbo_terms(logits.float(), x, mu.float(), logvar.float()).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return images.shape[0], time.perf_counter() - t0


def fit_profile(images: torch.Tensor, steps: int = 100) -> dict:
    """Where fit's time goes: the operators with the most self CPU time, in ms per step (profiled run)."""
    from torch.profiler import ProfilerActivity, profile

    subset = images[: steps * BATCH]
    fit_run(fresh_model(), subset[: 10 * BATCH], seed=0)  # warm-up outside the profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        _, secs = fit_run(fresh_model(), subset, seed=0)
    events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    top = {e.key: round(e.self_cpu_time_total / 1000 / steps, 3) for e in events[:10]}
    return {"ms_per_step_profiled": round(secs / steps * 1000, 3), "top_self_cpu_ms_per_step": top}


def fit_run(model: vc.VAE, images: torch.Tensor, seed: int, precision: str = "fp32") -> tuple[int, float]:
    """vae_core.fit for one pass over `images`, no test set; returns (samples, wall seconds)."""
    cfg = vc.TrainConfig(epochs=1, batch_size=BATCH, lr=LR, seed=seed, precision=precision)
    t0 = time.perf_counter()
    result = vc.fit(model, images, cfg)
    return result.samples, time.perf_counter() - t0


# --- the machine's matmul peak -----------------------------------------------------------------


def matmul_peak_gflops(n: int, repeats: int) -> float:
    a, b = torch.rand(n, n), torch.rand(n, n)
    torch.mm(a, b)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a few seconds: 2 short trials per method, no variants")
    ap.add_argument("--trials", type=int, default=None, help="timed trials per method (default 12, quick 2)")
    ap.add_argument("--steps", type=int, default=None, help="optimiser steps per trial (default 100, quick 10)")
    ap.add_argument("--data", choices=("auto", "random"), default="auto",
                    help="auto: MNIST when its files are present, else random [0,1] images")
    args = ap.parse_args()
    machine = _common.machine()
    trials = args.trials or (2 if args.quick else 12)
    steps = args.steps or (10 if args.quick else 100)

    if args.data == "auto" and _common.mnist_available():
        train_u8, train_y, _, _, source = _common.load_mnist_arrays()
    else:
        g = np.random.default_rng(0)
        train_u8 = g.integers(0, 256, (60_000, 28, 28), dtype=np.uint8)
        train_y = g.integers(0, 10, 60_000)
        source = "random [0,1] images (MNIST not found)" if args.data == "auto" else "random [0,1] images"
    images = torch.from_numpy(train_u8.astype(np.float32) / 255.0).unsqueeze(1).contiguous()  # (N, 1, 28, 28)
    loader = torch.utils.data.DataLoader(PerItemMNIST(train_u8, train_y), batch_size=BATCH, shuffle=True)
    _common.log(f"data: {source}, {len(images)} images; threads {torch.get_num_threads()}")
    pick = torch.Generator().manual_seed(0)

    def subset() -> torch.Tensor:  # a random trial's worth of pre-loaded images, gathered outside the timing
        return images[torch.randperm(len(images), generator=pick)[: steps * BATCH]].contiguous()

    methods = {
        "per_item": lambda r: per_item_epoch(fresh_model(), loader, max_steps=steps),
        "fit": lambda r: fit_run(fresh_model(), subset(), seed=r),
        "fit_bf16": lambda r: fit_run(fresh_model(), subset(), seed=r, precision="bf16"),
    }
    if not args.quick:
        methods["plain"] = lambda r: plain_in_memory_epoch(fresh_model(), subset(), seed=r)
        methods["plain_fused_adam"] = lambda r: plain_in_memory_epoch(fresh_model(), subset(), seed=r, fused=True)
        methods["plain_fused_adam_bf16"] = lambda r: plain_in_memory_epoch(
            fresh_model(), subset(), seed=r, fused=True, bf16=True
        )
    for run in methods.values():  # warm-up: allocator, kernels, thread pools
        run(0)
    # Short trials, interleaved: a burst of other work on the machine hits every method alike.
    rates = {name: [] for name in methods}
    for r in range(trials):
        for name, run in methods.items():
            n, secs = run(r)
            rates[name].append(n / secs)
        _common.log(f"trial {r + 1}/{trials}: " + ", ".join(f"{k} {v[-1]:,.0f}/s" for k, v in rates.items()))

    med = {k: statistics.median(v) for k, v in rates.items()}
    best = {k: max(v) for k, v in rates.items()}
    peak = matmul_peak_gflops(1024 if args.quick else 2048, 3 if args.quick else 10)
    achieved = med["fit"] * TRAIN_FLOPS / 1e9
    result = {
        "benchmark": "training",
        "quick": args.quick,
        "data": source,
        "n_train_images": int(images.shape[0]),
        "trials": trials,
        "steps_per_trial": steps,
        "model": "mlp 784-400-20, Bernoulli, batch 128, Adam 1e-3",
        "threads": torch.get_num_threads(),
        "per_item_samples_per_s": round(med["per_item"]),
        "fit_samples_per_s": round(med["fit"]),
        "ratio": round(med["fit"] / med["per_item"], 2),
        "ratio_of_best_trials": round(best["fit"] / best["per_item"], 2),
        "goal_ratio": 2.0,
        "meets_goal": med["fit"] / med["per_item"] >= 2.0,
        "fit_bf16_samples_per_s": round(med["fit_bf16"]),
        "ratio_bf16": round(med["fit_bf16"] / med["per_item"], 2),
        "meets_goal_bf16": med["fit_bf16"] / med["per_item"] >= 2.0,
        "matmul_peak_gflops": round(peak, 1),
        "train_flops_per_example": TRAIN_FLOPS,
        "fit_gflops": round(achieved, 1),
        "fraction_of_peak": round(achieved / peak, 3),
        "fit_step_ms": round(BATCH / med["fit"] * 1000, 2),
        "step_ms_at_peak": round(BATCH * TRAIN_FLOPS / (peak * 1e9) * 1000, 2),
        "median_samples_per_s": {k: round(v) for k, v in med.items()},
        "best_samples_per_s": {k: round(v) for k, v in best.items()},
        "ratio_to_per_item": {k: round(v / med["per_item"], 2) for k, v in med.items() if k != "per_item"},
        "per_trial": {k: [round(x) for x in v] for k, v in rates.items()},
    }
    if not args.quick:
        result["fit_profile"] = fit_profile(images)
    result["load_avg_1m_at_end"] = round(os.getloadavg()[0], 2)
    result["machine"] = machine
    _common.emit(result)


if __name__ == "__main__":
    main()
