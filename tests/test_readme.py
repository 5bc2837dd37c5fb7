"""The README names what exists (its first example runs as an app: tests/test_example_app.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


@pytest.mark.parametrize("name", ["from_csv", "from_json"])
def test_the_samplesheet_loaders_the_readme_names_exist(name: str) -> None:
    from omics_batch_construct import RunSetting

    assert f"RunSetting.{name}(" in README
    assert callable(getattr(RunSetting, name))
