"""Shared by the benchmark scripts: machine facts, MNIST, a served app, Chromium, JSON output."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MNIST_DIR = Path(os.environ.get("MNIST_DIR", ROOT.parent / "shared" / "data" / "mnist"))
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


# --- output and machine ----------------------------------------------------------------------


def machine() -> dict:
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for pkg in ("torch", "streamlit", "plotly", "scikit-learn", "numpy", "playwright"):
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "cores": os.cpu_count(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "cpu": model,
        "python": platform.python_version(),
        "load_avg_1m_at_start": round(os.getloadavg()[0], 2),
        **versions,
    }


def emit(result: dict) -> None:
    """The one JSON object a benchmark prints on stdout."""
    print(json.dumps(result, indent=None, sort_keys=False))
    sys.stdout.flush()


def quantile(values: list[float], q: float) -> float:
    """Linear-interpolation quantile (q in [0, 1])."""
    xs = sorted(values)
    if len(xs) == 1:
        return xs[0]
    pos = q * (len(xs) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def summary_ms(values_s: list[float]) -> dict:
    ms = [v * 1000 for v in values_s]
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 1),
        "p95_ms": round(quantile(ms, 0.95), 1),
        "min_ms": round(min(ms), 1),
        "max_ms": round(max(ms), 1),
    }


def log(*args) -> None:
    """Progress notes go to stderr so stdout stays one JSON object."""
    print(*args, file=sys.stderr, flush=True)


# --- MNIST ------------------------------------------------------------------------------------


def load_mnist_arrays():
    """MNIST as uint8 arrays: (train_x (60000,28,28), train_y, test_x (10000,28,28), test_y) and the source."""
    import numpy as np

    from vae_core.data.idx import read_idx

    out = []
    for split in ("train", "t10k"):
        out.append(read_idx(MNIST_DIR / f"{split}-images-idx3-ubyte.gz", expect_ndim=3))
        out.append(read_idx(MNIST_DIR / f"{split}-labels-idx1-ubyte.gz", expect_ndim=1).astype(np.int64))
    return (*out, "mnist IDX files read by vae_core.idx.read_idx")


def mnist_available() -> bool:
    return all((MNIST_DIR / f"{s}-images-idx3-ubyte.gz").is_file() for s in ("train", "t10k"))


# --- the app, served ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


class Server:
    def __init__(self, proc: subprocess.Popen, url: str, launched_at: float, healthy_at: float) -> None:
        self.proc, self.url, self.launched_at, self.healthy_at = proc, url, launched_at, healthy_at

    @property
    def pid(self) -> int:
        return self.proc.pid


@contextmanager
def streamlit_server(timeout: float = 90.0, extra_args: tuple[str, ...] = (), log=None):
    """`streamlit run app.py` on a free port; yields a Server once /_stcore/health answers.

    `log`: an open file for the server's output (default: discarded). Also used by tests/browser.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        sys.executable, "-m", "streamlit", "run", "app.py",
        "--server.headless", "true", "--server.port", str(port), "--server.address", "127.0.0.1",
        # no file watcher: edits to the sources during a run must not rerun the app
        "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false", *extra_args,
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    launched = time.perf_counter()
    out = log if log is not None else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT if log else out)
    try:
        while not healthy(url):
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {proc.returncode}")
            if time.perf_counter() - launched > timeout:
                raise RuntimeError(f"streamlit did not answer /_stcore/health within {timeout} s")
            time.sleep(0.05)
        yield Server(proc, url, launched, time.perf_counter())
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- Chromium ----------------------------------------------------------------------------------


def find_chromium() -> str | None:
    if Path("/usr/bin/chromium").exists():
        return "/usr/bin/chromium"
    return shutil.which("chromium")


def browser_missing() -> str | None:
    """Why a browser benchmark cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed"
    if find_chromium() is None:
        return "Chromium is not installed (/usr/bin/chromium)"
    return None


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=find_chromium(), args=CHROMIUM_ARGS)


def wait_idle(page, timeout_ms: float = 60_000) -> None:
    """Until the app is connected and no script run is in progress."""
    page.wait_for_function(
        """() => {
            const app = document.querySelector('[data-testid="stApp"]');
            return app && app.dataset.testConnectionState === "CONNECTED"
                && app.dataset.testScriptState === "notRunning";
        }""",
        timeout=timeout_ms,
    )
