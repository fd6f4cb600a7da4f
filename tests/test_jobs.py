import time

import pytest

import vae_core as vc


@pytest.fixture(scope="module")
def digits():
    return vc.load_dataset("digits")


def _job(data, epochs):
    cfg = vc.ModelConfig(image_shape=data.image_shape, latent_dim=2, hidden=32)
    return vc.TrainingJob(data, cfg, vc.TrainConfig(epochs=epochs))


def test_a_job_trains_on_its_thread_and_yields_a_checkpoint(digits):
    job = _job(digits, 2).start()
    job.join(timeout=60)
    snap = job.snapshot()
    assert snap.status == "done" and snap.progress == 1.0
    assert len(snap.epochs) == 2 and len(snap.steps) == 2 * 12
    ck = job.checkpoint("mine")
    assert ck.dataset_name == "digits"
    assert ck.metadata["training"]["epochs"] == 2
    assert ck.metadata["metrics"]["test_loss"] == pytest.approx(snap.epochs[-1].test_loss, rel=0.2)


def test_stop_ends_a_long_job_quickly(digits):
    job = _job(digits, 5000).start()
    deadline = time.time() + 30
    while not job.snapshot().steps and time.time() < deadline:
        time.sleep(0.01)
    job.stop()
    job.join(timeout=10)
    assert not job.running
    snap = job.snapshot()
    assert snap.status == "stopped"
    assert len(snap.steps) < 5000 * 12
    assert job.model is not None  # what was learned so far is kept


def test_checkpoint_before_finishing_is_an_error(digits):
    with pytest.raises(RuntimeError, match="has not produced a model"):
        _job(digits, 1).checkpoint()
