"""A checkpoint's weights and config become visible together or not at all: a crash mid-save, a
full disk, or two saves of one name at once never leave a mismatched or unloadable pair, and no
partial file under a final name."""

import errno
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import torch

import vae_core as vc
from vae_core import checkpoints
from vae_core.checkpoints import CONFIG_FILE, STATE_FILE, WEIGHTS_FILE
from vae_core.training.trainer import TrainerState

ROOT = Path(__file__).resolve().parents[1]


def _meta(model, **extra):
    return {**vc.make_metadata(model.config, dataset="digits", training={"beta": 1.0, "epochs": 1}), **extra}


def _state(model) -> TrainerState:
    g = torch.Generator().manual_seed(0)
    return TrainerState(optimizer={"state": {0: {"exp_avg": torch.zeros_like(next(model.parameters()))}}},
                        noise_generator=g.get_state(), batch_generator=g.get_state(), epochs_done=1, steps_done=3)


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_the_weights_file_carries_its_config(tmp_path, tiny_model):
    vc.save_checkpoint(tmp_path / "ck", tiny_model, _meta(tiny_model, title="mine"))
    (tmp_path / "ck" / CONFIG_FILE).unlink()  # the readable copy is not needed to load
    loaded = vc.load_checkpoint(tmp_path / "ck")
    assert loaded.metadata["title"] == "mine"
    assert loaded.metadata["format"] == checkpoints.FORMAT
    weights = (tmp_path / "ck" / WEIGHTS_FILE).read_bytes()
    assert vc.model_from_bytes(weights).config == tiny_model.config  # an upload needs no config file


def test_a_stale_config_copy_cannot_pair_with_new_weights(tmp_path, tiny_model):
    """Same architecture, new weights under old metadata: the failure measured before the fix."""
    vc.save_checkpoint(tmp_path / "ck", tiny_model, _meta(tiny_model, title="first"))
    old_copy = (tmp_path / "ck" / CONFIG_FILE).read_bytes()
    other = vc.VAE(tiny_model.config)
    vc.save_checkpoint(tmp_path / "ck", other, _meta(other, title="second"))
    (tmp_path / "ck" / CONFIG_FILE).write_bytes(old_copy)  # as if killed before the copy was written
    loaded = vc.load_checkpoint(tmp_path / "ck")
    assert loaded.metadata["title"] == "second"
    assert torch.equal(loaded.model.to_mu.weight, other.to_mu.weight)
    assert [i.metadata["title"] for i in vc.list_checkpoints(tmp_path)] == ["second"]


def test_an_uploaded_config_for_another_model_is_refused_by_message(tiny_model):
    weights, _ = vc.checkpoint_bytes(tiny_model, _meta(tiny_model))
    other = vc.VAE(vc.ModelConfig(image_shape=(1, 8, 8), latent_dim=5, hidden=16))
    _, other_config = vc.checkpoint_bytes(other, _meta(other))
    with pytest.raises(vc.CheckpointError, match="describes another model than the one the weights file carries"):
        vc.model_from_bytes(weights, other_config)


def test_a_full_disk_leaves_the_old_checkpoint_whole_and_no_temporary_file(tmp_path, tiny_model, monkeypatch):
    vc.save_checkpoint(tmp_path / "ck", tiny_model, _meta(tiny_model, title="old"), state=_state(tiny_model))
    before = {name: (tmp_path / "ck" / name).read_bytes() for name in _files(tmp_path / "ck")}
    real_fdopen = os.fdopen

    class FullDisk:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoints.os, "fdopen", lambda fd, mode: FullDisk(real_fdopen(fd, mode)))
    other = vc.VAE(tiny_model.config)
    with pytest.raises(OSError, match="No space left on device"):
        vc.save_checkpoint(tmp_path / "ck", other, _meta(other, title="new"), state=_state(other))
    monkeypatch.undo()
    assert {name: (tmp_path / "ck" / name).read_bytes() for name in _files(tmp_path / "ck")} == before
    assert vc.load_checkpoint(tmp_path / "ck").metadata["title"] == "old"


def test_a_trainer_state_of_other_weights_is_refused_by_message(tmp_path, tiny_model):
    vc.save_checkpoint(tmp_path / "ck", tiny_model, _meta(tiny_model), state=_state(tiny_model))
    assert vc.load_trainer_state(tmp_path / "ck", tiny_model).steps_done == 3
    other = vc.VAE(tiny_model.config)
    weights, _ = vc.checkpoint_bytes(other, _meta(other, resume={"epochs_done": 1, "steps_done": 3}))
    (tmp_path / "ck" / WEIGHTS_FILE).write_bytes(weights)  # killed after the weights, before the state
    assert torch.equal(vc.load_checkpoint(tmp_path / "ck").model.to_mu.weight, other.to_mu.weight)
    with pytest.raises(vc.CheckpointError, match="belongs to other weights .* can't be continued"):
        vc.load_trainer_state(tmp_path / "ck", other)


