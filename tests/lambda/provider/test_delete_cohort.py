"""Delete of a tracked cohort: its tracking stopped, its manifest closed, every batch reached, at once.

The tracker starts batches of its own (later parts, resubmissions) and records them in the
cohort's manifest. A delete stops the cohort's executions and closes the manifest with a
conditional write: a start the tracker recorded before the close is found by its name (and handled
by on_delete); one after it is refused, so nothing starts after the stack let go, and the delete
need not wait for a tracker task that may still be running. The race is played here with the real
tracker's ``start`` against the real delete, the close landing before the tracker's record or
between its record and its StartRunBatch.

HealthOmics is the stand-in; S3 and Step Functions are moto's (executions stay RUNNING until
stopped). A poll's time is given.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import botocore.exceptions
import pytest
from conftest import Aws
from provider_testkit import REPORT_URI, FakeContext, cfn_properties, make_event

from omics_batch_construct_runtime import contract
from omics_batch_construct_runtime.clients import Clients
from omics_batch_construct_runtime.errors import RunBatchResourceError
from omics_batch_construct_runtime.layout import CohortLayout
from omics_batch_construct_runtime.manifest import CohortClosed, Manifest, ManifestStore, Member, Starting
from omics_batch_construct_runtime.outcome import NO_RESUBMISSION
from provider import index
from tests.standin.healthomics import HealthOmics
from tracker import cohort

INLINE = {"inlineSettings": [{"runSettingId": "s1"}]}
DEFAULT = {"workflowId": "9876543", "roleArn": "arn:aws:iam::123456789012:role/run"}
QUERY = 15


@pytest.fixture
def clients(client: Any, aws: Aws) -> Clients:
    return Clients(omics=client, s3=aws.s3, stepfunctions=aws.sfn)


def start(service: HealthOmics, name: str, status: str, first: str | None = None) -> str:
    tags = {contract.COHORT_TAG: first} if first else {}
    params = {"requestId": name, "batchName": name, "defaultRunSetting": DEFAULT, "batchRunSettings": INLINE}
    batch_id = str(service.StartRunBatch({**params, "tags": tags})["id"])
    service.set_status(batch_id, status)
    return batch_id


def store(aws: Aws, first: str) -> ManifestStore:
    return ManifestStore(aws.s3, CohortLayout(REPORT_URI, first))


def record(aws: Aws, first: str, *others: str, starting: Starting | None = None) -> None:
    """The manifest as the tracker leaves it."""
    members = tuple(Member(b, 0, i + 1) for i, b in enumerate((first, *others)))
    store(aws, first).update(lambda current: Manifest(first, members, starting=starting))


def run_tracking(aws: Aws, *names: str) -> None:
    for name in names:
        aws.sfn.start_execution(stateMachineArn=aws.machine, name=name, input="{}")


def executions(aws: Aws) -> dict[str, str]:
    listed = aws.sfn.list_executions(stateMachineArn=aws.machine)["executions"]
    return {e["name"]: e["status"] for e in listed}


class Destroy:
    """The stack's destroy of the cohort: on_event, then is_complete every QUERY seconds."""

    def __init__(self, aws: Aws, first: str, on_delete: str, clients: Clients, context: FakeContext) -> None:
        properties = cfn_properties(
            OnDelete=on_delete, **{contract.PROP_TRACKER_ARN: aws.machine, contract.PROP_REPORT_URI: REPORT_URI}
        )
        self.event = make_event("Delete", properties, physical_id=first)
        self.clients, self.context = clients, context
        self.waiting: dict[str, Any] = {}
        self.polls = 0

    def on_event(self) -> None:
        self.waiting = {**self.event, **index.on_event(self.event, self.context, self.clients)}

    def poll(self) -> bool:
        self.polls += 1
        started_at = float(self.waiting["Data"][contract.DATA_STARTED_AT])
        at = started_at + self.polls * QUERY
        return bool(index.is_complete(self.waiting, self.context, self.clients, clock=lambda: at)["IsComplete"])


