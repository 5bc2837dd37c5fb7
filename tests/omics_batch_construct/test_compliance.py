"""Security gates: cdk-nag's AwsSolutions, HIPAA Security and NIST 800-53 R5 packs and cfn-lint.

The example app and a stack with every option on are synthesized once, with the three
packs attached: any finding the construct did not acknowledge makes synth raise.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import cdk_nag
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Annotations, Match, Template
from cfnlint.api import ManualArgs, lint

import app as example_app
from omics_batch_construct import DefaultRunSetting, Monitoring, OmicsRunBatch, OnDelete, RunSetting
from omics_batch_construct._compliance import valid_rule_id
from tests.omics_batch_construct.conftest import ENV, policy_statements, runs

# CDK writes DependsOn that a GetAtt already implies; harmless, and not ours to change.
CFN_LINT_IGNORED = ("W3005",)


def nag_app() -> cdk.App:
    app = cdk.App()
    cdk.Validations.of(app).add_plugins(
        cdk_nag.AwsSolutionsChecks(app), cdk_nag.HIPAASecurityChecks(app), cdk_nag.NIST80053R5Checks(app)
    )
    return app


def every_option(app: cdk.App) -> tuple[cdk.Stack, OmicsRunBatch]:
    """A batch with every option on: key, VPC, inputs, a settings file, run tags, a run cache, deletion,
    alarms to an encrypted topic."""
    stack = cdk.Stack(app, "EveryOption", env=ENV)
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    vpc = ec2.Vpc.from_vpc_attributes(
        stack,
        "Vpc",
        vpc_id="vpc-0123456789abcdef0",
        availability_zones=["us-east-1a", "us-east-1b"],
        private_subnet_ids=["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
    )
    inputs = s3.Bucket.from_bucket_attributes(stack, "Inputs", bucket_name="lab-inputs", encryption_key=key)
    on_call = sns.Topic(stack, "OnCall", master_key=key, enforce_ssl=True)
    batch = OmicsRunBatch(
        stack,
        "Everything",
        batch_name="everything",
        tags={"project": "p1"},
        default_run_setting=DefaultRunSetting(
            workflow_id="1234567",
            run_group_id="7654321",
            cache_id="1111111",
            run_tags={"cost-center": "42"},
            parameters={"reference": "s3://lab-inputs/ref.fa"},
        ),
        runs=[*runs(150), RunSetting(run_setting_id="elsewhere", output_uri="s3://lab-results/special/")],
        input_buckets=[inputs],
        on_delete=OnDelete.DELETE_RUNS_AND_BATCH,
        timeout=cdk.Duration.minutes(60),
        encryption_key=key,
        vpc=vpc,
        vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
        cache_location="s3://lab-cache/omics/",
        monitoring=Monitoring(alarm_topic=on_call, failed_runs_threshold=3),
    )
    return stack, batch


@pytest.fixture(scope="module")
def assembly() -> dict[str, Any]:
    """Both stacks synthesized with the three packs attached (synth raises on a finding)."""
    app = nag_app()
    example = example_app.build(app)
    stack, batch = every_option(app)
    synthesized = app.synth()
    return {
        "assembly": synthesized,
        "templates": {s.stack_name: s.template for s in synthesized.stacks},
        "example": example,
        "stack": stack,
        "batch": batch,
    }


def test_no_unacknowledged_findings_in_the_example_and_with_every_option(assembly: dict[str, Any]) -> None:
    assert sorted(assembly["templates"]) == ["EveryOption", "OmicsRunBatchExample"]


def _acknowledgments(root: cdk.Stack) -> list[tuple[str, str, str]]:
    found = []
    for construct in root.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                found += [(construct.node.path, rule, reason) for rule, reason in entry.data.items()]
    return found


def test_every_acknowledgment_is_scoped_and_has_a_reason(assembly: dict[str, Any]) -> None:
    for stack in (assembly["example"], assembly["stack"]):
        acks = _acknowledgments(stack)
        assert acks
        for path, rule, reason in acks:
            assert path.count("/") >= 2, f"{rule} acknowledged on {path}: not one resource"
            assert len(reason) >= 60, f"{rule} on {path}: reason too thin: {reason!r}"
            # Wildcard findings are acknowledged one resource at a time, never the whole rule.
            assert not rule.endswith(("AwsSolutions-IAM5", "AwsSolutions-IAM4")), (path, rule)


def test_no_wildcard_actions_anywhere(assembly: dict[str, Any]) -> None:
    for name, template in assembly["templates"].items():
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] != "AWS::IAM::Policy":
                continue
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert not [a for a in actions if "*" in a], f"{name}/{logical_id}: {actions}"


def test_what_the_user_adds_is_not_acknowledged_for_them() -> None:
    """The packs do run, and the construct's acknowledgments do not cover the user's own resources."""
    app = nag_app()
    stack = cdk.Stack(app, "UserAdds", env=ENV)
    batch = OmicsRunBatch(stack, "B", default_run_setting=DefaultRunSetting(workflow_id="1"), runs=runs(1))
    batch.run_role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=["*"]))
    s3.Bucket(stack, "UsersOwnBucket")
    with pytest.raises(Exception) as info:
        app.synth()
    report = str(info.value)
    assert "AwsSolutions-IAM5[Resource::*]" in report
    assert "UserAdds/UsersOwnBucket/Resource" in report
    for rule in ("HIPAA.Security-S3BucketLoggingEnabled", "NIST.800.53.R5-S3BucketLoggingEnabled"):
        assert rule in report
    assert "UserAdds/B/" not in report.replace("UserAdds/B/RunRole/DefaultPolicy/Resource", "")


@pytest.mark.parametrize("name", ["OmicsRunBatchExample", "EveryOption"])
def test_cfn_lint_finds_nothing(assembly: dict[str, Any], name: str) -> None:
    template = json.dumps(assembly["templates"][name])
    matches = lint(template, config=ManualArgs(regions=["us-east-1"], ignore_checks=list(CFN_LINT_IGNORED)))
    assert [str(m) for m in matches] == []


# --- the options themselves -------------------------------------------------------------


def test_encryption_key_is_used_by_bucket_logs_and_run_role(assembly: dict[str, Any]) -> None:
    template = Template.from_json(assembly["templates"]["EveryOption"])
    buckets = template.find_resources("AWS::S3::Bucket")
    output = next(b for k, b in buckets.items() if "OutputBucket" in k)
    rule = output["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == {"Fn::GetAtt": ["Key961B73FD", "Arn"]}
    groups = template.find_resources("AWS::Logs::LogGroup")
    assert len(groups) == 7  # two handlers, provider, waiter, tracker and insight functions, tracking state machine
    assert all(g["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["Key961B73FD", "Arn"]} for g in groups.values())
    key_statements = [
        s
        for s in policy_statements(template, "EverythingRunRole")
        if s["Resource"] == {"Fn::GetAtt": ["Key961B73FD", "Arn"]}
    ]
    actions = {a for s in key_statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert actions == {"kms:Decrypt", "kms:GenerateDataKey"}
    key_policy = json.dumps(template.find_resources("AWS::KMS::Key"))
    assert "logs.us-east-1.amazonaws.com" in key_policy
    queues = template.find_resources("AWS::SQS::Queue")
    assert len(queues) == 2  # run insight's queue and its dead-letter queue
    assert all(q["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": ["Key961B73FD", "Arn"]} for q in queues.values())


def test_alarms_notify_the_topic_and_are_acknowledged_only_without_one(assembly: dict[str, Any]) -> None:
    """With a topic, the alarms have an action (HIPAA's and NIST's CloudWatchAlarmAction pass on their
    own); without one (the example app), each alarm's acknowledgment says how to be notified."""
    every = Template.from_json(assembly["templates"]["EveryOption"])
    found = every.find_resources("AWS::CloudWatch::Alarm")
    assert len(found) == 4 and all(
        a["Properties"]["AlarmActions"] == [{"Ref": k} for k in every.find_resources("AWS::SNS::Topic")]
        for a in found.values()
    )
    example = Template.from_json(assembly["templates"]["OmicsRunBatchExample"])
    assert all("AlarmActions" not in a["Properties"] for a in example.find_resources("AWS::CloudWatch::Alarm").values())
    acknowledged = [
        path for path, rule, _ in _acknowledgments(assembly["example"]) if rule.endswith("CloudWatchAlarmAction")
    ]
    assert len(acknowledged) == 8  # four alarms, two packs
    assert not [r for _, r, _ in _acknowledgments(assembly["stack"]) if r.endswith("CloudWatchAlarmAction")]


