"""The decoder exported for the browser decodes exactly like PyTorch, in NumPy and in JavaScript."""

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

import vae_core as vc
from vae_core.export import decoder_layers, encode_layers, run_layers

ROOT = Path(__file__).resolve().parent.parent
CASES = [("mlp", (1, 8, 8), 1), ("mlp", (1, 8, 8), 3), ("conv", (1, 28, 28), 1), ("conv", (3, 32, 32), 2),
         ("conv", (1, 64, 64), 1)]


def _model(arch, shape, layers=1):
    torch.manual_seed(0)
    config = vc.ModelConfig(image_shape=shape, latent_dim=5, arch=arch, hidden=32, hidden_layers=layers)
    return vc.VAE(config).eval()


@pytest.mark.parametrize("arch, shape, layers", CASES)
def test_numpy_reference_matches_torch(arch, shape, layers):
    model = _model(arch, shape, layers)
    z = torch.randn(5, generator=torch.Generator().manual_seed(1))
    expected = model.decode(z[None])[0].detach().numpy()
    assert np.allclose(run_layers(decoder_layers(model), z.numpy()), expected, atol=1e-5)


def test_layers_are_json_safe_float32():
    packed = encode_layers(decoder_layers(_model("mlp", (1, 8, 8))))
    text = json.dumps(packed)
    assert '"op": "linear"' in text and packed[0]["w"]["shape"] == [32, 5]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed: the browser decoder is not run")
@pytest.mark.parametrize("arch, shape, layers", CASES)
def test_browser_decoder_matches_torch(tmp_path, arch, shape, layers):
    model = _model(arch, shape, layers)
    z = torch.randn(5, generator=torch.Generator().manual_seed(2))
    (tmp_path / "in.json").write_text(json.dumps({"layers": encode_layers(decoder_layers(model)), "z": z.tolist()}))
    harness = (ROOT / "ui" / "live_decoder.js").read_text() + (
        "\nimport fs from 'fs';\n"
        "const inp = JSON.parse(fs.readFileSync(process.argv[2]));\n"
        "const r = decodeLatent(prepareLayers(inp.layers), inp.z);\n"
        "console.log(JSON.stringify({shape: r.shape, logits: Array.from(r.logits)}));\n"
    )
    (tmp_path / "harness.mjs").write_text(harness)
    proc = subprocess.run(["node", str(tmp_path / "harness.mjs"), str(tmp_path / "in.json")],
                          capture_output=True, text=True, timeout=60, check=True)
    out = json.loads(proc.stdout)
    expected = model.decode(z[None])[0].detach().numpy()
    assert out["shape"] == list(shape)
    assert np.allclose(np.array(out["logits"], dtype=np.float32).reshape(shape), expected, atol=1e-5)


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_an_m2_decoder_exports_for_one_class_with_the_class_folded_into_a_bias(arch):
    torch.manual_seed(0)
    model = vc.build_model(vc.ModelConfig(image_shape=(1, 8, 8), family="m2", latent_dim=3, arch=arch, hidden=16,
                                          n_classes=4)).eval()
    z = torch.randn(3)
    for y in range(4):
        expected = model.decode_zy(z[None], torch.tensor([y]))[0].detach().numpy()
        assert np.allclose(run_layers(decoder_layers(model, y=y), z.numpy()), expected, atol=1e-5)
    with pytest.raises(ValueError, match="pass y"):
        decoder_layers(model)
