"""``check``: GetBatch's status, for the state machine's Choice."""

from __future__ import annotations

from typing import Any

import pytest
from tracker_testkit import BATCH_ID, StubbedClient, batch

from omics_common.clients import Clients
from omics_common.errors import ApiError
from tracker.errors import BadEvent, BatchNotFound, Throttled
from tracker.index import handle

CHECK = {"action": "check", "batchId": BATCH_ID}
GET = {"batchId": BATCH_ID}


def test_a_processed_batch_reports_its_status(omics: StubbedClient, clients: Clients) -> None:
    omics.add("get_batch", batch("PROCESSED"), GET)

    assert handle(CHECK, clients) == {"status": "PROCESSED"}


@pytest.mark.parametrize("status", ["CREATING", "PENDING", "SUBMITTING", "INPROGRESS", "STOPPING", "RUNS_DELETING"])
def test_a_batch_under_way_reports_its_status(omics: StubbedClient, clients: Clients, status: str) -> None:
    omics.add("get_batch", batch(status), GET)

    assert handle(CHECK, clients)["status"] == status


def test_a_failed_batch_reports_failed(omics: StubbedClient, clients: Clients) -> None:
    """Its failureReason goes into the report's summary, not into the state machine's data."""
    reason = "Expected 50 unique runSettingIds but there were 49"
    omics.add("get_batch", batch("FAILED", failureReason=reason), GET)

    assert handle(CHECK, clients) == {"status": "FAILED"}


def test_a_status_this_release_does_not_know_passes_through(omics: StubbedClient, clients: Clients) -> None:
    response = batch("ARCHIVING")
    del response["runSummary"], response["submissionSummary"]
    omics.add("get_batch", response, GET)

    assert handle(CHECK, clients) == {"status": "ARCHIVING"}


def test_a_batch_id_sent_as_a_number_is_read_as_a_string(omics: StubbedClient, clients: Clients) -> None:
    omics.add("get_batch", batch("INPROGRESS"), GET)

    assert handle({"action": "check", "batchId": int(BATCH_ID)}, clients)["status"] == "INPROGRESS"


def test_a_deleted_batch_raises_batch_not_found(omics: StubbedClient, clients: Clients) -> None:
    omics.error("get_batch", "ResourceNotFoundException", 404, GET)

    with pytest.raises(BatchNotFound, match=f"^Batch {BATCH_ID} not found"):
        handle(CHECK, clients)


@pytest.mark.parametrize(
    ("code", "status"),
    [("ThrottlingException", 429), ("InternalServerException", 500), ("RequestTimeoutException", 408)],
)
def test_transient_failures_raise_throttled(omics: StubbedClient, clients: Clients, code: str, status: int) -> None:
    omics.error("get_batch", code, status, GET)

    with pytest.raises(Throttled, match=f"GetBatch failed for batch {BATCH_ID}: {code}"):
        handle(CHECK, clients)


def test_other_failures_propagate_with_a_short_message(omics: StubbedClient, clients: Clients) -> None:
    omics.error("get_batch", "AccessDeniedException", 403, GET)

    with pytest.raises(ApiError, match=f"^GetBatch failed for batch {BATCH_ID}: AccessDeniedException") as caught:
        handle(CHECK, clients)
    assert len(str(caught.value)) < 250


def test_a_network_failure_raises_throttled(omics: StubbedClient, clients: Clients) -> None:
    import botocore.exceptions

    def unreachable(**_: Any) -> None:
        raise botocore.exceptions.EndpointConnectionError(endpoint_url="https://omics.example")

    omics.stubber.deactivate()  # this one call goes past the Stubber, to a failing network
    omics.client.meta.events.register_first("before-send.omics.GetBatch", unreachable, unique_id="unreachable")
    try:
        with pytest.raises(Throttled, match="EndpointConnectionError"):
            handle(CHECK, clients)
    finally:
        omics.client.meta.events.unregister("before-send.omics.GetBatch", unique_id="unreachable")
        omics.stubber.activate()


def test_an_event_without_batch_id_is_refused(clients: Clients) -> None:
    with pytest.raises(BadEvent, match="no batchId"):
        handle({"action": "check"}, clients)
