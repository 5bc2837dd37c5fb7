"""RetryPolicy: what the tracker resubmits, checked at synth and written into the tracker's definition."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_cdk.assertions import Template

from omics_batch_construct import BatchValidationError, DefaultRunSetting, OmicsRunBatch, RetryPolicy, RunSetting
from tests.omics_batch_construct.conftest import new_stack, policy_statements

OK = DefaultRunSetting(workflow_id="1234567")
RUNS = [RunSetting(run_setting_id="S1")]


def build(**kwargs: Any) -> Template:
    stack = new_stack()
    OmicsRunBatch(stack, "Cohort", default_run_setting=OK, runs=RUNS, **kwargs)
    return Template.from_stack(stack)


def check_config(template: Template) -> dict[str, Any]:
    """The config the tracker's Check state is given (its references, all inside strings, made text)."""
    (machine,) = [r for k, r in template.find_resources("AWS::StepFunctions::StateMachine").items() if "Tracker" in k]
    text = "".join(p if isinstance(p, str) else "ref" for p in machine["Properties"]["DefinitionString"]["Fn::Join"][1])
    config: dict[str, Any] = json.loads(text)["States"]["Check"]["Parameters"]["Payload"]["config"]
    return config


@pytest.fixture(scope="module")
def templates() -> dict[str, Template]:
    return {
        "default": build(),
        "none": build(retry=None),
        "five and failed runs": build(
            retry=RetryPolicy(max_attempts=5, submission_failures=["ServiceQuotaExceeded"], failed_runs=True)
        ),
    }


def test_by_default_quota_and_transient_refusals_are_resubmitted_up_to_3_submissions(
    templates: dict[str, Template],
) -> None:
    assert check_config(templates["default"])["resubmission"] == {
        "maxAttempts": 3,
        "submissionFailures": [
            "ConflictException",
            "InternalServerException",
            "RequestTimeoutException",
            "ServiceQuotaExceededException",
            "ThrottlingException",
        ],
        "failedRuns": False,
    }
    # The tracker may start the resubmissions: tagged with this cohort only.
    assert any("StartPolicy" in k for k in templates["default"].find_resources("AWS::IAM::Policy"))


def test_retry_none_resubmits_nothing_and_grants_no_start(templates: dict[str, Template]) -> None:
    assert "resubmission" not in check_config(templates["none"])  # absent: the tracker reads it as off
    assert not any("StartPolicy" in k for k in templates["none"].find_resources("AWS::IAM::Policy"))


def test_a_policy_of_ones_own_is_written_as_given(templates: dict[str, Template]) -> None:
    assert check_config(templates["five and failed runs"])["resubmission"] == {
        "maxAttempts": 5,
        "submissionFailures": ["ServiceQuotaExceeded"],
        "failedRuns": True,
    }


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (RetryPolicy(max_attempts=0), "retry.max_attempts: 0; must be from 1 to 10"),
        (RetryPolicy(max_attempts=11), "retry.max_attempts: 11; must be from 1 to 10"),
        (RetryPolicy(max_attempts=2.5), "retry.max_attempts: expected a whole number, got 2.5"),  # type: ignore[arg-type]
        (
            RetryPolicy(submission_failures=["ValidationException"]),
            "retry.submission_failures: ValidationException is never resubmitted: the run's input must be fixed first",
        ),
        (
            RetryPolicy(submission_failures=["AccessDenied"]),
            "retry.submission_failures: AccessDenied is never resubmitted",
        ),
        (
            RetryPolicy(submission_failures=["CosmicRayException"]),
            "retry.submission_failures: 'CosmicRayException' is not a submission failure HealthOmics reports",
        ),
        (
            RetryPolicy(submission_failures="ThrottlingException"),  # type: ignore[arg-type]
            "retry.submission_failures: expected a collection of reasons, not one string",
        ),
        (RetryPolicy(failed_runs="yes"), "retry.failed_runs: expected True or False, got 'yes'"),  # type: ignore[arg-type]
    ],
)
def test_a_wrong_policy_is_refused_at_synth_naming_the_field(policy: RetryPolicy, message: str) -> None:
    with pytest.raises(BatchValidationError, match=re.escape(message)):
        build(retry=policy)


def test_not_a_policy_is_refused() -> None:
    with pytest.raises(BatchValidationError, match=re.escape("retry: expected a RetryPolicy or None, got dict")):
        build(retry={"max_attempts": 2})


def test_a_policy_without_the_tracker_is_refused_not_dropped() -> None:
    with pytest.raises(BatchValidationError, match=re.escape("retry: resubmissions are the tracker's")):
        build(retry=RetryPolicy(max_attempts=2), track_completion=False)


def test_the_default_without_the_tracker_is_simply_off() -> None:
    template = build(track_completion=False)
    assert not [k for k in template.find_resources("AWS::StepFunctions::StateMachine") if "Tracker" in k]


def resubmitted_settings_reads(template: Template) -> list[dict[str, Any]]:
    return [s for s in policy_statements(template, "RunRole") if s.get("Sid") == "ReadResubmittedSettings"]


def test_the_run_role_reads_the_resubmitted_settings_files_and_nothing_else_of_the_folder(
    templates: dict[str, Template],
) -> None:
    (statement,) = resubmitted_settings_reads(templates["default"])
    assert statement["Action"] == "s3:GetObject"
    resource = json.dumps(statement["Resource"])
    # Named as the tracker names them (layout.RESUBMIT_KEYS): not the reports, not the manifest.
    assert resource.endswith('/Cohort/batch-reports/batch-*/resubmit/run-settings-*.json"]]}')
    assert resubmitted_settings_reads(templates["none"]) == []  # nothing is resubmitted: nothing to read
