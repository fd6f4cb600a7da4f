"""Cold start: `streamlit run app.py` launched -> the home page showing the model's two images in Chromium.

Each run starts a fresh server (nothing imported, no cache) and a fresh browser page; Chromium itself
is started beforehand and not counted. Breakdown per run, all from the launch:
health (the server answers /_stcore/health), title (the page's <h1> is drawn),
first_image / images (one / both of the home page's <img> loaded). A second page load on the same,
now warm server shows how much of the cold time is first-run work (imports, checkpoint, dataset).
Then import times of the heavy modules, each in a fresh interpreter.

    python benchmarks/bench_cold_start.py            # 3 runs, imports timed 3 times each
    python benchmarks/bench_cold_start.py --quick    # 1 run, imports once
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import _common

IMAGES_LOADED = """
n => {
    const imgs = [...document.querySelectorAll('[data-testid="stImage"] img')];
    return imgs.filter(i => i.complete && i.naturalWidth > 0).length >= n;
}
"""
# What the pages import, heaviest first; vae_core alone also pulls torch in, so it's timed both ways.
MODULES = {
    "streamlit": "import streamlit",
    "torch": "import torch",
    "vae_core": "import vae_core",
    "vae_core_after_torch": "import torch as _t; t0 = time.perf_counter(); import vae_core",
    "plotly": "import plotly.graph_objects",
    "sklearn": "import sklearn.decomposition, sklearn.manifold",
}


def time_import(stmt: str) -> float:
    code = f"import time; t0 = time.perf_counter(); {stmt}; print(time.perf_counter() - t0)"
    out = subprocess.run([sys.executable, "-c", code], cwd=_common.ROOT, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def top_self_imports(module: str, n: int = 8) -> list[dict]:
    """The modules with the largest self time under `python -X importtime -c 'import <module>'`."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"], cwd=_common.ROOT,
                         capture_output=True, text=True, check=True)
    rows = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = (part.strip() for part in line[len("import time:"):].split("|"))
        rows.append({"module": name.strip(), "self_ms": int(self_us) / 1000,
                     "cumulative_ms": int(cumulative_us) / 1000})
    return sorted(rows, key=lambda r: -r["self_ms"])[:n]


def one_run(browser) -> dict:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    with _common.streamlit_server() as server:
        t0 = server.launched_at
        marks = {"health_s": server.healthy_at - t0}
        page = browser.new_page(viewport={"width": 1400, "height": 2000})
        try:
            page.goto(server.url + "/", wait_until="domcontentloaded")
            marks["html_s"] = time.perf_counter() - t0
            page.locator("h1").first.wait_for(timeout=90_000)
            marks["title_s"] = time.perf_counter() - t0
            page.wait_for_function(IMAGES_LOADED, arg=1, polling="raf", timeout=90_000)
            marks["first_image_s"] = time.perf_counter() - t0
            page.wait_for_function(IMAGES_LOADED, arg=2, polling="raf", timeout=90_000)
            marks["images_s"] = time.perf_counter() - t0
            _common.wait_idle(page)
            page.close()
            # The same page again on the warm server: modules imported, checkpoint and dataset cached.
            page = browser.new_page(viewport={"width": 1400, "height": 2000})
            t1 = time.perf_counter()
            page.goto(server.url + "/", wait_until="domcontentloaded")
            page.wait_for_function(IMAGES_LOADED, arg=2, polling="raf", timeout=90_000)
            marks["warm_reload_images_s"] = time.perf_counter() - t1
        except PlaywrightTimeout as exc:
            marks["error"] = str(exc).splitlines()[0]
        finally:
            page.close()
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in marks.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one run, imports timed once")
    ap.add_argument("--runs", type=int, default=None, help="cold starts (default 3, quick 1)")
    args = ap.parse_args()
    runs = args.runs or (1 if args.quick else 3)
    import_repeats = 1 if args.quick else 3
    machine = _common.machine()
    result = {"benchmark": "cold_start", "quick": args.quick, "runs": runs, "goal_s": 6.0}

    missing = _common.browser_missing()
    if missing:
        result["skipped"] = missing
    else:
        from playwright.sync_api import sync_playwright

        per_run = []
        with sync_playwright() as pw:
            browser = _common.launch_chromium(pw)
            for i in range(runs):
                per_run.append(one_run(browser))
                _common.log(f"run {i + 1}/{runs}: {per_run[-1]}")
            browser.close()
        ok = [r for r in per_run if "error" not in r]
        result["per_run"] = per_run
        if ok:
            med = {k: round(statistics.median(r[k] for r in ok), 2) for k in ok[0]}
            result["median_s"] = med["images_s"]
            result["median_breakdown_s"] = med
            result["meets_goal"] = med["images_s"] <= 6.0

    imports = {}
    for name, stmt in MODULES.items():
        times = [time_import(stmt) for _ in range(import_repeats)]
        imports[name] = round(statistics.median(times), 3)
        _common.log(f"import {name}: {times}")
    result["import_s"] = imports
    if not args.quick:
        result["vae_core_top_self_imports"] = top_self_imports("vae_core")
    result["machine"] = machine
    _common.emit(result)


if __name__ == "__main__":
    main()
