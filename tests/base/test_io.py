"""Atomic writes leave outputs with the umask's mode (issue #11 item 6), not mkstemp's private 0600."""

import os
import stat

import pandas as pd
import pytest

from goldenlayers import io


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_outputs_get_the_umask_mode(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        io.write_json(tmp_path / "a.json", {"a": 1})
        io.write_parquet(tmp_path / "b.parquet", pd.DataFrame({"x": [1]}))
        io.write_text(tmp_path / "c.md", "text")
    finally:
        os.umask(old)
    for name in ("a.json", "b.parquet", "c.md"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name


def test_truncated_cached_gradients_say_how_to_rebuild_them(tmp_path, capsys):
    """Issue #11 item 6: a truncated gradients table was reported but Snakemake never rebuilt it (the file is
    present and newer than its inputs). The error names the file and the exact --forcerun."""
    import json

    from goldenlayers import cli

    grads = tmp_path / "results" / "m" / "d" / "gradients" / "proxy.parquet"
    grads.parent.mkdir(parents=True)
    pd.DataFrame({"sample_id": ["0", "1"], "layer": [0, 0], "dot_old_new": [1.0, 2.0], "sq_norm_old": [1.0, 1.0],
                  "sq_norm_new": [1.0, 1.0]}).to_parquet(grads)
    os.truncate(grads, grads.stat().st_size // 2)
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"proxy": ["0", "1"], "test": []}))
    code = cli.main(["select", "--method", "lga", "--gradients", str(grads), "--split", str(split), "--out",
                     str(tmp_path / "lga.json")])
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert code != 0 and f"{grads} is unreadable (truncated or corrupt" in line
    assert f"snakemake --cores N --forcerun {grads}" in line
    assert not (tmp_path / "lga.json").exists()


def test_cached_table_without_its_columns_is_refused():
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "layer_0.parquet")
        pd.DataFrame({"sample_id": ["0"]}).to_parquet(path)
        with pytest.raises(ValueError, match=r"lacks the columns \['layer'\].*--forcerun"):
            io.read_parquet(path, columns=("sample_id", "layer"))
