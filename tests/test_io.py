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
