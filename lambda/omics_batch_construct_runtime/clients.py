"""The AWS clients the functions use, made on first use and kept for the container's life.

The functions hold them the same way: each invocation needs one or two of the eight clients,
and making all of them on every cold start would cost about 0.1 s each. Tests pass their own
(stubbed, stand-in or moto) clients instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3

from omics_batch_construct_runtime.omics import RETRY_CONFIG, omics_client

# boto3 ships no type information; its clients are Any here as in the deploy handler.
Client = Any
# The Price List API's endpoint the tools use, whatever the Region priced (omics_batch_construct_runtime.runcost).
PRICING_REGION = "us-east-1"


def _boto3_client(service: str) -> Callable[[], Client]:
    return lambda: boto3.client(service, config=RETRY_CONFIG)


# botocore's standard retries (throttling and 5xx with backoff) for every service alike.
_FACTORIES: dict[str, Callable[[], Client]] = {
    "omics": omics_client,
    "s3": _boto3_client("s3"),
    "events": _boto3_client("events"),
    "sns": _boto3_client("sns"),
    "stepfunctions": _boto3_client("stepfunctions"),
    "servicequotas": _boto3_client("service-quotas"),
    "logs": _boto3_client("logs"),
    # The Price List API answers in few Regions; its prices name the Region they are for.
    "pricing": lambda: boto3.client("pricing", region_name=PRICING_REGION, config=RETRY_CONFIG),
}


class Clients:
    """Clients by service, each made by its factory when first asked for, unless given."""

    def __init__(self, **given: Client) -> None:
        unknown = set(given) - set(_FACTORIES)
        if unknown:
            raise TypeError(f"unknown clients: {sorted(unknown)}")
        self._clients: dict[str, Client] = dict(given)

    def _get(self, service: str) -> Client:
        if service not in self._clients:
            self._clients[service] = _FACTORIES[service]()
        return self._clients[service]

    @property
    def omics(self) -> Client:
        return self._get("omics")

    @property
    def s3(self) -> Client:
        return self._get("s3")

    @property
    def events(self) -> Client:
        return self._get("events")

    @property
    def sns(self) -> Client:
        return self._get("sns")

    @property
    def stepfunctions(self) -> Client:
        return self._get("stepfunctions")

    @property
    def servicequotas(self) -> Client:
        return self._get("servicequotas")

    @property
    def logs(self) -> Client:
        return self._get("logs")

    @property
    def pricing(self) -> Client:
        return self._get("pricing")