def test_updating_the_metadata_keeps_the_weights_and_the_trainer_state(tmp_path, tiny_model):
    vc.save_checkpoint(tmp_path / "ck", tiny_model, _meta(tiny_model), state=_state(tiny_model))
    checkpoints.update_metadata(tmp_path / "ck", {"disentanglement": {"mig": 0.5}})
    loaded = vc.load_checkpoint(tmp_path / "ck")
    assert loaded.metadata["disentanglement"] == {"mig": 0.5}
    assert torch.equal(loaded.model.to_mu.weight, tiny_model.to_mu.weight)
    assert vc.load_trainer_state(tmp_path / "ck", loaded.model).steps_done == 3
    assert _files(tmp_path / "ck") == [CONFIG_FILE, WEIGHTS_FILE, STATE_FILE]


def test_leftover_temporary_files_of_dead_writers_are_cleaned_and_live_ones_kept(tmp_path, tiny_model):
    vc.save_checkpoint(tmp_path / "ck", tiny_model, _meta(tiny_model))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = checkpoints.socket.gethostname()
    stale = tmp_path / "ck" / f".{WEIGHTS_FILE}.{host}-{int(dead.stdout)}-abc123.tmp"
    live = tmp_path / "ck" / f".{CONFIG_FILE}.{host}-{os.getpid()}-def456.tmp"
    old_foreign = tmp_path / ".other.elsewhere-1-x.tmp"
    for p in (stale, live, old_foreign):
        p.write_bytes(b"partial")
    os.utime(old_foreign, (time.time() - 7200, time.time() - 7200))
    removed = checkpoints.clean_leftovers(tmp_path)
    assert sorted(p.name for p in removed) == sorted([stale.name, old_foreign.name])
    assert live.exists()
    assert vc.load_checkpoint(tmp_path / "ck").config == tiny_model.config


def test_two_saves_of_one_name_at_once_never_mix(tmp_path, tiny_model):
    """Two models of different shapes saved into one folder from two threads, 40 times each: at
    every moment the folder loads, and as one of the two whole models."""
    small = tiny_model
    large = vc.VAE(vc.ModelConfig(image_shape=(1, 8, 8), latent_dim=5, hidden=16))
    vc.save_checkpoint(tmp_path / "ck", small, _meta(small, title="small"), state=_state(small))
    errors: list[str] = []
    done = threading.Event()

    def saver(model, title):
        for _ in range(40):
            vc.save_checkpoint(tmp_path / "ck", model, _meta(model, title=title), state=_state(model))

    def reader():
        while not done.is_set():
            try:
                ck = vc.load_checkpoint(tmp_path / "ck")
                expected = {"small": small.config, "large": large.config}[ck.metadata["title"]]
                if ck.config != expected:
                    errors.append(f"{ck.metadata['title']} with {ck.config}")
            except vc.CheckpointError as exc:
                errors.append(str(exc))

    pairs = ((small, "small"), (large, "large"))
    threads = [threading.Thread(target=saver, args=pair) for pair in pairs]
    watcher = threading.Thread(target=reader)
    watcher.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    watcher.join()
    assert errors == []
    final = vc.load_checkpoint(tmp_path / "ck")
    vc.load_trainer_state(tmp_path / "ck", final.model)  # the state belongs to the final weights
    assert [p for p in _files(tmp_path / "ck") if p.endswith(".tmp")] == []


KILLED_SAVER = textwrap.dedent("""
    import sys, torch, vae_core as vc
    from vae_core.training.trainer import TrainerState
    folder = sys.argv[1]
    g = torch.Generator().manual_seed(0)
    configs = [vc.ModelConfig(image_shape=(1, 8, 8), latent_dim=d, hidden=64) for d in (3, 5)]
    print("ready", flush=True)
    i = 0
    while True:
        model = vc.VAE(configs[i % 2])
        meta = vc.make_metadata(model.config, dataset="digits", training={"beta": 1.0, "epochs": 1}, name=str(i))
        state = TrainerState(optimizer={"state": {}}, noise_generator=g.get_state(), batch_generator=g.get_state(),
                             epochs_done=1, steps_done=i)
        vc.save_checkpoint(folder, model, meta, state=state)
        i += 1
""")


@pytest.mark.parametrize("delay", [0.35, 0.5, 0.65, 0.8])
def test_a_process_killed_while_saving_leaves_a_loadable_checkpoint(tmp_path, delay):
    """SIGKILL at an arbitrary moment of a save loop: the folder still loads as one whole model
    (config and weights of the same save), and the start-up clean removes the partial files."""
    folder = tmp_path / "ck"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_SAVER, str(folder)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    checkpoints.clean_leftovers(tmp_path)
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    ck = vc.load_checkpoint(folder)
    assert ck.config.latent_dim == (3 if int(ck.metadata["name"]) % 2 == 0 else 5)
    try:
        state = vc.load_trainer_state(folder, ck.model)
    except vc.CheckpointError as exc:  # killed between the weights and their state: refused, by name
        assert "belongs to other weights" in str(exc)
    else:
        assert state.steps_done == int(ck.metadata["name"])
