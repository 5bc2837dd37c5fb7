"""Template assertions: what the construct deploys, in pairs (given / created)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Match, Template

from omics_batch_construct import BatchValidationError, DefaultRunSetting, OmicsRunBatch, OnDelete, RunSetting
from omics_batch_construct_runtime import contract
from tests.omics_batch_construct.conftest import (
    batch_resources,
    dumps,
    new_stack,
    only_batch_properties,
    policy_statements,
    runs,
)

WORKFLOW = "1234567"


@pytest.fixture(scope="module")
def created() -> tuple[OmicsRunBatch, Template]:
    """Role and bucket created by the construct; three inline runs."""
    stack = new_stack()
    inputs = s3.Bucket.from_bucket_name(stack, "Inputs", "my-inputs")
    batch = OmicsRunBatch(
        stack,
        "Cohort",
        default_run_setting=DefaultRunSetting(
            workflow_id=WORKFLOW, priority=5, requester_pays_enabled=True, parameters={"threads": 4, "dry": False}
        ),
        runs=runs(3),
        batch_name="cohort-7",
        tags={"project": "p1"},
        input_buckets=[inputs],
    )
    return batch, Template.from_stack(stack)


@pytest.fixture(scope="module")
def given() -> tuple[OmicsRunBatch, Template, iam.Role, s3.Bucket]:
    """Role and bucket given by the user."""
    stack = new_stack()
    role = iam.Role(stack, "MyRunRole", assumed_by=iam.ServicePrincipal("omics.amazonaws.com"))
    bucket = s3.Bucket(stack, "MyOutputs")
    batch = OmicsRunBatch(
        stack,
        "Cohort",
        default_run_setting=DefaultRunSetting(workflow_id=WORKFLOW),
        runs=runs(2),
        run_role=role,
        output_bucket=bucket,
        on_delete=OnDelete.CANCEL_RUNS,
    )
    return batch, Template.from_stack(stack), role, bucket


@pytest.fixture(scope="module")
def from_file() -> tuple[OmicsRunBatch, Template, cdk.Stack]:
    """101 runs: one over the inline limit, so the runs go to a settings file."""
    stack = new_stack()
    batch = OmicsRunBatch(stack, "Big", default_run_setting=DefaultRunSetting(workflow_id=WORKFLOW), runs=runs(101))
    return batch, Template.from_stack(stack), stack


# --- the batch resource -------------------------------------------------------------


def test_the_names_cloudformation_gives_anew_are_named_for_the_definition_key(
    created: tuple[OmicsRunBatch, Template], given: tuple[OmicsRunBatch, Template, iam.Role, s3.Bucket]
) -> None:
    """A stack created again finds its batch: the run role and bucket the construct made stand in its
    definition by these names. What the user gave is the user's, and counts as it is."""
    batch, template = created
    (properties,) = [r["Properties"] for r in batch_resources(template).values()]
    assert properties[contract.PROP_STABLE_NAMES] == {
        "RunRole": {"Fn::GetAtt": [template_id(batch, batch.run_role), "Arn"]},
        "OutputBucket": {"Ref": template_id(batch, batch.output_bucket)},
    }
    assert properties[contract.PROP_RUN_COUNT] == "3"
    (given_properties,) = [r["Properties"] for r in batch_resources(given[1]).values()]
    assert contract.PROP_STABLE_NAMES not in given_properties


def template_id(batch: OmicsRunBatch, construct: Any) -> str:
    return cdk.Stack.of(batch).get_logical_id(construct.node.default_child)


def test_batch_resource_carries_the_api_request(created: tuple[OmicsRunBatch, Template]) -> None:
    _, template = created
    props = only_batch_properties(template)
    assert props[contract.PROP_SCHEMA_VERSION] == contract.SCHEMA_VERSION
    assert props[contract.PROP_BATCH_NAME] == "cohort-7"
    assert props[contract.PROP_TAGS] == {"project": "p1"}
    assert props[contract.PROP_ON_DELETE] == "RETAIN"
    default = props[contract.PROP_DEFAULT_RUN_SETTING]
    assert default["workflowId"] == WORKFLOW
    assert default["priority"] == 5
    assert default["requesterPaysEnabled"] is True
    assert "CohortRunRole" in default["roleArn"]["Fn::GetAtt"][0]
    inline = props[contract.PROP_BATCH_RUN_SETTINGS]["inlineSettings"]
    assert [r["runSettingId"] for r in inline] == ["S000000", "S000001", "S000002"]