def test_a_destroy_stops_the_tracking_closes_the_cohort_and_cancels_every_batch_at_once(
    service: HealthOmics, clients: Clients, aws: Aws, context: FakeContext
) -> None:
    first = start(service, "deploy", "PROCESSED")
    resubmitted = start(service, f"c{first}-p0a2", "INPROGRESS", first)
    next_part = start(service, f"c{first}-p1a1", "SUBMITTING", first)
    record(aws, first, resubmitted, next_part)
    run_tracking(aws, f"batch-{first}-1", "batch-9999999")  # the cohort's continuation, and another cohort's
    destroy = Destroy(aws, first, contract.ON_DELETE_CANCEL_RUNS, clients, context)

    destroy.on_event()
    assert [service.batches[b].status for b in (first, resubmitted, next_part)] == ["PROCESSED", "STOPPING", "STOPPING"]
    assert executions(aws) == {f"batch-{first}-1": "ABORTED", "batch-9999999": "RUNNING"}
    closed = store(aws, first).read()
    assert closed is not None and closed.closed is not None and "CANCEL_RUNS" in closed.closed.cause
    for batch_id in (resubmitted, next_part):
        service.set_status(batch_id, "CANCELLED")

    assert destroy.poll()  # as soon as every batch has stopped: no quiet period
    assert service.names().count("CancelRunBatch") == 2


def test_a_continuation_started_after_the_stop_is_stopped_and_starts_nothing(
    service: HealthOmics, clients: Clients, aws: Aws, context: FakeContext
) -> None:
    """A ``continue`` task under way at the stop starts a fresh execution: stopped at the next poll,
    and its check, refused by the closed manifest, starts no batch meanwhile."""
    first = start(service, "deploy", "INPROGRESS")
    record(aws, first)
    run_tracking(aws, f"batch-{first}")
    destroy = Destroy(aws, first, contract.ON_DELETE_CANCEL_RUNS, clients, context)
    destroy.on_event()
    run_tracking(aws, f"batch-{first}-1")

    service.set_status(first, "CANCELLED")
    assert destroy.poll()
    assert executions(aws) == {f"batch-{first}": "ABORTED", f"batch-{first}-1": "ABORTED"}


def test_the_batch_a_check_was_starting_is_found_by_its_name(
    service: HealthOmics, clients: Clients, aws: Aws, context: FakeContext
) -> None:
    """The check recorded it before its StartRunBatch, and was stopped before it recorded its id."""
    first = start(service, "deploy", "PROCESSED")
    being_started = start(service, f"c{first}-p0a2", "SUBMITTING", first)
    other = start(service, f"c{first}-p0a3", "SUBMITTING", first)  # another name: not this one
    record(aws, first, starting=Starting(f"c{first}-p0a2", 0.0))

    Destroy(aws, first, contract.ON_DELETE_CANCEL_RUNS, clients, context).on_event()

    assert service.batches[being_started].status == "STOPPING"
    assert service.batches[other].status == "SUBMITTING"


def test_a_recorded_start_not_listed_yet_is_waited_for_then_handled(
    service: HealthOmics, clients: Clients, aws: Aws, context: FakeContext
) -> None:
    first = start(service, "deploy", "PROCESSED")
    requested = Starting(f"c{first}-p0a2", time.time())
    destroy = Destroy(aws, first, contract.ON_DELETE_CANCEL_RUNS, clients, context)
    record(aws, first, starting=Starting(requested.batch_name, time.time()))
    destroy.on_event()
    assert not destroy.poll()
    late = start(service, requested.batch_name, "INPROGRESS", first)  # the tracker's call lands

    assert not destroy.poll()  # found by its name: cancelled now
    assert service.batches[late].status == "STOPPING"
    service.set_status(late, "CANCELLED")
    assert destroy.poll()


def test_a_recorded_start_that_never_happened_is_given_up_once_it_no_longer_can(
    service: HealthOmics, clients: Clients, aws: Aws, context: FakeContext
) -> None:
    """The tracker starts a batch within a bounded time of recording it, or never."""
    first = start(service, "deploy", "PROCESSED")
    destroy = Destroy(aws, first, contract.ON_DELETE_CANCEL_RUNS, clients, context)
    destroy.on_event()
    started_at = float(destroy.waiting["Data"][contract.DATA_STARTED_AT])
    requested = Starting(f"c{first}-p0a2", started_at)
    record(aws, first, starting=requested)  # (the close above left it closed: the record keeps that)

    while not destroy.poll():
        assert destroy.polls < 100
    assert started_at + destroy.polls * QUERY >= requested.settled_by
    assert started_at + (destroy.polls - 1) * QUERY < requested.settled_by


