"""The run quota's pre-flight: a cohort that cannot fit under RETAIN fails before it starts.

HealthOmics keeps a run's metadata up to the account's quota "Workflows - Maximum runs (active or
inactive)". Under the default retention mode, RETAIN, a run past it cannot be created, and the user
guide says a batch larger than the quota then fails ("make sure to set the run retention mode to
REMOVE. Otherwise, the batch fails"). Rather than fail hours later, the deploy reads the quota
(Service Quotas, service code ``omics``, found by its name: no document gives its code) and
refuses a RETAIN cohort with more runs than it. When the quota cannot be read, it logs a warning
and goes on: the check is a convenience, never a reason not to deploy.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError

from omics_batch_construct_runtime.errors import ApiError, BatchError, call

logger = logging.getLogger(__name__)

SERVICE_CODE = "omics"
QUOTA_NAME = "Workflows - Maximum runs (active or inactive)"
REMOVE = "REMOVE"


def _named(name: str) -> str:
    return " ".join(name.lower().split())


def quotas(client: Any, operation: str) -> Iterator[Mapping[str, Any]]:
    params: dict[str, Any] = {"ServiceCode": SERVICE_CODE, "MaxResults": 100}
    while True:
        page = call(client, operation, **params)
        yield from page.get("Quotas", [])
        if not page.get("NextToken"):
            return
        params["NextToken"] = page["NextToken"]


def run_quota(client: Any) -> float | None:
    """The account's run quota: its applied value, else AWS's default; None when unreadable."""
    wanted = _named(QUOTA_NAME)
    try:
        for operation in ("ListServiceQuotas", "ListAWSDefaultServiceQuotas"):
            for quota in quotas(client, operation):
                if _named(str(quota.get("QuotaName", ""))) == wanted and quota.get("Value") is not None:
                    return float(quota["Value"])
    except (ApiError, BotoCoreError) as err:  # refused, throttled, or no credentials or endpoint
        logger.warning("The run quota %r could not be read (%s): going on without the check", QUOTA_NAME, err)
        return None
    logger.warning("Service Quotas lists no quota named %r: going on without the check", QUOTA_NAME)
    return None


def check_runs_fit(client: Any, default_run_setting: Mapping[str, Any], runs: int) -> None:
    """Refuse a RETAIN cohort of more runs than the account's run quota."""
    retention = str(default_run_setting.get("retentionMode") or "RETAIN")
    if retention == REMOVE or runs <= 0:
        return
    quota = run_quota(client)
    if quota is not None and runs > quota:
        raise BatchError(
            f"The cohort has {runs:,} runs, more than the account's quota {QUOTA_NAME!r} ({quota:,.0f}) allows "
            f"with retention_mode {retention}: set retention_mode to REMOVE (the oldest REMOVE runs' metadata is "
            "dropped to make room), or raise the quota in Service Quotas"
        )
    logger.info("Run quota: %s runs of at most %s (retention_mode %s)", runs, quota, retention)
