"""What the command shows agrees with botocore's omics model (the outcome rules have tests of their own)."""

from __future__ import annotations

from typing import Any

import pytest

from omics_batch_cli import view as cli_view

from .clikit import new_client


@pytest.fixture(scope="module")
def model() -> Any:
    return new_client("omics").meta.service_model


def test_every_count_shown_is_a_member_of_the_batch_summaries(model: Any) -> None:
    submission = {key for _, key in cli_view.SUBMISSION_COUNTS + cli_view.LATER_SUBMISSION_COUNTS}
    runs = {key for _, key in cli_view.RUN_COUNTS}
    assert submission == set(model.shape_for("SubmissionSummary").members)
    assert runs == set(model.shape_for("RunSummary").members)
    assert set(cli_view.FINISHED_RUN_KEYS) <= runs


def test_run_columns_are_members_of_a_run_batch_list_item(model: Any) -> None:
    assert set(cli_view.RUN_COLUMNS) <= set(model.shape_for("RunBatchListItem").members)
