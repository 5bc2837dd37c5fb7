"""``check``: the cohort's batches followed, ended ones settled, resubmissions and later parts started.

Against the HealthOmics stand-in (which reads the settings files from moto's S3, as the service
reads them as the run role) with the tracker's real code; S3 is moto's.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from tracker_testkit import REPORT_BUCKET, REPORT_URI, SETTINGS_BUCKET, SETTINGS_KEY, SETTINGS_URI

from omics_batch_construct_runtime import contract, layout, lifecycle, s3files
from omics_batch_construct_runtime.clients import Clients
from omics_batch_construct_runtime.errors import ApiError
from omics_batch_construct_runtime.layout import CohortLayout
from omics_batch_construct_runtime.manifest import ManifestStore
from tests.standin.healthomics import HealthOmics, ServiceError
from tests.tracking import checks
from tracker import cohort, index
from tracker.errors import BatchNotFound, Throttled
from tracker.index import handle

DEFAULT = {"workflowId": "9876543", "roleArn": "arn:aws:iam::123456789012:role/run", "outputUri": "s3://out/runs/"}
START = {"defaultRunSetting": DEFAULT, "tags": {"team": "genomics"}, "batchName": "cohort-a"}
QUOTA = "ServiceQuotaExceededException"
PART_1_KEY = "part-1.json"


def entries(*ids: str) -> list[dict[str, Any]]:
    return [{"runSettingId": i, "parameters": {"sample": f"s3://in/{i}.bam", "threads": 4}} for i in ids]


def put(s3: Any, key: str, value: Any) -> str:
    s3.put_object(Bucket=SETTINGS_BUCKET, Key=key, Body=json.dumps(value).encode())
    return f"s3://{SETTINGS_BUCKET}/{key}"


def deploy(service: HealthOmics, s3: Any, ids: tuple[str, ...] = ("s1", "s2", "s3")) -> str:
    """What the deploy did: the settings file, and the cohort's first batch."""
    put(s3, SETTINGS_KEY, entries(*ids))
    started = service.StartRunBatch(
        {"requestId": "deploy", "defaultRunSetting": DEFAULT, "batchRunSettings": {"s3UriSettings": SETTINGS_URI}}
    )
    service.set_status(started["id"], "SUBMITTING")
    return str(started["id"])


def config(
    parts: list[dict[str, Any]] | None = None, resubmission: Any = "default", start: dict[str, Any] = START
) -> dict[str, Any]:
    if resubmission == "default":
        resubmission = {"maxAttempts": 3, "submissionFailures": [QUOTA], "failedRuns": False}
    return {
        "parts": parts or [{"settingsUri": SETTINGS_URI}],
        "resubmission": resubmission,
        "start": json.dumps(start),
        "reportUri": REPORT_URI,
        "topicArn": None,
    }


def check(clients: Clients, first: str, state: Any = None, **kwargs: Any) -> dict[str, Any]:
    result = dict(handle({"action": "check", "batchId": first, "cohort": state, "config": config(**kwargs)}, clients))
    json.dumps(result)  # what the state machine carries must be JSON
    return result


def run_checks(clients: Clients, first: str, state: Any = None, **kwargs: Any) -> dict[str, Any]:
    """Checks as the state machine makes them: again at once while a check says so."""
    return checks.run_checks(clients, {"batchId": first, "cohort": state, "config": config(**kwargs)})


def manifest_of(s3: Any, first: str) -> Any:
    return read_json(s3, f"{REPORT_URI}batch-{first}/{layout.MANIFEST}")


def keys(s3: Any) -> list[str]:
    return sorted(item["Key"] for item in s3.list_objects_v2(Bucket=REPORT_BUCKET).get("Contents", []))


def read_json(s3: Any, uri: str) -> Any:
    bucket, _, key = uri[5:].partition("/")
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


# --- following the batches ----------------------------------------------------------------------


