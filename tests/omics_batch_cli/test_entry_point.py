"""`python -m omics_batch_cli` runs the command in a fresh interpreter."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_python_dash_m_prints_the_usage() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "omics_batch_cli", "--help"],
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


def test_the_command_loads_neither_aws_cdk_nor_jsii() -> None:
    """It starts in a fraction of a second: no Node.js process, no CDK library."""
    script = (
        "import sys, omics_batch_cli.main; "
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('aws_cdk', 'jsii', 'constructs')); "
        "print(loaded)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_python_dash_m_prints_the_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "omics_batch_cli", "--version"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"omics-batch [0-9]+\.[0-9]+\.[0-9]+\S*\n", result.stdout), result.stdout
