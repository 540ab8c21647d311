"""Atomic file writing and small helpers shared by every stage.

Every output is written to a temporary file in the destination directory and renamed into place, so a reader
(Snakemake, a second job, a user) never sees a half-written file, even if the writer is killed mid-way.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it onto `path` only if the block finishes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes the file 0600; an output gets the mode any new file gets (0644 under the usual umask 022),
        # so others on a shared cluster filesystem can read the results
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    with open(path) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as err:
            hint = f"; {rebuild_hint(path)}" if "results" in Path(path).parts else ""
            raise ValueError(f"{path}: malformed JSON at line {err.lineno}: {err.msg}{hint}") from None


def rebuild_hint(path: str | os.PathLike) -> str:
    """How to rebuild one cached pipeline file: Snakemake only reruns what is missing or older than its inputs, so a
    corrupt file that is present must be named (`--forcerun` takes files as well as rules)."""
    return f"rebuild it with `snakemake --cores N --forcerun {path}` (or delete it and rerun snakemake)"


def read_parquet(path: str | os.PathLike, columns: tuple[str, ...] = ()):
    """A cached table, checked on read: unreadable (truncated, corrupt) or missing `columns` is one clear error that
    says how to rebuild it."""
    import pandas as pd

    if not Path(path).exists():
        raise FileNotFoundError(2, "No such file or directory", str(path))
    try:
        frame = pd.read_parquet(path)
    except Exception as err:  # pyarrow raises its own error types for a torn file
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValueError(f"{path} is unreadable (truncated or corrupt: {detail}); {rebuild_hint(path)}") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{path} lacks the columns {missing} (written by another version?); {rebuild_hint(path)}")
    return frame


def read_yaml(path: str | os.PathLike) -> Any:
    """A YAML file's content; a syntax error names the file, line and column (yaml's own message does not)."""
    import yaml

    text = Path(path).read_text()
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        start = getattr(err, "context_mark", None)
        if start is not None and getattr(err, "context", None):
            problem += f" ({err.context} at line {start.line + 1})"
        raise ValueError(f"{path}: YAML syntax error{where}: {problem}") from None


def write_parquet(path: str | os.PathLike, frame) -> None:
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def save_figure(fig, out_prefix: str | os.PathLike) -> list[Path]:
    """Save a matplotlib figure as PNG and PDF next to each other, atomically."""
    written = []
    for ext in ("png", "pdf"):
        path = Path(f"{out_prefix}.{ext}")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=ext, dpi=150, bbox_inches="tight")
        written.append(path)
    return written


def config_hash(obj: Any) -> str:
    """Short stable hash of a JSON-able object, recorded beside results so numbers trace back to a config."""
    blob = json.dumps(obj, sort_keys=True, default=_json_default).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def _json_default(obj: Any):
    # numpy scalars and paths show up in results; store them as plain JSON values.
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