def test_a_batch_still_submitting_is_followed_and_nothing_starts(
    service: HealthOmics, s3: Any, cohort_clients: Clients
) -> None:
    first = deploy(service, s3)

    result = check(cohort_clients, first)

    assert (result["done"], result["again"], result["continue"]) == (False, False, False)
    assert result["cohort"]["batches"] == [
        {
            "batchId": first,
            "part": 0,
            "attempt": 1,
            "status": "SUBMITTING",
            "settled": False,
            "totalRuns": 0,
            "failureReason": "",
            "startedAt": 0.0,
            "settingsUri": "",
            # What the cohort's metrics sum (the stand-in has not submitted a run yet).
            "counts": {"completed": 0, "failed": 0, "notFinished": 0, "submissionFailed": 0},
        }
    ]
    assert len(service.started()) == 1
    # The manifest is there from the first check, so the command can follow the cohort at once, and
    # the part's settings are kept beside it (a later revision's deploy reads every part there).
    (kept,) = [key for key in keys(s3) if "/parts/" in key]
    assert keys(s3) == sorted([f"runs/batch-reports/batch-{first}/{layout.MANIFEST}", kept])
    assert json.loads(s3.get_object(Bucket=REPORT_BUCKET, Key=kept)["Body"].read()) == entries("s1", "s2", "s3")
    manifest = read_json(s3, f"s3://{REPORT_BUCKET}/runs/batch-reports/batch-{first}/{layout.MANIFEST}")
    assert manifest["done"] is False and [b["batchId"] for b in manifest["batches"]] == [first]
    check(cohort_clients, first, result["cohort"])
    assert len(keys(s3)) == 2  # and written once: a later check with nothing new writes nothing


def test_a_clean_batch_is_settled_and_the_cohort_is_done(
    service: HealthOmics, s3: Any, cohort_clients: Clients
) -> None:
    first = deploy(service, s3)
    service.finish(first)

    result = check(cohort_clients, first)

    assert result["done"] is True
    assert result["cohort"]["batches"][0]["settled"] is True
    rows = s3.get_object(Bucket=REPORT_BUCKET, Key=f"runs/batch-reports/batch-{first}/batches/{first}.jsonl")
    assert [json.loads(line)["runSettingId"] for line in rows["Body"].read().splitlines()] == ["s1", "s2", "s3"]
    assert len(service.started()) == 1


def test_a_vanished_batch_is_batch_not_found(service: HealthOmics, s3: Any, cohort_clients: Clients) -> None:
    first = deploy(service, s3)
    service.batches[first].deleted = True

    with pytest.raises(BatchNotFound, match=f"Batch {first} not found"):
        check(cohort_clients, first)


# --- resubmission -------------------------------------------------------------------------------


def test_quota_refusals_are_resubmitted_with_their_original_settings(
    service: HealthOmics, s3: Any, cohort_clients: Clients
) -> None:
    first = deploy(service, s3)
    service.finish(first, refused={"s2": QUOTA, "s3": "ValidationException"})

    settled = check(cohort_clients, first)
    assert (settled["done"], settled["again"], len(service.started())) == (False, True, 1)  # a check settles or starts
    result = check(cohort_clients, first, settled["cohort"])

    assert (result["done"], result["again"]) == (False, True)  # read the new batch at once
    _, retry = service.started()
    assert retry.request["batchName"] == f"c{first}-p0a2"
    assert retry.request["requestId"] == contract.cohort_request_id(first, 0, 2)
    assert retry.request["tags"] == {"team": "genomics", "omics-batch-construct:cohort": first}
    assert retry.request["defaultRunSetting"] == DEFAULT
    uri = retry.request["batchRunSettings"]["s3UriSettings"]
    assert uri.startswith(f"{REPORT_URI}batch-{first}/resubmit/run-settings-")
    assert retry.settings == entries("s2")  # the quota refusal only; the validation error needs fixing
    recorded = manifest_of(s3, first)["batches"]
    assert recorded == [
        {"batchId": first, "part": 0, "attempt": 1},
        {"batchId": retry.id, "part": 0, "attempt": 2, "startedAt": recorded[1]["startedAt"], "settingsUri": uri},
    ]
    assert abs(recorded[1]["startedAt"] - time.time()) < 60  # a batch this new may not be readable yet
    assert "starting" not in manifest_of(s3, first)  # started, and named by its id