def test_documents_are_json_encoded_so_types_survive_cloudformation(created: tuple[OmicsRunBatch, Template]) -> None:
    _, template = created
    props = only_batch_properties(template)
    assert json.loads(props[contract.PROP_DEFAULT_RUN_SETTING]["parameters"]) == {"threads": 4, "dry": False}
    first = props[contract.PROP_BATCH_RUN_SETTINGS]["inlineSettings"][0]
    assert json.loads(first["parameters"]) == {"fastq_1": "s3://in/S000000_R1.fq.gz", "lane": 0}


def test_attributes_read_the_contract_names(created: tuple[OmicsRunBatch, Template]) -> None:
    batch, _ = created
    stack = cdk.Stack.of(batch)
    for value, name in (
        (batch.batch_id, contract.ATTR_BATCH_ID),
        (batch.batch_arn, contract.ATTR_BATCH_ARN),
        (batch.batch_uuid, contract.ATTR_BATCH_UUID),
        (batch.batch_status, contract.ATTR_STATUS),
    ):
        assert stack.resolve(value) == {"Fn::GetAtt": [stack.get_logical_id(batch.resource.node.default_child), name]}


def test_deploy_waits_at_most_the_timeout(created: tuple[OmicsRunBatch, Template]) -> None:
    _, template = created
    props = only_batch_properties(template)
    assert props[contract.PROP_TIMEOUT_SECONDS] == "1800"  # the handler fails the deploy past it
    assert int(props["ServiceTimeout"]) <= contract.MAX_DEPLOY_WAIT_SECONDS
    machines = template.find_resources("AWS::StepFunctions::StateMachine")
    (waiter,) = [m for k, m in machines.items() if "waiterstatemachine" in k]
    definition = json.dumps(waiter["Properties"]["DefinitionString"])
    assert '\\"MaxAttempts\\":240' in definition  # the framework waits its hour, every 15 s


def test_changing_a_batchs_timeout_keeps_its_service_token() -> None:
    """CloudFormation refuses to change a custom resource's ServiceToken: the provider must not move."""
    tokens = []
    for minutes in (30, 45):
        stack = new_stack()
        OmicsRunBatch(
            stack,
            "B",
            default_run_setting=DefaultRunSetting(workflow_id=WORKFLOW),
            runs=runs(1),
            timeout=cdk.Duration.minutes(minutes),
        )
        tokens.append(only_batch_properties(Template.from_stack(stack))["ServiceToken"])
    assert tokens[0] == tokens[1]


def test_batches_of_a_stack_must_agree_on_the_provider_settings() -> None:
    stack = new_stack()
    OmicsRunBatch(stack, "A", default_run_setting=DefaultRunSetting(workflow_id=WORKFLOW), runs=runs(1))
    with pytest.raises(BatchValidationError, match="log_retention: differs from another OmicsRunBatch of this stack"):
        OmicsRunBatch(
            stack,
            "B",
            default_run_setting=DefaultRunSetting(workflow_id=WORKFLOW),
            runs=runs(1),
            log_retention=logs.RetentionDays.ONE_MONTH,
        )


# --- run role: created / given ------------------------------------------------------


def test_created_run_role_is_trusted_by_omics_of_this_account_only(created: tuple[OmicsRunBatch, Template]) -> None:
    _, template = created
    (role,) = template.find_resources(
        "AWS::IAM::Role", {"Properties": {"Description": Match.string_like_regexp("Runs of")}}
    ).values()
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "omics.amazonaws.com"}
    # No aws:SourceArn = run/*: StartRunBatch reads the settings file as this role before any run exists.
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": "111122223333"}}


def test_created_run_role_reads_inputs_writes_outputs_and_logs(created: tuple[OmicsRunBatch, Template]) -> None:
    _, template = created
    statements = policy_statements(template, "CohortRunRole")
    text = dumps(statements)
    assert 'arn:", {"Ref": "AWS::Partition"}, ":s3:::my-inputs/*' in text
    put = [s for s in statements if "s3:PutObject" in s["Action"]]
    assert len(put) == 1
    assert "/Cohort/*" in dumps(put[0]["Resource"])
    all_actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert not any(a.startswith("s3:Delete") for a in all_actions), "runs never need to delete outputs"
    assert {"logs:CreateLogStream", "logs:PutLogEvents", "ecr:BatchGetImage"} <= all_actions
    assert "/aws/omics/WorkflowLog" in text


