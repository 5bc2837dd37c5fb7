"""`omics-batch` on a cohort's first batch: status follows every batch, runs and retry see every attempt.

The cohort is made as in production: the HealthOmics stand-in plays the service, the
tracker's own ``check`` and ``report`` start the resubmission and keep the manifest (in
moto's S3), and the command reads them through the same clients.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from moto import mock_aws

from omics_batch_cli import main as cli
from omics_batch_construct_runtime import layout
from omics_batch_construct_runtime.clients import Clients
from omics_batch_construct_runtime.omics import omics_client
from tests.standin.healthomics import HealthOmics
from tests.tracking import checks

from .clikit import FakeClients, Result

BUCKET = "cohort-output"
OUTPUT_URI = f"s3://{BUCKET}/runs/"
DEFAULT = {"workflowId": "9876543", "roleArn": "arn:aws:iam::123456789012:role/run", "outputUri": OUTPUT_URI}
QUOTA = "ServiceQuotaExceededException"
SETTINGS = [{"runSettingId": s, "parameters": {"sample": f"s3://in/{s}.bam"}} for s in ("S1", "S2", "S3")]


class Cohort(checks.TrackedCohort):
    """A deployed cohort of three runs with the default retry policy, and its tracker."""

    def __init__(self, service: HealthOmics, omics: Any, s3: Any) -> None:
        self.service, self.omics, self.s3 = service, omics, s3
        s3.put_object(Bucket=BUCKET, Key="settings.json", Body=json.dumps(SETTINGS).encode())
        started = service.StartRunBatch(
            {
                "requestId": "deploy",
                "defaultRunSetting": DEFAULT,
                "batchRunSettings": {"s3UriSettings": f"s3://{BUCKET}/settings.json"},
            }
        )
        self.first = str(started["id"])
        service.set_status(self.first, "INPROGRESS")
        self.config = {
            "parts": [{"settingsUri": f"s3://{BUCKET}/settings.json"}],
            "resubmission": {"maxAttempts": 3, "submissionFailures": [QUOTA], "failedRuns": False},
            "start": json.dumps({"defaultRunSetting": DEFAULT, "tags": {}}),
            "reportUri": layout.report_uri(OUTPUT_URI),
        }
        self.clients = Clients(omics=omics, s3=s3, events=_events())


def _events() -> Any:
    """EventBridge that takes the completion event (moto's, inside the mock)."""
    return boto3.client("events", region_name="us-east-1")


@contextmanager
def deployed() -> Iterator[Cohort]:
    """A cohort just deployed: moto's S3 and the HealthOmics stand-in behind a real client."""
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        service = HealthOmics(s3=s3)
        omics = omics_client(region_name="us-east-1")
        with service.serving(omics):
            yield Cohort(service, omics, s3)


@pytest.fixture
def cohort() -> Iterator[Cohort]:
    with deployed() as cohort:
        yield cohort


@pytest.fixture
def run(cohort: Cohort) -> Callable[..., Result]:
    def run_cli(*argv: str, sleep: Callable[[float], None] | None = None) -> Result:
        sleeps: list[float] = []
        clients = FakeClients({"omics": cohort.omics, "s3": cohort.s3})
        stdout, stderr = io.StringIO(), io.StringIO()
        code = cli.main(list(argv), clients=clients, sleep=sleep or sleeps.append, stdout=stdout, stderr=stderr)
        return Result(code, stdout.getvalue(), stderr.getvalue(), sleeps, clients.asked)

    return run_cli


def resubmitted(cohort: Cohort, *, second_fails: bool = False) -> str:
    """S2 refused for quota, resubmitted as attempt 2 (which completes, or fails)."""
    cohort.check()  # the manifest, from the first check
    cohort.service.finish(cohort.first, refused={"S2": QUOTA})
    cohort.check()  # settles the first batch, starts the resubmission
    again = cohort.service.started()[1].id
    cohort.service.finish(again, failed={"S2"} if second_fails else set())
    return again


def test_status_shows_every_batch_of_the_cohort(cohort: Cohort, run: Callable[..., Result]) -> None:
    again = resubmitted(cohort)
    result = run("status", cohort.first)
    assert result.code == cli.EXIT_OK
    assert f"Cohort of batch {cohort.first}: 2 batch(es), tracking" in result.out
    assert f"  batch {again}  part 0  attempt 2  PROCESSED" in result.out


@pytest.mark.parametrize("command", ["status", "runs"])
def test_a_later_batch_of_the_cohort_finds_the_whole_cohort(
    cohort: Cohort, run: Callable[..., Result], command: str
) -> None:
    again = resubmitted(cohort)
    result = run(command, again)
    assert result.code == cli.EXIT_OK
    if command == "status":
        assert f"Cohort of batch {cohort.first}: 2 batch(es), tracking" in result.out
    else:
        assert cohort.first in result.out and again in result.out


def test_watch_follows_the_cohort_until_the_tracker_reported(cohort: Cohort, run: Callable[..., Result]) -> None:
    cohort.check()
    cohort.service.finish(cohort.first, refused={"S2": QUOTA})
    steps = iter(
        [
            cohort.check,  # the resubmission starts
            lambda: cohort.service.finish(cohort.service.started()[1].id),
            lambda: (cohort.check(), cohort.report()),
        ]
    )

    result = run("status", cohort.first, "--watch", "--interval", "5", sleep=lambda seconds: next(steps)())

    assert result.code == cli.EXIT_OK  # the cohort ended clean, though its first batch did not
    again = cohort.service.started()[1].id
    assert f"batch {again} (part 0, attempt 2): PROCESSED" in result.out
    assert "done, PROCESSED, succeeded" in result.out
    assert "counts:      runs 3, completed 3, failed 0" in result.out


def test_watch_exits_1_when_the_last_attempt_still_failed(cohort: Cohort, run: Callable[..., Result]) -> None:
    resubmitted(cohort, second_fails=True)
    cohort.check()
    cohort.report()
    result = run("status", cohort.first, "--watch")
    assert result.code == cli.EXIT_FAILED
    assert "done, PROCESSED, not clean" in result.out and "retry file:" in result.out


def test_runs_lists_every_attempt_with_its_batch(cohort: Cohort, run: Callable[..., Result]) -> None:
    again = resubmitted(cohort)
    result = run("runs", cohort.first, "--csv")
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert [(r["runSettingId"], r["submissionStatus"], r["attempt"], r["batchId"]) for r in rows] == [
        ("S1", "SUCCESS", "1", cohort.first),
        ("S2", "FAILED", "1", cohort.first),
        ("S3", "SUCCESS", "1", cohort.first),
        ("S2", "SUCCESS", "2", again),
    ]


def test_retry_takes_each_runs_last_attempt(cohort: Cohort, run: Callable[..., Result], tmp_path: Any) -> None:
    resubmitted(cohort, second_fails=True)
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps(SETTINGS))
    out = tmp_path / "retry.json"
    result = run("retry", cohort.first, "--settings", str(settings), "-o", str(out))
    assert result.code == cli.EXIT_OK
    assert json.loads(out.read_text()) == [SETTINGS[1]]  # failed again in attempt 2
    assert "still being tracked" in result.err