def test_a_retried_check_finds_the_batch_it_started(service: HealthOmics, s3: Any, cohort_clients: Clients) -> None:
    first = deploy(service, s3)
    service.finish(first, refused={"s2": QUOTA})
    state = check(cohort_clients, first)["cohort"]  # settled: the resubmission is queued

    once = check(cohort_clients, first, state)
    again = check(cohort_clients, first, state)  # the same input: Step Functions retried the task

    assert [b["batchId"] for b in once["cohort"]["batches"]] == [b["batchId"] for b in again["cohort"]["batches"]]
    assert len(service.started()) == 2


def test_a_retried_check_starts_what_it_started_even_if_another_batch_ended_meanwhile(
    service: HealthOmics, s3: Any, cohort_clients: Clients
) -> None:
    """The first try started the queued resubmission and failed after; by the retry, another batch
    of the cohort has ended. The retry starts the same batch again (found by its requestId): had
    it settled the other batch instead, the batch started first would be in no state nor manifest."""
    first = deploy(service, s3)
    parts = [{"settingsUri": SETTINGS_URI}, {"settingsUri": put(s3, PART_1_KEY, entries("t1", "t2"))}]
    service.set_status(first, "INPROGRESS")
    state = run_checks(cohort_clients, first, parts=parts)["cohort"]  # part 1 started
    part_1 = service.started()[1].id
    service.finish(part_1, refused={"t2": QUOTA})
    state = check(cohort_clients, first, state, parts=parts)["cohort"]  # part 1 settled: t2 queued

    once = check(cohort_clients, first, state, parts=parts)
    service.finish(first)  # part 0 ends before the retry
    again = check(cohort_clients, first, state, parts=parts)

    assert [b["batchId"] for b in once["cohort"]["batches"]] == [b["batchId"] for b in again["cohort"]["batches"]]
    assert len(service.started()) == 3
    assert [b["batchId"] for b in manifest_of(s3, first)["batches"]] == [b.id for b in service.started()]


