import pytest
import torch  # imported here so AppTest's per-run timeout doesn't pay for it

import vae_core as vc


@pytest.fixture(autouse=True, scope="session")
def _runs_folder(tmp_path_factory):
    """Models trained or uploaded by the app during tests go to a temporary runs folder."""
    import os

    os.environ["LATENT_EXPLORER_RUNS"] = str(tmp_path_factory.mktemp("runs"))
    # Tests join runs with no page polling them: on a loaded machine a run can take longer than the
    # 60 s a run outlives its last page, and would be stopped as abandoned (tested on its own in test_runner).
    os.environ["LATENT_EXPLORER_RUN_GRACE_S"] = "600"
    yield


@pytest.fixture
def tiny_config():
    return vc.ModelConfig(image_shape=(1, 8, 8), latent_dim=3, arch="mlp", hidden=16)


@pytest.fixture
def tiny_model(tiny_config):
    torch.manual_seed(0)
    return vc.VAE(tiny_config).eval()


@pytest.fixture
def tiny_images():
    g = torch.Generator().manual_seed(0)
    return torch.rand(40, 1, 8, 8, generator=g)