def test_without_a_manifest_only_the_first_batch_is_the_cohort_and_a_closed_one_is_left(
    service: HealthOmics, clients: Clients, aws: Aws, context: FakeContext
) -> None:
    """A delete before the tracker wrote a manifest (a deploy that failed validation, say)."""
    first = start(service, "deploy", "INPROGRESS")
    other = start(service, "someone-else", "INPROGRESS")

    Destroy(aws, first, contract.ON_DELETE_CANCEL_RUNS, clients, context).on_event()

    assert (service.batches[first].status, service.batches[other].status) == ("STOPPING", "INPROGRESS")
    left = store(aws, first).read()
    assert left is not None and left.closed is not None and left.batches == ()


def test_retain_stops_the_tracking_closes_the_cohort_and_is_done_at_the_first_poll(
    service: HealthOmics, clients: Clients, aws: Aws, context: FakeContext
) -> None:
    first = start(service, "deploy", "PROCESSED")
    resubmitted = start(service, f"c{first}-p0a2", "INPROGRESS", first)
    record(aws, first, resubmitted, starting=Starting(f"c{first}-p0a3", time.time()))
    run_tracking(aws, f"batch-{first}")
    service.calls.clear()
    destroy = Destroy(aws, first, contract.ON_DELETE_RETAIN, clients, context)

    destroy.on_event()
    assert destroy.poll()

    assert service.names() == []  # no batch touched: they run on
    assert executions(aws) == {f"batch-{first}": "ABORTED"}
    closed = store(aws, first).read()
    assert closed is not None and closed.closed is not None


# --- the race between a tracker's start and the close ------------------------------------------


def tracker(first: str) -> tuple[cohort.Config, cohort.State]:
    config = cohort.Config(
        first_batch_id=first,
        parts=[cohort.Part(settings=[{"runSettingId": "s1"}])],
        resubmission=NO_RESUBMISSION,
        start={"defaultRunSetting": DEFAULT},
        report_uri=REPORT_URI,
        topic_arn=None,
    )
    state = cohort.State(batches=[cohort.Batch(first, part=0, attempt=1, status="PROCESSED", settled=True)])
    return config, state


def tracker_start(aws: Aws, clients: Clients, first: str) -> str:
    config, state = tracker(first)
    needed = cohort.Start(part=0, attempt=2, settingsUri="s3://demo-output/runs/batch-reports/resubmit.json")
    return cohort.start(clients, store(aws, first), config, state, needed)


@pytest.mark.parametrize("on_delete", [contract.ON_DELETE_RETAIN, contract.ON_DELETE_CANCEL_RUNS])
def test_a_start_after_the_close_is_refused(
    service: HealthOmics, clients: Clients, aws: Aws, context: FakeContext, on_delete: str
) -> None:
    first = start(service, "deploy", "PROCESSED")
    record(aws, first)
    Destroy(aws, first, on_delete, clients, context).on_event()

    with pytest.raises(CohortClosed):
        tracker_start(aws, clients, first)
    assert [b.id for b in service.started()] == [first]


@pytest.mark.parametrize(("on_delete", "ends"), [("RETAIN", "INPROGRESS"), ("CANCEL_RUNS", "STOPPING")])
def test_a_start_recorded_before_the_close_is_handled_by_on_delete(
    service: HealthOmics, client: Any, clients: Clients, aws: Aws, context: FakeContext, on_delete: str, ends: str
) -> None:
    """The close lands between the tracker's record and its StartRunBatch."""
    first = start(service, "deploy", "PROCESSED")
    record(aws, first)
    destroy = Destroy(aws, first, on_delete, clients, context)

    def close_now(**_: Any) -> None:
        client.meta.events.unregister("before-parameter-build.omics.StartRunBatch", close_now)
        destroy.on_event()

    client.meta.events.register_first("before-parameter-build.omics.StartRunBatch", close_now)
    started = tracker_start(aws, clients, first)
    service.set_status(started, "INPROGRESS")
    assert not destroy.poll() if on_delete == "CANCEL_RUNS" else destroy.poll()

    assert service.batches[started].status == ends
    recorded = store(aws, first).read()
    assert recorded is not None and recorded.closed is not None  # the tracker's last write kept the close
    assert started in recorded.batch_ids


