"""The integration test's app, offline: what it deploys and asserts, and that cdk-nag's three packs pass.

The app is synthesized once, in this process, with the AwsSolutions, HIPAA Security and NIST 800-53 R5
packs attached (synth raises on any finding nobody acknowledged). Deploying it needs an account:
``make integ``. The driver's logic (Region, commands, reading the assertions' results) is tested here
without running it.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import cdk_nag
import pytest
from aws_cdk.assertions import Template

from integ import integ_omics_run_batch as integ_app
from integ import run as integ_run

IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/ubuntu:24.04"
PACKS = {"AwsSolutions", "HIPAA.Security", "NIST.800.53.R5"}
SDK_CALL = "Custom::DeployAssert@SdkCall"


@pytest.fixture(scope="module")
def synthesized() -> dict[str, Any]:
    """The integ app with the three packs attached, synthesized once."""
    app = cdk.App(context={integ_app.IMAGE_CONTEXT_KEY: IMAGE})
    cdk.Validations.of(app).add_plugins(
        cdk_nag.AwsSolutionsChecks(app), cdk_nag.HIPAASecurityChecks(app), cdk_nag.NIST80053R5Checks(app)
    )
    built = integ_app.build(app)
    assembly = app.synth()
    return {
        "built": built,
        "directory": Path(assembly.directory),
        "stack": Template.from_json(assembly.get_stack_by_name(integ_app.STACK_NAME).template),
        "assertions": Template.from_json(assembly.get_stack_by_name(integ_app.ASSERTIONS_STACK_NAME).template),
    }


def _only(template: Template, resource_type: str) -> tuple[str, dict[str, Any]]:
    ((logical_id, resource),) = template.find_resources(resource_type).items()
    return logical_id, dict(resource)


def _calls(synthesized: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The assertions' SDK calls by type, in template order."""
    calls: dict[str, list[dict[str, Any]]] = {}
    for resource in synthesized["assertions"].to_json()["Resources"].values():
        if resource["Type"].startswith(SDK_CALL):
            calls.setdefault(resource["Type"], []).append(resource)
    return calls


# --- cdk-nag ---------------------------------------------------------------------------


def test_the_three_packs_ran_and_left_no_unacknowledged_finding(synthesized: dict[str, Any]) -> None:
    report = json.loads((synthesized["directory"] / "validation-report.json").read_text())
    plugins = {plugin["pluginName"]: plugin for plugin in report["pluginReports"]}
    assert set(plugins) == PACKS
    for plugin in plugins.values():
        assert plugin["conclusion"] == "success"
        assert plugin["violations"] == []
    # They did look at the integ stack's own resources: its bucket's findings are there, acknowledged.
    acknowledged = {
        (violation["ruleName"], construct["constructPath"])
        for plugin in plugins.values()
        for violation in plugin["suppressedViolations"]
        for construct in violation["violatingConstructs"]
    }
    assert ("AwsSolutions-S1", f"{integ_app.STACK_NAME}/Outputs/Resource") in acknowledged


def test_the_integ_app_acknowledges_one_resource_at_a_time_with_a_reason(synthesized: dict[str, Any]) -> None:
    stack = synthesized["built"].stack
    own = [
        construct
        for construct in stack.node.find_all()
        if not construct.node.path.startswith((f"{stack.node.path}/{integ_app.BATCH_ID}/", f"{stack.node.path}/Omics"))
    ]
    acks = [
        (construct.node.path, rule, reason)
        for construct in own
        for entry in construct.node.metadata
        if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY
        for rule, reason in entry.data.items()
    ]
    assert {path for path, _, _ in acks} == {f"{integ_app.STACK_NAME}/Outputs/Resource"}
    for path, rule, reason in acks:
        assert len(reason) >= 60, f"{rule} on {path}: reason too thin: {reason!r}"
        assert not rule.endswith(("AwsSolutions-IAM5", "AwsSolutions-IAM4")), (path, rule)


# --- the workflow ----------------------------------------------------------------------


