"""The insight function: ended runs' events from its queue, recorded with their cost and failure.

HealthOmics is the stand-in (GetRun, GetBatch and its tags), CloudWatch Logs and S3 are moto's
(the manifests as HealthOmics writes them; the records read back), the Price List API a stand-in
behind a real botocore client. Every fault is the service's: throttling, AccessDenied, a run
deleted before its event is handled, a manifest not written yet, a message delivered twice.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from insight import index
from omics_batch_construct_runtime import contract, runcost, runrecords
from omics_batch_construct_runtime.clients import Clients
from omics_batch_construct_runtime.errors import ApiError
from omics_batch_construct_runtime.layout import CohortLayout
from omics_batch_construct_runtime.manifest import Manifest, ManifestStore
from omics_batch_construct_runtime.omics import omics_client
from tests.standin.healthomics import HealthOmics, Run
from tests.standin.pricing import PriceList, pricing_client
from tests.standin.workflowlog import put_manifest, put_records, task_record

REGION = "us-east-1"
BUCKET = "out"
REPORT_URI = f"s3://{BUCKET}/runs/batch-reports/"
START = datetime.datetime(2026, 4, 1, 8, 0, tzinfo=datetime.UTC)


@dataclass
class World:
    service: HealthOmics
    prices: PriceList
    clients: Clients
    s3: Any
    logs: Any

    def cohort(self, samples: list[str], *, failed: frozenset[str] = frozenset(), ours: bool = True) -> list[Run]:
        """A batch the deploy started (its definition tag), ended; its cohort's manifest under our prefix."""
        answer = self.clients.omics.start_run_batch(
            requestId=f"req-{len(self.service.batches)}",
            defaultRunSetting={"workflowId": "1234567", "roleArn": "arn:aws:iam::123456789012:role/run"},
            batchRunSettings={"inlineSettings": [{"runSettingId": s} for s in samples]},
            tags={contract.DEFINITION_TAG: "key"},
        )
        batch = self.service.finish(
            answer["id"], failed=failed, failure_reasons={s: "OUT_OF_MEMORY_ERROR" for s in failed}
        )
        if ours:
            ManifestStore(self.s3, CohortLayout(REPORT_URI, batch.id)).update(lambda _: Manifest(batch.id))
        return batch.runs

    def manifest(self, run: Run, *, failed_task: bool = False) -> None:
        """Its manifest: STATIC 1,200 GiB for 2 hours; an omics.c.large task of 1 hour and one of 30 s."""
        put_manifest(
            self.logs,
            run.run_id,
            run.uuid,
            storage_type="STATIC",
            storage_capacity=1200,
            start=START,
            stop=START + datetime.timedelta(hours=2),
            tasks=[
                task_record("align", "omics.c.large", START, 3600),
                task_record(
                    "qc",
                    "omics.c.large",
                    START + datetime.timedelta(hours=1),
                    30,
                    status="FAILED" if failed_task else "COMPLETED",
                ),
            ],
        )

    def records(self, batch_id: str) -> dict[str, dict[str, str]]:
        """The batch's records as written, by run uuid."""
        return {r["runUuid"]: r for r in runrecords.read(self.s3, CohortLayout(REPORT_URI, batch_id), batch_id)}


# By hand: compute 0.1148 $/h x (1 h + 1 min billed for 30 s) = 0.116713..; storage 1,200 GiB x
# 0.0001918 $/GiB-h x 2 h = 0.46032.
COMPUTE, STORAGE, TOTAL = "0.1167", "0.4603", "0.5770"


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        logs = boto3.client("logs", region_name=REGION)
        omics = omics_client(region_name=REGION, config=Config(retries={"total_max_attempts": 1}))
        pricing = pricing_client(attempts=1)
        service, prices = HealthOmics(), PriceList()
        with service.serving(omics), prices.serving(pricing):
            index._cohorts = None
            yield World(service, prices, Clients(omics=omics, s3=s3, logs=logs, pricing=pricing), s3, logs)