def test_retry_of_a_cohort_resubmitted_clean_writes_nothing(
    cohort: Cohort, run: Callable[..., Result], tmp_path: Any
) -> None:
    resubmitted(cohort)
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps(SETTINGS))
    result = run("retry", cohort.first, "--settings", str(settings), "-o", "-")
    assert json.loads(result.out) == []  # refused once, completed on its second submission


# --- cancel and delete: what finishes a destroy the custom resource's hour cut short -------------


def test_cancel_without_yes_says_what_it_would_do_and_touches_nothing(
    cohort: Cohort, run: Callable[..., Result]
) -> None:
    cohort.check()
    cohort.service.finish(cohort.first, refused={"S2": QUOTA})
    cohort.check()  # the resubmission starts
    again = cohort.service.started()[1].id

    result = run("cancel", cohort.first)

    assert result.code == cli.EXIT_USAGE
    assert f"would cancel batches {cohort.first}, {again} and their runs; give --yes" in result.err
    assert cohort.service.batches[again].status == "CREATING"


def test_cancel_reaches_every_batch_of_the_cohort_and_waits_until_they_stopped(
    cohort: Cohort, run: Callable[..., Result]
) -> None:
    cohort.check()
    cohort.service.finish(cohort.first, refused={"S2": QUOTA})
    cohort.check()
    again = cohort.service.started()[1].id
    cohort.service.set_status(again, "INPROGRESS")

    def stopping_ends(_: float) -> None:
        cohort.service.set_status(again, "CANCELLED")

    result = run("cancel", cohort.first, "--yes", sleep=stopping_ends)

    assert result.code == cli.EXIT_OK, result.err
    assert "warning: cohort" in result.err  # still tracked: the stack should be destroyed first
    assert f"batch {again}: INPROGRESS" in result.out and f"batch {again}: done" in result.out
    assert cohort.service.batches[again].status == "CANCELLED"
    assert cohort.service.batches[cohort.first].status == "PROCESSED"  # ended: nothing to cancel


def test_delete_takes_further_batch_ids_when_the_first_is_gone(cohort: Cohort, run: Callable[..., Result]) -> None:
    cohort.check()
    cohort.service.finish(cohort.first, refused={"S2": QUOTA})
    cohort.check()
    again = cohort.service.started()[1].id
    cohort.service.finish(again)
    cohort.service.batches[cohort.first].deleted = True

    def deletion_ends(_: float) -> None:
        for batch in cohort.service.started():
            if batch.status == "RUNS_DELETING":
                batch.status = "RUNS_DELETED"

    result = run("delete", cohort.first, again, "--yes", sleep=deletion_ends)

    assert result.code == cli.EXIT_OK, result.err
    assert f"batch {cohort.first} is gone" in result.err
    assert cohort.service.batches[again].deleted


# --- retry without --settings: the settings files the manifest records ---------------------------


def test_retry_without_settings_reads_the_parts_the_manifest_records(
    cohort: Cohort, run: Callable[..., Result], tmp_path: Any
) -> None:
    resubmitted(cohort, second_fails=True)
    out = tmp_path / "retry.json"

    result = run("retry", cohort.first, "-o", str(out))

    assert result.code == cli.EXIT_OK, result.err
    assert json.loads(out.read_text()) == [SETTINGS[1]]  # failed again in attempt 2
    folder = layout.CohortLayout(layout.report_uri(OUTPUT_URI), cohort.first).prefix
    note = f"note: reading the run settings the manifest of cohort {cohort.first} records: {folder}parts/run-settings-"
    assert result.err.startswith(note), result.err


def test_retry_without_settings_before_the_tracker_recorded_them_says_to_give_them(
    cohort: Cohort, run: Callable[..., Result], tmp_path: Any
) -> None:
    out = tmp_path / "retry.json"

    result = run("retry", cohort.first, "-o", str(out))  # no check yet: no manifest

    assert result.code == cli.EXIT_FAILED
    assert result.err == (
        f"error: no record of batch {cohort.first}'s run settings (the manifest of a tracked OmicsRunBatch's cohort "
        "records them, under its outputUri): give --settings FILE_OR_S3_URI, once per settings file\n"
    )
    assert not out.exists()
