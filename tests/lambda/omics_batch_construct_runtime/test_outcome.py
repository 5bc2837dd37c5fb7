"""The outcome rules the tracker and the omics-batch command share: one test per rule."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config
from botocore.stub import Stubber

from omics_batch_construct_runtime import lifecycle, outcome
from omics_batch_construct_runtime.omics import omics_client
from omics_batch_construct_runtime.outcome import Resubmission, RunRow

BATCH_ID = "4455667"


@pytest.fixture(scope="module")
def model() -> Any:
    return omics_client(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y").meta.service_model


def row(setting: str, submission: str = "SUCCESS", status: str = "COMPLETED", run_id: str = "1") -> RunRow:
    return RunRow(setting, run_id if submission != "FAILED" else "", "", "", submission, "", "", status, "", "")


# --- the facts, held against the model ---------------------------------------------------


def test_the_batch_id_pattern_is_the_models_batch_id_shape(model: Any) -> None:
    shape = model.shape_for("BatchId")
    assert shape.metadata["pattern"] == "[0-9]+"
    assert outcome.BATCH_ID_PATTERN.pattern == f"[0-9]{{{shape.metadata['min']},{shape.metadata['max']}}}"
    for operation in ("GetBatch", "ListRunsInBatch"):
        assert model.operation_model(operation).input_shape.members["batchId"].name == "BatchId"
    assert outcome.is_batch_id("4455667") and not outcome.is_batch_id("AWSCDK::CREATE_FAILED")
    assert not outcome.is_batch_id("1" * 19) and not outcome.is_batch_id(None)


def test_terminal_statuses_are_batch_statuses(model: Any) -> None:
    assert lifecycle.TERMINAL <= set(model.shape_for("BatchStatus").enum)
    assert outcome.SUCCEEDED_STATUS in lifecycle.TERMINAL


def test_failed_is_both_a_submission_and_a_run_status(model: Any) -> None:
    assert outcome.FAILED in model.shape_for("SubmissionStatus").enum
    assert outcome.FAILED in model.shape_for("RunStatus").enum


def test_every_run_status_of_the_model_is_counted(model: Any) -> None:
    assert set(model.shape_for("RunStatus").enum) == set(outcome.RUN_STATUS_COUNTS)
    assert set(outcome.RUN_STATUS_COUNTS.values()) <= set(outcome.COUNT_KEYS)


@pytest.mark.parametrize(("operation", "limit"), [("ListRunsInBatch", "maxItems"), ("ListRuns", "maxResults")])
def test_page_size_is_the_largest_the_list_operations_allow(model: Any, operation: str, limit: str) -> None:
    member = model.operation_model(operation).input_shape.members[limit]
    assert member.metadata["max"] == outcome.PAGE_SIZE
    assert "batchId" in model.operation_model(operation).input_shape.members


def test_summary_counts_read_members_of_the_models_summaries(model: Any) -> None:
    runs = set(model.shape_for("RunSummary").members)
    submissions = set(model.shape_for("SubmissionSummary").members)
    batch = {
        "totalRuns": 9,
        "runSummary": {name: index + 1 for index, name in enumerate(sorted(runs))},
        "submissionSummary": {name: 10 for name in submissions},
    }

    found = outcome.summary_counts(batch)

    assert set(found) == set(outcome.COUNT_KEYS)
    assert found["completed"] == batch["runSummary"]["completedRunCount"]
    assert found["failed"] == batch["runSummary"]["failedRunCount"]
    assert found["submissionFailed"] == batch["submissionSummary"]["failedStartSubmissionCount"]
    assert found["runs"] == 9 and found["statusUnknown"] == 0
    assert outcome.summary_counts({})["runs"] == 0  # nothing reported yet: zeros, not errors


# --- the rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("the_row", "failed"),
    [
        (row("a", "FAILED", ""), True),  # refused at submission
        (row("b", "SUCCESS", "FAILED"), True),  # started, then failed
        (row("c", "SUCCESS", "COMPLETED"), False),
        (row("d", "SUCCESS", "CANCELLED"), False),
        (row("e", "SUCCESS", ""), False),  # unknown: maybe still running
        (row("f", "CANCEL_SUCCESS", "CANCELLED"), False),
    ],
)
def test_a_run_failed_when_its_submission_or_the_run_failed(the_row: RunRow, failed: bool) -> None:
    assert outcome.is_failed(the_row) is failed


@pytest.mark.parametrize(
    ("the_row", "unknown"),
    [
        (row("a", "SUCCESS", ""), True),
        (row("b", "SUCCESS", "ARCHIVED_SOMEHOW"), True),  # a status this release does not know
        (row("c", "SUCCESS", "RUNNING"), False),
        (row("d", "FAILED", ""), False),  # no run: its submission failed, which is known
    ],
)
def test_a_submitted_run_without_a_known_status_is_unknown(the_row: RunRow, unknown: bool) -> None:
    assert outcome.is_unknown(the_row) is unknown


def test_counts_tally_each_run_once_under_every_key() -> None:
    rows = [
        row("a"),
        row("b", "FAILED", ""),
        row("c", status="FAILED"),
        row("d", status=""),
        row("e", status="RUNNING"),
    ]

    assert outcome.counts(rows) == {
        "runs": 5,
        "submitted": 4,
        "submissionFailed": 1,
        "completed": 1,
        "failed": 1,
        "cancelled": 0,
        "deleted": 0,
        "notFinished": 1,
        "statusUnknown": 1,
    }


@pytest.mark.parametrize(
    ("status", "changes", "clean"),
    [
        ("PROCESSED", {}, True),
        ("PROCESSED", {"submissionFailed": 1}, False),
        ("PROCESSED", {"failed": 1}, False),
        ("PROCESSED", {"statusUnknown": 1}, False),
        ("CANCELLED", {}, False),
        ("FAILED", {}, False),
        ("INPROGRESS", {}, False),
        (None, {}, False),
    ],
)
def test_a_batch_is_clean_only_processed_with_nothing_failed_or_unknown(
    status: str | None, changes: dict[str, int], clean: bool
) -> None:
    run_counts = {**dict.fromkeys(outcome.COUNT_KEYS, 0), "runs": 3, "completed": 3, **changes}
    assert outcome.is_clean(status, run_counts) is clean


def test_the_retry_ids_are_the_failed_runs() -> None:
    rows = [row("a"), row("b", "FAILED", ""), row("c", status="FAILED"), row("d", status="")]
    assert outcome.retry_ids(rows) == {"b", "c"}


# --- the listing --------------------------------------------------------------------------


@pytest.fixture
def omics() -> Iterator[Stubber]:
    client = omics_client(
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="y",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def test_runs_listruns_no_longer_lists_are_asked_with_getrun_up_to_the_limit(omics: Stubber) -> None:
    omics.add_response(
        "list_runs", {"items": [{"id": "1", "status": "COMPLETED"}]}, {"batchId": BATCH_ID, "maxResults": 100}
    )
    pairs = zip("abcd", "1234", strict=True)
    in_batch = [{"runSettingId": s, "runId": r, "submissionStatus": "SUCCESS"} for s, r in pairs]
    omics.add_response("list_runs_in_batch", {"runs": in_batch}, {"batchId": BATCH_ID, "maxItems": 100})
    omics.add_response("get_run", {"id": "2", "status": "FAILED", "name": "run-b"}, {"id": "2"})
    omics.add_client_error("get_run", "ResourceNotFoundException", "gone", 404, expected_params={"id": "3"})
    # run 4 is past the limit of 2: not asked

    rows = outcome.batch_rows(omics.client, BATCH_ID, max_get_run=2)

    assert [(r.runSettingId, r.runStatus, r.runName) for r in rows] == [
        ("a", "COMPLETED", ""),
        ("b", "FAILED", "run-b"),
        ("c", "", ""),
        ("d", "", ""),
    ]
    assert [r.runSettingId for r in rows if outcome.is_unknown(r)] == ["c", "d"]


@pytest.mark.parametrize(
    ("answer", "decides"),
    [
        ({"uuid": "uuid-of-b", "batchId": BATCH_ID}, True),
        ({"uuid": "uuid-of-another-run", "batchId": "9999999"}, False),  # the id, reused by another batch's run
        ({"uuid": "uuid-of-another-run"}, False),
        ({"batchId": "9999999"}, False),
        ({}, True),  # GetRun said neither: the id is all there is
    ],
    ids=["its own", "another batch's run", "another uuid", "another batch", "neither said"],
)
def test_a_run_getrun_finds_decides_a_row_only_if_it_is_the_rows_own(
    omics: Stubber, answer: dict[str, str], decides: bool
) -> None:
    """HealthOmics reuses the ids of deleted runs: a run GetRun answers for by id may be another's."""
    omics.add_response("list_runs", {"items": []}, {"batchId": BATCH_ID, "maxResults": 100})
    item = {"runSettingId": "b", "runId": "2", "runInternalUuid": "uuid-of-b", "submissionStatus": "SUCCESS"}
    omics.add_response("list_runs_in_batch", {"runs": [item]}, {"batchId": BATCH_ID, "maxItems": 100})
    omics.add_response("get_run", {"id": "2", "status": "FAILED", **answer}, {"id": "2"})

    (only,) = outcome.batch_rows(omics.client, BATCH_ID)

    assert only.runUuid == "uuid-of-b"
    assert (only.runStatus, outcome.is_unknown(only), outcome.is_failed(only)) == (
        ("FAILED", False, True) if decides else ("", True, False)
    )


