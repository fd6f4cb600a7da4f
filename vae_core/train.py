"""Command-line trainer: python -m vae_core.train --family gaussian --dataset digits --out DIR

Flags for every hyper-parameter come from the config fields (vae_core/config.py), so their
defaults and bounds are the Train page's. Prints progress on stderr and, as its last stdout line,
one JSON object of results. `--resume DIR` continues a run saved with its trainer state.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .checkpoints import CheckpointError, load_checkpoint
from .cli import run_command
from .config import FAMILIES, ConfigError, ModelConfig, Param, TrainConfig, params_of
from .data import DATASETS, Dataset, DatasetError
from .data.user_images import IMAGE_SIZES, load_image_path
from .training.run import RunSpec, model_settings, run_training

# Which loader parameter --data-dir fills; "images" (a zip or folder) is not in the registry.
_DATA_DIR_PARAM = {"mnist": "data_dir", "fashion-mnist": "data_dir", "dsprites": "path"}


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse prints usage + message; we keep one line
        self.exit(2, f"{self.prog}: error: {message}\n")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _add_param(group, name: str, p: Param, default) -> None:
    families = "" if len(p.families) == len(FAMILIES) else f" [{', '.join(p.families)}]"
    text = f"{p.help}{families} (default {default})"
    if p.choices:
        group.add_argument(_flag(name), choices=p.choices, default=None, help=text)
    else:
        kind = int if isinstance(default, int) and not isinstance(default, bool) else float
        group.add_argument(_flag(name), type=kind, default=None, help=f"{text}; {p.lo:g}..{p.hi:g}")


def build_parser() -> argparse.ArgumentParser:
    p = _OneLineParser(prog="python -m vae_core.train", description="Train a model and save a checkpoint.")
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
    model = p.add_argument_group("model")
    for name, (param, default) in params_of(ModelConfig).items():
        if param.widget:
            _add_param(model, name, param, default)
    training = p.add_argument_group("training")
    for name, (param, default) in params_of(TrainConfig).items():
        _add_param(training, name, param, default)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--out", required=True, help="checkpoint folder to write")
    p.add_argument("--resume", default=None, metavar="DIR",
                   help="continue the run saved in DIR (its settings; --epochs sets the new total)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--ray-address", default=None, metavar="ADDRESS",
                   help="train as a task on this Ray cluster ('auto', 'ray://head:10001'); the checkpoint is "
                        "written here. Needs ray installed (pip install ray==2.60.0)")
    return p


def dataset_from_args(args: argparse.Namespace) -> Dataset | None:
    """A dataset built here (user images), or None: the run loads the registry's by name."""
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
    return None


def dataset_params(args: argparse.Namespace) -> dict:
    name, params = args.dataset, {}
    if name == "images":
        return params
    if args.dataset_size is not None:
        if name == "digits":
            raise DatasetError("--dataset-size does not apply to digits")
        params["n"] = args.dataset_size
    if args.data_dir is not None:
        if name not in _DATA_DIR_PARAM:
            raise DatasetError(f"--data-dir does not apply to {name}")
        params[_DATA_DIR_PARAM[name]] = args.data_dir
    return params


def _given(args: argparse.Namespace, cls) -> dict:
    return {name: getattr(args, name) for name in params_of(cls) if getattr(args, name, None) is not None}


def spec_from_args(args: argparse.Namespace) -> RunSpec:
    model = _given(args, ModelConfig)
    training = _given(args, TrainConfig)
    if args.resume is not None:  # the run's own settings; only --epochs may change
        ck = load_checkpoint(args.resume)
        extra = sorted(set(model) | (set(training) - {"epochs"}))
        if extra:
            raise ConfigError(f"--resume keeps the run's settings; drop {', '.join(_flag(k) for k in extra)}")
        saved = ck.metadata.get("training", {})
        model = model_settings(ck.config)
        training = {**{k: v for k, v in saved.items() if k != "family"}, **training}
        return RunSpec(dataset=ck.dataset_name or args.dataset, dataset_params=ck.dataset_params, model=model,
                       training=training, device=args.device, resume_from=args.resume)
    family = model.get("family", "gaussian")
    TrainConfig(**{**training, "family": family}).check_schedule()  # fails here, before loading data
    ModelConfig(image_shape=(1, 28, 28), **{k: v for k, v in model.items()})  # likewise
    return RunSpec(dataset=args.dataset, dataset_params=dataset_params(args), model=model, training=training,
                   device=args.device)


