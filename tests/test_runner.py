"""Runs in worker processes: progress streamed back, Stop within a batch, a queue, crashes contained."""

import os
import signal
import time

import pytest

import vae_core as vc
from vae_core.training.runner import thread_budget

SPEC = vc.RunSpec(dataset="digits", model={"latent_dim": 2, "hidden": 32}, training={"epochs": 2, "batch_size": 64})


@pytest.fixture
def runner():
    return vc.ProcessRunner(max_workers=1, cores=2, manage_server_threads=False)


def _wait(handle, predicate, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        p = handle.poll()
        if predicate(p):
            return p
        time.sleep(0.05)
    raise AssertionError(f"timed out; last status {handle.poll().status}")


def test_a_run_in_a_worker_process_reports_progress_and_writes_its_checkpoint(runner, tmp_path):
    handle = runner.submit(SPEC, tmp_path / "run", name="run")
    p = handle.join(timeout=120)
    assert p.status == "done", p.error
    assert [e.epoch for e in p.epochs] == [1, 2] and p.progress == 1.0
    assert p.steps and p.steps[-1] == 2 * 23  # ceil(1438 / 64) steps per epoch
    ck = vc.load_checkpoint(p.checkpoint)
    assert [e.epoch for e in ck.history] == [1, 2]
    assert ck.metadata["name"] == "run"


def test_stop_ends_a_run_within_a_batch_and_keeps_what_it_learned(runner, tmp_path):
    long = vc.RunSpec(dataset="digits", model={"latent_dim": 2, "hidden": 32}, training={"epochs": 5000})
    handle = runner.submit(long, tmp_path / "run")
    _wait(handle, lambda p: len(p.epochs) >= 1)
    stopped_at = time.monotonic()
    handle.stop()
    p = handle.join(timeout=60)
    assert p.status == "stopped"
    assert time.monotonic() - stopped_at < 30  # the worker saw the flag at its next batch, then saved
    ck = vc.load_checkpoint(p.checkpoint)
    assert ck.metadata["run"]["status"] == "stopped" and len(ck.history) < 5000
    assert (tmp_path / "run" / "trainer_state.safetensors").is_file()  # so it can be continued


def test_runs_beyond_the_limit_wait_in_a_queue_and_can_be_cancelled(runner, tmp_path):
    first = runner.submit(SPEC, tmp_path / "a")
    second = runner.submit(SPEC, tmp_path / "b")
    third = runner.submit(SPEC, tmp_path / "c")
    assert second.poll().status == "queued" and second.poll().queue_position == 1
    assert third.poll().queue_position == 2
    third.stop()
    assert third.poll().status == "stopped" and not (tmp_path / "c" / "config.json").exists()
    assert first.join(timeout=120).status == "done"
    assert second.join(timeout=120).status == "done"


def test_a_bad_run_fails_with_one_line_and_a_killed_worker_is_reported(runner, tmp_path):
    bad = vc.RunSpec(dataset="mnist", dataset_params={"data_dir": str(tmp_path / "nowhere"), "download": False})
    p = runner.submit(bad, tmp_path / "bad").join(timeout=120)
    assert p.status == "failed" and p.error.startswith("training did not run: mnist: missing")
    assert "Traceback" not in p.error

    long = vc.RunSpec(dataset="digits", model={"latent_dim": 2, "hidden": 32}, training={"epochs": 5000})
    handle = runner.submit(long, tmp_path / "killed")
    _wait(handle, lambda p: p.status == "running")
    os.kill(handle._process.pid, signal.SIGKILL)
    p = handle.join(timeout=30)
    assert p.status == "failed" and "ended unexpectedly" in p.error


def test_the_thread_budget_never_exceeds_the_cores():
    for cores in (1, 2, 4, 16):
        for workers in (1, 2, 3, 8):
            per_worker = thread_budget(cores, workers)
            assert per_worker >= 1
            if workers <= cores - 1:
                assert 1 + workers * per_worker <= cores  # the server keeps one
