"""`omics-batch retry`: the settings of the failed runs, ready for a new batch.

The batch in these tests has six settings: S001 and S004 completed, S002 failed while
running (ListRuns says so), S003 was refused at submission, S005's run is no longer
listed by ListRuns (GetRun says it failed), and S006 never got a run.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from omics_batch_cli import main as cli

from .clikit import BATCH_ID, GET_BATCH, Run, batch

SETTINGS = [
    {
        "runSettingId": f"S00{n}",
        "name": f"sample-{n}",
        "outputUri": f"s3://out/cohort-7/S00{n}/",
        "priority": n,
        "parameters": {"fastq_1": f"s3://in/S00{n}_R1.fq.gz", "lane": n, "paired": True},
        "outputBucketOwnerId": "111122223333",
        "runTags": {"sample": f"S00{n}"},
        "engineSettings": {"nextflow": {"resume": False}},
    }
    for n in range(1, 7)
]
RUNS_IN_BATCH = [
    {"runSettingId": "S001", "runId": "9000001", "submissionStatus": "SUCCESS"},
    {"runSettingId": "S002", "runId": "9000002", "submissionStatus": "SUCCESS"},
    {"runSettingId": "S003", "submissionStatus": "FAILED", "submissionFailureReason": "ServiceQuotaExceeded"},
    {"runSettingId": "S004", "runId": "9000004", "submissionStatus": "SUCCESS"},
    {"runSettingId": "S005", "runId": "9000005", "submissionStatus": "SUCCESS"},
]
LISTED_RUNS = [
    {"id": "9000001", "status": "COMPLETED", "batchId": BATCH_ID},
    {"id": "9000002", "status": "FAILED", "batchId": BATCH_ID},
    {"id": "9000004", "status": "COMPLETED", "batchId": BATCH_ID},
]
FAILED_SETTINGS = [SETTINGS[1], SETTINGS[2], SETTINGS[4]]  # S002, S003, S005, in file order


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(SETTINGS))
    return path


def expect_batch_and_runs(omics: Stubber, status: str = "PROCESSED") -> None:
    """GetBatch, then ListRuns for the run statuses, then ListRunsInBatch (two pages)."""
    omics.add_response("get_batch", batch(status, total=6), GET_BATCH)
    omics.add_response("list_runs", {"items": LISTED_RUNS}, {"batchId": BATCH_ID, "maxResults": 100})
    page = {"batchId": BATCH_ID, "maxItems": 100}
    omics.add_response("list_runs_in_batch", {"runs": RUNS_IN_BATCH[:3], "nextToken": "t1"}, page)
    omics.add_response("list_runs_in_batch", {"runs": RUNS_IN_BATCH[3:]}, {**page, "startingToken": "t1"})


def expect_get_run(omics: Stubber, status: str = "FAILED") -> None:
    omics.add_response("get_run", {"id": "9000005", "status": status}, {"id": "9000005"})


def test_retry_writes_the_failed_runs_settings_from_a_local_file(
    omics: Stubber, run_cli: Run, settings_file: Path, tmp_path: Path
) -> None:
    expect_batch_and_runs(omics)
    expect_get_run(omics)
    output = tmp_path / "retry.json"

    result = run_cli("retry", BATCH_ID, "--settings", str(settings_file), "-o", str(output))

    assert result.code == cli.EXIT_OK, result.err
    assert json.loads(output.read_text()) == FAILED_SETTINGS
    assert result.err.splitlines() == [
        f"wrote 3 run setting(s) to {output}: 1 failed to submit, 2 run(s) failed",
        "note: 1 setting(s) have no run in the batch (never submitted); not included",
    ]
    assert "s3" not in result.services  # a local file needs no S3 client


def test_retry_reads_the_settings_from_s3(omics: Stubber, s3: Stubber, run_cli: Run, tmp_path: Path) -> None:
    body = json.dumps(SETTINGS).encode()
    s3.add_response(
        "get_object",
        {"Body": StreamingBody(io.BytesIO(body), len(body)), "ContentLength": len(body)},
        {"Bucket": "settings-bucket", "Key": "batches/cohort-7/settings.json"},
    )
    expect_batch_and_runs(omics)
    expect_get_run(omics)
    output = tmp_path / "retry.json"

    result = run_cli(
        "retry", BATCH_ID, "--settings", "s3://settings-bucket/batches/cohort-7/settings.json", "-o", str(output)
    )

    assert result.code == cli.EXIT_OK, result.err
    assert json.loads(output.read_text()) == FAILED_SETTINGS


def test_retry_can_write_to_stdout(omics: Stubber, run_cli: Run, settings_file: Path) -> None:
    expect_batch_and_runs(omics)
    expect_get_run(omics, status="COMPLETED")

    result = run_cli("retry", BATCH_ID, "--settings", str(settings_file), "-o", "-")

    assert json.loads(result.out) == [SETTINGS[1], SETTINGS[2]]


def test_runs_beyond_the_get_run_limit_are_reported_and_exit_non_zero(
    omics: Stubber, run_cli: Run, settings_file: Path, tmp_path: Path
) -> None:
    expect_batch_and_runs(omics)  # no GetRun: the limit is 0
    output = tmp_path / "retry.json"

    result = run_cli("retry", BATCH_ID, "--settings", str(settings_file), "-o", str(output), "--max-get-run", "0")

    assert result.code == cli.EXIT_FAILED
    assert json.loads(output.read_text()) == [SETTINGS[1], SETTINGS[2]]
    assert "warning: the run status of 1 submitted run(s) could not be read" in result.err
    assert result.err.rstrip().endswith("not included: S005")


def test_a_run_the_service_no_longer_knows_is_reported_as_unknown(
    omics: Stubber, run_cli: Run, settings_file: Path, tmp_path: Path
) -> None:
    expect_batch_and_runs(omics)
    omics.add_client_error("get_run", "ResourceNotFoundException", "no run", 404, expected_params={"id": "9000005"})

    result = run_cli("retry", BATCH_ID, "--settings", str(settings_file), "-o", str(tmp_path / "r.json"))

    assert result.code == cli.EXIT_FAILED
    assert "not included: S005" in result.err


def test_retry_warns_when_the_batch_is_still_running(
    omics: Stubber, run_cli: Run, settings_file: Path, tmp_path: Path
) -> None:
    expect_batch_and_runs(omics, status="INPROGRESS")
    expect_get_run(omics)

    result = run_cli("retry", BATCH_ID, "--settings", str(settings_file), "-o", str(tmp_path / "r.json"))

    assert result.code == cli.EXIT_OK
    assert result.err.startswith(f"warning: batch {BATCH_ID} is INPROGRESS: runs may still fail after this\n")


def test_a_failed_run_missing_from_the_settings_file_is_an_error(omics: Stubber, run_cli: Run, tmp_path: Path) -> None:
    other_file = tmp_path / "other.json"
    other_file.write_text(json.dumps(SETTINGS[:2]))
    expect_batch_and_runs(omics)
    expect_get_run(omics)
    output = tmp_path / "retry.json"

    result = run_cli("retry", BATCH_ID, "--settings", str(other_file), "-o", str(output))

    assert result.code == cli.EXIT_FAILED
    assert result.err == ("error: 2 failed run(s) are not in the settings file (is it the batch's file?): S003, S005\n")
    assert not output.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[not json", "not valid JSON"),
        ('{"runSettingId": "S001"}', "expected a JSON array of run settings"),
        ('[{"name": "x"}]', "entry 0 has no runSettingId"),
        ('[{"runSettingId": "S1"}, {"runSettingId": "S1"}]', "runSettingId 'S1' appears more than once"),
    ],
)
def test_an_unusable_settings_file_is_refused_before_any_call(
    run_cli: Run, tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "settings.json"
    path.write_text(content)

    result = run_cli("retry", BATCH_ID, "--settings", str(path), "-o", str(tmp_path / "r.json"))

    assert result.code == cli.EXIT_FAILED
    assert result.err.startswith(f"error: {path}: {message}")
    assert result.services == []


def test_a_missing_settings_file_is_an_error_without_traceback(run_cli: Run, tmp_path: Path) -> None:
    result = run_cli("retry", BATCH_ID, "--settings", str(tmp_path / "nope.json"), "-o", str(tmp_path / "r.json"))

    assert result.code == cli.EXIT_FAILED
    assert result.err.startswith("error: [Errno 2] No such file or directory")
    assert "Traceback" not in result.err


def test_an_s3_uri_without_a_key_is_refused(run_cli: Run, tmp_path: Path) -> None:
    result = run_cli("retry", BATCH_ID, "--settings", "s3://bucket-only", "-o", str(tmp_path / "r.json"))

    assert result.code == cli.EXIT_FAILED
    assert result.err == "error: s3://bucket-only: not an s3://bucket/key URI\n"


# --- without --settings: the settings the cohort's manifest records, or an error saying to give them ---

OUTPUT_URI = "s3://lab-results/cohort-7/"
MANIFEST_KEY = f"cohort-7/batch-reports/batch-{BATCH_ID}/cohort.json"
PART_KEY = f"cohort-7/batch-reports/batch-{BATCH_ID}/parts/run-settings-0f3e5a.json"


def body(value: object) -> dict[str, object]:
    data = json.dumps(value).encode()
    return {"Body": StreamingBody(io.BytesIO(data), len(data)), "ContentLength": len(data)}


def deployed_batch() -> dict[str, object]:
    """GetBatch of a batch the construct deployed: its default run setting names the outputs."""
    default = {"workflowId": "1234567", "roleArn": "arn:aws:iam::111122223333:role/run", "outputUri": OUTPUT_URI}
    return {**batch("PROCESSED", total=6), "defaultRunSetting": default}


def test_retry_without_settings_of_a_batch_with_no_outputs_says_to_give_them(
    omics: Stubber, run_cli: Run, tmp_path: Path
) -> None:
    omics.add_response("get_batch", batch("PROCESSED", total=6), GET_BATCH)
    output = tmp_path / "retry.json"

    result = run_cli("retry", BATCH_ID, "-o", str(output))

    assert result.code == cli.EXIT_FAILED
    assert result.err == (
        f"error: no record of batch {BATCH_ID}'s run settings (the manifest of a tracked OmicsRunBatch's cohort "
        "records them, under its outputUri): give --settings FILE_OR_S3_URI, once per settings file\n"
    )
    assert not output.exists()
    assert "s3" not in result.services


def test_retry_without_settings_of_an_untracked_batch_says_to_give_them(
    omics: Stubber, s3: Stubber, run_cli: Run, tmp_path: Path
) -> None:
    omics.add_response("get_batch", deployed_batch(), GET_BATCH)
    s3.add_client_error(
        "get_object", "NoSuchKey", "gone", 404, expected_params={"Bucket": "lab-results", "Key": MANIFEST_KEY}
    )

    result = run_cli("retry", BATCH_ID, "-o", str(tmp_path / "retry.json"))

    assert result.code == cli.EXIT_FAILED
    assert result.err.startswith(f"error: no record of batch {BATCH_ID}'s run settings")
    assert result.err.endswith("give --settings FILE_OR_S3_URI, once per settings file\n")


def test_retry_without_settings_when_the_manifest_records_none_says_to_give_them(
    omics: Stubber, s3: Stubber, run_cli: Run, tmp_path: Path
) -> None:
    """A manifest written by an earlier release has no partFiles."""
    omics.add_response("get_batch", deployed_batch(), GET_BATCH)
    manifest = {"firstBatchId": BATCH_ID, "batches": [], "parts": 1, "done": True}
    s3.add_response("get_object", body(manifest), {"Bucket": "lab-results", "Key": MANIFEST_KEY})

    result = run_cli("retry", BATCH_ID, "-o", str(tmp_path / "retry.json"))

    assert result.code == cli.EXIT_FAILED
    assert result.err == (
        f"error: the manifest of cohort {BATCH_ID} records no settings files (its tracking has not checked it yet, "
        "or is of an earlier release): give --settings FILE_OR_S3_URI, once per settings file\n"
    )


def test_retry_without_settings_reads_the_files_the_manifest_records(
    omics: Stubber, s3: Stubber, run_cli: Run, tmp_path: Path
) -> None:
    omics.add_response("get_batch", deployed_batch(), GET_BATCH)
    part = f"s3://lab-results/{PART_KEY}"
    manifest = {"firstBatchId": BATCH_ID, "batches": [], "parts": 1, "done": True, "partFiles": [part]}
    s3.add_response("get_object", body(manifest), {"Bucket": "lab-results", "Key": MANIFEST_KEY})
    s3.add_response("get_object", body(SETTINGS), {"Bucket": "lab-results", "Key": PART_KEY})
    omics.add_response("list_runs", {"items": LISTED_RUNS}, {"batchId": BATCH_ID, "maxResults": 100})
    page = {"batchId": BATCH_ID, "maxItems": 100}
    omics.add_response("list_runs_in_batch", {"runs": RUNS_IN_BATCH}, page)
    expect_get_run(omics)
    output = tmp_path / "retry.json"

    result = run_cli("retry", BATCH_ID, "-o", str(output))

    assert result.code == cli.EXIT_OK, result.err
    assert json.loads(output.read_text()) == FAILED_SETTINGS
    assert (
        result.err.splitlines()[0]
        == f"note: reading the run settings the manifest of cohort {BATCH_ID} records: {part}"
    )


def test_a_run_setting_in_two_files_is_retried_with_the_later_files_settings(
    omics: Stubber, run_cli: Run, tmp_path: Path
) -> None:
    """A growing cohort's later part holds the settings a revision changed: a retry file never has an id twice."""
    changed = {**SETTINGS[1], "parameters": {"fastq_1": "s3://in/S002_R1.v2.fq.gz"}}
    first, later = tmp_path / "part-0.json", tmp_path / "part-1.json"
    first.write_text(json.dumps(SETTINGS))
    later.write_text(json.dumps([changed]))
    expect_batch_and_runs(omics)
    expect_get_run(omics)

    result = run_cli("retry", BATCH_ID, "--settings", str(first), "--settings", str(later), "-o", "-")

    assert result.code == cli.EXIT_OK, result.err
    assert json.loads(result.out) == [changed, SETTINGS[2], SETTINGS[4]]
