"""A stand-in for Service Quotas' two lists, behind a real botocore client.

It answers ``ListServiceQuotas`` (the account's applied values) and ``ListAWSDefaultServiceQuotas``
(AWS's defaults) for the service code ``omics`` after botocore has validated the request, and its
answers go through the model's output shape, as ``tests/standin/healthomics.py`` does for
HealthOmics. Which quotas it lists, and whether it answers at all, is the test's to say.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.validate import validate_parameters

REGION = "us-east-1"
RUN_QUOTA = "Workflows - Maximum runs (active or inactive)"


class ServiceQuotas:
    """``applied`` and ``defaults``: quota name -> value; ``denied``: answer AccessDenied instead."""

    def __init__(
        self,
        applied: dict[str, float] | None = None,
        defaults: dict[str, float] | None = None,
        *,
        denied: bool = False,
    ) -> None:
        self.applied = dict(applied or {})
        self.defaults = dict(defaults if defaults is not None else {RUN_QUOTA: 100_000.0})
        self.denied = denied
        self.calls: list[str] = []

    def _quotas(self, values: dict[str, float]) -> list[dict[str, Any]]:
        return [
            {"ServiceCode": "omics", "QuotaName": name, "QuotaCode": f"L-{index:08X}", "Value": value}
            for index, (name, value) in enumerate(sorted(values.items()))
        ]

    @contextmanager
    def serving(self, client: Any) -> Iterator[ServiceQuotas]:
        ident = f"quotas-standin-{id(self)}"
        client.meta.events.register_first("before-call.service-quotas.*", self._answer, unique_id=ident)
        try:
            yield self
        finally:
            client.meta.events.unregister("before-call.service-quotas.*", unique_id=ident)

    def _answer(self, model: Any, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        self.calls.append(model.name)
        if self.denied:
            error = {"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}
            return AWSResponse(None, 403, {}, None), {**error, "ResponseMetadata": {"HTTPStatusCode": 403}}
        body = json.loads(params["body"]) if params.get("body") else {}
        assert body.get("ServiceCode") == "omics", body
        values = self.applied if model.name == "ListServiceQuotas" else self.defaults
        answer = {"Quotas": self._quotas(values)}
        validate_parameters(answer, model.output_shape)
        return AWSResponse(None, 200, {}, None), {**answer, "ResponseMetadata": {"HTTPStatusCode": 200}}


def quotas_client() -> Any:
    """A real Service Quotas client that never reaches the network (a stand-in answers it)."""
    return boto3.client("service-quotas", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="y")
