"""The run quota's pre-flight: a RETAIN cohort larger than the account's run quota fails before it starts.

HealthOmics is the stand-in, Service Quotas a stand-in too (tests/standin/quotas.py).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
from provider_testkit import FakeContext, cfn_properties, make_event

from omics_batch_construct_runtime import contract
from omics_batch_construct_runtime.clients import Clients
from omics_batch_construct_runtime.errors import RunBatchResourceError
from provider import index
from tests.standin.healthomics import HealthOmics
from tests.standin.quotas import RUN_QUOTA, ServiceQuotas


def create(runs: int, retention: str | None = None) -> dict[str, Any]:
    properties = cfn_properties(**{contract.PROP_RUN_COUNT: str(runs)})
    if retention is not None:
        properties["DefaultRunSetting"]["retentionMode"] = retention
    return make_event("Create", properties, request_id=str(uuid.uuid4()))


@pytest.fixture
def clients(client: Any, quotas_api: Any) -> Clients:
    return Clients(omics=client, servicequotas=quotas_api)


@pytest.mark.parametrize("retention", [None, "RETAIN"])
def test_a_retain_cohort_larger_than_the_quota_fails_before_it_starts(
    service: HealthOmics, quotas_api: Any, clients: Clients, context: FakeContext, retention: str | None
) -> None:
    with ServiceQuotas(applied={RUN_QUOTA: 5000}).serving(quotas_api), pytest.raises(RunBatchResourceError) as raised:
        index.on_event(create(5001, retention), context, clients)

    reason = str(raised.value)
    assert "The cohort has 5,001 runs, more than the account's quota" in reason
    assert RUN_QUOTA in reason and "(5,000)" in reason and "retention_mode RETAIN" in reason
    assert "set retention_mode to REMOVE" in reason
    assert service.started() == []


def test_a_cohort_within_the_quota_or_under_remove_starts(
    service: HealthOmics, quotas_api: Any, clients: Clients, context: FakeContext
) -> None:
    with ServiceQuotas(applied={RUN_QUOTA: 5000}).serving(quotas_api) as quotas:
        index.on_event(create(5000), context, clients)
        index.on_event(create(9000, "REMOVE"), context, clients)

    assert len(service.started()) == 2
    assert quotas.calls == ["ListServiceQuotas"]  # REMOVE needs no look


def test_the_default_value_counts_when_none_is_applied(
    service: HealthOmics, quotas_api: Any, clients: Clients, context: FakeContext
) -> None:
    refused = pytest.raises(RunBatchResourceError, match=r"11 runs, more than the account's quota .* \(10\)")
    with ServiceQuotas(applied={}, defaults={RUN_QUOTA: 10}).serving(quotas_api), refused:
        index.on_event(create(11), context, clients)


@pytest.mark.parametrize("quotas", [ServiceQuotas(denied=True), ServiceQuotas(defaults={})], ids=["denied", "unlisted"])
def test_a_quota_that_cannot_be_read_is_a_warning_and_the_batch_starts(
    service: HealthOmics,
    quotas_api: Any,
    clients: Clients,
    context: FakeContext,
    caplog: pytest.LogCaptureFixture,
    quotas: ServiceQuotas,
) -> None:
    with quotas.serving(quotas_api), caplog.at_level(logging.WARNING):
        index.on_event(create(10**6), context, clients)

    assert len(service.started()) == 1
    assert "going on without the check" in caplog.text


def test_an_adopted_batch_is_not_checked_again(
    service: HealthOmics, quotas_api: Any, clients: Clients, context: FakeContext
) -> None:
    """The quota may have been lowered since: a batch already running is the deploy's, whatever it says."""
    event = create(5000)
    with ServiceQuotas(applied={RUN_QUOTA: 5000}).serving(quotas_api):
        first = index.on_event(event, context, clients)["PhysicalResourceId"]
    service.set_status(first, "INPROGRESS")
    with ServiceQuotas(applied={RUN_QUOTA: 10}).serving(quotas_api) as quotas:
        again = index.on_event({**event, "RequestId": str(uuid.uuid4())}, context, clients)

    assert again["PhysicalResourceId"] == first and quotas.calls == []


def test_without_a_run_count_the_inline_runs_count(
    service: HealthOmics, quotas_api: Any, clients: Clients, context: FakeContext
) -> None:
    """A stack deployed by an earlier release has no RunCount property: its inline runs are counted."""
    refused = pytest.raises(RunBatchResourceError, match="The cohort has 2 runs")
    with ServiceQuotas(applied={RUN_QUOTA: 1}).serving(quotas_api), refused:
        index.on_event(make_event("Create", cfn_properties()), context, clients)
