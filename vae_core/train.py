"""Command-line trainer: python -m vae_core.train --dataset digits --latent-dim 2 --out DIR

Prints progress on stderr and, as its last stdout line, one JSON object of results.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence

import torch

from .checkpoints import CheckpointError, make_metadata, save_checkpoint
from .config import ARCHITECTURES, PRECISIONS, ConfigError, ModelConfig, TrainConfig
from .data import DATASETS, Dataset, DatasetError, load_dataset
from .models import VAE
from .trainer import evaluate, fit
from .user_images import IMAGE_SIZES, load_image_path

# Which loader parameter --data-dir fills; "images" (a zip or folder) is not in the registry.
_DATA_DIR_PARAM = {"mnist": "data_dir", "fashion-mnist": "data_dir", "dsprites": "path"}


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse prints usage + message; we keep one line
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _OneLineParser(prog="python -m vae_core.train", description="Train a VAE and save a checkpoint.")
    p.add_argument("--dataset", default="digits", choices=sorted([*DATASETS, "images"]))
    p.add_argument(
        "--dataset-size", type=int, default=None,
        help="images to keep: sprites, dsprites, and mnist/fashion-mnist (a seeded subsample, "
        "split 6:1 between the official train and test sets)",
    )
    p.add_argument(
        "--data-dir", default=None,
        help="mnist/fashion-mnist: folder of the IDX files; dsprites: the .npz or its folder; "
        "images: a zip file or a folder of images (subfolders name the labels)",
    )
    p.add_argument("--image-size", type=int, default=None, choices=IMAGE_SIZES, help="images: side (default 32)")
    p.add_argument("--color", action="store_true", help="images: keep colour (3 channels)")
    p.add_argument("--arch", default="mlp", choices=ARCHITECTURES)
    p.add_argument("--latent-dim", type=int, default=2)
    p.add_argument("--hidden", type=int, default=400, help="MLP width / dense layer size")
    p.add_argument("--beta", type=float, default=1.0, help="weight of the KL term (1 = plain VAE)")
    p.add_argument("--warmup-epochs", type=int, default=0, help="ramp beta from 0 over this many epochs")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", default="fp32", choices=PRECISIONS,
                   help="bf16: forward pass in bfloat16 (faster on CPUs with AVX-512 BF16), loss in float32")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--out", required=True, help="checkpoint folder to write")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for, but no CUDA device is available")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def dataset_from_args(args: argparse.Namespace) -> Dataset:
    name = args.dataset
    if name == "images":
        if args.data_dir is None:
            raise DatasetError("--dataset images needs --data-dir: a zip file or a folder of images")
        if args.dataset_size is not None:
            raise DatasetError("--dataset-size does not apply to --dataset images")
        mode = "RGB" if args.color else "L"
        data, skipped = load_image_path(args.data_dir, size=args.image_size or 32, mode=mode)
        for s in skipped:
            print(f"skipped {s.name}: {s.reason}", file=sys.stderr)
        return data
    if args.image_size is not None or args.color:
        raise DatasetError("--image-size and --color apply to --dataset images only")
    params: dict = {}
    if args.dataset_size is not None:
        if name == "digits":
            raise DatasetError("--dataset-size does not apply to digits")
        params["n"] = args.dataset_size
    if args.data_dir is not None:
        if name not in _DATA_DIR_PARAM:
            raise DatasetError(f"--data-dir does not apply to {name}")
        params[_DATA_DIR_PARAM[name]] = args.data_dir
    return load_dataset(name, **params)


def run(args: argparse.Namespace) -> dict:
    device = resolve_device(args.device)
    train_cfg = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, beta=args.beta,
        warmup_epochs=args.warmup_epochs, seed=args.seed, precision=args.precision,
    )
    data = dataset_from_args(args)
    model_cfg = ModelConfig(
        image_shape=data.image_shape, latent_dim=args.latent_dim, arch=args.arch, hidden=args.hidden
    )
    torch.manual_seed(args.seed)
    model = VAE(model_cfg).to(device)
    train_x, test_x = data.train_images.to(device), data.test_images.to(device)

    from tqdm import tqdm

    total = train_cfg.epochs * -(-train_x.shape[0] // train_cfg.batch_size)
    bar = tqdm(total=total, unit="step", file=sys.stderr, disable=args.no_progress, dynamic_ncols=True)

    def on_step(r):
        bar.update(1)
        if r.step % 10 == 0 or r.step == r.steps_per_epoch:
            bar.set_postfix(epoch=r.epoch, loss=f"{r.loss:.2f}", kl=f"{r.kl:.2f}", rate=f"{r.samples_per_s:,.0f}/s")

    def on_epoch(r):
        bar.write(
            f"epoch {r.epoch}: train -ELBO {r.train_loss:.3f} (recon {r.train_recon:.3f}, KL {r.train_kl:.3f}), "
            f"test -ELBO {r.test_loss:.3f}",
            file=sys.stderr,
        )

    started = time.perf_counter()
    result = fit(model, train_x, train_cfg, test_images=test_x, on_step=on_step, on_epoch=on_epoch)
    bar.close()
    if result.error:
        print(result.error, file=sys.stderr)
    test = evaluate(model, test_x, seed=args.seed)
    metrics = {
        "train_samples_per_s": round(result.samples_per_s, 1),
        "test_loss": round(test["loss"], 4),
        "test_recon": round(test["recon"], 4),
        "test_kl": round(test["kl"], 4),
        "test_kl_per_dim": [round(v, 4) for v in test["kl_per_dim"]],
        "epochs": len(result.epochs),
        "seconds": round(time.perf_counter() - started, 2),
        "device": device.type,
        "error": result.error,
    }
    meta = make_metadata(
        model_cfg, dataset=data.name, dataset_params=data.params, training=train_cfg.to_dict(), metrics=metrics,
        name=os.path.basename(os.path.normpath(args.out)),
    )
    out = save_checkpoint(args.out, model.cpu(), meta)
    return {**metrics, "checkpoint": str(out)}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        summary = run(args)
    except (ConfigError, DatasetError, CheckpointError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    print(json.dumps(summary))
    return 1 if summary["error"] else 0


if __name__ == "__main__":
    sys.exit(main())
