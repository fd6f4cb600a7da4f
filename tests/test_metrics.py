"""Disentanglement metrics on hand-built codes whose answers are known, and the factor oracles."""

import json
import zipfile

import numpy as np
import pytest
import torch

import vae_core as vc
from vae_core.metrics import (
    DEFAULT_PROTOCOL,
    GridOracle,
    MetricError,
    Protocol,
    SpriteOracle,
    dci,
    dci_from_importance,
    dsprites_oracle,
    evaluate_disentanglement,
    factor_vae_from_votes,
    factor_vae_vote,
    mig,
    sap,
)
from vae_core.metrics.scores import entropies, histogram_discretize

SIZES = (3, 6, 8, 8)  # a small grid: shape-like, scale-like and two positions


def _factors(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, s, n) for s in SIZES], axis=1)


def _identity_code(factors: np.ndarray, noise: float = 0.0, seed: int = 1) -> np.ndarray:
    """One latent per factor, equal to it (plus a little noise), then two uninformative latents."""
    rng = np.random.default_rng(seed)
    code = factors.astype(float) + noise * rng.normal(size=factors.shape)
    return np.concatenate([code, rng.normal(size=(len(factors), 2))], axis=1)


def test_histogram_discretize_matches_numpy_bins():
    x = np.array([[0.0], [0.49], [0.5], [1.0]])
    assert histogram_discretize(x, 2)[:, 0].tolist() == [1, 1, 2, 2]  # np.digitize on the left edges


def test_entropy_of_a_uniform_factor_is_log_of_its_size():
    y = np.repeat(np.arange(4), 25)[:, None]
    assert entropies(y)[0] == pytest.approx(np.log(4))


def test_mig_of_the_factors_themselves_is_one_and_of_noise_is_zero():
    y = _factors(10_000)
    result = mig(_identity_code(y), y)
    assert result.score > 0.95
    assert result.mutual_info.shape == (len(SIZES) + 2, len(SIZES))
    assert np.argmax(result.mutual_info, axis=0).tolist() == [0, 1, 2, 3]
    noise = np.random.default_rng(5).normal(size=(10_000, 6))
    assert mig(noise, y).score < 0.05


def test_a_duplicated_latent_drives_that_factors_mig_to_zero():
    y = _factors(10_000)
    code = _identity_code(y)
    code = np.concatenate([code, code[:, 2:3]], axis=1)  # factor 2 now has two equally good latents
    per_factor = mig(code, y).per_factor
    assert per_factor[2] < 0.02
    assert min(per_factor[[0, 1, 3]]) > 0.95


def test_mig_rejects_mismatched_arrays():
    with pytest.raises(MetricError, match="share N"):
        mig(np.zeros((10, 2)), np.zeros((9, 1), dtype=int))
    with pytest.raises(MetricError, match="non-finite"):
        mig(np.full((10, 2), np.nan), np.zeros((10, 1), dtype=int))


def test_dci_of_a_diagonal_importance_is_one_and_of_a_uniform_one_is_zero():
    assert dci_from_importance(np.eye(4)) == pytest.approx((1.0, 1.0))
    assert dci_from_importance(np.ones((4, 4))) == pytest.approx((0.0, 0.0), abs=1e-9)
    # one code explains every factor: each code is pure noise in D, but C is perfect
    d_score, c_score = dci_from_importance(np.array([[1.0, 1.0], [0.0, 0.0]]))
    assert d_score == pytest.approx(0.0, abs=1e-6) and c_score == pytest.approx(1.0)


@pytest.mark.parametrize("estimator", ["gbt", "fast"])
def test_dci_on_codes_equal_to_the_factors(estimator):
    y_train, y_test = _factors(1500, 0), _factors(500, 1)
    good = dci(_identity_code(y_train), y_train, _identity_code(y_test, seed=2), y_test, estimator=estimator)
    assert good.disentanglement > 0.8 and good.completeness > 0.8
    assert good.informativeness_test > 0.95
    rng = np.random.default_rng(3)
    bad = dci(rng.normal(size=(1500, 6)), y_train, rng.normal(size=(500, 6)), y_test, estimator=estimator)
    assert bad.disentanglement < 0.3 and bad.informativeness_test < 0.5


def test_dci_names_an_unknown_estimator():
    y = _factors(20)
    with pytest.raises(MetricError, match="estimator must be one of"):
        dci(y, y, y, y, estimator="xgb")


