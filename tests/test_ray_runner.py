"""The Ray backend against a local Ray instance started here: a two-value sweep runs as Ray tasks
through the same queue as local runs, and Stop reaches a task. Without ray installed the same code
runs on worker processes, and asking for Ray says what is missing."""

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import vae_core as vc

ROOT = Path(__file__).resolve().parents[1]
SPEC = vc.RunSpec(dataset="digits", model={"latent_dim": 2, "hidden": 32}, training={"epochs": 2, "batch_size": 64})


@pytest.fixture(scope="module")
def ray_runner():
    ray = pytest.importorskip("ray", reason="ray is not installed (requirements-dev.txt has it)")
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"a local Ray instance could not start here: {exc}")
    from vae_core.training.ray_runner import RayRunner

    runner = RayRunner(grace_s=600)
    yield runner
    runner.shutdown()
    ray.shutdown()


def test_a_sweep_runs_as_ray_tasks_and_writes_checkpoints_here(ray_runner, tmp_path):
    assert ray_runner.max_workers == 2  # the local instance's CPUs
    handles = [ray_runner.submit(vc.RunSpec(dataset="digits", model={"latent_dim": 2, "hidden": 32},
                                            training={"epochs": 2, "batch_size": 64, "beta": beta}),
                                 tmp_path / f"beta{beta}", name=f"beta{beta}", owner="ann")
               for beta in (1.0, 4.0)]
    results = [h.join(timeout=240) for h in handles]
    for beta, p in zip((1.0, 4.0), results):
        assert p.status == "done", p.error
        assert [e.epoch for e in p.epochs] == [1, 2] and p.steps  # progress came back through the channel
        ck = vc.load_checkpoint(tmp_path / f"beta{beta}")
        assert ck.metadata["training"]["beta"] == beta and ck.metadata["name"] == f"beta{beta}"
        assert vc.load_trainer_state(tmp_path / f"beta{beta}", ck.model).epochs_done == 2


def test_stop_reaches_a_ray_task_and_keeps_what_it_learned(ray_runner, tmp_path):
    long = vc.RunSpec(dataset="digits", model={"latent_dim": 2, "hidden": 32}, training={"epochs": 5000})
    handle = ray_runner.submit(long, tmp_path / "long", owner="ann")
    deadline = time.monotonic() + 180
    while not handle.poll().epochs and time.monotonic() < deadline:
        time.sleep(0.2)
    handle.stop()
    p = handle.join(timeout=120)
    assert p.status == "stopped" and 1 <= len(p.epochs) < 5000
    assert vc.load_checkpoint(tmp_path / "long").metadata["run"]["status"] == "stopped"


def test_a_failing_ray_task_reports_one_line(ray_runner, tmp_path):
    bad = vc.RunSpec(dataset="mnist", dataset_params={"data_dir": str(tmp_path / "nowhere"), "download": False})
    p = ray_runner.submit(bad, tmp_path / "bad", owner="ann").join(timeout=120)
    assert p.status == "failed" and p.error.startswith("training did not run: mnist: missing")
    assert str(tmp_path) not in p.error


WITHOUT_RAY = textwrap.dedent("""
    import os, sys
    sys.modules["ray"] = None  # as if ray were not installed
    import vae_core as vc
    from vae_core.training.ray_runner import RayUnavailable
    os.environ.pop("LATENT_EXPLORER_RAY_ADDRESS", None)
    runner = vc.runner_from_env()
    print(type(runner).__name__)
    os.environ["LATENT_EXPLORER_RAY_ADDRESS"] = "auto"
    try:
        vc.runner_from_env()
    except RayUnavailable as exc:
        print(exc)
""")


def test_without_ray_the_local_backend_runs_and_asking_for_ray_says_what_is_missing():
    out = subprocess.run([sys.executable, "-c", WITHOUT_RAY], cwd=ROOT, capture_output=True, text=True, timeout=120)
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "ProcessRunner", out.stderr
    assert lines[1].startswith("a Ray backend was asked for, but ray is not installed")


def test_the_command_line_trains_on_a_ray_cluster(tmp_path):
    pytest.importorskip("ray", reason="ray is not installed (requirements-dev.txt has it)")
    out = subprocess.run([sys.executable, "-m", "vae_core.train", "--dataset", "digits", "--latent-dim", "2",
                          "--hidden", "32", "--epochs", "1", "--ray-address", "local", "--out", str(tmp_path / "ck")],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    if out.returncode == 2 and "could not connect to the Ray cluster" in out.stderr:
        pytest.skip(f"a local Ray instance could not start here: {out.stderr[-300:]}")
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["backend"] == "ray" and summary["status"] == "done" and summary["epochs"] == 1
    assert "epoch 1: test" in out.stderr
    assert vc.load_checkpoint(tmp_path / "ck").metadata["run"]["status"] == "done"
