"""Bad input fails at synth with one error that names the argument and the run."""

from __future__ import annotations

import re
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam

from omics_batch_construct import BatchValidationError, DefaultRunSetting, OmicsRunBatch, RunSetting, WorkflowType
from tests.omics_batch_construct.conftest import new_stack, runs

OK = DefaultRunSetting(workflow_id="1234567")


def build(default: DefaultRunSetting = OK, run_list: list[Any] | None = None, **kwargs: Any) -> OmicsRunBatch:
    return OmicsRunBatch(new_stack(), "Cohort", default_run_setting=default, runs=run_list or runs(2), **kwargs)


def problems_of(**kwargs: Any) -> list[str]:
    with pytest.raises(BatchValidationError) as info:
        build(**kwargs)
    assert str(info.value).startswith("OmicsRunBatch Test/Cohort: ")
    return info.value.problems


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        # required
        ({"default": DefaultRunSetting(workflow_id=None)}, "default_run_setting.workflow_id: required"),  # type: ignore[arg-type]
        # enum
        (
            {"default": DefaultRunSetting(workflow_id="1", storage_type="FAST")},
            "default_run_setting.storage_type: 'FAST' is not one of DYNAMIC, STATIC",
        ),
        # length
        ({"batch_name": "x" * 65}, "batch_name: 65 characters, more than the maximum 64"),
        ({"tags": {"k" * 129: "v"}}, "tags key 'kkkkk"),
        # the construct's own tags
        (
            {"tags": {"omics-batch-construct:definition": "mine"}},
            "tags: 'omics-batch-construct:definition' starts with 'omics-batch-construct:', which the construct's own",
        ),
        # numeric range
        (
            {"default": DefaultRunSetting(workflow_id="1", storage_capacity=100001)},
            "default_run_setting.storage_capacity: 100001 is above the maximum 100000",
        ),
        # id pattern
        (
            {"default": DefaultRunSetting(workflow_id="wf-12")},
            "default_run_setting.workflow_id: 'wf-12' does not match the pattern [0-9]+",
        ),
        (
            {"default": DefaultRunSetting(workflow_id="1", workflow_owner_id="12345")},
            "default_run_setting.workflow_owner_id: '12345' does not match the pattern [0-9]{12}",
        ),
        # types
        (
            {"default": DefaultRunSetting(workflow_id="1", priority="high")},  # type: ignore[arg-type]
            "default_run_setting.priority: expected a whole number, got 'high'",
        ),
        (
            {"default": DefaultRunSetting(workflow_id="1", parameters={"x": object()})},
            "default_run_setting.parameters['x']: <object object",
        ),
        # per run, named by index and id
        (
            {"run_list": [RunSetting(run_setting_id="NA12878", priority=-1)]},
            "runs[0] (run_setting_id 'NA12878').priority: -1 is below the minimum 0",
        ),
        (
            {"run_list": [RunSetting(run_setting_id="a"), RunSetting(run_setting_id="b\x07")]},
            "runs[1] (run_setting_id 'b\\x07').run_setting_id: 'b\\x07' contains a character the service does not",
        ),
        (
            {"run_list": [RunSetting(run_setting_id="a", output_bucket_owner_id="1234")]},
            "runs[0] (run_setting_id 'a').output_bucket_owner_id: '1234' is shorter than 12 characters",
        ),
        # batch-level rules
        (
            {
                "run_list": [
                    RunSetting(run_setting_id="a"),
                    RunSetting(run_setting_id="b"),
                    RunSetting(run_setting_id="a"),
                ]
            },
            "runs[2] (run_setting_id 'a'): duplicate run_setting_id, first used by runs[0]",
        ),
        ({"run_list": ["NA12878"]}, "runs[0]: expected a RunSetting, got 'NA12878'"),
        ({"timeout": cdk.Duration.minutes(61)}, "timeout: 1 hour 1 minute; must be whole minutes from 1 to 60"),
        ({"timeout": cdk.Duration.seconds(90)}, "timeout: 1 minute 30 seconds; must be whole minutes from 1 to 60"),
        ({"on_delete": "DELETE"}, "on_delete: expected an OnDelete, got 'DELETE'"),
    ],
)
def test_each_class_of_constraint_is_reported(kwargs: dict[str, Any], expected: str) -> None:
    problems = problems_of(**kwargs)
    assert any(p.startswith(expected) for p in problems), problems


def test_every_problem_is_listed_at_once() -> None:
    problems = problems_of(
        default=DefaultRunSetting(workflow_id="x", priority=-5, log_level="LOUD"),
        run_list=[RunSetting(run_setting_id=""), RunSetting(run_setting_id="ok", priority=10**6)],
        batch_name="",
    )
    assert len(problems) == 6, problems
    joined = "\n".join(problems)
    for fragment in (
        "workflow_id",
        "priority: -5",
        "log_level",
        "batch_name",
        "runs[0] (run_setting_id '')",
        "runs[1] (run_setting_id 'ok')",
    ):
        assert fragment in joined