# --- runs whose metadata HealthOmics removed (REMOVE retention) ----------------------------------


def removed(status: str = "", run_id: str = "9") -> RunRow:
    return row("r", status=status, run_id=run_id)


@pytest.mark.parametrize(
    ("summary", "known", "inferred"),
    [
        ({"completedRunCount": 3}, ["COMPLETED"], "COMPLETED"),  # the two not known completed too
        ({"completedRunCount": 1, "failedRunCount": 2}, ["COMPLETED"], "FAILED"),
        ({"completedRunCount": 2, "failedRunCount": 1}, ["COMPLETED"], ""),  # one of each: not told apart
        ({"completedRunCount": 1}, ["COMPLETED"], ""),  # the counts do not hold them either
    ],
)
def test_runs_no_longer_known_take_a_status_only_when_the_final_counts_leave_no_doubt(
    summary: dict[str, int], known: list[str], inferred: str
) -> None:
    rows = [row("a", status=status) for status in known] + [removed(), removed(run_id="8")]
    batch = {"id": BATCH_ID, "status": "PROCESSED", "runSummary": summary}

    rows = outcome.infer_removed(rows, batch)

    assert [r.runStatus for r in rows[len(known) :]] == [inferred, inferred]


def test_runs_no_longer_known_are_left_alone_before_the_counts_are_final() -> None:
    rows = [removed()]
    assert outcome.infer_removed(rows, {"status": "INPROGRESS", "runSummary": {"completedRunCount": 1}}) == rows