def test_created_run_role_outlives_a_destroy_when_runs_are_retained(created: tuple[OmicsRunBatch, Template]) -> None:
    _, template = created
    roles = template.find_resources(
        "AWS::IAM::Role", {"Properties": {"Description": Match.string_like_regexp("Runs of")}}
    )
    assert [r["DeletionPolicy"] for r in roles.values()] == ["Retain"]
    policies = {k: v for k, v in template.find_resources("AWS::IAM::Policy").items() if "CohortRunRole" in k}
    assert [p["DeletionPolicy"] for p in policies.values()] == ["Retain"]


def test_given_run_role_is_used_and_nothing_is_created(given: tuple[Any, Template, iam.Role, s3.Bucket]) -> None:
    batch, template, role, _ = given
    assert batch.run_role is role
    roles = template.find_resources(
        "AWS::IAM::Role", {"Properties": {"Description": Match.string_like_regexp("Runs of")}}
    )
    assert roles == {}
    props = only_batch_properties(template)
    assert "MyRunRole" in props[contract.PROP_DEFAULT_RUN_SETTING]["roleArn"]["Fn::GetAtt"][0]
    assert props[contract.PROP_ON_DELETE] == "CANCEL_RUNS"


def test_role_arn_string_is_passed_as_is() -> None:
    stack = new_stack()
    arn = "arn:aws:iam::111122223333:role/omics-runs"
    batch = OmicsRunBatch(
        stack, "B", default_run_setting=DefaultRunSetting(workflow_id=WORKFLOW, role_arn=arn), runs=runs(1)
    )
    template = Template.from_stack(stack)
    assert only_batch_properties(template)[contract.PROP_DEFAULT_RUN_SETTING]["roleArn"] == arn
    assert batch.run_role.role_arn == arn
    pass_role = [s for s in policy_statements(template, "Handler") if s["Action"] == "iam:PassRole"]
    assert pass_role == [
        {
            "Action": "iam:PassRole",
            "Condition": {"StringEquals": {"iam:PassedToService": "omics.amazonaws.com"}},
            "Effect": "Allow",
            "Resource": arn,
        }
    ]


# --- output bucket: created / given -------------------------------------------------


def test_created_bucket_is_private_encrypted_versioned_ssl_only_and_retained(
    created: tuple[OmicsRunBatch, Template],
) -> None:
    batch, template = created
    template.has_resource(
        "AWS::S3::Bucket",
        {
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                },
                "VersioningConfiguration": {"Status": "Enabled"},
            },
        },
    )
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            }
        },
    )
    stack = cdk.Stack.of(batch)
    assert stack.resolve(batch.output_uri)["Fn::Join"][1][-1] == "/Cohort/"


def test_given_bucket_is_used(given: tuple[Any, Template, iam.Role, s3.Bucket]) -> None:
    batch, template, _, bucket = given
    assert batch.output_bucket is bucket
    assert len(template.find_resources("AWS::S3::Bucket")) == 1  # only the user's
    output_uri = only_batch_properties(template)[contract.PROP_DEFAULT_RUN_SETTING]["outputUri"]
    assert "MyOutputs" in dumps(output_uri)


def test_output_uri_string_grants_that_prefix_only() -> None:
    stack = new_stack()
    batch = OmicsRunBatch(
        stack,
        "B",
        default_run_setting=DefaultRunSetting(workflow_id=WORKFLOW, output_uri="s3://lab-results/cohort7/"),
        runs=runs(1),
    )
    template = Template.from_stack(stack)
    assert template.find_resources("AWS::S3::Bucket") == {}
    assert batch.output_bucket is not None and batch.output_bucket.bucket_name == "lab-results"
    put = [s for s in policy_statements(template, "BRunRole") if "s3:PutObject" in s["Action"]]
    assert ":s3:::lab-results/cohort7/*" in dumps(put)


def s3_resources(template: Template) -> list[str]:
    """The S3 object and bucket patterns of every policy of the stack, as text."""
    found = []
    for resource in template.find_resources("AWS::IAM::Policy").values():
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            text = dumps(statement["Resource"])
            if ":s3:::lab-results" in text:
                found.append(f"{statement.get('Sid')} {text}")
    return sorted(found)


