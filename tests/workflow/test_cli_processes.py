"""The CLI as a fresh process: what it imports at start-up."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.slow
def test_the_registry_and_help_import_no_torch():
    code = ("import sys\nfrom goldenlayers.cli import build_parser\n"
            "try:\n    build_parser().parse_args(['--help'])\nexcept SystemExit:\n    pass\n"
            "import goldenlayers.editing, goldenlayers.config\n"
            "print(sorted(m for m in ('torch', 'transformers', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "[]"