def test_a_batch_being_started_is_named_in_the_manifest_before_its_start(
    service: HealthOmics, s3: Any, cohort_clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    """So a destroy that stopped the tracking while this check ran finds it, by its name."""
    first = deploy(service, s3)
    service.finish(first, refused={"s2": QUOTA})
    state = check(cohort_clients, first)["cohort"]

    def refused(params: dict[str, Any]) -> dict[str, Any]:
        raise ServiceError("InternalServerException", "try later", 500)

    monkeypatch.setattr(service, "StartRunBatch", refused)
    with pytest.raises(Throttled):
        check(cohort_clients, first, state)

    starting = manifest_of(s3, first)["starting"]
    assert starting["batchName"] == f"c{first}-p0a2"
    assert abs(starting["requestedAt"] - time.time()) < 60


def test_the_short_spelling_of_a_failure_reason_is_matched_too(
    service: HealthOmics, s3: Any, cohort_clients: Clients
) -> None:
    first = deploy(service, s3)
    service.finish(first, refused={"s1": "ThrottlingException", "s2": "Throttling", "s3": "Throttled"})
    policy = {"maxAttempts": 2, "submissionFailures": ["ThrottlingException"], "failedRuns": False}

    run_checks(cohort_clients, first, resubmission=policy)

    assert [e["runSettingId"] for e in service.started()[1].settings] == ["s1", "s2"]


@pytest.mark.parametrize(
    ("resubmission", "resubmitted"),
    [
        (None, []),  # retry off
        ({"maxAttempts": 1, "submissionFailures": [QUOTA], "failedRuns": True}, []),  # one submission only
        ({"maxAttempts": 3, "submissionFailures": [QUOTA], "failedRuns": False}, ["s2"]),
        ({"maxAttempts": 3, "submissionFailures": [QUOTA], "failedRuns": True}, ["s1", "s2"]),  # file order
    ],
    ids=["retry off", "one attempt", "submissions only", "and failed runs"],
)
def test_the_policy_decides_what_is_resubmitted(
    service: HealthOmics, s3: Any, cohort_clients: Clients, resubmission: Any, resubmitted: list[str]
) -> None:
    first = deploy(service, s3)
    service.finish(first, refused={"s2": QUOTA}, failed={"s1"})

    result = run_checks(cohort_clients, first, resubmission=resubmission)

    assert result["done"] is not resubmitted
    assert [e["runSettingId"] for b in service.started()[1:] for e in b.settings] == resubmitted


def test_attempts_stop_at_the_policys_maximum(service: HealthOmics, s3: Any, cohort_clients: Clients) -> None:
    policy = {"maxAttempts": 2, "submissionFailures": [QUOTA], "failedRuns": False}
    first = deploy(service, s3)
    service.finish(first, refused={"s2": QUOTA})
    state = run_checks(cohort_clients, first, resubmission=policy)["cohort"]
    service.finish(service.started()[1].id, refused={"s2": QUOTA})  # refused again

    result = run_checks(cohort_clients, first, state, resubmission=policy)

    assert result["done"] is True
    assert len(service.started()) == 2


def test_a_resubmissions_settings_file_is_never_written_over(
    service: HealthOmics, s3: Any, cohort_clients: Clients
) -> None:
    """HealthOmics fails a batch whose settings file changed: the key is the content's, and kept."""
    first = deploy(service, s3)
    service.finish(first, refused={"s2": QUOTA})
    run_checks(cohort_clients, first)
    uri = service.started()[1].request["batchRunSettings"]["s3UriSettings"]
    bucket, _, key = uri[5:].partition("/")
    etag = s3.head_object(Bucket=bucket, Key=key)["ETag"]
    s3.put_object(Bucket=bucket, Key=key, Body=b"[]", Metadata={"marker": "kept"})  # if written over, this goes

    written = cohort.write_settings(
        s3, cohort.Config.from_event({"config": config()}, first), lambda: iter(entries("s2")), first
    )

    assert written == (uri, 1)

    assert s3.head_object(Bucket=bucket, Key=key)["Metadata"] == {"marker": "kept"}
    assert etag != s3.head_object(Bucket=bucket, Key=key)["ETag"]  # (the marker's own body)


# --- parts --------------------------------------------------------------------------------------


def test_the_next_part_starts_once_the_previous_one_has_submitted_all_its_runs(
    service: HealthOmics, s3: Any, cohort_clients: Clients
) -> None:
    first = deploy(service, s3)
    part_1 = put(s3, PART_1_KEY, entries("t1", "t2"))
    parts = [{"settingsUri": SETTINGS_URI}, {"settingsUri": part_1}]

    waiting = check(cohort_clients, first, parts=parts)
    assert (waiting["done"], len(service.started())) == (False, 1)  # part 0 still SUBMITTING
    service.set_status(first, "INPROGRESS")
    started = check(cohort_clients, first, waiting["cohort"], parts=parts)

    part = service.started()[1]
    kept = part.request["batchRunSettings"]["s3UriSettings"]  # the part's own file, kept in the cohort's folder
    assert kept.startswith(f"{REPORT_URI}batch-{first}/parts/run-settings-")
    assert read_json(s3, kept) == entries("t1", "t2")
    assert part.request["batchName"] == f"c{first}-p1a1"
    assert started["cohort"]["nextPart"] == 2 and started["again"] is True


def test_one_batch_of_the_cohort_submits_at_a_time(service: HealthOmics, s3: Any, cohort_clients: Clients) -> None:
    first = deploy(service, s3)
    parts = [{"settingsUri": SETTINGS_URI}, {"settingsUri": put(s3, PART_1_KEY, entries("t1", "t2"))}]
    service.set_status(first, "INPROGRESS")
    state = check(cohort_clients, first, parts=parts)["cohort"]  # part 1 started, now SUBMITTING
    part_1 = service.started()[1].id
    service.set_status(part_1, "SUBMITTING")
    service.finish(first, refused={"s2": QUOTA})  # part 0 ends with a refusal

    waiting = check(cohort_clients, first, state, parts=parts)
    assert len(service.started()) == 2  # the resubmission waits for part 1's submissions
    assert waiting["cohort"]["queue"] and waiting["cohort"]["queue"][0]["attempt"] == 2
    service.set_status(part_1, "INPROGRESS")
    check(cohort_clients, first, waiting["cohort"], parts=parts)

    assert [b.request.get("batchName") for b in service.started()[2:]] == [f"c{first}-p0a2"]


def test_a_first_check_that_starts_a_part_still_records_the_parts(
    service: HealthOmics, s3: Any, cohort_clients: Clients
) -> None:
    """The deploy's batch submitted all its runs before the tracking's first check: that check starts
    part 1, and the next one records the cohort's parts, which a revision's deploy reads."""
    first = deploy(service, s3)
    parts = [{"settingsUri": SETTINGS_URI}, {"settingsUri": put(s3, PART_1_KEY, entries("t1", "t2"))}]
    service.set_status(first, "INPROGRESS")
    store = ManifestStore(s3, CohortLayout(REPORT_URI, first))
    state = check(cohort_clients, first, parts=parts)["cohort"]
    assert len(service.started()) == 2 and store.read().part_files == ()  # type: ignore[union-attr]

    check(cohort_clients, first, state, parts=parts)

    recorded = store.read()
    assert recorded is not None and len(recorded.part_files) == 2
    assert [read_json(s3, uri) for uri in recorded.part_files][1] == entries("t1", "t2")


def test_a_long_cohort_asks_for_a_fresh_execution(service: HealthOmics, s3: Any, cohort_clients: Clients) -> None:
    first = deploy(service, s3)
    state = check(cohort_clients, first)["cohort"]
    state["checks"] = cohort.CHECKS_PER_EXECUTION - 1

    assert check(cohort_clients, first, state)["continue"] is True


def test_a_part_queued_behind_a_resubmission_waits_its_turn(
    service: HealthOmics, s3: Any, cohort_clients: Clients
) -> None:
    """Four parts: part 2 is queued behind part 0's resubmission, and part 3 waits until part 2 has started."""
    first = deploy(service, s3)
    parts = [{"settingsUri": SETTINGS_URI}] + [
        {"settingsUri": put(s3, f"part-{n}.json", entries(f"p{n}a", f"p{n}b"))} for n in (1, 2, 3)
    ]
    service.set_status(first, "INPROGRESS")
    state = run_checks(cohort_clients, first, parts=parts)["cohort"]  # part 1 started
    part_1 = service.started()[1].id
    service.set_status(part_1, "SUBMITTING")
    service.finish(first, refused={"s2": QUOTA})
    state = run_checks(cohort_clients, first, state, parts=parts)["cohort"]  # part 0 settled, s2 queued
    service.set_status(part_1, "INPROGRESS")

    result = run_checks(cohort_clients, first, state, parts=parts)

    names = [b.request.get("batchName") for b in service.started()[1:]]
    assert names == [f"c{first}-p1a1", f"c{first}-p0a2"]  # the resubmission first, one at a time
    assert [(s["part"], s["attempt"]) for s in result["cohort"]["queue"]] == [(2, 1)]
    assert result["cohort"]["nextPart"] == 3  # part 3 waits for part 2's own start
    for batch in service.started()[2:]:
        service.set_status(batch.id, "INPROGRESS")
    run_checks(cohort_clients, first, result["cohort"], parts=parts)
    assert [b.request.get("batchName") for b in service.started()[3:]] == [f"c{first}-p2a1"]


def test_a_status_this_release_does_not_know_holds_the_next_start(
    service: HealthOmics, s3: Any, cohort_clients: Clients
) -> None:
    first = deploy(service, s3)
    parts = [{"settingsUri": SETTINGS_URI}, {"settingsUri": put(s3, PART_1_KEY, entries("t1", "t2"))}]
    service.set_status(first, "QUEUED_FOR_SUBMISSION")  # a status added to the API after this release

    result = run_checks(cohort_clients, first, parts=parts)

    assert (result["done"], len(service.started()), result["cohort"]["nextPart"]) == (False, 1, 1)


def test_a_batch_just_started_and_not_readable_yet_is_waited_for(
    service: HealthOmics, s3: Any, cohort_clients: Clients
) -> None:
    """Eventual consistency: GetBatch may not find a batch StartRunBatch just answered with. It
    counts as submitting (nothing else starts) until the grace has passed; then it is gone."""
    first = deploy(service, s3)
    service.finish(first, refused={"s2": QUOTA})
    state = check(cohort_clients, first)["cohort"]
    service.hide_new_batches_for = 3
    started = check(cohort_clients, first, state)  # starts the resubmission, then reads it at once

    waiting = check(cohort_clients, first, started["cohort"])

    assert (waiting["done"], waiting["again"]) == (False, False)
    assert waiting["cohort"]["batches"][1]["status"] == ""
    late = dict(waiting["cohort"])
    late["batches"] = [dict(b) for b in late["batches"]]
    late["batches"][1]["startedAt"] -= contract.NOT_VISIBLE_GRACE_SECONDS + 1
    with pytest.raises(BatchNotFound):
        check(cohort_clients, first, late)


def test_the_first_check_writes_the_manifest_even_when_it_settles(
    service: HealthOmics, s3: Any, cohort_clients: Clients
) -> None:
    first = deploy(service, s3)
    service.finish(first, refused={"s2": QUOTA})  # ended before the tracker first looked

    check(cohort_clients, first)

    assert [b["batchId"] for b in manifest_of(s3, first)["batches"]] == [first]


def test_a_conflicting_conditional_write_is_tried_again(
    service: HealthOmics, s3: Any, cohort_clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S3 answers 409 ConditionalRequestConflict to a conditional write racing another: transient."""
    first = deploy(service, s3)
    service.finish(first, refused={"s2": QUOTA})

    real_call = s3files.call

    def call(client: Any, operation: str, batch_id: str, **params: Any) -> Any:
        if operation == "PutObject" and params.get("IfNoneMatch") == "*":
            raise ApiError(operation, "ConditionalRequestConflict", "a conflicting operation is in progress")
        return real_call(client, operation, batch_id, **params)

    monkeypatch.setattr(s3files, "call", call)

    with pytest.raises(Throttled):
        check(cohort_clients, first)


# --- a batch that failed transiently ----------------------------------------------------------------

TRANSIENT = "There was a transient error in the service. Retry the batch."


def test_a_batch_that_failed_transiently_before_submitting_is_resubmitted_whole(
    service: HealthOmics, s3: Any, cohort_clients: Clients
) -> None:
    """It listed no run: every setting it was given is its run, and goes again (attempt 2)."""
    first = deploy(service, s3)
    service.finish(first, refused={})
    service.batches[first].runs = []  # it submitted nothing
    service.set_status(first, "FAILED", failure_reason=TRANSIENT)

    run_checks(cohort_clients, first)

    _, again = service.started()
    assert again.request["batchName"] == f"c{first}-p0a2"
    assert again.settings == entries("s1", "s2", "s3")


def test_a_tracker_started_batch_that_failed_transiently_midway_resubmits_what_it_never_listed(
    service: HealthOmics, s3: Any, cohort_clients: Clients
) -> None:
    """Attempt 2 was given s2 and s3, listed s2 (refused for quota) and failed before s3: both go again."""
    first = deploy(service, s3)
    service.finish(first, refused={"s2": QUOTA, "s3": QUOTA})
    state = run_checks(cohort_clients, first)["cohort"]
    second = service.started()[1]
    assert [e["runSettingId"] for e in second.settings] == ["s2", "s3"]
    service.finish(second.id, refused={"s2": QUOTA})
    second.runs = second.runs[:1]  # it listed s2 only
    service.set_status(second.id, "FAILED", failure_reason=TRANSIENT)

    run_checks(cohort_clients, first, state)

    third = service.started()[2]
    assert third.request["batchName"] == f"c{first}-p0a3"
    assert [e["runSettingId"] for e in third.settings] == ["s2", "s3"]


def test_a_failure_that_needs_the_input_fixed_is_not_resubmitted(
    service: HealthOmics, s3: Any, cohort_clients: Clients
) -> None:
    first = deploy(service, s3)
    service.finish(first, refused={})
    service.batches[first].runs = []
    service.set_status(first, "FAILED", failure_reason="Expected 3 unique runSettingIds but there were 2")

    assert run_checks(cohort_clients, first)["done"] is True
    assert len(service.started()) == 1


# --- settling across invocations ----------------------------------------------------------------------


class SlowService:
    """A clock HealthOmics' list calls move on by ``seconds`` each: how long a settle's calls take."""

    def __init__(self, client: Any, seconds: float) -> None:
        self.now = 0.0
        self.calls = 0
        self.seconds = seconds
        client.meta.events.register("provide-client-params.omics.*", self._tick, unique_id=f"slow-{id(self)}")
        self.client = client

    def _tick(self, model: Any, **_: Any) -> None:
        if model.name in ("ListRuns", "ListRunsInBatch", "GetRun"):
            self.now += self.seconds
            self.calls += 1

    def close(self) -> None:
        self.client.meta.events.unregister("provide-client-params.omics.*", unique_id=f"slow-{id(self)}")


def test_a_batch_whose_every_list_call_is_slow_settles_across_invocations_none_over_its_timeout(
    service: HealthOmics, s3: Any, cohort_clients: Clients
) -> None:
    """20,000 runs, 5 s a list call: 400 calls, 2,000 s of them; each check (an invocation of 900 s)
    lists until its budget and saves where it is, and the next goes on from there."""
    ids = tuple(f"s{i}" for i in range(20_000))
    first = deploy(service, s3, ids)
    service.finish(first)
    slow = SlowService(cohort_clients.omics, seconds=5)
    budget = contract.TRACKER_TIMEOUT_SECONDS - index.WORK_MARGIN_SECONDS
    invocations: list[float] = []
    state: Any = None
    try:
        while True:
            began = slow.now
            event = {"action": "check", "batchId": first, "cohort": state, "config": config()}
            result = handle(event, cohort_clients, lifecycle.time_budget(budget, clock=lambda: slow.now))
            invocations.append(slow.now - began)
            state = result["cohort"]
            if result["done"]:
                break
            assert result["again"] and len(invocations) < 20
    finally:
        slow.close()

    assert max(invocations) <= contract.TRACKER_TIMEOUT_SECONDS - index.WORK_MARGIN_SECONDS + 5
    assert len(invocations) >= 4 and slow.calls == 400
    rows = [
        json.loads(line)
        for line in s3.get_object(Bucket=REPORT_BUCKET, Key=f"runs/batch-reports/batch-{first}/batches/{first}.jsonl")[
            "Body"
        ].iter_lines()
    ]
    assert [row["runSettingId"] for row in rows] == list(ids)
    assert {row["runStatus"] for row in rows} == {"COMPLETED"}


def test_an_execution_of_another_definitions_configuration_acts_on_nothing(
    service: HealthOmics, s3: Any, cohort_clients: Clients
) -> None:
    """A cohort resumed on a state machine a replacement has changed since: its configuration holds
    another definition's default run setting. Its first check is refused, and it starts nothing."""
    first = deploy(service, s3)
    service.finish(first, refused={"s2": QUOTA})
    check(cohort_clients, first)  # the manifest names the configuration the cohort is tracked with
    other = {**START, "defaultRunSetting": {**DEFAULT, "workflowId": "1111111"}}

    result = check(cohort_clients, first, start=other)

    assert result["released"] is True
    assert len(service.started()) == 1