def test_an_output_uri_is_joined_with_one_slash_whether_or_not_it_ends_with_one() -> None:
    """The report folder, the tracker's and the handlers' keys and the run role's outputs sit under
    ``cohort7/``, never ``cohort7batch-reports/``, and ``cohort7*`` (which opens ``cohort7-other/``) is
    never granted."""
    seen = {}
    for uri in ("s3://lab-results/cohort7", "s3://lab-results/cohort7/"):
        stack = new_stack()
        OmicsRunBatch(
            stack, "B", default_run_setting=DefaultRunSetting(workflow_id=WORKFLOW, output_uri=uri), runs=runs(1)
        )
        template = Template.from_stack(stack)
        report = only_batch_properties(template)[contract.PROP_REPORT_URI]
        seen[uri] = (report, s3_resources(template))

    (report, resources), other = seen.values()
    assert other == (report, resources)
    assert report == "s3://lab-results/cohort7/batch-reports/"
    assert any(":s3:::lab-results/cohort7/*" in r for r in resources), resources
    assert any(":s3:::lab-results/cohort7/batch-reports/*" in r for r in resources), resources
    assert not any("cohort7*" in r or "cohort7batch" in r for r in resources), resources


def test_an_output_uri_at_the_buckets_root_grants_the_bucket() -> None:
    stack = new_stack()
    OmicsRunBatch(
        stack,
        "B",
        default_run_setting=DefaultRunSetting(workflow_id=WORKFLOW, output_uri="s3://lab-results"),
        runs=runs(1),
    )
    template = Template.from_stack(stack)

    assert only_batch_properties(template)[contract.PROP_REPORT_URI] == "s3://lab-results/batch-reports/"
    put = [s for s in policy_statements(template, "BRunRole") if "s3:PutObject" in s["Action"]]
    assert ":s3:::lab-results/*" in dumps(put)


# --- runs: inline / settings file ---------------------------------------------------


def test_100_runs_go_inline() -> None:
    stack = new_stack()
    OmicsRunBatch(stack, "B", default_run_setting=DefaultRunSetting(workflow_id=WORKFLOW), runs=runs(100))
    settings = only_batch_properties(Template.from_stack(stack))[contract.PROP_BATCH_RUN_SETTINGS]
    assert list(settings) == ["inlineSettings"] and len(settings["inlineSettings"]) == 100


def test_101_runs_go_to_a_settings_file_the_run_role_can_read(from_file: tuple[Any, Template, cdk.Stack]) -> None:
    batch, template, stack = from_file
    settings = only_batch_properties(template)[contract.PROP_BATCH_RUN_SETTINGS]
    assert list(settings) == ["s3UriSettings"]
    asset = batch.settings_asset
    assert asset is not None
    key = asset.s3_object_key
    assert stack.resolve(key).endswith(".json")
    readers = [s for s in policy_statements(template, "BigRunRole") if asset.asset_hash in dumps(s["Resource"])]
    assert [(s["Action"], s["Resource"]["Fn::Join"][1][-1]) for s in readers] == [
        ("s3:GetObject", f":s3:::cdk-hnb659fds-assets-111122223333-us-east-1/{asset.asset_hash}.json")
    ]
    assert "-assets-111122223333-us-east-1/*" not in dumps(policy_statements(template, "BigRunRole"))


def test_settings_file_holds_exactly_the_runs_in_api_json(from_file: tuple[Any, Template, cdk.Stack]) -> None:
    batch, _, stack = from_file
    content = json.loads(_staged_asset_path(stack, batch).read_text())
    assert content == [{"runSettingId": r.run_setting_id, "parameters": dict(r.parameters or {})} for r in runs(101)]


def _staged_asset_path(stack: cdk.Stack, batch: OmicsRunBatch) -> Path:
    assembly = cdk.Stage.of(stack).synth()  # type: ignore[union-attr]
    assert batch.settings_asset is not None
    return Path(assembly.directory) / f"asset.{batch.settings_asset.asset_hash}.json"


