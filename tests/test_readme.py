"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
EXAMPLE = re.search(r"## Example\n\n```python\n(.*?)```", README, re.DOTALL)


def test_the_readme_example_synthesizes() -> None:
    assert EXAMPLE is not None, "the README lost its example"
    namespace: dict[str, object] = {}
    exec(compile(EXAMPLE.group(1), "README.md", "exec"), namespace)
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    stack = namespace["stack"]
    assert isinstance(stack, cdk.Stack)
    template = Template.from_stack(stack)
    assert len(template.find_resources("Custom::OmicsRunBatch")) == 1


@pytest.mark.parametrize("name", ["from_csv", "from_json"])
def test_the_samplesheet_loaders_the_readme_names_exist(name: str) -> None:
    from omics_batch_construct import RunSetting

    assert f"RunSetting.{name}(" in README
    assert callable(getattr(RunSetting, name))
