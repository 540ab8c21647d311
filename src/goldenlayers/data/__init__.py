"""Edit datasets: reading every distributed format into one record type, validating, filtering, splitting.

A normalised record is a plain dict::

    {"id": str, "relation": str, "subject": str, "prompt": str,
     "ground_truth": str | None, "ground_truth_aliases": [str], "target_new": str,
     "rephrase_prompts": [str],
     "locality": [{"prompt": str, "answer": str}], "portability": [{"prompt": str, "answer": str}]}

Ground truths come as a string, a list of strings, or a list of alias lists (KnowEdit's Wikidata files give
`[["Berlin", "Berlin, Germany", ...]]`). Every alias is kept, in file order (`ground_truth_aliases`; a locality or
portability item gets an `aliases` list when its source names more than one), and metrics score against the first,
as EasyEdit does (it unwraps nested lists to their first element). A record without a ground truth has
`ground_truth = None`.

One concern per module:

- `sources`: where a file comes from (`embedded:default_edits`, a local path, a Hugging Face dataset repo).
- `formats`: the format registry `FORMATS` (KnowEdit, WikiBio, both Counterfacts, MEND zsRE, the appendix's UnKE
  and PeakCF, our own normalised records) and the validation every format shares.
- `load`: a whole file through its format, with the load report (`load_dataset`, `parse_records`), and
  `prepare_dataset` (fetch + load + the validation report).
- `known`: the model-side known-fact filter (`filter_known`, `filter_dataset`); the only part that needs torch.
- `split`: the seeded proxy/test split (`split_ids`).

This folder also holds the package data (`default_edits.json`, the embedded dataset; `mom2_corpus.json`, the
offline covariance corpus). Names are imported from here; the `known` ones (`filter_dataset`, `filter_known`,
`teacher_forced_argmax`) are imported on first use, so reading or validating a dataset does not pull in torch.
"""

from goldenlayers.data.formats import FORMATS, METRICS, InvalidRecord, RecordFormat, detect_format
from goldenlayers.data.load import (
    ON_INVALID,
    LoadedDataset,
    fields_dropped_by_format,
    load_dataset,
    load_records,
    metric_counts,
    parse_records,
    prepare_dataset,
)
from goldenlayers.data.sources import (
    DEFAULT_DATASET,
    HUB_PLACEMENT_DIR,
    DatasetError,
    dataset_path,
    fetch_hub_file,
    hub_placement_path,
    read_raw,
    resolve_dataset_file,
)
from goldenlayers.data.split import split_ids

_MODEL_SIDE = {"filter_dataset", "filter_known", "teacher_forced_argmax"}

__all__ = [
    "FORMATS", "METRICS", "InvalidRecord", "RecordFormat", "detect_format",
    "ON_INVALID", "LoadedDataset", "fields_dropped_by_format", "load_dataset", "load_records", "metric_counts",
    "parse_records", "prepare_dataset",
    "DEFAULT_DATASET", "HUB_PLACEMENT_DIR", "DatasetError", "dataset_path", "fetch_hub_file", "hub_placement_path",
    "read_raw", "resolve_dataset_file",
    "split_ids",
    *sorted(_MODEL_SIDE),
]


def __getattr__(name):
    if name in _MODEL_SIDE:
        from goldenlayers.data import known

        return getattr(known, name)
    raise AttributeError(f"module 'goldenlayers.data' has no attribute {name!r}")
