"""The runs of samples a growing cohort's revision removed (provider/withdraw.py), one poll at a time,
against the HealthOmics stand-in and moto's S3: what a run's state says is the only memory."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import Aws
from provider_testkit import OUTPUT_BUCKET, clients

from omics_batch_construct_runtime import contract, s3files
from omics_batch_construct_runtime.errors import BatchError
from omics_batch_construct_runtime.layout import CohortLayout
from omics_batch_construct_runtime.manifest import Manifest, ManifestStore, Member
from provider import withdraw
from tests.standin.healthomics import HealthOmics

REPORT = f"s3://{OUTPUT_BUCKET}/out/batch-reports/"
ENTRIES = [{"runSettingId": f"S{i}", "parameters": {"n": i}} for i in range(1, 4)]


def never() -> bool:
    return False


def cohort(service: HealthOmics, aws: Aws, client: Any, policy: str) -> tuple[Any, ManifestStore, str]:
    """A cohort of one batch of S1..S3 whose runs are RUNNING, with S3 withdrawn under ``policy``."""
    made = clients(client, None, s3=aws.s3)
    first = service.StartRunBatch(
        {
            "requestId": "r",
            "defaultRunSetting": {"workflowId": "1", "roleArn": "arn:aws:iam::1:role/r"},
            "batchRunSettings": {"inlineSettings": ENTRIES},
        }
    )["id"]
    service.submit(first)
    layout = CohortLayout(REPORT, first)
    part, _ = s3files.write_settings(aws.s3, layout.part, lambda: iter(ENTRIES), first)
    manifest = Manifest(first, batches=(Member(first, 0, 1),), part_files=(part,))
    gone = withdraw.removed(made, [part], kept(ENTRIES[:2]), first)
    uri = withdraw.record(made, layout, manifest, gone)
    store = ManifestStore(aws.s3, layout)
    withdrawals = withdraw.record_in(manifest, 1, uri, policy)
    store.update(lambda _: Manifest(first, part_files=(part,), withdrawals=withdrawals))
    return made, store, first


def kept(entries: list[dict[str, Any]]) -> set[int]:
    return {s3files.id_digest(entry["runSettingId"]) for entry in entries}


def _file(aws: Aws, layout: CohortLayout, entries: list[dict[str, Any]]) -> str:
    uri, _ = s3files.write_settings(aws.s3, layout.part, lambda: iter(entries), layout.first_batch_id)
    return uri


def statuses(service: HealthOmics, batch_id: str) -> dict[str, str]:
    return {r.setting_id: "DELETED" if r.deleted else r.status for r in service.batches[batch_id].runs}


def test_the_removed_sample_is_the_one_withdrawn_with_its_batch(service: HealthOmics, aws: Aws, client: Any) -> None:
    _, store, first = cohort(service, aws, client, contract.ON_DELETE_CANCEL_RUNS)
    (withdrawal,) = store.find().withdrawals  # type: ignore[union-attr]
    bucket, _, key = withdrawal.uri.removeprefix("s3://").partition("/")
    (row,) = json.loads(aws.s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    assert (row["runSettingId"], row["batches"]) == ("S3", [first])
    assert int(row["digest"], 16) == s3files.entry_digest(ENTRIES[2])


def test_cancel_runs_is_done_once_the_run_is_stopping(service: HealthOmics, aws: Aws, client: Any) -> None:
    made, store, first = cohort(service, aws, client, contract.ON_DELETE_CANCEL_RUNS)
    service.stopping_runs = True

    assert withdraw.carry_out(made, store, never) == []
    assert statuses(service, first) == {"S1": "RUNNING", "S2": "RUNNING", "S3": "STOPPING"}
    assert store.find().withdrawals[0].done  # type: ignore[union-attr]
    assert withdraw.carry_out(made, store, never) == [] and service.names().count("CancelRun") == 1


def test_delete_runs_and_batch_waits_for_the_stop_then_deletes(service: HealthOmics, aws: Aws, client: Any) -> None:
    made, store, first = cohort(service, aws, client, contract.ON_DELETE_DELETE_RUNS_AND_BATCH)
    service.stopping_runs = True

    polls = [withdraw.carry_out(made, store, never), withdraw.carry_out(made, store, never)]
    service.finish(first)  # the stop ends: CANCELLED; the other runs complete
    polls.append(withdraw.carry_out(made, store, never))

    assert polls == [["S3"], ["S3"], []]
    assert statuses(service, first) == {"S1": "COMPLETED", "S2": "COMPLETED", "S3": "DELETED"}
    assert [n for n in service.names() if n in ("CancelRun", "DeleteRun")] == ["CancelRun", "DeleteRun"]


def test_a_run_id_reused_by_another_run_is_never_touched(service: HealthOmics, aws: Aws, client: Any) -> None:
    made, store, first = cohort(service, aws, client, contract.ON_DELETE_CANCEL_RUNS)
    (removed_run,) = [r for r in service.batches[first].runs if r.setting_id == "S3"]
    removed_run.status, removed_run.deleted = "COMPLETED", True  # deleted (retention): its id is free again
    removed_run.submission = "SUCCESS"  # and still listed by its batch, with its own uuid
    other = service.StartRunBatch(
        {
            "requestId": "other",
            "defaultRunSetting": {"workflowId": "1", "roleArn": "arn:aws:iam::1:role/r"},
            "batchRunSettings": {"inlineSettings": [{"runSettingId": "X"}]},
        }
    )["id"]
    service.submit(other)
    service.batches[other].runs[0].run_id = removed_run.run_id  # HealthOmics gave the id to a new run

    assert withdraw.carry_out(made, store, never) == []
    assert service.batches[other].runs[0].status == "RUNNING"
    assert "CancelRun" not in service.names()


def test_a_sample_not_submitted_yet_is_waited_for(service: HealthOmics, aws: Aws, client: Any) -> None:
    made, store, first = cohort(service, aws, client, contract.ON_DELETE_CANCEL_RUNS)
    batch = service.batches[first]
    batch.runs, batch.status = batch.runs[:2], "SUBMITTING"  # S3 not submitted yet

    assert withdraw.carry_out(made, store, never) == ["S3"]
    batch.runs = []
    service.submit(first)
    assert withdraw.carry_out(made, store, never) == []
    assert statuses(service, first)["S3"] == "CANCELLED"


@pytest.mark.parametrize(
    ("operation", "code", "status"),
    [("ListRunsInBatch", "ThrottlingException", 400), ("GetRun", "InternalServerException", 500)],
)
def test_a_transient_failure_is_not_now(
    service: HealthOmics, aws: Aws, client: Any, operation: str, code: str, status: int
) -> None:
    made, store, _ = cohort(service, aws, client, contract.ON_DELETE_CANCEL_RUNS)
    service.fail(operation, code, status)

    assert withdraw.carry_out(made, store, never) == ["S3"]
    assert withdraw.carry_out(made, store, never) == []


def test_access_denied_reaches_the_deploy(service: HealthOmics, aws: Aws, client: Any) -> None:
    made, store, _ = cohort(service, aws, client, contract.ON_DELETE_CANCEL_RUNS)
    service.fail("CancelRun", "AccessDeniedException", 403, message="not allowed")

    with pytest.raises(BatchError, match="AccessDeniedException"):
        withdraw.carry_out(made, store, never)


def test_a_poll_out_of_time_leaves_the_rest_for_the_next(service: HealthOmics, aws: Aws, client: Any) -> None:
    made, store, _ = cohort(service, aws, client, contract.ON_DELETE_CANCEL_RUNS)
    assert withdraw.carry_out(made, store, lambda: True) == ["S3"]
    assert "CancelRun" not in service.names()


def test_more_removed_samples_than_a_deploy_stops_is_refused_by_name(
    service: HealthOmics, aws: Aws, client: Any
) -> None:
    made = clients(client, None, s3=aws.s3)
    layout = CohortLayout(REPORT, "1234567")
    many = [{"runSettingId": f"S{i}"} for i in range(withdraw.MAX_WITHDRAWN + 1)]
    before = _file(aws, layout, many)

    with pytest.raises(BatchError, match=f"removes more than {withdraw.MAX_WITHDRAWN} samples.*omics-batch cancel"):
        withdraw.removed(made, [before], kept([{"runSettingId": "new"}]), "1234567")
    assert withdraw.removed(made, [before], kept(many[1:]), "1234567") == [many[0]]
