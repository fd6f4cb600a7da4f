"""Disentanglement metrics from the command line: python -m vae_core.evaluate --checkpoint DIR

Prints progress on stderr and one JSON line on stdout: MIG (with the per-factor values and the
latent × factor mutual-information matrix), DCI, SAP and the FactorVAE score, the time each took
and the protocol's sample sizes. `--protocol disentanglement_lib` uses that library's full sizes
(10,000 + 5,000 FactorVAE votes, DCI with gradient-boosted trees: several minutes).
`--save` also writes the summary into the checkpoint's config.json under "disentanglement".

`--ood-dataset NAME` instead scores the model's own test images and NAME's with an anomaly score
(`--score`: the importance-weighted −log p(x) by default) and prints the AUROC of telling them apart.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import replace

from .analysis.anomaly import ANOMALY_SCORES, anomaly_scores, ood_roc, scores_for
from .analysis.latent import LatentError
from .checkpoints import CheckpointError, load_checkpoint, update_metadata
from .cli import run_command
from .data import DATASETS, DatasetError, load_dataset
from .metrics import DEFAULT_PROTOCOL, DISENTANGLEMENT_LIB, MetricError, evaluate_disentanglement, oracle_for

PROTOCOLS = {"default": DEFAULT_PROTOCOL, "disentanglement_lib": DISENTANGLEMENT_LIB}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m vae_core.evaluate",
                                description="MIG, DCI, SAP and the FactorVAE score of a checkpoint.")
    p.add_argument("--checkpoint", required=True, metavar="DIR")
    p.add_argument("--protocol", choices=sorted(PROTOCOLS), default="default")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num-train", type=int, default=None, help="points for MIG, and to train DCI and SAP")
    p.add_argument("--num-test", type=int, default=None, help="points to test DCI and SAP")
    p.add_argument("--votes", type=int, default=None, help="FactorVAE votes, for training and for evaluation each")
    p.add_argument("--data-dir", default=None, help="dsprites: the full .npz file or its folder")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--save", action="store_true", help="record the results in the checkpoint's config.json")
    p.add_argument("--no-progress", action="store_true")
    ood = p.add_argument_group("out-of-distribution detection")
    ood.add_argument("--ood-dataset", choices=sorted(DATASETS), default=None,
                     help="score this dataset's test images against the model's own, and print the AUROC")
    ood.add_argument("--score", choices=sorted(ANOMALY_SCORES), default=None,
                     help="anomaly score (default: iwae for Gaussian VAEs, else reconstruction)")
    ood.add_argument("--ood-samples", type=int, default=2000, help="test images from each dataset (default 2000)")
    return p


def run_ood(args: argparse.Namespace, checkpoint) -> dict:
    """The AUROC of telling `--ood-dataset`'s test images from the model's own by the anomaly score."""
    if not 10 <= args.ood_samples <= 100_000:
        raise MetricError(f"--ood-samples must be in 10..100,000, got {args.ood_samples}")
    model = checkpoint.model
    score = args.score or scores_for(model)[-1]
    started = time.perf_counter()
    own = load_dataset(checkpoint.dataset_name, **checkpoint.dataset_params)
    other = load_dataset(args.ood_dataset)
    if other.image_shape != checkpoint.config.image_shape:
        shape = "×".join(map(str, other.image_shape))
        raise DatasetError(f"{args.ood_dataset} images are {shape}; the model takes "
                           f"{'×'.join(map(str, checkpoint.config.image_shape))}")
    x_in, x_out = own.test_images[: args.ood_samples], other.test_images[: args.ood_samples]
    s_in = anomaly_scores(model, x_in, score, seed=args.seed)
    s_out = anomaly_scores(model, x_out, score, seed=args.seed + 1)
    roc = ood_roc(s_in.numpy(), s_out.numpy())
    return {"checkpoint": str(args.checkpoint), "dataset": checkpoint.dataset_name, "ood_dataset": args.ood_dataset,
            "score": score, "n_in": len(x_in), "n_out": len(x_out), "ood_auroc": round(roc.auc, 4),
            "in_score_mean": round(float(s_in.mean()), 3), "out_score_mean": round(float(s_out.mean()), 3),
            "seconds": round(time.perf_counter() - started, 2)}


def run(args: argparse.Namespace) -> dict:
    if args.threads is not None:
        import torch

        torch.set_num_threads(max(1, args.threads))
    checkpoint = load_checkpoint(args.checkpoint)
    if checkpoint.dataset_name is None:
        raise DatasetError("the checkpoint does not say which dataset it was trained on")
    if args.ood_dataset is not None:
        return run_ood(args, checkpoint)
    oracle = oracle_for(checkpoint.dataset_name, args.data_dir)
    protocol = replace(PROTOCOLS[args.protocol], seed=args.seed)
    sizes = {"--num-train": (args.num_train, ("num_train",)), "--num-test": (args.num_test, ("num_test",)),
             "--votes": (args.votes, ("factor_vae_train_votes", "factor_vae_eval_votes"))}
    for flag, (value, fields) in sizes.items():
        if value is not None:
            if not 10 <= value <= 1_000_000:
                raise MetricError(f"{flag} must be in 10..1,000,000, got {value}")
            protocol = replace(protocol, **dict.fromkeys(fields, value))
    from tqdm import tqdm

    bar = tqdm(total=100, file=sys.stderr, disable=args.no_progress, unit="%", dynamic_ncols=True,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}")

    def progress(what: str, fraction: float) -> None:
        bar.set_description(what)
        bar.n = round(100 * fraction)
        bar.refresh()

    report = evaluate_disentanglement(checkpoint.model, oracle, protocol, progress)
    bar.close()
    summary = {"checkpoint": str(args.checkpoint), **report.summary()}
    if args.save:
        update_metadata(args.checkpoint, {"disentanglement": report.summary()})
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    errors = (DatasetError, CheckpointError, MetricError, LatentError, OSError)
    return run_command(build_parser().parse_args(argv), run, errors)


if __name__ == "__main__":
    sys.exit(main())