# --- resubmission -----------------------------------------------------------------------------


def refused(reason: str) -> RunRow:
    return row("s1", "FAILED", "")._replace(submissionFailureReason=reason)


DEFAULT_POLICY = outcome.Resubmission(
    max_attempts=3, submission_failures=frozenset(outcome.RESUBMITTABLE_FAILURES), failed_runs=False
)


@pytest.mark.parametrize("reason", sorted(outcome.RESUBMITTABLE_FAILURES))
def test_transient_and_quota_refusals_are_resubmitted_in_either_spelling(reason: str) -> None:
    assert DEFAULT_POLICY.resubmits(refused(reason), attempt=1)
    assert DEFAULT_POLICY.resubmits(refused(reason.removesuffix("Exception")), attempt=2)


@pytest.mark.parametrize("reason", sorted(outcome.NEVER_RESUBMITTED))
def test_refusals_that_need_the_input_fixed_are_never_resubmitted(reason: str) -> None:
    everything = outcome.Resubmission(
        max_attempts=10, submission_failures=frozenset(outcome.RESUBMITTABLE_FAILURES), failed_runs=True
    )
    assert not everything.resubmits(refused(reason), attempt=1)


def test_the_last_attempt_is_not_resubmitted() -> None:
    assert not DEFAULT_POLICY.resubmits(refused("ServiceQuotaExceededException"), attempt=3)
    assert not outcome.NO_RESUBMISSION.resubmits(refused("ServiceQuotaExceededException"), attempt=1)


def test_failed_runs_only_when_asked_and_never_a_completed_or_unknown_one() -> None:
    with_runs = dataclasses.replace(DEFAULT_POLICY, failed_runs=True)
    assert not DEFAULT_POLICY.resubmits(row("s1", status="FAILED"), attempt=1)
    assert with_runs.resubmits(row("s1", status="FAILED"), attempt=1)
    assert not with_runs.resubmits(row("s1", status="COMPLETED"), attempt=1)
    assert not with_runs.resubmits(row("s1", status=""), attempt=1)  # unknown: it may be running


@pytest.mark.parametrize(
    ("status", "reason", "attempt", "resubmitted"),
    [
        ("FAILED", "There was a transient error in the service. Retry the batch.", 1, True),
        ("FAILED", "There was a transient error in the service. Retry the batch.", 3, False),  # the last attempt
        ("FAILED", "Expected 50 unique runSettingIds but there were 49", 1, False),  # needs the input fixed
        ("FAILED", "Batch has 100001 runs but 100000 runs is the max.", 1, False),
        ("CANCELLED", "There was a transient error in the service. Retry the batch.", 1, False),
    ],
)
def test_a_batch_that_failed_transiently_has_its_unsubmitted_runs_resubmitted(
    status: str, reason: str, attempt: int, resubmitted: bool
) -> None:
    policy = Resubmission(max_attempts=3, submission_failures=frozenset(), failed_runs=False)
    assert policy.resubmits_unsubmitted(status, reason, attempt) is resubmitted


def test_the_policy_travels_as_json_and_back() -> None:
    assert outcome.Resubmission.from_json(DEFAULT_POLICY.to_json()) == DEFAULT_POLICY
    assert outcome.Resubmission.from_json(None) == outcome.NO_RESUBMISSION
