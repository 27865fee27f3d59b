"""Whole datasets: explain in shards, summarise per feature, cohort and class, compare for drift.

:func:`explain_dataset` streams any dataset (table rows, texts, images) through a task, writes
per-example attributions as Parquet shards and keeps a :class:`DatasetSummary` that merges
exactly across shards and workers; it resumes after a kill and runs on Ray with
``engine="ray"``. :func:`compare` turns two summaries into a drift report.

Needs pandas and pyarrow (``pip install 'intgrad[datasets]'``); the Ray engine needs
``intgrad[ray]``.
"""

from intgrad.datasets.drift import (
    DriftReport,
    DriftThresholds,
    FeatureDrift,
    compare,
    parse_group,
    select_group,
)
from intgrad.datasets.job import ENGINES, DatasetResult, explain_dataset
from intgrad.datasets.records import Cohort, ExampleResults
from intgrad.datasets.sketch import QuantileSketch, jensen_shannon
from intgrad.datasets.sources import Batch, CsvSource, ExampleSource, FrameSource, SequenceSource
from intgrad.datasets.summary import SUMMARY_FILE, DatasetSummary, FeatureSummary
from intgrad.datasets.tasks import DatasetTask, ImageTask, TabularTask, TextTask

__all__ = [
    "ENGINES",
    "SUMMARY_FILE",
    "Batch",
    "Cohort",
    "CsvSource",
    "DatasetResult",
    "DatasetSummary",
    "DatasetTask",
    "DriftReport",
    "DriftThresholds",
    "ExampleResults",
    "ExampleSource",
    "FeatureDrift",
    "FeatureSummary",
    "FrameSource",
    "ImageTask",
    "QuantileSketch",
    "SequenceSource",
    "TabularTask",
    "TextTask",
    "compare",
    "explain_dataset",
    "jensen_shannon",
    "parse_group",
    "select_group",
]
