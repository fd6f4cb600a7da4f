"""How much the unlabelled images add: the shipped M2 (checkpoints/mnist-m2-100) against the same
classifier network q(y|x) trained on the same labels alone (Kingma et al., 2014, Table 1: 25.8% error
for a plain network on 100 MNIST labels, 11.97% for M2).

The baseline is M2's own classifier (784-500-10, ReLU), fresh weights from the run's seed, trained
full-batch with Adam (lr 1e-3) on exactly the labelled images the M2 run kept (the same seeded,
class-balanced subset). No labels are left for early stopping, so test accuracy is reported after
fixed step counts; it plateaus within ~50 steps, once the 100 images are fitted.

    python benchmarks/bench_m2_baseline.py            # the shipped model's labels, 3 label seeds
    python benchmarks/bench_m2_baseline.py --quick    # 20 labelled digits, 30 steps
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import _common
import torch
import torch.nn.functional as F

import vae_core as vc

CHECKPOINT = _common.ROOT / "checkpoints" / "mnist-m2-100"
STEPS = (50, 500, 2000)


def baseline(config: vc.ModelConfig, images, labels, test_images, test_labels, seed: int, steps) -> dict:
    """Test accuracy of M2's classifier trained on (images, labels) alone, after each of `steps`."""
    model = vc.build_model(config, torch.Generator().manual_seed(seed))
    classifier = model.classifier
    optimizer = torch.optim.Adam(classifier.parameters(), lr=1e-3)
    curve = {}
    for step in range(1, max(steps) + 1):
        loss = F.cross_entropy(classifier(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step in steps:
            with torch.no_grad():
                curve[str(step)] = round((classifier(test_images).argmax(1) == test_labels).float().mean().item(), 4)
    return curve


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--checkpoint", type=Path, default=CHECKPOINT)
    args = ap.parse_args()
    base = {"benchmark": "m2_baseline", "quick": args.quick, "machine": _common.machine()}
    started = time.perf_counter()
    if args.quick:
        data = vc.load_dataset("digits")
        n_labels, seeds, steps, m2 = 20, [0], (10, 30), None
        config = vc.ModelConfig(image_shape=data.image_shape, family="m2", latent_dim=4, hidden=32, n_classes=10)
    else:
        if not (args.checkpoint / "config.json").is_file():
            _common.emit({**base, "skipped": f"{args.checkpoint} not found"})
            return
        ck = vc.load_checkpoint(args.checkpoint)
        data = vc.load_dataset(ck.dataset_name, **ck.dataset_params)
        training = ck.metadata["training"]
        n_labels, seeds, steps = training["labels"], [training["seed"], 1, 2], STEPS
        config = ck.config
        m2 = {k: ck.metadata["metrics"][k] for k in ("test_accuracy", "test_loss")}
    runs = []
    for seed in seeds:
        mask = vc.balanced_label_mask(data.train_labels, n_labels, data.n_classes, seed)  # as the run keeps them
        curve = baseline(config, data.train_images[mask], data.train_labels[mask], data.test_images,
                         data.test_labels, seed, steps)
        runs.append({"label_seed": seed, "test_accuracy": curve})
    _common.emit({**base, "labels": n_labels, "m2": m2, "baseline": runs,
                  "seconds": round(time.perf_counter() - started, 1)})


if __name__ == "__main__":
    main()
