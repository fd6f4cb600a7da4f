"""The runs folder and datasets saved beside a run."""

import pytest
import torch

import vae_core as vc
from vae_core.data.saved import load_saved_dataset, save_dataset
from vae_core.store import RunStore


def test_saved_datasets_come_back_the_same(tmp_path):
    data = vc.load_dataset("sprites", n=200)
    back = load_saved_dataset(save_dataset(data, tmp_path / "d.safetensors"))
    assert torch.equal(back.images, data.images)  # binary sprites survive 8-bit storage exactly
    assert torch.equal(back.labels, data.labels) and torch.equal(back.test_index, data.test_index)
    assert back.factor_names == data.factor_names and torch.equal(back.factors, data.factors)
    assert back.label_names == data.label_names and back.params == data.params


def test_a_corrupt_saved_dataset_is_refused_with_a_message(tmp_path):
    path = tmp_path / "d.safetensors"
    path.write_bytes(b"not a safetensors file")
    with pytest.raises(vc.DatasetError, match="can't be read"):
        load_saved_dataset(path)


def test_runs_are_listed_newest_first_and_deleted_only_inside_the_folder(tmp_path, tiny_model):
    store = RunStore(tmp_path / "runs")
    first = store.new_run_dir("gaussian")
    vc.save_checkpoint(first, tiny_model, vc.make_metadata(tiny_model.config, dataset="digits"))
    second = store.new_run_dir("vq")
    vc.save_checkpoint(second, tiny_model, vc.make_metadata(tiny_model.config, dataset="digits"))
    assert [i.name for i in store.list()] == sorted([first.name, second.name], reverse=True)
    with pytest.raises(vc.CheckpointError):
        store.delete("../outside")
    (tmp_path / "runs" / "not-a-run").mkdir()
    with pytest.raises(vc.CheckpointError, match="does not look like a run"):
        store.delete("not-a-run")
    store.delete(first.name)
    assert [i.name for i in store.list()] == [second.name]
