"""`omics-batch status [--watch]`: what is printed, how long it follows, how it exits."""

from __future__ import annotations

import pytest
from botocore.stub import Stubber

from omics_batch_cli import main as cli
from omics_batch_cli import view

from .clikit import BATCH_ID, GET_BATCH, Run, batch

RUNNING = batch(
    "INPROGRESS",
    successfulStartSubmissionCount=3,
    pendingStartSubmissionCount=1,
    runningRunCount=2,
    completedRunCount=1,
)
PROCESSED = batch("PROCESSED", successfulStartSubmissionCount=4, completedRunCount=4)


def test_status_prints_status_submission_and_run_counts(omics: Stubber, run_cli: Run) -> None:
    omics.add_response("get_batch", RUNNING, GET_BATCH)

    result = run_cli("status", BATCH_ID)

    assert result.code == cli.EXIT_OK
    assert result.out.splitlines() == [
        f"Batch {BATCH_ID} (cohort-7): INPROGRESS",
        "  total runs:  4",
        "  submissions: succeeded 3, failed 0, pending 1",
        "  runs:        pending 0, starting 0, running 2, stopping 0, completed 1, failed 0, cancelled 0, deleted 0",
    ]
    assert result.sleeps == []


def test_watch_follows_until_processed_and_exits_0(omics: Stubber, run_cli: Run) -> None:
    for response in (batch("PENDING", total=None), RUNNING, PROCESSED):
        omics.add_response("get_batch", response, GET_BATCH)

    result = run_cli("status", BATCH_ID, "--watch", "--interval", "7.5")

    assert result.code == cli.EXIT_OK
    assert result.sleeps == [7.5, 7.5]
    assert "PENDING: submitted 0/? (0 failed), finished 0/? (0 failed)" in result.out
    assert "PROCESSED: submitted 4/4 (0 failed), finished 4/4 (0 failed)" in result.out
    assert f"Batch {BATCH_ID} (cohort-7): PROCESSED" in result.out


def test_watch_of_processed_batch_with_failed_runs_exits_non_zero(omics: Stubber, run_cli: Run) -> None:
    omics.add_response(
        "get_batch",
        batch("PROCESSED", successfulStartSubmissionCount=4, completedRunCount=3, failedRunCount=1),
        GET_BATCH,
    )

    result = run_cli("status", BATCH_ID, "--watch", "--interval", "0")

    assert result.code == cli.EXIT_FAILED
    assert "finished 4/4 (1 failed)" in result.out


def test_watch_of_processed_batch_with_failed_submissions_exits_non_zero(omics: Stubber, run_cli: Run) -> None:
    omics.add_response(
        "get_batch",
        batch("PROCESSED", successfulStartSubmissionCount=3, failedStartSubmissionCount=1, completedRunCount=3),
        GET_BATCH,
    )

    assert run_cli("status", BATCH_ID, "--watch").code == cli.EXIT_FAILED


def test_watch_to_failed_prints_the_failure_reason(omics: Stubber, run_cli: Run) -> None:
    reason = "Expected 50 unique runSettingIds but there were 49"
    omics.add_response("get_batch", batch("PENDING", total=None), GET_BATCH)
    omics.add_response("get_batch", batch("FAILED", total=None, failure_reason=reason), GET_BATCH)

    result = run_cli("status", BATCH_ID, "--watch", "--interval", "0")

    assert result.code == cli.EXIT_FAILED
    assert result.sleeps == [0.0]
    assert f"  failure:     {reason}" in result.out.splitlines()


@pytest.mark.parametrize("status", ["CANCELLED", "RUNS_DELETED", "RUNS_DELETE_FAILED"])
def test_watch_stops_at_every_other_terminal_status_with_non_zero_exit(
    omics: Stubber, run_cli: Run, status: str
) -> None:
    omics.add_response("get_batch", batch(status), GET_BATCH)

    result = run_cli("status", BATCH_ID, "--watch")

    assert result.code == cli.EXIT_FAILED
    assert result.sleeps == []


