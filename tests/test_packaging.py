"""The wheel a user installs: the library, the command, the shared code and the handler asset, typed.

Built from the checkout with the pinned build backend, as `pip install <checkout>` would.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def wheel(built_wheel: Path) -> list[str]:
    with zipfile.ZipFile(built_wheel) as archive:
        return archive.namelist()


def test_the_packages_are_typed(wheel: list[str]) -> None:
    """PEP 561: without the marker a consumer's mypy calls the package untyped."""
    for package in ("omics_batch_construct", "omics_batch_cli", "omics_batch_construct_runtime"):
        assert f"{package}/py.typed" in wheel
        assert f"{package}/__init__.py" in wheel


def test_the_handler_asset_and_the_model_are_in_the_wheel(wheel: list[str]) -> None:
    asset = "omics_batch_construct/_lambda/"
    for handler in (
        "provider/index.py",
        "tracker/index.py",
        "insight/index.py",
        "omics_batch_construct_runtime/contract.py",
        "omics_batch_construct_runtime/outcome.py",
    ):
        assert asset + handler in wheel
    model = "botocore_data/omics/2022-11-28/service-2.json.gz"
    assert f"{asset}omics_batch_construct_runtime/{model}" in wheel  # what the functions read in Lambda
    assert f"omics_batch_construct_runtime/{model}" in wheel  # what validation reads at synth


def test_the_command_is_an_entry_point(built_wheel: Path, wheel: list[str]) -> None:
    (entry_points,) = [name for name in wheel if name.endswith(".dist-info/entry_points.txt")]
    with zipfile.ZipFile(built_wheel) as archive:
        text = archive.read(entry_points).decode()
    assert "omics-batch = omics_batch_cli.main:main" in text


def test_no_tests_caches_or_dotfiles(wheel: list[str]) -> None:
    assert not [name for name in wheel if name.startswith("tests/") or "/tests/" in name]
    assert not [name for name in wheel if "__pycache__" in name or name.endswith((".pyc", ".pyo"))]
    assert not [name for name in wheel if any(part.startswith(".") for part in name.split("/"))]
    assert not [name for name in wheel if name.startswith(("integ/", "benchmarks/", "scripts/", "app.py"))]


def test_rich_is_the_cli_extra_only(built_wheel: Path) -> None:
    """An app that uses the library installs no terminal UI; the command's live view is the [cli] extra."""
    with zipfile.ZipFile(built_wheel) as wheel:
        (metadata,) = [name for name in wheel.namelist() if name.endswith(".dist-info/METADATA")]
        requires = [line for line in wheel.read(metadata).decode().splitlines() if line.startswith("Requires-Dist:")]
    rich = [line for line in requires if line.split()[1].startswith("rich")]
    assert rich and all("extra == 'cli'" in line or 'extra == "cli"' in line for line in rich)
