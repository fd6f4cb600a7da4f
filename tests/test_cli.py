import json
import subprocess
import sys
from pathlib import Path

import vae_core as vc
from vae_core.train import main

ROOT = Path(__file__).resolve().parent.parent


def test_cli_trains_saves_and_prints_a_json_summary(tmp_path, capsys):
    out = tmp_path / "ck"
    code = main(["--dataset", "digits", "--latent-dim", "2", "--hidden", "32", "--epochs", "2",
                 "--out", str(out), "--no-progress"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("train_samples_per_s", "test_loss", "test_recon", "test_kl", "epochs", "seconds"):
        assert key in summary
    assert summary["epochs"] == 2
    assert abs(summary["test_loss"] - summary["test_recon"] - summary["test_kl"]) < 1e-3  # -ELBO = recon + KL
    ck = vc.load_checkpoint(out)
    assert ck.config.latent_dim == 2
    assert ck.metadata["metrics"]["test_loss"] == summary["test_loss"]
    assert ck.metadata["training"]["epochs"] == 2


def _run_cli(*args):
    return subprocess.run([sys.executable, "-m", "vae_core.train", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_bad_arguments_end_with_one_line_and_a_non_zero_exit(tmp_path):
    cases = [
        (["--latent-dim", "0"], "latent_dim must be an integer in 1..64"),
        (["--lr", "-1"], "lr must be a number"),
        (["--arch", "transformer"], "invalid choice: 'transformer'"),
        (["--epochs", "three"], "invalid int value: 'three'"),
        (["--epochs", "10", "--warmup-epochs", "30"], "a KL warm-up of 30 epochs is longer than the run (10 epochs)"),
    ]
    for args, message in cases:
        proc = _run_cli(*args, "--out", str(tmp_path / "x"))
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "x").exists()
