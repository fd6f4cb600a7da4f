"""A checkpoint copy for shipping: python -m vae_core.compact --checkpoint SRC --out DST [--dtype float16]

Stores the weights in float16 (or bfloat16) and leaves the optimiser state out, so a model is about a
quarter of its training folder; config, history and recorded metrics are kept. Prints one JSON line
with the sizes before and after.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .checkpoints import STORED_DTYPES, WEIGHTS_FILE, CheckpointError, compact_checkpoint
from .cli import run_command


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m vae_core.compact",
                                description="Copy a checkpoint with narrower weights and no optimiser state.")
    p.add_argument("--checkpoint", required=True, metavar="SRC")
    p.add_argument("--out", required=True, metavar="DST")
    p.add_argument("--dtype", choices=sorted(STORED_DTYPES), default="float16")
    return p


def _folder_bytes(directory: Path) -> int:
    return sum(f.stat().st_size for f in directory.iterdir() if f.is_file())


def run(args: argparse.Namespace) -> dict:
    source = Path(args.checkpoint)
    out = compact_checkpoint(source, args.out, args.dtype)
    return {"checkpoint": str(out), "dtype": args.dtype,
            "weights_bytes": (out / WEIGHTS_FILE).stat().st_size,
            "folder_bytes_before": _folder_bytes(source), "folder_bytes_after": _folder_bytes(out)}


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser().parse_args(argv), run, (CheckpointError, OSError))


if __name__ == "__main__":
    sys.exit(main())
