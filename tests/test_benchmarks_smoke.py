"""Each benchmark runs in its --quick mode and prints one JSON object with the keys the README reports."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HAS_BROWSER = (Path("/usr/bin/chromium").exists() or shutil.which("chromium") is not None) and (
    importlib.util.find_spec("playwright") is not None
)
needs_browser = pytest.mark.skipif(not HAS_BROWSER, reason="needs Chromium (/usr/bin/chromium) and playwright")

CASES = [
    pytest.param("bench_training.py", {"data", "per_item_samples_per_s", "fit_samples_per_s", "ratio",
                                       "matmul_peak_gflops", "fit_gflops", "fraction_of_peak", "ratio_bf16"},
                 id="training"),
    pytest.param("bench_latent_map.py", {"data", "n_points", "encode_s", "pca_s", "encode_plus_pca_s",
                                         "project_2d_tsne_s", "tsne_references", "knn5_label_accuracy"},
                 id="latent_map"),
    pytest.param("bench_slider.py", {"median_ms", "p95_ms", "src_change", "image_loaded"},
                 id="slider", marks=needs_browser),
    pytest.param("bench_cold_start.py", {"median_s", "median_breakdown_s", "import_s"},
                 id="cold_start", marks=needs_browser),
    pytest.param("bench_memory.py", {"checkpoint", "peak_rss_mb", "stages"}, id="memory", marks=needs_browser),
    pytest.param("bench_m2_baseline.py", {"labels", "baseline", "m2", "seconds"}, id="m2_baseline"),
    pytest.param("bench_metrics.py", {"protocol", "models", "threads", "machine"}, id="metrics"),
    pytest.param("bench_classroom.py", {"slider_p50_ms", "slider_p95_ms", "page_load_p50_ms", "page_load_p95_ms",
                                        "health_p95_ms", "queue_waits_s", "errors", "peak_rss_mb", "peak_threads",
                                        "peak_processes", "cpu_s"}, id="classroom", marks=needs_browser),
]


@pytest.mark.parametrize(("script", "keys"), CASES)
def test_quick_mode_prints_one_json_object(script: str, keys: set[str]):
    # One thread each: a smoke run checks the output, not the speed, and must not fight the rest of the
    # test run for the cores (OpenMP threads that wait on a busy core slow down many times over).
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line of JSON on stdout, got {len(lines)}:\n{proc.stdout[-2000:]}"
    result = json.loads(lines[0])
    assert isinstance(result, dict)
    assert result["quick"] is True
    assert "machine" in result and result["machine"]["cores"] >= 1
    missing = keys - result.keys()
    assert not missing, f"{script} --quick lacks {sorted(missing)}: {result}"