def test_vpc_places_every_function_in_it(assembly: dict[str, Any]) -> None:
    template = Template.from_json(assembly["templates"]["EveryOption"])
    functions = template.find_resources("AWS::Lambda::Function")
    assert len(functions) == 7  # two handlers, the framework's three, the tracker, run insight
    for function in functions.values():
        assert function["Properties"]["VpcConfig"]["SubnetIds"] == [
            "subnet-0123456789abcdef0",
            "subnet-0123456789abcdef1",
        ]


def test_created_output_bucket_logs_access_to_its_own_bucket(assembly: dict[str, Any]) -> None:
    template = Template.from_json(assembly["templates"]["OmicsRunBatchExample"])
    buckets = template.find_resources("AWS::S3::Bucket")
    output = next(b for k, b in buckets.items() if "OutputBucket" in k)
    logs_id = next(k for k in buckets if "AccessLogs" in k)
    assert output["Properties"]["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": logs_id}
    assert "AccessControl" not in buckets[logs_id]["Properties"]  # by bucket policy, ACLs stay off
    assert buckets[logs_id]["DeletionPolicy"] == "Retain"


def test_state_machines_log_all_without_data_and_trace(assembly: dict[str, Any]) -> None:
    template = Template.from_json(assembly["templates"]["OmicsRunBatchExample"])
    machines = template.find_resources("AWS::StepFunctions::StateMachine")
    assert len(machines) == 2  # the provider's waiter and the batch's tracker
    for machine in machines.values():
        logging = machine["Properties"]["LoggingConfiguration"]
        assert logging["Level"] == "ALL"
        # The waiter's input holds the presigned ResponseURL, the tracker's its task tokens.
        assert logging["IncludeExecutionData"] is False
        assert machine["Properties"]["TracingConfiguration"] == {"Enabled": True}


