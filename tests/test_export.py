"""The decoder exported for the browser decodes exactly like PyTorch, in NumPy and in JavaScript."""

import base64
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
         ("conv", (1, 64, 64), 1), ("broadcast", (1, 8, 8), 2), ("broadcast", (3, 7, 9), 2),
         ("broadcast", (1, 64, 64), 1)]


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


def _halved(model):
    """The model with its weights rounded to float16, as a checkpoint stored in float16 loads."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.half().float())
    return model


def test_layers_are_json_safe_float32():
    packed = encode_layers(decoder_layers(_model("mlp", (1, 8, 8))))
    text = json.dumps(packed)
    assert '"op": "linear"' in text and packed[0]["w"]["shape"] == [32, 5]
    assert "dtype" not in packed[0]["w"]  # float32 weights are not rounded on the way


def test_float16_weights_travel_in_half_the_bytes():
    model = _model("mlp", (1, 8, 8))
    full = len(json.dumps(encode_layers(decoder_layers(model))))
    packed = encode_layers(decoder_layers(_halved(model)))
    assert packed[0]["w"]["dtype"] == "float16"
    assert len(json.dumps(packed)) < 0.6 * full


def _run_node(tmp_path, payload: dict, body: str) -> dict:
    (tmp_path / "in.json").write_text(json.dumps(payload))
    harness = (ROOT / "ui" / "live_decoder.js").read_text() + (
        "\nimport fs from 'fs';\nconst inp = JSON.parse(fs.readFileSync(process.argv[2]));\n" + body)
    (tmp_path / "harness.mjs").write_text(harness)
    proc = subprocess.run(["node", str(tmp_path / "harness.mjs"), str(tmp_path / "in.json")],
                          capture_output=True, text=True, timeout=60, check=True)
    return json.loads(proc.stdout)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed: the browser decoder is not run")
@pytest.mark.parametrize("arch, shape, layers", CASES)
@pytest.mark.parametrize("half", [False, True], ids=["float32", "float16"])
def test_browser_decoder_matches_torch(tmp_path, arch, shape, layers, half):
    model = _halved(_model(arch, shape, layers)) if half else _model(arch, shape, layers)
    z = torch.randn(5, generator=torch.Generator().manual_seed(2))
    out = _run_node(tmp_path, {"layers": encode_layers(decoder_layers(model)), "z": z.tolist()},
                    "const r = decodeLatent(prepareLayers(inp.layers), inp.z);\n"
                    "console.log(JSON.stringify({shape: r.shape, logits: Array.from(r.logits)}));\n")
    expected = model.decode(z[None])[0].detach().numpy()
    assert out["shape"] == list(shape)
    assert np.allclose(np.array(out["logits"], dtype=np.float32).reshape(shape), expected, atol=1e-5)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed: the browser decoder is not run")
def test_the_browser_reads_every_float16_bit_pattern_as_numpy_does(tmp_path):
    patterns = np.arange(65536, dtype=np.uint16)
    values = patterns.view(np.float16).astype(np.float32)
    layer = {"op": "linear", "w": {"shape": [65536], "dtype": "float16",
                                   "b64": base64.b64encode(patterns.tobytes()).decode()}}
    out = _run_node(tmp_path, {"layers": [layer]},
                    "const w = prepareLayers(inp.layers)[0].w.data;\n"
                    "console.log(JSON.stringify(Array.from(w, (v) => (Number.isFinite(v) ? v : String(v)))));\n")
    got = np.array([float(v) if not isinstance(v, str) else float(v.replace("Infinity", "inf")) for v in out],
                   dtype=np.float32)
    assert np.array_equal(got, values, equal_nan=True)


@pytest.mark.parametrize("arch", ["mlp", "conv", "broadcast"])
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