def test_the_workflow_is_the_wdl_in_the_repository_with_its_parameters(synthesized: dict[str, Any]) -> None:
    _, workflow = _only(synthesized["stack"], "AWS::Omics::Workflow")
    props = workflow["Properties"]
    assert props["Engine"] == "WDL"
    assert props["Main"] == integ_app.WORKFLOW_MAIN
    assert props["DefinitionUri"]["Fn::Sub"].startswith("s3://cdk-")
    assert props["DefinitionUri"]["Fn::Sub"].endswith(".zip")
    wdl = (integ_app.WORKFLOW_DIR / integ_app.WORKFLOW_MAIN).read_text()
    assert wdl.startswith("version 1.0\n")
    workflow_inputs = re.search(r"workflow \w+ \{\s*input \{([^}]*)\}", wdl)
    assert workflow_inputs is not None
    declared = set(re.findall(r"^\s*\w+\s+(\w+)\s*$", workflow_inputs.group(1), flags=re.MULTILINE))
    assert set(props["ParameterTemplate"]) == declared == {"sample", "docker_image"}
    assert all(p["Description"] and p["Optional"] is False for p in props["ParameterTemplate"].values())


def test_the_definition_asset_holds_the_definition_alone(synthesized: dict[str, Any]) -> None:
    manifest = json.loads((synthesized["directory"] / f"{integ_app.STACK_NAME}.assets.json").read_text())
    (asset,) = [f for f in manifest["files"].values() if f.get("displayName") == "WorkflowDefinition"]
    assert asset["source"]["packaging"] == "zip"
    folder = synthesized["directory"] / asset["source"]["path"]
    assert sorted(p.name for p in folder.iterdir()) == [integ_app.WORKFLOW_MAIN]


# --- the batch -------------------------------------------------------------------------


def test_the_batch_runs_the_workflow_three_times_and_cleans_up(synthesized: dict[str, Any]) -> None:
    template = synthesized["stack"]
    workflow_id, _ = _only(template, "AWS::Omics::Workflow")
    _, batch = _only(template, "Custom::OmicsRunBatch")
    props = batch["Properties"]
    default = props["DefaultRunSetting"]
    assert default["workflowId"] == {"Fn::GetAtt": [workflow_id, "Id"]}  # a token: validation skipped it
    assert json.loads(default["parameters"]) == {"docker_image": IMAGE}
    assert default["storageType"] == "DYNAMIC"
    runs = props["BatchRunSettings"]["inlineSettings"]
    assert [run["runSettingId"] for run in runs] == list(integ_app.SAMPLES)
    assert [json.loads(run["parameters"]) for run in runs] == [{"sample": s} for s in integ_app.SAMPLES]
    assert props["OnDelete"] == "DELETE_RUNS_AND_BATCH"
    assert "TrackerStateMachineArn" in props  # tracking is on
    bucket_id, _ = _only(template, "AWS::S3::Bucket")
    assert default["outputUri"] == {"Fn::Join": ["", ["s3://", {"Ref": bucket_id}, f"/{integ_app.BATCH_ID}/"]]}


def test_what_the_test_creates_goes_with_its_stack(synthesized: dict[str, Any]) -> None:
    template = synthesized["stack"]
    _, bucket = _only(template, "AWS::S3::Bucket")
    assert bucket["DeletionPolicy"] == "Delete"
    assert template.find_resources("Custom::S3AutoDeleteObjects")  # emptied first, versions too
    groups = template.find_resources("AWS::Logs::LogGroup")
    assert len(groups) == 7  # the six of test_compliance's count, and the run insight function's
    assert {group["DeletionPolicy"] for group in groups.values()} == {"Delete"}
    roles = template.find_resources("AWS::IAM::Role")
    assert [logical_id for logical_id, role in roles.items() if role.get("DeletionPolicy") == "Retain"] == []


# --- the assertions --------------------------------------------------------------------