def message(run: Run, receives: int = 1, **detail: Any) -> dict[str, Any]:
    event = run.status_event()
    event["detail"].update(detail)
    return {
        "messageId": f"m-{run.run_id}-{receives}",
        "body": json.dumps(event),
        "attributes": {"ApproximateReceiveCount": str(receives)},
    }


def capture(world: World, *messages: dict[str, Any]) -> list[str]:
    answer = index.capture(list(messages), world.clients, REPORT_URI, REGION)
    return [item["itemIdentifier"] for item in answer["batchItemFailures"]]


def test_each_ended_run_is_recorded_with_its_cost_and_failure(world: World) -> None:
    done, failed = world.cohort(["s1", "s2"], failed=frozenset({"s2"}))
    world.manifest(done)
    world.manifest(failed, failed_task=True)

    assert capture(world, message(done), message(failed)) == []

    records = world.records(world.service.started()[0].id)
    first, second = records[done.uuid], records[failed.uuid]
    assert (first["computeCostUsd"], first["storageCostUsd"], first["costUsd"]) == (COMPUTE, STORAGE, TOTAL)
    assert first["status"] == "COMPLETED" and first["failureReason"] == "" and first["failedTask"] == ""
    assert second["failureReason"] == "OUT_OF_MEMORY_ERROR" and second["failedTask"] == "qc"
    assert second["runId"] == failed.run_id and second["note"] == ""


def test_prices_are_read_once_a_cohort_and_kept(world: World) -> None:
    runs = world.cohort(["s1", "s2", "s3"])
    for run in runs:
        world.manifest(run)
    capture(world, message(runs[0]))
    capture(world, message(runs[1]))
    asked = len(world.prices.calls)
    assert asked == 2  # the instance type and the run storage, once each

    index._cohorts = None  # a new container reads the cohort's prices.json instead
    capture(world, message(runs[2]))
    assert len(world.prices.calls) == asked
    prices = CohortLayout(REPORT_URI, world.service.started()[0].id).prices
    kept = json.loads(world.s3.get_object(Bucket=BUCKET, Key=_key(prices))["Body"].read())
    assert {k: Decimal(v) for k, v in kept["prices"].items()} == {
        "omics.c.large": Decimal("0.1148"),
        "Run Storage": Decimal("0.0001918"),
    }


def _key(uri: str) -> str:
    return uri.split("/", 3)[3]


def test_runs_of_other_cohorts_are_left_alone(world: World) -> None:
    (theirs,) = world.cohort(["s1"], ours=False)  # a cohort of another construct (or report prefix)
    world.manifest(theirs)
    world.service.age(index.YOUNG_BATCH_SECONDS + 60)  # not one whose tracking is about to write its manifest
    plain = world.clients.omics.start_run_batch(
        requestId="untagged",
        defaultRunSetting={"workflowId": "1", "roleArn": "arn:aws:iam::123456789012:role/run"},
        batchRunSettings={"inlineSettings": [{"runSettingId": "x"}]},
    )
    (untagged,) = world.service.finish(plain["id"]).runs

    assert capture(world, message(theirs), message(untagged)) == []

    assert world.s3.list_objects_v2(Bucket=BUCKET, Prefix="runs/batch-reports/batch-").get("KeyCount") == 0
    assert world.prices.calls == []


def test_a_run_whose_manifest_is_not_written_yet_waits_then_is_recorded_without_cost(world: World) -> None:
    (run,) = world.cohort(["s1"])

    assert capture(world, message(run, receives=1)) == [f"m-{run.run_id}-1"]
    assert world.records(world.service.started()[0].id) == {}

    assert capture(world, message(run, receives=index.MANIFEST_WAIT_RECEIVES)) == []
    record = world.records(world.service.started()[0].id)[run.uuid]
    assert record["costUsd"] == "" and record["note"] == runrecords.NO_MANIFEST and record["status"] == "COMPLETED"