def test_settings_file_is_content_addressed() -> None:
    hashes = []
    for _ in range(2):
        stack = new_stack()
        b = OmicsRunBatch(stack, "B", default_run_setting=DefaultRunSetting(workflow_id=WORKFLOW), runs=runs(150))
        hashes.append(b.settings_asset.asset_hash)  # type: ignore[union-attr]
    stack = new_stack()
    other = OmicsRunBatch(stack, "B", default_run_setting=DefaultRunSetting(workflow_id=WORKFLOW), runs=runs(151))
    assert hashes[0] == hashes[1] != other.settings_asset.asset_hash  # type: ignore[union-attr]


def test_template_does_not_grow_with_the_number_of_runs(from_file: tuple[Any, Template, cdk.Stack]) -> None:
    _, small, _ = from_file
    stack = new_stack()
    OmicsRunBatch(stack, "Big", default_run_setting=DefaultRunSetting(workflow_id=WORKFLOW), runs=runs(5000))
    large = Template.from_stack(stack)
    assert abs(len(dumps(large.to_json())) - len(dumps(small.to_json()))) < 200


# --- the handlers' permissions ------------------------------------------------------


def test_a_destroy_may_read_and_write_the_manifest_in_an_encrypted_output_bucket() -> None:
    """The manifest is written with the bucket's key; a delete reads it and closes it."""
    stack = new_stack()
    key = kms.Key(stack, "Key")
    outputs = s3.Bucket(stack, "Outputs", encryption_key=key)
    OmicsRunBatch(
        stack,
        "Cohort",
        default_run_setting=DefaultRunSetting(workflow_id=WORKFLOW),
        runs=runs(2),
        output_bucket=outputs,
    )
    statements = policy_statements(Template.from_stack(stack), "Handler")

    (uses_key,) = [s for s in statements if "kms:Decrypt" in s["Action"]]
    assert sorted(uses_key["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert stack.get_logical_id(key.node.default_child) in dumps(uses_key["Resource"])  # type: ignore[arg-type]


def test_an_encrypted_state_machine_is_started_and_read_through_its_key_by_both_functions() -> None:
    stack = new_stack()
    key = kms.Key(stack, "Key")
    batch = OmicsRunBatch(
        stack, "Cohort", default_run_setting=DefaultRunSetting(workflow_id=WORKFLOW), runs=runs(2), encryption_key=key
    )
    template = Template.from_stack(stack)
    machine = {"Ref": template_id(batch, batch.state_machine)}
    for role in ("Handler", "CohortTrackerResume"):
        (uses_key,) = [
            s
            for s in policy_statements(template, role)
            if "kms:GenerateDataKey" in s["Action"] and "aws:states" in dumps(s.get("Condition"))
        ]
        assert sorted(uses_key["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
        assert uses_key["Condition"] == {"StringEquals": {"kms:EncryptionContext:aws:states:stateMachineArn": machine}}


def test_an_encryption_key_lets_logs_use_it_or_if_imported_is_warned_about() -> None:
    created = new_stack()
    key = kms.Key(created, "Key")
    OmicsRunBatch(
        created, "Cohort", default_run_setting=DefaultRunSetting(workflow_id=WORKFLOW), runs=runs(2), encryption_key=key
    )
    key_id = created.get_logical_id(key.node.default_child)  # type: ignore[arg-type]
    policy = Template.from_stack(created).find_resources("AWS::KMS::Key")[key_id]
    sids = [statement.get("Sid") for statement in policy["Properties"]["KeyPolicy"]["Statement"]]
    assert "AllowCloudWatchLogsOfThisAccount" in sids
    assert not Annotations.from_stack(created).find_warning("*", Match.string_like_regexp("encryption_key is imported"))

    imported = new_stack()
    OmicsRunBatch(
        imported,
        "Cohort",
        default_run_setting=DefaultRunSetting(workflow_id=WORKFLOW),
        runs=runs(2),
        encryption_key=kms.Key.from_key_arn(
            imported, "Key", "arn:aws:kms:us-east-1:111122223333:key/0b0e2b8c-0000-4000-8000-000000000000"
        ),
    )
    warnings = Annotations.from_stack(imported).find_warning(
        "*", Match.string_like_regexp("encryption_key is imported")
    )
    # Each scope that makes an encrypted log group says it: the insight function's and the provider's.
    assert sorted(warning.id for warning in warnings) == ["/Test/Cohort/Insight", "/Test/OmicsRunBatchProvider"]


def test_handler_role_is_scoped(created: tuple[OmicsRunBatch, Template]) -> None:
    _, template = created
    statements = policy_statements(template, "Handler")
    actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert not any("*" in a for a in actions), "no wildcard actions"
    assert {"omics:StartRunBatch", "omics:StartRun", "omics:GetBatch", "iam:PassRole"} <= actions
    # ListBatch, ListRuns and Service Quotas' lists have no resource-level permissions; nothing else is "*".
    unscoped = {
        a
        for s in statements
        if s["Resource"] == "*"
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert unscoped == {
        "omics:ListBatch",
        "omics:ListRuns",
        "servicequotas:ListServiceQuotas",
        "servicequotas:ListAWSDefaultServiceQuotas",
    }
    # A delete lists the manifest's own key before reading it (a missing key is 403 without a listing).
    list_bucket = next(s for s in statements if s["Action"] == "s3:ListBucket")
    prefix = list_bucket["Condition"]["StringLike"]["s3:prefix"]
    assert prefix.endswith("batch-reports/batch-*/cohort.json")
    start_run = next(s for s in statements if "omics:StartRun" in s["Action"])
    assert sorted(start_run["Action"]) == ["omics:StartRun", "omics:StartRunBatch"]
    assert f":workflow/{WORKFLOW}" in dumps(start_run["Resource"])
    pass_role = next(s for s in statements if s["Action"] == "iam:PassRole")
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "omics.amazonaws.com"}}
    assert "CohortRunRole" in dumps(pass_role["Resource"])


def test_handlers_log_json_with_bounded_retention(created: tuple[OmicsRunBatch, Template]) -> None:
    _, template = created
    functions = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": Match.string_like_regexp("^provider\\.index\\.")}}
    )
    assert sorted(f["Properties"]["Handler"] for f in functions.values()) == [
        "provider.index.is_complete",
        "provider.index.on_event",
    ]
    for function in functions.values():
        assert function["Properties"]["LoggingConfig"]["LogFormat"] == "JSON"
        assert function["Properties"]["Runtime"].startswith("python3.")
    for group in template.find_resources("AWS::Logs::LogGroup").values():
        assert group["Properties"]["RetentionInDays"] == 365


def test_batches_of_a_stack_share_one_provider() -> None:
    stack = new_stack()
    for name in ("A", "B"):
        OmicsRunBatch(stack, name, default_run_setting=DefaultRunSetting(workflow_id=WORKFLOW), runs=runs(1))
    template = Template.from_stack(stack)
    assert len(batch_resources(template)) == 2
    machines = template.find_resources("AWS::StepFunctions::StateMachine")
    assert len([k for k in machines if "waiterstatemachine" in k]) == 1  # one provider
    assert len([k for k in machines if "Tracker" in k]) == 2  # a tracker per batch
    pass_role = [s for s in policy_statements(template, "Handler") if s["Action"] == "iam:PassRole"]
    assert len(pass_role) == 2


def test_handler_asset_holds_handlers_and_model_but_no_tests(created: tuple[OmicsRunBatch, Template]) -> None:
    batch, _ = created
    assembly = cdk.Stage.of(batch).synth()  # type: ignore[union-attr]
    folders = [p for p in Path(assembly.directory).glob("asset.*") if (p / "provider").is_dir()]
    assert len(folders) == 1
    files = {str(p.relative_to(folders[0])) for p in folders[0].rglob("*") if p.is_file()}
    assert {"provider/index.py", "tracker/index.py"} <= files
    assert "omics_batch_construct_runtime/contract.py" in files
    assert "omics_batch_construct_runtime/botocore_data/omics/2022-11-28/service-2.json.gz" in files
    assert not any("__pycache__" in f or f.startswith("tests") for f in files)
    # No caches or dotfiles (a type checker's cache would change the asset's hash on every run).
    assert not [f for f in files if any(part.startswith(".") for part in f.split("/"))]


def test_tokens_in_settings_pass_through() -> None:
    stack = new_stack()
    workflow = cdk.CfnParameter(stack, "WorkflowId").value_as_string
    priority = cdk.CfnParameter(stack, "Priority", type="Number").value_as_number
    OmicsRunBatch(
        stack,
        "B",
        default_run_setting=DefaultRunSetting(workflow_id=workflow, priority=priority),  # type: ignore[arg-type]
        runs=[RunSetting(run_setting_id="a", name=cdk.Aws.STACK_NAME)],
    )
    default = only_batch_properties(Template.from_stack(stack))[contract.PROP_DEFAULT_RUN_SETTING]
    assert default["workflowId"] == {"Ref": "WorkflowId"}
    assert default["priority"] == {"Ref": "Priority"}


def test_per_run_output_uris_are_granted_per_bucket_without_growing_the_policy() -> None:
    few = [RunSetting(run_setting_id=f"s{i}", output_uri=f"s3://lab-results/s{i}/") for i in range(3)]
    many = [RunSetting(run_setting_id=f"s{i}", output_uri=f"s3://lab-results/s{i}/") for i in range(150)]
    writes = {}
    for name, run_list in (("few", few), ("many", many)):
        stack = new_stack()
        OmicsRunBatch(stack, "B", default_run_setting=DefaultRunSetting(workflow_id=WORKFLOW), runs=run_list)
        template = Template.from_stack(stack)
        writes[name] = [
            s["Resource"]
            for s in policy_statements(template, "BRunRole")
            if "s3:PutObject" in s["Action"] and "lab-results" in dumps(s["Resource"])
        ]
        if name == "many":
            warnings = Annotations.from_stack(stack).find_warning("*", Match.string_like_regexp("150 output prefixes"))
            assert len(warnings) == 1
    (few_resources,) = writes["few"]
    assert [r["Fn::Join"][1][-1] for r in few_resources] == [
        ":s3:::lab-results/s0/*",
        ":s3:::lab-results/s1/*",
        ":s3:::lab-results/s2/*",
    ]
    (many_resources,) = writes["many"]
    assert many_resources["Fn::Join"][1][-1] == ":s3:::lab-results/*"


def test_large_inline_runs_go_to_the_settings_file_below_100() -> None:
    """The runs ride in CloudFormation's request and Step Functions inputs: size, not only count, decides."""
    stack = new_stack()
    big = [RunSetting(run_setting_id=f"s{i}", parameters={"notes": "x" * 2000}) for i in range(50)]
    batch = OmicsRunBatch(stack, "B", default_run_setting=DefaultRunSetting(workflow_id=WORKFLOW), runs=big)
    settings = only_batch_properties(Template.from_stack(stack))[contract.PROP_BATCH_RUN_SETTINGS]
    assert list(settings) == ["s3UriSettings"]
    assert batch.settings_asset is not None


# --- cost allocation -------------------------------------------------------------------


def run_tag_statements(template: Template) -> list[dict[str, Any]]:
    return [
        s
        for s in policy_statements(template, "Handler")
        if s["Action"] == "omics:TagResource" and ":run/*" in dumps(s["Resource"])
    ]


def test_every_run_is_tagged_with_its_batch_for_cost_explorer(created: tuple[OmicsRunBatch, Template]) -> None:
    batch, template = created
    default = json.loads(json.dumps(only_batch_properties(template)[contract.PROP_DEFAULT_RUN_SETTING]))

    assert default["runTags"] == {"omics-batch-construct:batch": "Test/Cohort"}
    assert batch.node.path == "Test/Cohort"
    assert run_tag_statements(template), "the service tags each run as the caller: TagResource on run/*"


def test_the_users_run_tags_win_over_the_cost_tag() -> None:
    stack = new_stack()
    OmicsRunBatch(
        stack,
        "Cohort",
        default_run_setting=DefaultRunSetting(
            workflow_id=WORKFLOW, run_tags={"omics-batch-construct:batch": "cohort-7", "team": "genomics"}
        ),
        runs=runs(1),
    )
    default = only_batch_properties(Template.from_stack(stack))[contract.PROP_DEFAULT_RUN_SETTING]

    assert default["runTags"] == {"omics-batch-construct:batch": "cohort-7", "team": "genomics"}


def test_the_cost_tag_can_be_turned_off_and_then_no_run_is_tagged() -> None:
    stack = new_stack()
    OmicsRunBatch(
        stack,
        "Cohort",
        default_run_setting=DefaultRunSetting(workflow_id=WORKFLOW),
        runs=runs(1),
        cost_allocation_tag=False,
    )
    template = Template.from_stack(stack)

    assert "runTags" not in only_batch_properties(template)[contract.PROP_DEFAULT_RUN_SETTING]
    assert run_tag_statements(template) == []
