"""Update: a new batch when the batch's definition changed, tags in place otherwise."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from provider_testkit import (
    ACCOUNT,
    BATCH_ARN,
    BATCH_ID,
    BATCH_UUID,
    REGION,
    FakeContext,
    StubbedOmics,
    api_batch_run_settings,
    api_default_run_setting,
    cfn_properties,
    clients,
    is_complete_event,
    make_event,
)

from omics_batch_construct_runtime import contract
from omics_batch_construct_runtime.clients import Clients
from omics_batch_construct_runtime.errors import RunBatchResourceError
from provider import batch, index

NEW_BATCH_ID = "7788990"


def attributes(status: str, batch_id: str = BATCH_ID) -> dict[str, str]:
    return {
        contract.ATTR_BATCH_ID: batch_id,
        contract.ATTR_BATCH_ARN: f"arn:aws:omics:{REGION}:{ACCOUNT}:runBatch/{batch_id}",
        contract.ATTR_BATCH_UUID: BATCH_UUID,
        contract.ATTR_STATUS: status,
    }


def update_event(new: dict[str, Any], old: dict[str, Any] | None = None) -> dict[str, Any]:
    return make_event("Update", new, old=old or cfn_properties(), physical_id=BATCH_ID, request_id="update-request-1")


@pytest.mark.parametrize(
    "changed",
    [
        {"ServiceToken": "arn:aws:lambda:new", "OnDelete": "CANCEL_RUNS"},
        # A new timeout: the construct's and CloudFormation's own (which it hands over too).
        {"TimeoutSeconds": "2700", "ServiceTimeout": "3600"},
    ],
    ids=["service token and on_delete", "timeout"],
)
def test_nothing_that_defines_the_batch_changed_means_no_write(
    omics: StubbedOmics, context: FakeContext, changed: dict[str, str]
) -> None:
    old = cfn_properties(TimeoutSeconds="1800", ServiceTimeout="2100")
    event = update_event({**old, **changed}, old)
    omics.get("INPROGRESS")  # only to report the attributes

    result = index.on_event(event, context, clients=Clients(omics=omics.client))

    assert result == {"PhysicalResourceId": BATCH_ID, "Data": attributes("INPROGRESS")}
    # is_complete has nothing to wait for: no call at all.
    assert index.is_complete(is_complete_event(event, dict(result)), context, clients=Clients(omics=omics.client)) == {
        "IsComplete": True
    }


def test_tags_only_change_retags_the_same_batch(omics: StubbedOmics, context: FakeContext) -> None:
    old = cfn_properties(Tags={"team": "genomics", "cost-centre": "42", "stale": "yes"})
    new = cfn_properties(Tags={"team": "bioinformatics", "cost-centre": "42", "owner": "ana"})
    event = update_event(new, old)
    omics.get("SUBMITTING")
    omics.stubber.add_response(
        "tag_resource", {}, {"resourceArn": BATCH_ARN, "tags": {"team": "bioinformatics", "owner": "ana"}}
    )
    omics.stubber.add_response("untag_resource", {}, {"resourceArn": BATCH_ARN, "tagKeys": ["stale"]})

    result = index.on_event(event, context, clients=Clients(omics=omics.client))

    assert result == {"PhysicalResourceId": BATCH_ID, "Data": attributes("SUBMITTING")}
    assert index.is_complete(is_complete_event(event, dict(result)), context, clients=Clients(omics=omics.client)) == {
        "IsComplete": True
    }


def test_defining_change_starts_a_replacement_batch(
    omics: StubbedOmics, context: FakeContext, quotas_api: Any, quotas: Any
) -> None:
    new = cfn_properties()
    new["DefaultRunSetting"]["priority"] = "9"
    event = update_event(new)
    key = batch.definition_key(event)
    default_run_setting = {**api_default_run_setting(), "priority": 9}
    omics.listed("cohort-a", {"id": BATCH_ID, "name": "cohort-a"})  # the old definition's batch, same name
    omics.get(
        "INPROGRESS",
        BATCH_ID,
        tags={contract.DEFINITION_TAG: batch.definition_key(make_event("Create", cfn_properties()))},
    )
    omics.start(
        {
            "requestId": batch.request_id(key, "update-request-1"),
            "batchName": "cohort-a",
            "defaultRunSetting": default_run_setting,
            "batchRunSettings": api_batch_run_settings(),
            "tags": {"team": "genomics", contract.DEFINITION_TAG: key},
        },
        batch_id=NEW_BATCH_ID,
    )
    omics.get("PENDING", NEW_BATCH_ID)
    omics.get("SUBMITTING", NEW_BATCH_ID)
    handler_clients = clients(omics.client, quotas_api)

    result = index.on_event(event, context, clients=handler_clients)
    waiting = is_complete_event(event, dict(result))

    started_at = result["Data"].pop(contract.DATA_STARTED_AT)
    assert result == {"PhysicalResourceId": NEW_BATCH_ID, "Data": attributes("CREATING", NEW_BATCH_ID)}
    assert key != batch.definition_key(make_event("Create", cfn_properties()))
    waiting["Data"][contract.DATA_STARTED_AT] = started_at
    assert index.is_complete(waiting, context, clients=handler_clients) == {"IsComplete": False}
    assert index.is_complete(waiting, context, clients=handler_clients) == {
        "IsComplete": True,
        "PhysicalResourceId": NEW_BATCH_ID,
        "Data": {**attributes("SUBMITTING", NEW_BATCH_ID), contract.DATA_STARTED_AT: started_at},
    }


def test_vanished_batch_does_not_fail_the_update(
    omics: StubbedOmics, context: FakeContext, caplog: pytest.LogCaptureFixture
) -> None:
    event = update_event(cfn_properties(Tags={"team": "other"}))
    omics.error("get_batch", "ResourceNotFoundException", http_status=404)

    with caplog.at_level(logging.WARNING):
        result = index.on_event(event, context, clients=Clients(omics=omics.client))

    assert result == {
        "PhysicalResourceId": BATCH_ID,
        "Data": {
            contract.ATTR_BATCH_ID: BATCH_ID,
            contract.ATTR_BATCH_ARN: BATCH_ARN,  # built from the function's partition, Region, account
            contract.ATTR_BATCH_UUID: "",
            contract.ATTR_STATUS: "NOT_FOUND",
        },
    }
    assert "no longer exists" in caplog.text


def test_failed_retag_fails_the_update(omics: StubbedOmics, context: FakeContext) -> None:
    event = update_event(cfn_properties(Tags={"team": "other"}))
    omics.get("INPROGRESS")
    omics.error(
        "tag_resource",
        "AccessDeniedException",
        {"resourceArn": BATCH_ARN, "tags": {"team": "other"}},
        http_status=403,
    )

    with pytest.raises(RunBatchResourceError, match=rf"^TagResource failed for batch {BATCH_ID}: AccessDenied"):
        index.on_event(event, context, clients=Clients(omics=omics.client))


def test_batch_arn_follows_the_function_partition() -> None:
    function_arn = "arn:aws-cn:lambda:cn-north-1:210987654321:function:handler"

    assert batch.batch_arn(function_arn, "12") == "arn:aws-cn:omics:cn-north-1:210987654321:runBatch/12"