def test_a_throttled_read_sends_back_only_its_own_message(world: World) -> None:
    first, second = world.cohort(["s1", "s2"])
    world.manifest(first)
    world.manifest(second)
    world.service.fail("GetRun", "ThrottlingException", 400)

    assert capture(world, message(first), message(second)) == [f"m-{first.run_id}-1"]
    assert set(world.records(world.service.started()[0].id)) == {second.uuid}


def test_access_denied_sends_the_message_back_and_says_why(world: World, caplog: pytest.LogCaptureFixture) -> None:
    (run,) = world.cohort(["s1"])
    world.manifest(run)
    world.prices.fail("GetProducts", "AccessDeniedException", 400)

    assert capture(world, message(run)) == [f"m-{run.run_id}-1"]
    assert "GetProducts failed" in caplog.text and "AccessDeniedException" in caplog.text


def test_a_message_delivered_twice_makes_the_same_record(world: World) -> None:
    (run,) = world.cohort(["s1"])
    world.manifest(run)
    capture(world, message(run))
    capture(world, message(run, receives=2))

    listed = world.s3.list_objects_v2(Bucket=BUCKET, Prefix="runs/batch-reports/")["Contents"]
    assert len([item for item in listed if "/runs/" in item["Key"].split("batch-reports/")[1]]) == 1


def test_a_run_deleted_before_its_event_is_handled_is_skipped(world: World) -> None:
    (run,) = world.cohort(["s1"])
    world.manifest(run)
    run.deleted = True  # gone from GetRun: the report looks it up by its uuid

    assert capture(world, message(run)) == []
    assert world.records(world.service.started()[0].id) == {}


def test_an_event_for_another_run_that_now_has_the_id_is_skipped(world: World) -> None:
    (run,) = world.cohort(["s1"])
    world.manifest(run)

    assert capture(world, message(run, uuid="0b0e2b8c-0000-4000-8000-000000000000")) == []
    assert world.records(world.service.started()[0].id) == {}


def test_runs_still_going_are_not_recorded(world: World) -> None:
    (run,) = world.cohort(["s1"])
    run.status = "RUNNING"
    assert capture(world, message(run)) == []
    assert "GetRun" not in world.service.names()


def test_the_run_id_comes_from_the_event(world: World) -> None:
    (run,) = world.cohort(["s1"])
    event = run.status_event()
    assert index.run_id_of(event) == run.run_id
    assert index.run_id_of({**event, "detail": {"runId": "42", "status": "COMPLETED"}}) == "42"
    assert index.run_id_of({"detail": {}, "resources": []}) == ""


def test_a_run_of_a_deleted_batch_is_left_to_the_report(world: World) -> None:
    (run,) = world.cohort(["s1"])
    world.manifest(run)
    world.service.batches[world.service.started()[0].id].deleted = True  # DeleteBatch: GetBatch says not found

    assert capture(world, message(run)) == []
    assert world.records(world.service.started()[0].id) == {}


def test_a_young_cohort_without_its_manifest_yet_gets_its_runs_recorded_later(world: World) -> None:
    first, second = world.cohort(["s1", "s2"], ours=False)
    world.manifest(first)
    world.manifest(second)
    assert capture(world, message(first)) == [f"m-{first.run_id}-1"]  # its tracking has not written cohort.json yet
    batch_id = world.service.started()[0].id
    ManifestStore(world.s3, CohortLayout(REPORT_URI, batch_id)).update(lambda _: Manifest(batch_id))

    assert capture(world, message(first, receives=2), message(second)) == []

    assert set(world.records(batch_id)) == {first.uuid, second.uuid}


