"""The README and docs/ name what exists (the README's example runs as an app: tests/test_example_app.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = "\n".join(page.read_text() for page in (REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))))


@pytest.mark.parametrize("name", ["from_csv", "from_json"])
def test_the_samplesheet_loaders_the_readme_names_exist(name: str) -> None:
    from omics_batch_construct import RunSetting

    assert f"RunSetting.{name}(" in README
    assert callable(getattr(RunSetting, name))
