"""The Adult MLP (accuracy, determinism, process state), the cache, and the .npz round trip."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
torch = pytest.importorskip("torch")

from intgrad.tabular import models  # noqa: E402
from intgrad.tabular._frameworks import forward_logits  # noqa: E402
from intgrad.tabular.models import (  # noqa: E402
    TabularModel,
    accuracy,
    as_tabular_model,
    load_tabular_model,
    mlp_weights,
    save_tabular_model,
    train_adult_mlp,
    train_tabular_mlp,
)
from intgrad.tabular.schema import TabularSchema  # noqa: E402

MIN_ACCURACY = 0.84  # measured 0.852 for seed 0 (0.850–0.852 over seeds 0–4)


def test_adult_mlp_accuracy(adult_model: TabularModel, adult_test: Any) -> None:
    assert adult_model.name == "adult-mlp" and adult_model.labels == ("<=50K", ">50K")
    measured = accuracy(adult_model, adult_test)
    assert measured >= MIN_ACCURACY
    assert adult_model.report["test_accuracy"] == pytest.approx(measured, abs=1e-4)
    assert adult_model.module.training is False
    assert adult_model.background is not None and len(adult_model.background) == 30_162


def test_training_is_deterministic_and_leaves_process_state(adult_model: TabularModel) -> None:
    rng_state, threads = torch.get_rng_state(), torch.get_num_threads()
    again = train_adult_mlp(seed=0, evaluate=False)
    assert torch.equal(torch.get_rng_state(), rng_state)
    assert torch.get_num_threads() == threads
    for mine, theirs in zip(
        adult_model.module.parameters(), again.module.parameters(), strict=True
    ):
        assert torch.equal(mine, theirs)  # bit-identical


def test_seed_changes_weights(people: Any) -> None:
    first = train_tabular_mlp(people, target="label", seed=1, hidden=(4,), epochs=1)
    second = train_tabular_mlp(people, target="label", seed=2, hidden=(4,), epochs=1)
    assert first.labels == ("no", "yes") and first.schema.width == 7
    assert not torch.equal(first.module[0].weight, second.module[0].weight)


def test_unknown_label_is_refused(people: Any) -> None:
    with pytest.raises(ValueError, match=r"row 11: label 'yes' is not one of \['no'\]"):
        train_tabular_mlp(people, target="label", labels=["no"], epochs=1)


def test_named_model_is_cached(adult_model: TabularModel) -> None:
    assert load_tabular_model("adult-mlp") is adult_model
    assert load_tabular_model(adult_model) is adult_model


def test_cache_trains_once_across_threads(monkeypatch: pytest.MonkeyPatch, people: Any) -> None:
    calls: list[int] = []
    made = train_tabular_mlp(people, target="label", hidden=(4,), epochs=1)

    def slow_training(seed: int = 0) -> TabularModel:
        calls.append(seed)
        time.sleep(0.05)
        return made

    monkeypatch.setattr(models, "_named", {})
    monkeypatch.setattr(models, "train_adult_mlp", slow_training)
    found: list[TabularModel] = []
    threads = [
        threading.Thread(target=lambda: found.append(load_tabular_model("adult-mlp")))
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == [0] and len(found) == 6 and all(m is made for m in found)


def test_save_load_round_trip(adult_model: TabularModel, adult_rows: Any, tmp_path: Path) -> None:
    path = save_tabular_model(adult_model, tmp_path / "adult.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["adult.npz"]  # no temporary file left
    loaded = load_tabular_model(path)
    assert loaded.schema == adult_model.schema and loaded.labels == adult_model.labels
    assert loaded.name == "adult-mlp" and loaded.report == adult_model.report
    encoded = adult_model.schema.encode(adult_rows)
    np.testing.assert_array_equal(
        forward_logits(loaded.module, "torch", encoded),
        forward_logits(adult_model.module, "torch", encoded),
    )
    assert loaded.background is not None and len(loaded.background) == 1_000
    assert loaded.schema.check_rows(loaded.background) == [None] * 1_000
    # Saving again replaces the file whole.
    save_tabular_model(loaded, path, background_rows=0)
    assert load_tabular_model(str(path)).background is None


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown tabular model 'adult-svm': give 'adult-mlp'"):
        load_tabular_model("adult-svm")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="is not a tabular model saved by save_tabular_model"):
        load_tabular_model(garbage)
    other = tmp_path / "other.npz"
    np.savez(other, meta=np.array('{"format": "else"}'))
    with pytest.raises(ValueError, match="its meta names another format"):
        load_tabular_model(other)


def test_only_mlps_convert_or_save(people: Any, tmp_path: Path) -> None:
    schema = TabularSchema.fit(people, target="label")
    model = as_tabular_model(torch.nn.Sequential(torch.nn.Linear(7, 2), torch.nn.Tanh()), schema)
    with pytest.raises(ValueError, match=r"only an MLP \(torch.nn.Sequential of Linear layers"):
        save_tabular_model(model, tmp_path / "tanh.npz")
    with pytest.raises(ValueError, match="only an MLP"):
        mlp_weights(torch.nn.Linear(7, 2))


def test_as_tabular_model(people: Any) -> None:
    module = torch.nn.Linear(7, 2)
    with pytest.raises(ValueError, match="schema is required when the model is not a TabularModel"):
        as_tabular_model(module)
    schema = TabularSchema.fit(people, target="label")
    wrapped = as_tabular_model(module, schema, ["no", "yes"])
    assert wrapped.framework == "torch" and wrapped.name == "Linear"
    assert as_tabular_model(wrapped, labels=["a", "b"]).labels == ("a", "b")
    with pytest.raises(TypeError, match="cannot tell the framework of a object"):
        as_tabular_model(object(), schema)