def test_watch_keeps_polling_through_a_status_it_does_not_know(omics: Stubber, run_cli: Run) -> None:
    for response in (batch("RESHARDING_SOMETHING_NEW"), batch("STOPPING"), PROCESSED):
        omics.add_response("get_batch", response, GET_BATCH)

    result = run_cli("status", BATCH_ID, "--watch", "--interval", "0")

    assert result.code == cli.EXIT_OK
    assert result.sleeps == [0.0, 0.0]
    assert "RESHARDING_SOMETHING_NEW: submitted" in result.out


def test_ctrl_c_during_watch_exits_130_with_a_short_message(omics: Stubber, run_cli: Run) -> None:
    omics.add_response("get_batch", RUNNING, GET_BATCH)

    def interrupted(_seconds: float) -> None:
        raise KeyboardInterrupt

    result = run_cli("status", BATCH_ID, "--watch", sleep=interrupted)

    assert result.code == cli.EXIT_INTERRUPTED
    assert result.err == "interrupted (the batch itself is not affected)\n"
    assert "Traceback" not in result.out + result.err


def test_ctrl_c_in_the_live_view_exits_130_too(omics: Stubber, run_cli: Run) -> None:
    omics.add_response("get_batch", RUNNING, GET_BATCH)

    def interrupted(_seconds: float) -> None:
        raise KeyboardInterrupt

    assert run_cli("status", BATCH_ID, "--watch", sleep=interrupted, tty=True).code == cli.EXIT_INTERRUPTED


def test_watch_into_a_pipe_prints_plain_lines_only_when_something_changed(omics: Stubber, run_cli: Run) -> None:
    for response in (RUNNING, RUNNING, RUNNING, PROCESSED):
        omics.add_response("get_batch", response, GET_BATCH)

    result = run_cli("status", BATCH_ID, "--watch", "--interval", "0")

    progress = [line for line in result.out.splitlines() if ": submitted " in line]
    assert len(progress) == 2  # the repeated INPROGRESS polls print nothing new
    assert all(line[:8].count(":") == 2 for line in progress)  # HH:MM:SS first
    assert "\x1b" not in result.out and "\r" not in result.out
    assert all(ch == "\n" or ch >= " " for ch in result.out)


def test_service_text_cannot_put_control_characters_into_the_output(omics: Stubber, run_cli: Run) -> None:
    omics.add_response("get_batch", batch("FAILED", failure_reason="bad\x1b[2Jinput\rfile"), GET_BATCH)

    result = run_cli("status", BATCH_ID)

    assert "  failure:     bad?[2Jinput?file" in result.out.splitlines()


def test_watch_on_a_terminal_draws_rich_progress_bars(omics: Stubber, run_cli: Run) -> None:
    omics.add_response("get_batch", RUNNING, GET_BATCH)
    omics.add_response("get_batch", PROCESSED, GET_BATCH)

    result = run_cli("status", BATCH_ID, "--watch", "--interval", "0", tty=True)

    assert result.code == cli.EXIT_OK
    assert "\x1b[" in result.out  # drawn in place, not printed line by line
    assert "submitted" in result.out and "finished" in result.out and "4/4" in result.out
    assert "PROCESSED" in result.out


def test_unknown_batch_prints_the_service_message_without_traceback(omics: Stubber, run_cli: Run) -> None:
    omics.add_client_error(
        "get_batch", "ResourceNotFoundException", "Batch 1234567 not found", 404, expected_params=GET_BATCH
    )

    result = run_cli("status", BATCH_ID, "--watch")

    assert result.code == cli.EXIT_FAILED
    assert result.err == "error: ResourceNotFoundException: Batch 1234567 not found\n"
    assert result.out == ""


def test_a_terminal_without_rich_gets_plain_lines(
    omics: Stubber, run_cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rich comes with the [cli] extra: without it, the command still watches, in plain lines."""
    monkeypatch.setattr(view, "has_rich", lambda: False)
    for response in (RUNNING, PROCESSED):
        omics.add_response("get_batch", response, GET_BATCH)

    result = run_cli("status", BATCH_ID, "--watch", "--interval", "0", tty=True)

    assert result.code == 0
    assert "\x1b" not in result.out and any(": submitted " in line for line in result.out.splitlines())
