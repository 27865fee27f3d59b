"""The modality tasks on the embedded models: texts per word, images as reduced maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from intgrad.datasets import SequenceSource, explain_dataset
from intgrad.datasets.tasks import ImageTask, TextTask, cell_names, reduce_map

pytestmark = pytest.mark.slow


def test_reduce_map_sums_blocks_so_completeness_holds():
    attributions = np.random.default_rng(0).normal(size=(10, 9, 3))
    reduced = reduce_map(attributions, 3)
    assert reduced.shape == (3, 3)
    assert reduced.sum() == pytest.approx(attributions.sum(), rel=1e-12)
    # Rows split 4/3/3 and columns 3/3/3, as np.array_split does.
    assert reduced[0, 0] == pytest.approx(attributions[:4, :3].sum(), rel=1e-12)
    assert reduced[2, 1] == pytest.approx(attributions[7:, 3:6].sum(), rel=1e-12)
    assert cell_names(2) == ("r0c0", "r0c1", "r1c0", "r1c1")
    with pytest.raises(ValueError, match="cannot reduce a 10×9 map"):
        reduce_map(attributions, 10)


def test_text_task_summarises_words_and_records_empty_texts(tmp_path):
    pytest.importorskip("transformers")
    texts = ["a great film", "   ", "a dull, boring film", "great acting"]
    result = explain_dataset(
        SequenceSource(texts),
        TextTask(steps=8),
        tmp_path,
        shard_size=2,
        cohorts=[("short", lambda f: f["length"] < 3)],
    )
    summary = result.summary
    assert (summary.examples, summary.failed) == (4, 1)
    assert result.failures()["error"].tolist() == ["ValueError: empty text"]
    words = result.attributions()
    assert words[words.example == 0]["token"].tolist() == ["a", "great", "film"]
    features = summary.features
    assert features.count[features.index("great")] == 2
    assert features.count[features.index("film")] == 2
    great = words[words.token == "great"]["attribution"].to_numpy()
    assert features.mean[features.index("great")] == pytest.approx(great.mean(), rel=1e-12)
    rows = result.frame()
    explained = rows[rows.error.isna()]
    sums = np.array([np.sum(a) for a in explained.token_attributions])
    gap = sums - (explained.f_input - explained.f_baseline)  # delta = Σa − (F(x) − F(x′))
    np.testing.assert_allclose(gap, explained.delta, atol=1e-6)
    assert summary.metadata["feature_kind"] == "tokens"
    assert set(summary.classes) <= {"negative", "positive"}
    assert summary.cohort("short").count.sum() == 2  # "great acting": two words


def test_image_task_keeps_reduced_maps_and_records_unreadable_files(tmp_path):
    pytest.importorskip("skimage")
    from intgrad.images import load_sample

    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    items = [load_sample("chelsea"), str(bad), load_sample("coffee")]
    task = ImageTask(steps=4, cells=7)
    result = explain_dataset(SequenceSource(items), task, tmp_path / "job", shard_size=2)
    summary = result.summary
    assert (summary.examples, summary.failed) == (3, 1)
    (error,) = result.failures()["error"]
    assert error.startswith("ImageDecodeError: cannot decode image file") and "broken.png" in error
    maps = result.attributions()
    assert maps.shape == (2, 49) and maps.columns[0] == "r0c0"
    rows = result.frame()
    explained = rows[rows.error.isna()]
    gap = maps.sum(axis=1).to_numpy() - (explained.f_input - explained.f_baseline)
    np.testing.assert_allclose(gap.to_numpy(), explained.delta.to_numpy(), atol=1e-5)
    assert summary.metadata["map_shape"] == [7, 7]
    assert sum(s.count[0] for s in summary.classes.values()) == 2
    assert Path(result.shards[0]).exists()


def test_a_tabular_task_moves_its_torch_model_and_builds_a_new_session():
    from intgrad.datasets import TabularTask

    task = TabularTask("adult-mlp")
    shared = task.model
    assert task.session(lambda: "built on the cpu") == "built on the cpu"
    task.use_device("meta")  # a device every torch build has: the parameters move there
    assert {p.device.type for p in task.model.module.parameters()} == {"meta"}
    assert {p.device.type for p in shared.module.parameters()} == {"cpu"}  # a copy moved
    assert task.model.schema is shared.schema and task.model.labels == shared.labels
    assert task.session(lambda: "built again") == "built again"
