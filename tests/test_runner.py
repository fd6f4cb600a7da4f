"""Runs in worker processes: progress streamed back, Stop within a batch, a queue, crashes contained."""

import contextlib
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import vae_core as vc
from vae_core.training.runner import AdmissionError, scrub_paths, thread_budget

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


# --- admission and fairness, owners, faults ------------------------------------------------------

LONG = vc.RunSpec(dataset="digits", model={"latent_dim": 2, "hidden": 32}, training={"epochs": 5000})


def _counts():
    return threading.active_count(), len(multiprocessing.active_children())


def test_the_queue_is_fair_across_owners_and_each_owner_is_capped(tmp_path):
    runner = vc.ProcessRunner(max_workers=1, cores=2, manage_server_threads=False, max_queued_per_owner=2)
    try:
        a1 = runner.submit(LONG, tmp_path / "a1", owner="ann")
        a2 = runner.submit(SPEC, tmp_path / "a2", owner="ann")
        a3 = runner.submit(SPEC, tmp_path / "a3", owner="ann")
        with pytest.raises(AdmissionError, match="you already have 2 runs waiting .the limit is 2."):
            runner.submit(SPEC, tmp_path / "a4", owner="ann")
        b1 = runner.submit(SPEC, tmp_path / "b1", owner="bob")
        # bob's first run goes ahead of ann's second and third
        assert [h.poll().queue_position for h in (b1, a2, a3)] == [1, 2, 3]
        assert a1.poll().status in ("starting", "running")
    finally:
        runner.shutdown()


def test_the_wait_is_estimated_from_the_running_runs_pace(runner, tmp_path):
    first = runner.submit(LONG, tmp_path / "a", owner="ann")
    second = runner.submit(SPEC, tmp_path / "b", owner="bob", expected_samples=1438 * 2)
    _wait(first, lambda p: p.progress > 0.0 and p.samples_per_s > 0, timeout=120)
    p = second.poll()
    assert p.status == "queued" and p.queue_position == 1
    # 5000 epochs of digits ahead of it: a long wait, known once the first run reports its pace
    assert p.wait_estimate_s is not None and p.wait_estimate_s > 60
    runner.shutdown()


def test_a_run_whose_page_is_gone_is_stopped_after_the_grace_period(tmp_path):
    before = _counts()
    runner = vc.ProcessRunner(max_workers=1, cores=2, manage_server_threads=False, grace_s=3,
                              monitor_interval_s=0.2)
    handle = runner.submit(LONG, tmp_path / "run", owner="ann")
    watched = runner.submit(LONG, tmp_path / "queued", owner="bob")
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:  # bob's page stays open; ann's tab was closed
        runner.touch_owner("bob")
        time.sleep(0.2)
    p = handle.join(timeout=60)
    assert p.status == "stopped" and "no page of its owner was open" in p.error
    assert watched.poll().status in ("starting", "running")  # bob's run took the free slot
    watched.stop()
    assert watched.join(timeout=60).status == "stopped"
    runner.shutdown()
    deadline = time.monotonic() + 10
    while _counts() != before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _counts() == before  # no worker process and no monitor thread left behind


def test_a_crashed_run_names_no_server_path_and_leaks_nothing(tmp_path):
    before = _counts()
    runner = vc.ProcessRunner(max_workers=1, cores=2, manage_server_threads=False)
    spec = vc.RunSpec(dataset="images", dataset_params={"path": str(tmp_path / "secret" / "nowhere.zip")})
    p = runner.submit(spec, tmp_path / "run", owner="ann").join(timeout=120)
    assert p.status == "failed"
    assert str(tmp_path) not in p.error and "Traceback" not in p.error
    runner.shutdown()
    deadline = time.monotonic() + 10
    while _counts() != before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _counts() == before


def test_a_run_over_its_memory_allowance_fails_with_a_message(tmp_path):
    runner = vc.ProcessRunner(max_workers=1, cores=2, manage_server_threads=False, memory_bytes=1_500 * 1024**2)
    big = vc.RunSpec(dataset="sprites", dataset_params={"n": 100_000}, model={"latent_dim": 2, "hidden": 32},
                     training={"epochs": 1})
    p = runner.submit(big, tmp_path / "big", owner="ann").join(timeout=300)
    runner.shutdown()
    assert p.status == "failed"
    assert "more memory than a run may use (1.5 GB)" in p.error


def test_paths_are_scrubbed_from_messages():
    assert scrub_paths("No such file: '/srv/app/runs/x/data.zip'") == "No such file: '…/data.zip'"
    assert scrub_paths("epoch 3 of 10") == "epoch 3 of 10"


def test_a_worker_failure_is_one_line_that_names_the_cause():
    import errno

    from vae_core.training.runner import failure_message

    full = OSError(errno.ENOSPC, "No space left on device", "/srv/runs/x/.model.safetensors.tmp")
    assert failure_message(full, None) == ("training stopped: the server's disk is full, so the checkpoint could "
                                           "not be written (nothing was lost)")
    oom = RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 800000000 bytes")
    assert "more memory than a run may use (2.0 GB)" in failure_message(oom, 2 * 1024**3)
    other = ValueError("bad value in /home/teacher/secret/file.txt")
    assert failure_message(other, None) == "training failed: ValueError: bad value in …/file.txt"


SERVER_SCRIPT = """
import sys, time
import vae_core as vc
runner = vc.ProcessRunner(max_workers=1, cores=2, manage_server_threads=False)
spec = vc.RunSpec(dataset="digits", model={"latent_dim": 2, "hidden": 32}, training={"epochs": 5000})
handle = runner.submit(spec, sys.argv[1])
while not handle.poll().epochs:
    time.sleep(0.05)
print(handle._process.pid, flush=True)
time.sleep(600)
"""


def test_a_killed_server_leaves_no_worker_behind_and_its_run_saved(tmp_path):
    """The server is SIGKILLed (no clean-up runs): its worker notices at its next batch, saves and exits."""
    server = subprocess.Popen([sys.executable, "-c", SERVER_SCRIPT, str(tmp_path / "run")], stdout=subprocess.PIPE,
                              text=True)
    try:
        worker = int(server.stdout.readline())
        group = Path(f"/proc/{worker}/autogroup")
        if group.exists():  # Linux with autogroup: the worker yields to every other session too
            assert os.getsid(worker) == worker and group.read_text().split()[-1] == "19"
    finally:
        server.kill()
        server.wait()
    deadline = time.monotonic() + 60
    while Path(f"/proc/{worker}").exists() and time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if Path(f"/proc/{worker}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                break  # exited; waiting for init to reap it
        time.sleep(0.1)
    assert not Path(f"/proc/{worker}").exists() or "Z" in Path(f"/proc/{worker}/stat").read_text().rsplit(")", 1)[1][:3]
    ck = vc.load_checkpoint(tmp_path / "run")
    assert ck.metadata["run"]["status"] == "stopped" and 1 <= len(ck.history) < 5000
