"""`omics-batch runs`: every run across ListRunsInBatch pages, as a table, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from botocore.stub import Stubber

from omics_batch_cli import main as cli

from .clikit import BATCH_ID, GET_BATCH, Run, batch

PAGE = {"batchId": BATCH_ID, "maxItems": 100}


def run_item(number: int, **extra: Any) -> dict[str, Any]:
    item = {
        "runSettingId": f"S{number:03d}",
        "runId": f"{9000000 + number}",
        "runArn": f"arn:aws:omics:us-east-1:111122223333:run/{9000000 + number}",
        "submissionStatus": "SUCCESS",
    }
    return {**item, **extra}


REFUSED = {
    "runSettingId": "S003",
    "submissionStatus": "FAILED",
    "submissionFailureReason": "ServiceQuotaExceeded",
    "submissionFailureMessage": "Too many active runs",
}
ALL_RUNS = [run_item(1), run_item(2), REFUSED, run_item(4)]


@pytest.fixture
def three_pages(omics: Stubber) -> Stubber:
    """ListRunsInBatch answering in three pages, chained by nextToken (a batch of no cohort)."""
    omics.add_response("get_batch", batch("PROCESSED"), GET_BATCH)
    omics.add_response("list_runs_in_batch", {"runs": ALL_RUNS[:2], "nextToken": "t1"}, PAGE)
    omics.add_response(
        "list_runs_in_batch", {"runs": ALL_RUNS[2:3], "nextToken": "t2"}, {**PAGE, "startingToken": "t1"}
    )
    omics.add_response("list_runs_in_batch", {"runs": ALL_RUNS[3:]}, {**PAGE, "startingToken": "t2"})
    return omics


def test_runs_lists_every_page_as_a_table(three_pages: Stubber, run_cli: Run) -> None:
    result = run_cli("runs", BATCH_ID)

    assert result.code == cli.EXIT_OK
    assert result.out.splitlines() == [
        "RUN SETTING ID  RUN ID   SUBMISSION  FAILURE",
        "S001            9000001  SUCCESS",
        "S002            9000002  SUCCESS",
        "S003            -        FAILED      ServiceQuotaExceeded: Too many active runs",
        "S004            9000004  SUCCESS",
    ]


def test_runs_csv_parses_back_to_the_api_fields(three_pages: Stubber, run_cli: Run) -> None:
    result = run_cli("runs", BATCH_ID, "--csv")

    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert result.code == cli.EXIT_OK
    assert [row["runSettingId"] for row in rows] == ["S001", "S002", "S003", "S004"]
    assert rows[2] == {
        "runSettingId": "S003",
        "runId": "",
        "submissionStatus": "FAILED",
        "submissionFailureReason": "ServiceQuotaExceeded",
        "submissionFailureMessage": "Too many active runs",
    }


def test_runs_json_parses_back_to_the_api_items(three_pages: Stubber, run_cli: Run) -> None:
    result = run_cli("runs", BATCH_ID, "--json")

    assert result.code == cli.EXIT_OK
    assert json.loads(result.out) == ALL_RUNS


def test_runs_of_a_batch_without_runs_is_an_empty_array(omics: Stubber, run_cli: Run) -> None:
    omics.add_response("get_batch", batch("PROCESSED"), GET_BATCH)
    omics.add_response("list_runs_in_batch", {"runs": []}, PAGE)

    assert run_cli("runs", BATCH_ID, "--json").out == "[]\n"


def test_csv_and_json_together_are_a_usage_error(run_cli: Run, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_cli("runs", BATCH_ID, "--csv", "--json")

    assert exit_info.value.code == cli.EXIT_USAGE
    assert "not allowed with argument" in capsys.readouterr().err


def test_access_denied_prints_the_message_and_no_traceback(omics: Stubber, run_cli: Run) -> None:
    omics.add_response("get_batch", batch("PROCESSED"), GET_BATCH)
    omics.add_client_error(
        "list_runs_in_batch",
        "AccessDeniedException",
        "not authorized to perform omics:ListRunsInBatch",
        403,
        expected_params=PAGE,
    )

    result = run_cli("runs", BATCH_ID)

    assert result.code == cli.EXIT_FAILED
    assert result.err == "error: AccessDeniedException: not authorized to perform omics:ListRunsInBatch\n"