def test_sap_of_the_factors_is_high_and_of_noise_is_near_zero():
    y_train, y_test = _factors(3000, 0), _factors(1000, 1)
    good = sap(_identity_code(y_train), y_train, _identity_code(y_test, seed=2), y_test)
    assert good.matrix.shape == (6, 4)
    assert np.argmax(good.matrix, axis=0).tolist() == [0, 1, 2, 3]
    assert good.score > 0.3  # a linear classifier on one dimension is far from perfect on 8 classes
    rng = np.random.default_rng(3)
    assert sap(rng.normal(size=(3000, 6)), y_train, rng.normal(size=(1000, 6)), y_test).score < 0.05


def test_factor_vae_vote_picks_the_dimension_that_stays_still():
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(64, 4))
    codes[:, 2] = 0.3  # the fixed factor's latent does not move
    assert factor_vae_vote(codes, np.ones(4), np.ones(4, dtype=bool)) == 2
    # a collapsed (pruned) dimension never gets a vote, however still it is
    codes[:, 0] = 0.0
    assert factor_vae_vote(codes, np.ones(4), np.array([False, True, True, True])) == 2


def test_factor_vae_majority_vote_accuracy_by_hand():
    train = np.array([[8, 2, 0], [1, 9, 0]])  # dim 0 -> factor 0, dim 1 -> factor 1, dim 2 unused
    evals = np.array([[5, 5, 0], [0, 10, 0]])
    score = factor_vae_from_votes(train, evals, num_active=2)
    assert score.train_accuracy == pytest.approx(17 / 20)
    assert score.eval_accuracy == pytest.approx(15 / 20)
    assert factor_vae_from_votes(train * 0, evals, 0).eval_accuracy == 0.0


class _FactorModel(torch.nn.Module):
    """A stand-in model whose 'posterior mean' reads the factors back from the oracle's images."""

    def __init__(self, mix: bool = False):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.mix = mix

    def embed(self, images):
        factors = images[:, 0, 0, : len(SIZES)] * 10  # _TableOracle writes them into the first row
        if self.mix:  # every latent a mixture of all factors: entangled
            factors = factors @ torch.tensor([[1.0, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]])
        return factors


def _table_oracle() -> GridOracle:
    classes = np.stack(np.unravel_index(np.arange(int(np.prod(SIZES))), SIZES), axis=1)
    images = np.zeros((len(classes), 4, 8), dtype=np.float32)
    images[:, 0, : len(SIZES)] = classes / 10
    return GridOracle(images, SIZES, ("a", "b", "c", "d"))


def test_the_protocol_scores_a_model_that_reads_the_factors_as_disentangled():
    small = Protocol(num_train=2000, num_test=500, factor_vae_train_votes=200, factor_vae_eval_votes=100)
    good = evaluate_disentanglement(_FactorModel(), _table_oracle(), small)
    assert good.mig.score > 0.95 and good.factor_vae.eval_accuracy > 0.95
    assert good.dci.disentanglement > 0.8 and good.sap.score > 0.3
    mixed = evaluate_disentanglement(_FactorModel(mix=True), _table_oracle(), small)
    assert mixed.mig.score < 0.3 and mixed.dci.disentanglement < good.dci.disentanglement
    summary = json.loads(json.dumps(good.summary()))
    assert summary["protocol"]["num_train"] == 2000 and set(summary["seconds"]) >= {"mig", "dci", "sap", "factor_vae"}


def test_the_default_protocol_follows_disentanglement_libs_sizes_where_it_can():
    assert (DEFAULT_PROTOCOL.num_train, DEFAULT_PROTOCOL.num_test, DEFAULT_PROTOCOL.num_bins) == (10_000, 5_000, 20)
    assert DEFAULT_PROTOCOL.factor_vae_batch == 64


def test_the_sprite_oracle_draws_exactly_the_requested_factors():
    oracle = SpriteOracle()
    classes = np.array([[0, 5, 0, 0, 0], [0, 5, 0, 31, 0], [2, 0, 10, 16, 16]])
    images = oracle.images(classes)
    assert images.shape == (3, 1, 64, 64)
    assert torch.equal(images, torch.from_numpy(vc.data.sprites.render_sprites(classes)).unsqueeze(1).float())
    cols = [int(img[0].sum(0).nonzero().float().mean()) for img in images[:2]]
    assert cols[1] > cols[0] + 30  # pos_x moves the sprite right
    drawn = oracle.sample_factors(1000, np.random.default_rng(0))
    assert drawn.shape == (1000, 5) and (drawn.max(0) < np.array(oracle.factor_sizes)).all()


