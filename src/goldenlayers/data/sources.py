"""Where a dataset file comes from: the embedded default, a local path, or a file of a Hugging Face dataset repo.

Also the step every source shares before its records are parsed: reading it as a non-empty JSON list (`read_raw`).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from goldenlayers.io import read_text

DEFAULT_DATASET = "embedded:default_edits"
# Where a dataset file from the Hugging Face hub may be placed by hand (machines without network):
# <HUB_PLACEMENT_DIR>/<repo id>/<file inside the repo>, relative to the working directory (the repository root
# when Snakemake runs the pipeline).
HUB_PLACEMENT_DIR = "data/hub"


class DatasetError(ValueError):
    """A dataset file that cannot be used; the message names the file, record and field."""


def dataset_path(source: str) -> Path:
    if source == DEFAULT_DATASET:
        return Path(str(resources.files("goldenlayers.data") / "default_edits.json"))
    path = Path(source)
    if not path.exists():
        raise DatasetError(f"{source}: dataset file not found")
    return path


def hub_placement_path(repo_id: str, filename: str, root: str | Path = HUB_PLACEMENT_DIR) -> Path:
    return Path(root) / repo_id / filename


def fetch_hub_file(repo_id: str, filename: str, revision: str | None = None,
                   placement_root: str | Path = HUB_PLACEMENT_DIR) -> Path:
    """A file of a Hugging Face *dataset* repository, as a local path.

    A copy placed by hand at `<placement_root>/<repo_id>/<filename>` wins (clusters whose nodes have no network);
    otherwise `huggingface_hub` downloads it into its cache (HF_HOME), or finds it there when offline.
    """
    placed = hub_placement_path(repo_id, filename, placement_root)
    if placed.exists():
        return placed
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"{filename} of the Hugging Face dataset {repo_id}" + (f" (revision {revision})" if revision else "")
    how = (
        f"Download it where the hub is reachable (`hf download {repo_id} {filename} --repo-type dataset "
        f"--local-dir {Path(placement_root) / repo_id}`) so that it lies at {placed}, or give the dataset a local "
        "`source:` path instead."
    )
    try:
        return Path(hf_hub_download(repo_id, filename, repo_type="dataset", revision=revision))
    except LocalEntryNotFoundError:  # offline (no network or HF_HUB_OFFLINE=1) and not in the cache
        raise DatasetError(f"cannot download {where}: the hub is unreachable and the file is not cached. {how}") from None
    except GatedRepoError:
        raise DatasetError(f"{where}: the repository is gated; accept its terms on huggingface.co and log in "
                           "(`hf auth login` or HF_TOKEN)") from None
    except (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError) as err:
        raise DatasetError(f"{where} does not exist on the hub ({type(err).__name__}); check the repo id, "
                           "file path and revision") from None
    except OSError as err:  # connection problems that huggingface_hub passes through
        raise DatasetError(f"cannot download {where}: {err}. {how}") from None


def resolve_dataset_file(source: str | None = None, hf_dataset: str | None = None, hf_file: str | None = None,
                         hf_revision: str | None = None) -> Path:
    """The local file of a dataset given by `source` (embedded name or local path) or by hub repo + file."""
    if (source is None) == (hf_dataset is None):
        raise DatasetError("give a dataset either a local `source` or `hf_dataset` + `hf_file`, not both or neither")
    if source is not None:
        return dataset_path(source)
    if not hf_file:
        raise DatasetError(f"hf_dataset {hf_dataset!r} needs `hf_file`, the path of the JSON file inside the repo")
    return fetch_hub_file(hf_dataset, hf_file, revision=hf_revision)


def read_raw(path: Path) -> list:
    try:
        raw = json.loads(read_text(path))
    except json.JSONDecodeError as err:
        raise DatasetError(f"{path}: malformed JSON at line {err.lineno}: {err.msg}") from None
    if not isinstance(raw, list) or not raw:
        raise DatasetError(f"{path}: expected a non-empty JSON list of records")
    return raw
