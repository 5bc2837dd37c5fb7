"""What the ``omics-batch`` CLI asks HealthOmics, as functions of a client.

Each function takes the omics client as an argument (tests pass a stubbed one) and
returns plain data; nothing here prints or sleeps. Retries for throttling and transient
errors are the client's own (botocore's standard mode), not repeated here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from omics_common import contract

OmicsClient = Any  # a boto3 omics client; typed loosely, boto3 ships no stubs

# The model's BatchId (and RunId) shape: 1 to 18 digits. Checked before any call, so a
# typo never costs a request; tests/cli/test_model_sync.py keeps it equal to the model.
BATCH_ID_PATTERN = re.compile(r"[0-9]{1,18}")

# Statuses after which a batch never changes again on its own. Any other status, including
# one the service adds after this release, means "not done yet".
TERMINAL_STATUSES = contract.TERMINAL_STATUSES
SUCCEEDED_STATUS = "PROCESSED"
FAILED = "FAILED"  # both a SubmissionStatus and a RunStatus value

# The largest page each list operation allows (the model's maxItems / maxResults bound).
PAGE_SIZE = 100


def is_terminal(status: str | None) -> bool:
    """True once the batch will not change on its own; unknown statuses are not terminal."""
    return status in TERMINAL_STATUSES


def get_batch(client: OmicsClient, batch_id: str) -> dict[str, Any]:
    """The GetBatch response without the SDK's ResponseMetadata."""
    response: dict[str, Any] = client.get_batch(batchId=batch_id)
    response.pop("ResponseMetadata", None)
    return response


def count(batch: Mapping[str, Any], summary: str, key: str) -> int:
    """One of the batch's summary counts; absent (not reported yet) counts as 0."""
    return int(batch.get(summary, {}).get(key, 0) or 0)


def failed_count(batch: Mapping[str, Any]) -> int:
    """Runs that will not produce a result: refused at submission, or failed while running."""
    return count(batch, "submissionSummary", "failedStartSubmissionCount") + count(
        batch, "runSummary", "failedRunCount"
    )


def batch_succeeded(batch: Mapping[str, Any]) -> bool:
    """PROCESSED with no failed submission and no failed run: the only clean outcome."""
    return batch.get("status") == SUCCEEDED_STATUS and failed_count(batch) == 0


def list_runs_in_batch(client: OmicsClient, batch_id: str) -> Iterator[dict[str, Any]]:
    """Every run of the batch (runSettingId, runId, submission status), all pages."""
    pages = client.get_paginator("list_runs_in_batch").paginate(
        batchId=batch_id, PaginationConfig={"PageSize": PAGE_SIZE}
    )
    for page in pages:
        yield from page.get("runs", [])


def list_run_statuses(client: OmicsClient, batch_id: str) -> dict[str, str]:
    """Run id -> run status for the batch's runs that ListRuns still lists.

    ListRunsInBatch items carry no run status (RunBatchListItem has only submission
    fields), so the statuses come from ListRuns filtered by batchId: one call per 100
    runs instead of one GetRun per run.
    """
    pages = client.get_paginator("list_runs").paginate(batchId=batch_id, PaginationConfig={"PageSize": PAGE_SIZE})
    return {item["id"]: item.get("status", "") for page in pages for item in page.get("items", [])}


def get_run_statuses(client: OmicsClient, run_ids: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """GetRun for each id: (run id -> status, ids the service no longer knows)."""
    statuses: dict[str, str] = {}
    not_found: list[str] = []
    for run_id in run_ids:
        try:
            statuses[run_id] = client.get_run(id=run_id).get("status", "")
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
            not_found.append(run_id)
    return statuses, not_found


@dataclass(frozen=True)
class FailedRuns:
    """The runSettingIds to run again, and what could not be checked."""

    submission_failed: frozenset[str]
    run_failed: frozenset[str]
    # Submitted runs whose run status could not be read: they may have failed too.
    unknown: tuple[str, ...]
    # Every runSettingId the batch has a run for (to tell which settings never got one).
    listed: frozenset[str]

    @property
    def run_setting_ids(self) -> frozenset[str]:
        return self.submission_failed | self.run_failed


def find_failed_runs(client: OmicsClient, batch_id: str, *, max_get_run: int) -> FailedRuns:
    """Runs that failed to submit or failed while running.

    Run statuses come from ListRuns; a submitted run ListRuns does not list (the service
    keeps a limited number of runs listable) is looked up with GetRun, at most
    ``max_get_run`` of them, so a huge batch cannot turn into thousands of calls.
    """
    items = list(list_runs_in_batch(client, batch_id))
    submission_failed = frozenset(i["runSettingId"] for i in items if i.get("submissionStatus") == FAILED)
    setting_of_run = {i["runId"]: i["runSettingId"] for i in items if i.get("runId")}

    statuses = list_run_statuses(client, batch_id)
    unlisted = [run_id for run_id in setting_of_run if run_id not in statuses]
    looked_up, not_found = get_run_statuses(client, unlisted[:max_get_run])
    statuses.update(looked_up)

    run_failed = frozenset(
        setting_of_run[r] for r, status in statuses.items() if status == FAILED and r in setting_of_run
    )
    unknown = tuple(setting_of_run[r] for r in [*not_found, *unlisted[max_get_run:]])
    return FailedRuns(
        submission_failed=submission_failed,
        run_failed=run_failed,
        unknown=unknown,
        listed=frozenset(i["runSettingId"] for i in items),
    )
