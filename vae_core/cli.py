"""What the command-line tools share: run the parsed arguments, print one JSON line on stdout, and
turn the errors a user can fix into one line on stderr with exit code 2."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable


def run_command(
    args: argparse.Namespace, run: Callable[[argparse.Namespace], dict], errors: tuple[type[Exception], ...],
    failed: Callable[[dict], bool] = lambda summary: False,
) -> int:
    """The exit code: 0, 1 when `failed(summary)`, 2 for one of `errors`, 130 when interrupted."""
    try:
        summary = run(args)
    except errors as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    print(json.dumps(summary))
    return 1 if failed(summary) else 0