def _fake_dsprites(path, grid, shuffle=False):
    classes = np.stack(np.unravel_index(np.arange(int(np.prod(grid))), grid), axis=1).astype(np.int64)
    if shuffle:
        classes = classes[::-1].copy()
    imgs = np.zeros((len(classes), 64, 64), dtype=np.uint8)
    imgs[:, 0, :6] = classes  # the factors, readable back from the image
    np.savez_compressed(path, imgs=imgs, latents_classes=classes,
                        latents_values=classes.astype(np.float64))
    return classes


def test_the_dsprites_oracle_indexes_the_full_file_by_its_grid(tmp_path):
    grid = (1, 3, 2, 2, 2, 2)
    _fake_dsprites(tmp_path / "d.npz", grid)
    oracle = dsprites_oracle(tmp_path / "d.npz", grid=grid)
    assert oracle.factor_sizes == (3, 2, 2, 2, 2) and oracle.factor_names[0] == "shape"
    want = np.array([[2, 1, 0, 1, 1], [0, 0, 1, 0, 1]])
    got = (oracle.images(want)[:, 0, 0, 1:6] * oracle.scale).round().long().numpy()  # the stored classes
    assert np.array_equal(got, want)


def test_the_dsprites_oracle_refuses_a_subsample_or_an_unordered_file(tmp_path):
    grid = (1, 3, 2, 2, 2, 2)
    _fake_dsprites(tmp_path / "d.npz", grid)
    with pytest.raises(vc.DatasetError, match="not the whole grid"):
        dsprites_oracle(tmp_path / "d.npz", grid=(1, 3, 2, 2, 2, 4))
    _fake_dsprites(tmp_path / "r.npz", grid, shuffle=True)
    with pytest.raises(vc.DatasetError, match="grid order"):
        dsprites_oracle(tmp_path / "r.npz", grid=grid)
    with zipfile.ZipFile(tmp_path / "bad.npz", "w") as zf:
        zf.writestr("x.npy", b"junk")
    with pytest.raises(vc.DatasetError):
        dsprites_oracle(tmp_path / "bad.npz", grid=grid)


def _sprite_checkpoint(folder):
    torch.manual_seed(0)
    model = vc.VAE(vc.ModelConfig(image_shape=(1, 64, 64), latent_dim=3, hidden=8))
    meta = vc.make_metadata(model.config, dataset="sprites", dataset_params={"n": 1000})
    vc.save_checkpoint(folder, model, meta)
    return folder


def test_the_cli_prints_every_metric_as_one_json_line_and_can_record_them(tmp_path, capsys):
    from vae_core.evaluate import main

    folder = _sprite_checkpoint(tmp_path / "ck")
    args = ["--checkpoint", str(folder), "--num-train", "400", "--num-test", "200", "--votes", "20",
            "--no-progress", "--save"]
    assert main(args) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    result = json.loads(line)
    for key in ("mig", "dci_disentanglement", "dci_completeness", "dci_informativeness", "sap", "factor_vae"):
        assert 0.0 <= result[key] <= 1.0, key
    assert len(result["mutual_info"]) == 3 and len(result["mutual_info"][0]) == 5
    assert result["factor_names"] == ["shape", "scale", "orientation", "pos_x", "pos_y"]
    assert result["protocol"]["num_train"] == 400
    saved = vc.load_checkpoint(folder).metadata["disentanglement"]
    assert saved["mig"] == result["mig"]


def test_the_cli_explains_a_model_without_factors_and_bad_sizes(tmp_path, capsys, tiny_model):
    from vae_core.evaluate import main

    vc.save_checkpoint(tmp_path / "d", tiny_model, vc.make_metadata(tiny_model.config, dataset="digits"))
    assert main(["--checkpoint", str(tmp_path / "d"), "--no-progress"]) == 2
    assert "'digits' has no ground-truth factors" in capsys.readouterr().err
    folder = _sprite_checkpoint(tmp_path / "ck")
    assert main(["--checkpoint", str(folder), "--votes", "3", "--no-progress"]) == 2
    assert "--votes must be in 10..1,000,000" in capsys.readouterr().err