# --- a manifest the delete may not touch ---------------------------------------------------------


def deny(s3: Any, operation: str) -> None:
    def refuse(**_: Any) -> None:
        raise botocore.exceptions.ClientError(
            {
                "Error": {"Code": "AccessDenied", "Message": "Access Denied"},
                "ResponseMetadata": {"HTTPStatusCode": 403},
            },
            operation,
        )

    s3.meta.events.register(f"before-call.s3.{operation}", refuse)


def test_a_manifest_that_cannot_be_closed_fails_a_cancel_and_says_what_to_grant(
    service: HealthOmics, clients: Clients, aws: Aws, context: FakeContext
) -> None:
    first = start(service, "deploy", "INPROGRESS")
    deny(aws.s3, "PutObject")

    with pytest.raises(RunBatchResourceError, match=r"cannot be closed \(AccessDenied\).*grant the deploy's handler"):
        Destroy(aws, first, contract.ON_DELETE_CANCEL_RUNS, clients, context).on_event()


def test_a_manifest_that_cannot_be_closed_leaves_a_retained_cohort_as_it_is(
    service: HealthOmics, clients: Clients, aws: Aws, context: FakeContext, caplog: pytest.LogCaptureFixture
) -> None:
    first = start(service, "deploy", "INPROGRESS")
    deny(aws.s3, "PutObject")
    destroy = Destroy(aws, first, contract.ON_DELETE_RETAIN, clients, context)

    with caplog.at_level(logging.WARNING):
        destroy.on_event()
        assert destroy.poll()
    assert "cannot be closed (AccessDenied); retained as it is" in caplog.text
    assert json.dumps(service.names()) == json.dumps([])


def test_a_batch_started_moments_ago_that_is_not_readable_yet_is_waited_for(
    service: HealthOmics, clients: Clients, aws: Aws, context: FakeContext
) -> None:
    """Not found is not gone for a batch the tracker recorded moments ago (eventual consistency)."""
    first = start(service, "deploy", "PROCESSED")
    service.hide_new_batches_for = 3
    fresh = start(service, f"c{first}-p0a2", "INPROGRESS", first)
    store(aws, first).update(lambda current: Manifest(first, (Member(first, 0, 1), Member(fresh, 0, 2, time.time()))))
    destroy = Destroy(aws, first, contract.ON_DELETE_CANCEL_RUNS, clients, context)

    destroy.on_event()
    assert not destroy.poll()  # still hidden: waited for
    while service.batches[fresh].hidden_reads:
        assert not destroy.poll()
    assert not destroy.poll()  # readable now: cancelled
    assert service.batches[fresh].status == "STOPPING"


def test_without_a_tracker_the_batches_a_tracker_once_started_are_reached(
    service: HealthOmics, clients: Clients, aws: Aws, context: FakeContext
) -> None:
    """Tracking switched off by an update: its state machine is gone, its manifest is not."""
    first = start(service, "deploy", "PROCESSED")
    resubmitted = start(service, f"c{first}-p0a2", "INPROGRESS", first)
    record(aws, first, resubmitted)
    properties = cfn_properties(OnDelete="CANCEL_RUNS", **{contract.PROP_REPORT_URI: REPORT_URI})
    event = make_event("Delete", properties, physical_id=first)

    index.on_event(event, context, clients)

    assert service.batches[resubmitted].status == "STOPPING"
    left = store(aws, first).read()
    assert left is not None and left.closed is None  # read only: nothing can start a batch of it


def test_a_recorded_start_outlives_a_write_that_does_not_record_its_batch(aws: Aws) -> None:
    """A check recorded a start, started the batch and died before recording it; a fresh
    execution's first write must not erase the record before the batch is found again."""
    first = "4455667"
    config, state = tracker(first)
    recorded = Starting(f"c{first}-p0a2", time.time())
    record(aws, first, starting=recorded)

    cohort.write_manifest(store(aws, first), config, cohort.State.of(None, first))
    kept = store(aws, first).read()
    assert kept is not None and kept.starting == recorded

    state.batches.append(cohort.Batch("4455668", part=0, attempt=2, startedAt=time.time()))
    cohort.write_manifest(store(aws, first), config, state)
    found = store(aws, first).read()
    assert found is not None and found.starting is None  # recorded now: the start is no longer pending
