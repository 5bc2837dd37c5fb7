"""Every HealthOmics statement the construct writes, held against the Service Authorization Reference.

No deploy here can prove IAM, so the template is checked against the reference's own list
(AWS HealthOmics, "Actions, resources, and condition keys"; the resource types IAM
evaluates per action, required ones marked): every resource of a statement is of a type
the reference lists for one of its actions (IAM matches each action against the resources
of its own types; the others are inert for it), and every required type is granted.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_cdk.assertions import Template

from omics_batch_construct import DefaultRunSetting, OmicsRunBatch, RunSetting
from tests.omics_batch_construct.conftest import new_stack

# action -> {resource type: required}; an empty mapping means Resource "*" (no resource-level permissions).
REFERENCE: dict[str, dict[str, bool]] = {
    "omics:StartRunBatch": {"run": True, "runBatch": True, "runCache": False, "runGroup": False, "workflow": False},
    "omics:StartRun": {
        "run": True,
        "configuration": False,
        "runBatch": False,
        "runCache": False,
        "runGroup": False,
        "workflow": False,
    },
    "omics:GetBatch": {"runBatch": True},
    "omics:ListRunsInBatch": {"runBatch": True},
    "omics:CancelRunBatch": {"runBatch": True},
    "omics:DeleteRunBatch": {"runBatch": True},
    "omics:DeleteBatch": {"runBatch": True},
    "omics:CancelRun": {"run": True},
    "omics:DeleteRun": {"run": True},
    "omics:GetRun": {"run": True},
    "omics:ListRunTasks": {"run": True},
    "omics:ListRuns": {},
    "omics:ListBatch": {},
    # The resource tagged: this construct tags batches and (through StartRunBatch) runs.
    "omics:TagResource": {"run": False, "runBatch": False},
    "omics:UntagResource": {"run": False, "runBatch": False},
}
OMICS_RESOURCE = re.compile(r":omics:[^:\"]*:[^:\"]*:([A-Za-z]+)/")

WORKFLOW = "1234567"


@pytest.fixture(scope="module")
def template() -> Template:
    """A batch that uses every resource the reference names: run group, run cache, configuration, run tags."""
    stack = new_stack()
    OmicsRunBatch(
        stack,
        "Cohort",
        default_run_setting=DefaultRunSetting(
            workflow_id=WORKFLOW,
            run_group_id="5550001",
            cache_id="7770001",
            configuration_name="vpc-config",
            run_tags={"project": "p1"},
        ),
        runs=[RunSetting(run_setting_id="S1")],
        tags={"team": "genomics"},
    )
    return Template.from_stack(stack)


def omics_statements(template: Template) -> list[dict[str, Any]]:
    return [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if any(action.startswith("omics:") for action in actions_of(statement))
    ]


def handler_statements(template: Template) -> list[dict[str, Any]]:
    return [
        statement
        for logical_id, policy in template.find_resources("AWS::IAM::Policy").items()
        if "HandlerPolicy" in logical_id
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_the_tracker_starts_batches_of_its_cohort_only(template: Template) -> None:
    """Later parts and resubmissions: StartRunBatch only tagged with the cohort's first batch."""
    statements = {
        s["Sid"]: s
        for logical_id, policy in template.find_resources("AWS::IAM::Policy").items()
        if "StartPolicy" in logical_id
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    }
    batches = statements["StartCohortBatches"]
    assert batches["Action"] == "omics:StartRunBatch"
    (condition,) = batches["Condition"]["StringEquals"].items()
    assert condition[0] == "aws:RequestTag/omics-batch-construct:cohort"
    assert condition[1] == {
        "Fn::GetAtt": [next(k for k in template.find_resources("Custom::OmicsRunBatch")), "BatchId"]
    }
    assert ":configuration/" not in json.dumps(batches["Resource"])  # StartRunBatch is not evaluated on it
    assert ":configuration/vpc-config" in json.dumps(statements["StartCohortRuns"]["Resource"])
    assert statements["PassRunRole"]["Condition"] == {"StringEquals": {"iam:PassedToService": "omics.amazonaws.com"}}


def actions_of(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def resource_types(statement: dict[str, Any]) -> list[str | None]:
    """The omics resource type of each of the statement's resources ("*": None)."""
    resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
    found: list[str | None] = []
    for resource in resources:
        if resource == "*":
            found.append(None)
            continue
        match = OMICS_RESOURCE.search(json.dumps(resource))
        assert match, f"not an omics ARN: {resource}"
        found.append(match.group(1))
    return found


def test_every_omics_statement_follows_the_reference(template: Template) -> None:
    statements = omics_statements(template)
    assert statements
    for statement in statements:
        types = resource_types(statement)
        actions = actions_of(statement)
        unknown = [action for action in actions if action not in REFERENCE]
        assert not unknown, f"{unknown}: not in the reference table of this test"
        if not any(REFERENCE[action] for action in actions):
            assert types == [None], f"{actions} have no resource-level permissions: Resource must be '*'"
            continue
        assert None not in types, f"{actions} on '*' although the reference lists resource types"
        listed = {kind for action in actions for kind in REFERENCE[action]}
        assert set(types) <= listed, f"{actions}: {sorted(set(types) - listed)} not in the reference"
        for action in actions:
            missing = {kind for kind, required in REFERENCE[action].items() if required} - set(types)
            assert not missing, f"{action}: required resource types {sorted(missing)} not granted"


def test_start_run_batch_is_granted_where_its_runs_are(template: Template) -> None:
    """StartRunBatch on run*, runBatch* and what the batch uses; StartRun on the same, configuration included."""
    (statement,) = [s for s in handler_statements(template) if "omics:StartRunBatch" in actions_of(s)]

    assert sorted(actions_of(statement)) == ["omics:StartRun", "omics:StartRunBatch"]
    resources = json.dumps(statement["Resource"])
    for fragment in (
        ":run/*",
        ":runBatch/*",
        f":*:workflow/{WORKFLOW}",  # a shared workflow's account is its owner's
        ":runGroup/5550001",
        ":runCache/7770001",
        ":configuration/vpc-config",
    ):
        assert fragment in resources, fragment
    assert sorted(t for t in resource_types(statement) if t) == [
        "configuration",
        "run",
        "runBatch",
        "runCache",
        "runGroup",
        "workflow",
    ]


def test_without_group_cache_or_configuration_only_the_required_resources(template: Template) -> None:
    stack = new_stack("Plain")
    OmicsRunBatch(
        stack,
        "Cohort",
        default_run_setting=DefaultRunSetting(workflow_id=WORKFLOW),
        runs=[RunSetting(run_setting_id="S1")],
    )
    handlers = handler_statements(Template.from_stack(stack))
    (statement,) = [s for s in handlers if "omics:StartRunBatch" in actions_of(s)]

    assert sorted(t for t in resource_types(statement) if t) == ["run", "runBatch", "workflow"]