def test_an_unreadable_manifest_is_recorded_as_such_and_spares_the_others(world: World) -> None:
    bad, good = world.cohort(["s1", "s2"])
    put_records(world.logs, bad.run_id, bad.uuid, ["not json"])
    world.manifest(good)

    assert capture(world, message(bad), message(good)) == []

    records = world.records(world.service.started()[0].id)
    assert records[bad.uuid]["note"].startswith("run manifest unreadable") and records[bad.uuid]["costUsd"] == ""
    assert records[good.uuid]["costUsd"] == TOTAL


def test_a_failure_of_one_message_sends_back_that_message_alone(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    broken, fine = world.cohort(["s1", "s2"])
    world.manifest(broken)
    world.manifest(fine)
    real = runcost.run_cost

    def run_cost(manifest: Any, prices: Any) -> Any:
        if manifest.run_id == broken.run_id:
            raise RuntimeError("a bug")
        return real(manifest, prices)

    monkeypatch.setattr(runcost, "run_cost", run_cost)

    assert capture(world, message(broken), message(fine)) == [f"m-{broken.run_id}-1"]
    assert set(world.records(world.service.started()[0].id)) == {fine.uuid}
    assert "RuntimeError: a bug" in caplog.text


def test_messages_past_the_deadline_go_back_untouched(world: World) -> None:
    first, second = world.cohort(["s1", "s2"])
    world.manifest(first)
    world.manifest(second)
    calls = iter([False, True])

    answer = index.capture([message(first), message(second)], world.clients, REPORT_URI, REGION, lambda: next(calls))

    assert [item["itemIdentifier"] for item in answer["batchItemFailures"]] == [f"m-{second.run_id}-1"]
    assert set(world.records(world.service.started()[0].id)) == {first.uuid}  # what was done is written


def test_a_priced_record_wins_over_one_without_cost(world: World) -> None:
    (run,) = world.cohort(["s1"])
    batch_id = world.service.started()[0].id
    layout = CohortLayout(REPORT_URI, batch_id)
    base = {"runId": run.run_id, "runUuid": run.uuid, "batchId": batch_id, "status": "COMPLETED"}
    runrecords.write(world.s3, layout, batch_id, [{**base, "costUsd": "1.0000", "note": ""}])
    runrecords.write(world.s3, layout, batch_id, [{**base, "costUsd": "", "note": runrecords.NO_MANIFEST}])

    assert runrecords.by_run(world.s3, layout, [batch_id])[run.uuid]["costUsd"] == "1.0000"


# --- the cohort's cost metric ---------------------------------------------------------------------


def emitted(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The embedded metric format documents the function printed."""
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return [line for line in lines if "_aws" in line]


def test_each_priced_run_adds_its_cost_to_the_cohorts_metric(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    done, failed, unpriced = world.cohort(["s1", "s2", "s3"], failed=frozenset({"s2"}))
    world.manifest(done)
    world.manifest(failed, failed_task=True)
    # No manifest after its last wait: recorded without a cost, so not in the metric.
    last = index.MANIFEST_WAIT_RECEIVES

    assert capture(world, message(done), message(failed), message(unpriced, receives=last)) == []

    (document,) = emitted(capsys)
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive == {
        "Namespace": "OmicsRunBatch",
        "Dimensions": [["Cohort"]],
        "Metrics": [{"Name": "RunCostUsd", "Unit": "None"}],
    }
    # One value a run (never a dimension): Sum is the cost, SampleCount the runs priced.
    assert document["Cohort"] == world.service.started()[0].id
    assert document["RunCostUsd"] == [float(TOTAL), float(TOTAL)]


def test_runs_whose_records_are_not_written_are_not_counted(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (run,) = world.cohort(["s1"])
    world.manifest(run)

    def refused(*args: Any, **kwargs: Any) -> None:
        raise ApiError("PutObject", "AccessDenied", "not authorized", http_status=403)

    monkeypatch.setattr(index.runrecords, "write", refused)

    assert capture(world, message(run)) == [f"m-{run.run_id}-1"]  # delivered again, counted then
    assert emitted(capsys) == []