def test_no_runs() -> None:
    with pytest.raises(BatchValidationError, match=re.escape("runs: at least one run is required")):
        OmicsRunBatch(new_stack(), "Cohort", default_run_setting=OK, runs=[])


def test_more_than_100000_runs_need_the_tracker() -> None:
    """The deploy starts the first 100,000; the tracker starts the later parts."""
    expected = "runs: 100,001 runs are more than one batch's 100,000; the tracker starts the later parts"
    with pytest.raises(BatchValidationError, match=re.escape(expected)):
        OmicsRunBatch(
            new_stack(),
            "Cohort",
            default_run_setting=OK,
            runs=[RunSetting(run_setting_id=str(i)) for i in range(100_001)],
            track_completion=False,
        )


def test_more_than_1000000_runs() -> None:
    with pytest.raises(BatchValidationError, match=re.escape("runs: 1,000,001 runs, more than the maximum 1,000,000")):
        OmicsRunBatch(
            new_stack(),
            "Cohort",
            default_run_setting=OK,
            runs=[RunSetting(run_setting_id="same")] * 1_000_001,  # not read: the count refuses them
        )


def test_role_given_twice() -> None:
    stack = new_stack()
    role = iam.Role(stack, "R", assumed_by=iam.ServicePrincipal("omics.amazonaws.com"))
    with pytest.raises(
        BatchValidationError, match=re.escape("run_role: give either run_role or default_run_setting.role_arn")
    ):
        OmicsRunBatch(
            stack,
            "Cohort",
            default_run_setting=DefaultRunSetting(workflow_id="1", role_arn="arn:aws:iam::1:role/x"),
            runs=runs(1),
            run_role=role,
        )


def test_tokens_cannot_go_into_the_settings_file() -> None:
    stack = new_stack()
    many = [*runs(100), RunSetting(run_setting_id="late", output_uri=f"s3://{cdk.Aws.ACCOUNT_ID}-out/")]
    with pytest.raises(
        BatchValidationError, match=re.escape("runs[100] (run_setting_id 'late').output_uri: a deploy-time value")
    ):
        OmicsRunBatch(stack, "Cohort", default_run_setting=OK, runs=many)


def test_above_100_runs_each_problem_is_named_by_its_run_in_order() -> None:
    """Runs going to the settings file are checked as they are written: the same problems, in the same order."""
    many = runs(150)
    many[120] = RunSetting(run_setting_id="S000003")
    many[130] = RunSetting(run_setting_id="low", priority=-1)
    many[140] = RunSetting(run_setting_id="late", output_uri=f"s3://{cdk.Aws.ACCOUNT_ID}-out/")
    assert problems_of(run_list=many) == [
        "runs[120] (run_setting_id 'S000003'): duplicate run_setting_id, first used by runs[3]",
        "runs[130] (run_setting_id 'low').priority: -1 is below the minimum 0",
        "runs[140] (run_setting_id 'late').output_uri: a deploy-time value (token) cannot go into the run "
        "settings file used above 100 runs",
    ]


def test_an_infinite_number_above_100_runs_is_a_problem_not_a_crash() -> None:
    # Runs for the settings file are searched for tokens; an infinity must not reach jsii then.
    many = [*runs(100), RunSetting(run_setting_id="inf", parameters={"x": float("-inf")})]
    assert problems_of(run_list=many) == ["runs[100] (run_setting_id 'inf').parameters['x']: -inf is not a JSON number"]


def test_long_lists_are_cut_but_counted() -> None:
    with pytest.raises(BatchValidationError) as info:
        build(run_list=[RunSetting(run_setting_id="x", priority=-1) for _ in range(60)])
    assert len(info.value.problems) == 60 + 59  # each bad priority, and each duplicate id after the first
    assert str(info.value).endswith("... and 69 more")


@pytest.mark.parametrize("workflow_type", [WorkflowType.READY2RUN, "READY2RUN"])
def test_ready2run_is_refused_with_the_other_problems(workflow_type: Any) -> None:
    """The user guide: "Batch runs are not supported with Ready2Run workflows"."""
    found = problems_of(
        default=DefaultRunSetting(workflow_id="1234567", workflow_type=workflow_type), batch_name="x" * 65
    )

    assert found == [
        "default_run_setting.workflow_type: READY2RUN workflows cannot run in a batch (the HealthOmics user guide: "
        '"Batch runs are not supported with Ready2Run workflows"); use a private workflow',
        "batch_name: 65 characters, more than the maximum 64",
    ]


def test_private_workflows_are_accepted() -> None:
    assert build(default=DefaultRunSetting(workflow_id="1234567", workflow_type=WorkflowType.PRIVATE)).run_count == 2


# --- S3 URIs: s3://bucket/prefix with a valid bucket name, or refused at synth -------------------