def test_handlers_run_on_the_latest_python_runtime(assembly: dict[str, Any]) -> None:
    template = Template.from_json(assembly["templates"]["OmicsRunBatchExample"])
    runtimes = {
        f["Properties"]["Runtime"]
        for f in template.find_resources("AWS::Lambda::Function").values()
        if f["Properties"]["Runtime"].startswith("python")
    }
    latest = max(
        (r for r in dir(cdk.aws_lambda.Runtime) if r.startswith("PYTHON_")),
        key=lambda name: tuple(int(p) for p in name.split("_")[1:]),
    )
    assert runtimes == {getattr(cdk.aws_lambda.Runtime, latest).name}


def test_assembly_is_on_disk(assembly: dict[str, Any]) -> None:
    assert Path(assembly["assembly"].directory, "EveryOption.template.json").is_file()


def test_a_stack_of_many_batches_still_passes() -> None:
    """Each batch's handler statements live in a policy of its own: nothing overflows unacknowledged."""
    app = nag_app()
    stack = cdk.Stack(app, "Many", env=ENV)
    for index in range(12):
        OmicsRunBatch(
            stack,
            f"Cohort{index}",
            default_run_setting=DefaultRunSetting(workflow_id=str(1_000_000 + index), run_group_id="7654321"),
            runs=runs(2),
            track_completion=False,
        )
    template = app.synth().get_stack_by_name("Many").template
    assert [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::ManagedPolicy"] == []


def bracket_stack(app: cdk.App) -> cdk.Stack:
    stack = cdk.Stack(app, "Bracket", env=ENV)
    OmicsRunBatch(
        stack,
        "B",
        default_run_setting=DefaultRunSetting(workflow_id="1"),
        runs=[RunSetting(run_setting_id="a", output_uri="s3://lab-results/odd]key/")],
    )
    return stack


def test_a_finding_cdk_cannot_name_is_left_to_the_user_with_a_warning() -> None:
    """An S3 key may hold a lone bracket; CDK refuses it in an acknowledgment's id. The synth goes
    on and warns which finding stands; the packs still report it (nothing is hidden)."""
    finding = "arn:<AWS::Partition>:s3:::lab-results/odd]key/*"
    Annotations.from_stack(bracket_stack(cdk.App())).has_warning(
        "*",
        Match.string_like_regexp(rf"AwsSolutions-IAM5 finding 'Resource::{re.escape(finding)}' is not acknowledged"),
    )
    app = nag_app()
    bracket_stack(app)
    with pytest.raises(Exception) as info:
        app.synth()
    assert f"AwsSolutions-IAM5[Resource::{finding}]" in str(info.value)


def test_rule_ids_are_checked_as_cdk_parses_them() -> None:
    assert valid_rule_id("AwsSolutions::AwsSolutions-IAM5[Resource::arn:aws:s3:::b/x[1/*]")
    assert valid_rule_id("AwsSolutions::AwsSolutions-IAM5[Resource::arn:aws:s3:::b/(a)/*]")
    assert not valid_rule_id("AwsSolutions::AwsSolutions-IAM5[Resource::arn:aws:s3:::b/x]1/*]")
    assert not valid_rule_id("AwsSolutions::AwsSolutions-IAM5[Resource::arn:aws:s3:::b/x(]")
    assert not valid_rule_id("AwsSolutions::AwsSolutions-IAM5[Resource::b/x]::y[]")
