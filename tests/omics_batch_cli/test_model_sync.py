"""The CLI's names and limits agree with botocore's omics model and with the handler."""

from __future__ import annotations

from typing import Any

import pytest

from omics_batch_cli import batches as cli_api
from omics_batch_cli import view as cli_view

from .clikit import new_client


@pytest.fixture(scope="module")
def model() -> Any:
    return new_client("omics").meta.service_model


def test_batch_id_check_is_the_models_batch_id_shape(model: Any) -> None:
    shape = model.shape_for("BatchId")
    assert shape.metadata["pattern"] == "[0-9]+"
    assert cli_api.BATCH_ID_PATTERN.pattern == f"[0-9]{{{shape.metadata['min']},{shape.metadata['max']}}}"
    for operation in ("GetBatch", "ListRunsInBatch"):
        assert model.operation_model(operation).input_shape.members["batchId"].name == "BatchId"


def test_terminal_statuses_are_batch_statuses(model: Any) -> None:
    assert cli_api.TERMINAL_STATUSES <= set(model.shape_for("BatchStatus").enum)


def test_failed_is_both_a_submission_and_a_run_status(model: Any) -> None:
    assert cli_api.FAILED in model.shape_for("SubmissionStatus").enum
    assert cli_api.FAILED in model.shape_for("RunStatus").enum
    assert cli_api.SUCCEEDED_STATUS in model.shape_for("BatchStatus").enum


def test_every_count_shown_is_a_member_of_the_batch_summaries(model: Any) -> None:
    submission = {key for _, key in cli_view.SUBMISSION_COUNTS + cli_view.LATER_SUBMISSION_COUNTS}
    runs = {key for _, key in cli_view.RUN_COUNTS}
    assert submission == set(model.shape_for("SubmissionSummary").members)
    assert runs == set(model.shape_for("RunSummary").members)
    assert set(cli_view.FINISHED_RUN_KEYS) <= runs


def test_run_columns_are_members_of_a_run_batch_list_item(model: Any) -> None:
    assert set(cli_view.RUN_COLUMNS) <= set(model.shape_for("RunBatchListItem").members)


@pytest.mark.parametrize(("operation", "limit"), [("ListRunsInBatch", "maxItems"), ("ListRuns", "maxResults")])
def test_page_size_is_the_largest_the_list_operations_allow(model: Any, operation: str, limit: str) -> None:
    member = model.operation_model(operation).input_shape.members[limit]
    assert member.metadata["max"] == cli_api.PAGE_SIZE
    assert "batchId" in model.operation_model(operation).input_shape.members