def run(args: argparse.Namespace) -> dict:
    if args.threads is not None:
        import torch

        torch.set_num_threads(max(1, args.threads))
    spec = spec_from_args(args)
    data = dataset_from_args(args) if args.resume is None else None
    if data is None and args.resume is not None and spec.dataset not in DATASETS:
        raise DatasetError(f"the run was trained on {spec.dataset!r}; pass it again with --dataset images "
                           "--data-dir to continue")
    if args.ray_address:
        return run_on_ray(args, spec, data)
    from tqdm import tqdm

    bars: list = []  # made at the first step, so that an error before training prints one line only

    def on_step(r):
        if not bars:
            total = spec.train_config().epochs * r.steps_per_epoch
            bars.append(tqdm(total=total, initial=(r.epoch - 1) * r.steps_per_epoch + r.step - 1, unit="step",
                             file=sys.stderr, disable=args.no_progress, dynamic_ncols=True))
        bar = bars[0]
        bar.update(1)
        if r.step % 10 == 0 or r.step == r.steps_per_epoch:
            bar.set_postfix(epoch=r.epoch, loss=f"{r.loss:.2f}", rate=f"{r.samples_per_s:,.0f}/s")

    def on_epoch(r):
        test = ", ".join(f"{k[5:]} {v:.4g}" for k, v in r.test.items() if isinstance(v, (int, float)))
        train = ", ".join(f"{k} {v:.4g}" for k, v in r.train.items())
        line = f"epoch {r.epoch}: train {train} | test {test}"
        if bars:
            bars[0].write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)

    outcome = run_training(spec, args.out, data=data, on_step=on_step, on_epoch=on_epoch)
    for bar in bars:
        bar.close()
    record = outcome.record
    if record.error:
        print(record.error, file=sys.stderr)
    return {**record.summary(), "seconds": round(record.seconds, 2),
            "train_samples_per_s": record.metrics["train_samples_per_s"], "checkpoint": str(outcome.checkpoint)}


def run_on_ray(args: argparse.Namespace, spec: RunSpec, data: Dataset | None) -> dict:
    """The run as a task on a Ray cluster, through the same runner the app uses there."""
    import tempfile

    from .data.saved import save_dataset
    from .training.ray_runner import RayRunner

    runner = RayRunner(args.ray_address)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            dataset_file = save_dataset(data, Path(tmp) / "dataset.safetensors") if data is not None else None
            handle = runner.submit(spec, args.out, dataset_file=dataset_file)
            shown = 0
            while True:
                p = handle.poll()
                for r in p.epochs[shown:]:
                    print(f"epoch {r.epoch}: test " + ", ".join(
                        f"{k[5:]} {v:.4g}" for k, v in r.test.items() if isinstance(v, (int, float))), file=sys.stderr)
                shown = len(p.epochs)
                if not p.running:
                    break
                time.sleep(0.5)
    finally:
        runner.shutdown()
    if p.checkpoint is None:
        return {"status": p.status, "error": p.error or "no checkpoint came back", "checkpoint": None}
    metrics = load_checkpoint(args.out).metadata.get("metrics", {})
    return {**metrics, "status": p.status, "error": p.error, "checkpoint": str(args.out), "backend": "ray"}


def main(argv: Sequence[str] | None = None) -> int:
    from .training.ray_runner import RayUnavailable

    return run_command(build_parser().parse_args(argv), run,
                       (ConfigError, DatasetError, CheckpointError, OSError, RayUnavailable),
                       failed=lambda summary: bool(summary["error"]))


if __name__ == "__main__":
    sys.exit(main())