NOT_S3 = "is not an s3://bucket/prefix URI"


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("my-output-bucket/results", NOT_S3),
        ("s3:/typo-bucket/out", NOT_S3),
        ("S3://typo-bucket/out", NOT_S3),
        ("https://typo-bucket.s3.amazonaws.com/out", NOT_S3),
        ("s3:///results", "names no bucket (s3://bucket/prefix)"),
        ("s3://ab/results", "names the bucket 'ab', which is not a valid S3 bucket name: 2 characters, not 3 to 63"),
        ("s3://" + "b" * 64, "names the bucket 'bbbb"),
        ("s3://My_Bucket/x", "which is not a valid S3 bucket name: it has 'B', 'M', '_' (lowercase letters, digits"),
        ("s3://-bucket/x", "which is not a valid S3 bucket name: it must begin and end with a letter or digit"),
        ("s3://bucket./x", "which is not a valid S3 bucket name: it must begin and end with a letter or digit"),
        ("s3://my..bucket/x", "which is not a valid S3 bucket name: it has '..' (no two dots in a row"),
        ("s3://my.-bucket/x", "which is not a valid S3 bucket name: it has '.-' (no two dots in a row"),
        ("s3://192.168.5.4/x", "which is not a valid S3 bucket name: it is formatted as an IP address"),
    ],
)
def test_a_bad_output_uri_is_refused_for_the_default_and_for_a_run(uri: str, problem: str) -> None:
    found = problems_of(
        default=DefaultRunSetting(workflow_id="1234567", output_uri=uri),
        run_list=[RunSetting(run_setting_id="NA12878"), RunSetting(run_setting_id="NA12891", output_uri=uri)],
    )

    assert len(found) == 2, found
    default, run = found
    assert default.startswith("default_run_setting.output_uri: ") and problem in default
    assert run.startswith("runs[1] (run_setting_id 'NA12891').output_uri: ") and problem in run
    assert default.split(": ", 1)[1] == run.split(": ", 1)[1]


def test_output_uris_without_s3_scheme_are_refused_in_one_error() -> None:
    found = problems_of(
        default=DefaultRunSetting(workflow_id="1234567", output_uri="my-output-bucket/results"),
        run_list=[RunSetting(run_setting_id="NA12878", output_uri="s3:/typo-bucket/out")],
    )

    assert found == [
        f"default_run_setting.output_uri: 'my-output-bucket/results' {NOT_S3}",
        f"runs[0] (run_setting_id 'NA12878').output_uri: 's3:/typo-bucket/out' {NOT_S3}",
    ]


def test_bad_output_uris_are_refused_above_100_runs_too() -> None:
    """Above 100 runs a run's URI is checked on the fast path, and named like any problem."""
    many = [*runs(150), RunSetting(run_setting_id="late", output_uri="lab-results/late/")]

    assert problems_of(run_list=many) == [f"runs[150] (run_setting_id 'late').output_uri: 'lab-results/late/' {NOT_S3}"]


@pytest.mark.parametrize(
    "uri",
    [
        "s3://lab-results",
        "s3://lab-results/",
        "s3://lab-results/cohort7",
        "s3://lab.results-2026/cohort 7/é/",
        "s3://123/x",
        "s3://" + "b" * 63 + "/x",
    ],
)
def test_good_output_uris_pass(uri: str) -> None:
    batch = build(
        default=DefaultRunSetting(workflow_id="1234567", output_uri=uri),
        run_list=[RunSetting(run_setting_id="a", output_uri=uri)],
    )
    assert batch.output_uri == uri


def test_deploy_time_uris_pass_and_their_known_start_is_checked() -> None:
    stack = new_stack()
    bucket = cdk.Fn.import_value("ResultsBucket")
    OmicsRunBatch(
        stack,
        "Fine",
        default_run_setting=DefaultRunSetting(workflow_id="1234567", output_uri=f"s3://{bucket}/cohort7/"),
        runs=[
            RunSetting(run_setting_id="a", output_uri=bucket),
            RunSetting(run_setting_id="b", output_uri=f"s3:/{bucket}"),  # the token may start with '/'
            RunSetting(run_setting_id="c", output_uri=f"s3://lab-results/{bucket}/"),
        ],
    )
    with pytest.raises(BatchValidationError) as info:
        OmicsRunBatch(
            stack,
            "Refused",
            default_run_setting=DefaultRunSetting(workflow_id="1234567", output_uri=f"{bucket}/cohort7/"),
            runs=[
                RunSetting(run_setting_id="a", output_uri=f"results/{bucket}"),
                RunSetting(run_setting_id="b", output_uri=f"s3://Lab_Results/{bucket}"),
            ],
        )

    assert [p.split(": ", 1)[0] for p in info.value.problems] == [
        "runs[0] (run_setting_id 'a').output_uri",
        "runs[1] (run_setting_id 'b').output_uri",
    ]
    assert info.value.problems[0].endswith(NOT_S3)
    assert "names the bucket 'Lab_Results'" in info.value.problems[1]
