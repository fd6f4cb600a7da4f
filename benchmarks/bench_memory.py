"""Peak memory of the app's server process serving the heaviest checkpoint with its latent map.

Starts `streamlit run app.py`, opens the home page in Chromium, picks the heaviest checkpoint in the
sidebar (largest dataset in memory + weights; MNIST-sized ones first), goes to the Latent map page
through the sidebar (same session) and waits for the map and the decoded plane. Reads VmHWM (peak
resident set) from /proc for the server and any child processes.

    python benchmarks/bench_memory.py            # heaviest checkpoint
    python benchmarks/bench_memory.py --quick    # the default checkpoint
"""

from __future__ import annotations

import argparse
import contextlib
import math
import re
import sys
from pathlib import Path

import _common

GOAL_MB = 1536
# Images held in memory per dataset when a checkpoint's metadata doesn't say (see vae_core.DATASETS).
DATASET_IMAGES = {"digits": 1797, "mnist": 70_000, "fashion-mnist": 70_000, "sprites": 20_000, "dsprites": 20_000}


def proc_status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def descendants(pid: int) -> list[int]:
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            children += [int(c) for c in (task / "children").read_text().split()]
    return children + [d for c in children for d in descendants(c)]


def memory_mb(pid: int) -> dict:
    pids = [pid, *descendants(pid)]
    return {
        "peak_rss_mb": round(sum(proc_status_kb(p, "VmHWM") for p in pids) / 1024, 1),
        "rss_now_mb": round(sum(proc_status_kb(p, "VmRSS") for p in pids) / 1024, 1),
        "processes": len(pids),
    }


def checkpoint_table() -> dict[str, dict]:
    """Checkpoint name -> what it will hold in memory: its dataset's images (float32) and its weights."""
    import vae_core as vc

    table = {}
    for info in vc.list_checkpoints(_common.ROOT / "checkpoints"):
        meta = info.metadata
        model, ds = meta.get("model") or {}, meta.get("dataset") or {}
        shape = model.get("image_shape") or [1, 1, 1]
        n_images = (ds.get("params") or {}).get("n") or DATASET_IMAGES.get(ds.get("name"), 0)
        weights = (info.path / "model.safetensors").stat().st_size
        table[info.name] = {
            "dataset": ds.get("name"), "images": n_images, "image_shape": shape, "arch": model.get("arch"),
            "latent_dim": model.get("latent_dim"), "weights_mb": round(weights / 2**20, 2),
            "estimated_dataset_and_weights_mb": round((n_images * math.prod(shape) * 4 + weights) / 2**20, 1),
        }
    if not table:
        raise SystemExit("no checkpoints found in checkpoints/")
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the default checkpoint instead of the heaviest")
    ap.add_argument("--checkpoint", default=None, help="checkpoint folder name (default: the heaviest)")
    args = ap.parse_args()
    machine = _common.machine()
    table = checkpoint_table()
    heaviest = max(table, key=lambda k: table[k]["estimated_dataset_and_weights_mb"])
    name = args.checkpoint or ("digits-2d" if args.quick and "digits-2d" in table else heaviest)
    result = {"benchmark": "memory", "quick": args.quick, "checkpoint": name, "heaviest_available": heaviest,
              "checkpoint_facts": table.get(name), "goal_mb": GOAL_MB}
    missing = _common.browser_missing()
    if missing:
        _common.emit({**result, "skipped": missing, "machine": machine})
        sys.exit(0)

    from playwright.sync_api import expect, sync_playwright

    stages = {}
    with _common.streamlit_server() as server, sync_playwright() as pw:
        stages["server_started"] = memory_mb(server.pid)
        browser = _common.launch_chromium(pw)
        page = browser.new_page(viewport={"width": 1400, "height": 2000})
        page.goto(server.url + "/")
        page.locator('[data-testid="stImage"] img').first.wait_for(timeout=90_000)
        _common.wait_idle(page)
        stages["home_page"] = memory_mb(server.pid)
        model_box = page.locator('[data-testid="stSidebar"]').get_by_role("combobox", name="Model")
        if not re.match(rf"{re.escape(name)}\b", model_box.input_value()):
            model_box.click()
            page.get_by_role("option", name=re.compile(rf"^{re.escape(name)}\b")).click()
            expect(model_box).to_have_value(re.compile(rf"^{re.escape(name)}\b"), timeout=90_000)
            _common.wait_idle(page, 300_000)
        # Through the sidebar, so the session (and its choice of model) is kept.
        page.locator('[data-testid="stSidebarNav"] a', has_text="Latent Map").click()
        page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot').first.wait_for(timeout=300_000)
        _common.wait_idle(page, 300_000)
        page.locator('[data-testid="stImageCaption"]').last.wait_for(timeout=120_000)
        stages["latent_map"] = memory_mb(server.pid)
        errors = page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]').count()
        browser.close()

    peak = stages["latent_map"]["peak_rss_mb"]
    _common.emit({
        **result,
        "peak_rss_mb": peak,
        "meets_goal": peak <= GOAL_MB,
        "stages": stages,
        "errors_on_page": errors,
        "machine": machine,
    })


if __name__ == "__main__":
    main()