def test_the_assertions_wait_for_tracking_then_want_success_then_the_report(synthesized: dict[str, Any]) -> None:
    calls = _calls(synthesized)
    stopped, succeeded = calls[f"{SDK_CALL}StepFunctionsdescribeExecution"]
    (report,) = calls[f"{SDK_CALL}S3headObject"]
    assert json.loads(stopped["Properties"]["expected"]) == {
        "$ObjectLike": {"status": {"$StringLike": integ_app.STOPPED}}
    }
    assert "stateMachineArn" in stopped["Properties"]  # it waits
    assert json.loads(succeeded["Properties"]["expected"]) == {"$ObjectLike": {"status": "SUCCEEDED"}}
    assert "stateMachineArn" not in succeeded["Properties"]  # asked once, after the wait
    assert json.loads(report["Properties"]["expected"]) == {"$ObjectLike": {"ContentType": "application/json"}}
    # In this order: the waiter, then the status, then the report.
    resources = synthesized["assertions"].to_json()["Resources"]
    by_body = {json.dumps(resource, sort_keys=True): logical_id for logical_id, resource in resources.items()}
    stopped_id = by_body[json.dumps(stopped, sort_keys=True)]
    succeeded_id = by_body[json.dumps(succeeded, sort_keys=True)]
    assert stopped_id in succeeded["DependsOn"]
    assert report["DependsOn"] == [succeeded_id]


def test_the_execution_is_the_one_the_handler_starts(synthesized: dict[str, Any]) -> None:
    (stopped, succeeded) = _calls(synthesized)[f"{SDK_CALL}StepFunctionsdescribeExecution"]
    arn = stopped["Properties"]["parameters"]["executionArn"]
    assert arn == succeeded["Properties"]["parameters"]["executionArn"]
    rendered = json.dumps(arn)
    export = f'{{"Fn::ImportValue": "{integ_app.STACK_NAME}:ExportsOutput'
    # arn:...:stateMachine:<name> becomes arn:...:execution:<name>:batch-<batch id>.
    assert f'{{"Fn::Split": [":stateMachine:", {export}RefBatchTrackerStateMachine' in rendered
    assert '"Fn::Join": [":execution:"' in rendered
    assert f'":batch-", {export}FnGetAttBatch' in rendered


def test_the_wait_fits_in_the_hour_cloudformation_gives_a_custom_resource(synthesized: dict[str, Any]) -> None:
    _, waiter = _only(synthesized["assertions"], "AWS::StepFunctions::StateMachine")
    parts = waiter["Properties"]["DefinitionString"]["Fn::Join"][1]
    # The function ARNs (GetAtt) sit inside JSON strings of the definition.
    definition = json.loads("".join(part if isinstance(part, str) else "<ref>" for part in parts))
    (retry,) = definition["States"]["framework-isComplete-task"]["Retry"]
    assert retry["BackoffRate"] == 1
    assert retry["IntervalSeconds"] * retry["MaxAttempts"] == integ_app.WAIT_FOR_TRACKING.to_seconds() < 3600
    # A lost HealthOmics event costs at most the backstop, the shortest the construct allows.
    machines = synthesized["stack"].find_resources("AWS::StepFunctions::StateMachine")
    tracker = next(m for logical_id, m in machines.items() if logical_id.startswith(f"{integ_app.BATCH_ID}Tracker"))
    parts = tracker["Properties"]["DefinitionString"]["Fn::Join"][1]
    assert '"Type":"Task","TimeoutSeconds":1800' in "".join(p for p in parts if isinstance(p, str))


def test_the_report_key_and_its_one_permission(synthesized: dict[str, Any]) -> None:
    (report,) = _calls(synthesized)[f"{SDK_CALL}S3headObject"]
    key = json.dumps(report["Properties"]["parameters"]["Key"])
    assert f'"\\"{integ_app.BATCH_ID}/batch-reports/batch-", {{"Fn::ImportValue": ' in key
    assert key.endswith('"/report.json\\""]]}')
    roles = synthesized["assertions"].find_resources("AWS::IAM::Role")
    statements = [
        statement
        for role in roles.values()
        for policy in role["Properties"].get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
    ]
    # HeadObject is authorized by s3:GetObject; the one granted is on the report object alone.
    (get_object,) = [s for s in statements if s["Action"] == ["s3:GetObject"]]
    (resource,) = get_object["Resource"]
    assert json.dumps(resource).endswith('"/report.json"]]}')


