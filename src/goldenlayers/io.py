"""Atomic file writing and small helpers shared by every stage.

Every output is written to a temporary file in the destination directory and renamed into place, so a reader
(Snakemake, a second job, a user) never sees a half-written file, even if the writer is killed mid-way.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import platform
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Iterator

from goldenlayers.faults import fault_point


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it onto `path` only if the block finishes."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # the writer's host and pid in the name: a later write of the same output removes a temp file whose
        # writer is dead (killed mid-write), never one that a live process is still writing (a shared cache)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{platform.node()}-{os.getpid()}.", suffix=".tmp",
                                   dir=path.parent)
    except OSError as err:  # name the output, not the folder above it or the temp file
        raise OSError(err.errno, err.strerror, str(path)) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        try:
            yield tmp_path
        except OSError as err:
            if err.filename is None and err.errno is not None:
                # a full disk or a file-size limit (EFBIG, ENOSPC) names no file when a write fails: name the output
                raise OSError(err.errno, err.strerror, str(path)) from None
            raise
        except Exception as err:  # safetensors' writer raises its own error type, with no file name
            if type(err).__name__ != "SafetensorError":
                raise
            detail = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise ValueError(f"cannot write {path}: {detail} (disk full or a file-size limit?)") from None
        # mkstemp makes the file 0600; an output gets the mode any new file gets (0644 under the usual umask 022),
        # so others on a shared cluster filesystem can read the results
        os.chmod(tmp_path, 0o666 & ~_umask())
        fault_point("atomic_rename")  # a test kills the writer here: the temp file is full, the output not there
        os.replace(tmp_path, path)
        remove_dead_temp_files(path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def remove_dead_temp_files(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary files that writers of `path` killed before their rename left next to it (written by
    this host's processes that are gone; an older version's files carry no writer and are removed too); the
    removed ones."""
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(?:(?P<host>.+)-(?P<pid>\d+)\.)?[a-z0-9_]{{8}}\.tmp")
    removed = []
    for leftover in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        found = pattern.fullmatch(leftover.name)
        if found is None or found["pid"] and (found["host"] != platform.node() or _alive(int(found["pid"]))):
            continue
        leftover.unlink(missing_ok=True)
        removed.append(leftover)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def check_can_write(path: str | os.PathLike) -> None:
    """Fail now, naming `path`, when a file cannot be created there later (a folder that is a file, or not
    writable): a command checks its output files before its work, not after. A file is created and removed to
    find out, as os.access says yes to root on a read-only filesystem."""
    path = Path(path)
    existing = path.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"cannot write {path}: {existing} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        raise ValueError(f"cannot write {path}: {err.strerror} in {existing}") from None


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        hint = f"; {rebuild_hint(path)}" if "results" in Path(path).parts else ""
        raise ValueError(f"{path}: malformed JSON at line {err.lineno}: {err.msg}{hint}") from None


def read_text(path: str | os.PathLike) -> str:
    """A text file as UTF-8; bytes that are not UTF-8 are one error naming the file, the offset and the fix
    (Python's own message names neither the file nor what to do)."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        bad = data[err.start:err.start + 1].hex()
        raise ValueError(f"{path}: not UTF-8 text: byte 0x{bad} at offset {err.start} ({err.reason}); save it as "
                         f"UTF-8 (a Latin-1 file: `iconv -f latin1 -t utf-8 {path} > {Path(path).stem}.utf8"
                         f"{Path(path).suffix}`)") from None


def rebuild_hint(path: str | os.PathLike) -> str:
    """How to rebuild one cached pipeline file: Snakemake only reruns what is missing or older than its inputs, so a
    corrupt file that is present must be named (`--forcerun` takes files as well as rules). Deleting it is no
    help: Snakemake does not rebuild a missing intermediate whose consumers are up to date."""
    return f"rebuild it with `snakemake --cores N --forcerun {path}`"


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

    text = read_text(path)
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


# The files of a model directory that decide its numbers: the weights (safetensors shards and their index, or
# PyTorch .bin files when there are no safetensors: transformers loads only one of the two), the config and the
# tokenizer. A README, a licence or another framework's copy of the weights is not read by models.load_model, so
# editing one reruns nothing. Here, not in models.py, because the workflow reads it while planning (no torch).
MODEL_CONFIG_FILES = ("config.json", "generation_config.json", "tokenizer*", "*.model", "vocab*", "merges.txt",
                      "special_tokens_map.json", "added_tokens.json", "chat_template*")


def model_files(directory: str | os.PathLike) -> list[Path]:
    """The files of a local model directory that `load_model` reads (weights, config, tokenizer), sorted."""
    directory = Path(directory)
    weights = sorted(directory.glob("*.safetensors")) + sorted(directory.glob("*.safetensors.index.json"))
    if not weights:
        weights = sorted(directory.glob("*.bin")) + sorted(directory.glob("*.bin.index.json"))
    others = {p for pattern in MODEL_CONFIG_FILES for p in directory.glob(pattern)}
    return sorted({p for p in [*weights, *others] if p.is_file()})


def files_stamp(files: list[str | os.PathLike]) -> str:
    """Name, size and mtime of each file: cheap to take while planning, and it changes when a file is replaced,
    even by one with an older mtime (`mv` of a file downloaded earlier, `cp -p`), which an mtime test misses."""
    parts = []
    for path in files:
        st = os.stat(path)
        parts.append(f"{Path(path).name}:{st.st_size}:{st.st_mtime_ns}")
    return ";".join(parts)


def files_digest(directory: str | os.PathLike) -> dict[str, str]:
    """sha256 of each of a model directory's `model_files`, streamed (1.3 GB/s on one core of this machine: a
    7B model's 13.5 GB of float16 safetensors take about 11 s of CPU, more where the disk is slower)."""
    return {path.name: sha256_file(path) for path in model_files(directory)}


def recorded_model_dir(model_json: str | os.PathLike, ref: dict) -> Path:
    """The model folder a model.json names: a relative `path` is relative to the model.json's own folder (a model
    inside the project: the embedded model's hf/, a source given as a relative path), so a copied or moved project
    reads its own copy of the model, never the original's."""
    path = Path(ref["path"])
    return path if path.is_absolute() else Path(model_json).parent / path


# A job that resumes writes its finished rows to <output><PARTIAL_SUFFIX> and removes that file once the output is
# in place (goldenlayers.sweep.single).
PARTIAL_SUFFIX = ".partial.jsonl"


def unfinished_outputs(directories: list[str | os.PathLike]) -> list[str]:
    """Outputs in `directories` that a killed or interrupted job left unfinished: their partial file is there, the
    output is not. Snakemake does not rebuild such a missing intermediate when what reads it is up to date (after
    an interrupted `--forcerun`), so the workflow names them and its default target finishes them."""
    found = []
    for directory in directories:
        for partial in sorted(Path(directory).glob(f"*{PARTIAL_SUFFIX}")):
            output = partial.with_name(partial.name[: -len(PARTIAL_SUFFIX)])
            if not output.exists():
                found.append(str(output))
    return found


def git_commit(where: str | os.PathLike | None = None) -> str | None:
    """The commit checked out at `where` (default: the current directory), or None outside a git checkout: the
    provenance of a table and of a packed study."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=where)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
