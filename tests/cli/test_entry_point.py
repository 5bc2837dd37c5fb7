"""`python -m omics_batch_construct` runs the CLI in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_python_dash_m_prints_the_usage() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "omics_batch_construct", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: omics-batch ")
    for command in ("status", "runs", "retry"):
        assert command in result.stdout