def test_the_integ_manifest_names_both_stacks_and_one_deploy(synthesized: dict[str, Any]) -> None:
    manifest = json.loads((synthesized["directory"] / "integ.json").read_text())
    (case,) = manifest["testCases"].values()
    assert case["stacks"] == [integ_app.STACK_NAME]
    assert case["assertionStack"] == integ_app.ASSERTIONS_STACK_NAME
    assert case["stackUpdateWorkflow"] is False


# --- the image -------------------------------------------------------------------------


def test_the_image_comes_from_the_context_then_the_environment_then_a_placeholder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(integ_app.IMAGE_ENV_VAR, raising=False)
    assert integ_app.image_uri(cdk.App()) == integ_app.IMAGE_PLACEHOLDER
    monkeypatch.setenv(integ_app.IMAGE_ENV_VAR, IMAGE)
    assert integ_app.image_uri(cdk.App()) == IMAGE
    other = IMAGE.replace("ubuntu", "busybox")
    assert integ_app.image_uri(cdk.App(context={integ_app.IMAGE_CONTEXT_KEY: other})) == other


@pytest.mark.parametrize(
    "image",
    ["ubuntu:24.04", "public.ecr.aws/ubuntu/ubuntu:24.04", "123456789012.dkr.ecr.us-east-1.amazonaws.com/"],
)
def test_an_image_healthomics_cannot_pull_is_refused_at_synth(image: str) -> None:
    with pytest.raises(ValueError, match="not a private ECR image URI"):
        integ_app.image_uri(cdk.App(context={integ_app.IMAGE_CONTEXT_KEY: image}))


# --- the driver (make integ) -----------------------------------------------------------


def test_the_driver_runs_where_the_image_is() -> None:
    assert integ_run.region_of(IMAGE) == "us-west-2"
    with pytest.raises(ValueError):
        integ_run.region_of("ubuntu:24.04")


def test_the_driver_runs_the_pinned_cli_on_this_python() -> None:
    node = Path("/opt/node/bin/node")
    command = integ_run.cdk_command(node, ["deploy", "--all"], image=IMAGE, outdir=Path("/tmp/out"))
    assert command[:4] == [str(node), str(integ_run.CLI), "deploy", "--all"]
    assert integ_run.CLI.parts[-4:] == ("node_modules", "aws-cdk", "bin", "cdk")
    app = command[command.index("--app") + 1]
    assert app.startswith(sys.executable) and app.endswith("integ_omics_run_batch.py")
    assert command[command.index("-c") + 1] == f"integ_image={IMAGE}"
    env = integ_run.cdk_environment(node, "us-west-2", {"PATH": "/usr/bin", "AWS_PROFILE": "lab"})
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-west-2"
    assert env["AWS_PROFILE"] == "lab"  # the caller's credentials, untouched
    assert env["JSII_NODE"] == str(node) and env["PATH"].startswith("/opt/node/bin")


def test_the_driver_passes_only_when_every_assertion_reports_success(synthesized: dict[str, Any]) -> None:
    expected = integ_run.expected_assertions(synthesized["directory"])
    assert len(expected) == 3
    success = json.dumps({"status": "success"})
    stack = integ_app.ASSERTIONS_STACK_NAME
    assert integ_run.assertion_failures({stack: dict.fromkeys(expected, success)}, expected) == []
    failed = {stack: {**dict.fromkeys(expected, success), expected[1]: '{"status":"fail","message":"FAILED"}'}}
    assert integ_run.assertion_failures(failed, expected) == [f'{expected[1]}: {{"status":"fail","message":"FAILED"}}']
    missing = integ_run.assertion_failures({}, expected)
    assert len(missing) == 3 and all("no result" in failure for failure in missing)
    assert integ_run.assertion_failures({}, []) == [f"{stack} declares no assertions"]
