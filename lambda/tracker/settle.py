"""Listing an ended batch's runs page by page, across as many invocations as it takes.

Settling a batch of 100,000 runs is about 2,000 HealthOmics list calls, one after the other: at
a few hundred milliseconds a call under load, more than one 15-minute invocation. So the listing
is checkpointed in the cohort's folder (``settling/<batch id>/``), in three phases:

1. ListRuns, by batch id (each run's status): pages to ``runs-<n>.jsonl``;
2. ListRunsInBatch (each run setting's submission, joined with its run's status): pages to
   ``rows-<n>.jsonl``;
3. GetRun for the submitted runs ListRuns did not list (at most ``outcome.MAX_GET_RUN``), each
   answer taken only if it is the row's own run (``outcome.with_answer``).

``checkpoint.json`` says which phase, which page token, which files and the GetRun answers so
far. An invocation works until its ``deadline`` and saves where it is; the next check goes on
from there, and a check retried after a crash goes on from the last checkpoint (a page listed
again is written again, identically). A deadline is asked before each call, so no invocation
spends more than its budget on calls plus one call's worst case (``omics.MAX_CALL_SECONDS``) and
the checkpoint's write.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from omics_batch_construct_runtime import outcome, s3files
from omics_batch_construct_runtime.clients import Clients
from omics_batch_construct_runtime.errors import ApiError, call
from omics_batch_construct_runtime.layout import CohortLayout
from omics_batch_construct_runtime.outcome import Run, RunRow

from . import files

logger = logging.getLogger(__name__)

# Pages kept in memory before they are written (and the checkpoint with them): 50 pages of 100.
PAGES_PER_FILE = 50
RUNS, ROWS, ASK, DONE = "ListRuns", "ListRunsInBatch", "GetRun", "done"


@dataclass
class Checkpoint:
    """Where a batch's listing stands (see the module's doc)."""

    phase: str = RUNS
    token: str | None = None
    # Each listing's files in order, each named after the page token it starts at: two invocations
    # that ever listed the same pages at once would write the same file, never two.
    files: dict[str, list[str]] = field(default_factory=lambda: {RUNS: [], ROWS: []})
    calls: int = 0
    # GetRun's answers so far, by run id, as much of them as the rows take (None: not found).
    answers: dict[str, dict[str, Any] | None] = field(default_factory=dict)


def _answer(answer: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What a row takes of a GetRun answer, as JSON."""
    if answer is None:
        return None
    run = Run.of(answer)
    kept = {"uuid": answer.get("uuid"), "batchId": answer.get("batchId"), **run._asdict()}
    return {key: value for key, value in kept.items() if value}


class Listing:
    """One batch's listing in the cohort's folder (see the module's doc)."""

    def __init__(self, clients: Clients, layout: CohortLayout, batch_id: str) -> None:
        self.clients, self.layout, self.batch_id = clients, layout, batch_id

    def _uri(self, name: str) -> str:
        return self.layout.settling(self.batch_id, name)

    def load(self) -> Checkpoint:
        bucket, key = outcome.split_s3_uri(self._uri("checkpoint.json"))
        try:
            body = call(self.clients.s3, "GetObject", self.batch_id, Bucket=bucket, Key=key)["Body"].read()
        except ApiError as err:
            if err.code in s3files.NO_SUCH_KEY:
                return Checkpoint()
            raise
        return Checkpoint(**json.loads(body))

    def save(self, checkpoint: Checkpoint) -> None:
        bucket, key = outcome.split_s3_uri(self._uri("checkpoint.json"))
        body = json.dumps(asdict(checkpoint)).encode()
        call(self.clients.s3, "PutObject", self.batch_id, Bucket=bucket, Key=key, Body=body, ContentType=files.JSON)

    def rows(self, deadline: Callable[[], bool]) -> list[RunRow] | None:
        """The batch's rows once every phase is done; None when the deadline came first (the
        checkpoint is saved: call again)."""
        checkpoint = self.load()
        if checkpoint.phase == RUNS and not self._list(checkpoint, deadline, RUNS):
            return None
        if checkpoint.phase == ROWS:
            statuses = {run_id: Run(*run) for run_id, run in self._read(RUNS, checkpoint)}
            if not self._list(checkpoint, deadline, ROWS, statuses):
                return None
        rows = outcome.distrust_shared_ids([RunRow(**row) for row in self._read(ROWS, checkpoint)])
        asked = outcome.unlisted(rows, outcome.MAX_GET_RUN)
        if checkpoint.phase == ASK and not self._ask(checkpoint, deadline, [rows[i].runId for i in asked]):
            return None
        for i in asked:
            answer = checkpoint.answers.get(rows[i].runId)
            rows[i] = outcome.with_answer(rows[i], answer, self.batch_id)
        logger.info("Batch %s: %d rows, listed in %d calls", self.batch_id, len(rows), checkpoint.calls)
        return rows

    def _list(
        self,
        checkpoint: Checkpoint,
        deadline: Callable[[], bool],
        operation: str,
        statuses: Mapping[str, Run] | None = None,
    ) -> bool:
        """List ``operation`` from the checkpoint until its end (True) or the deadline (False)."""
        kept: list[Any] = []
        begins, pages = checkpoint.token, 0
        while True:
            if deadline():
                self._write(checkpoint, operation, kept, begins)
                logger.info(
                    "Batch %s: %s listed up to token %s; on next time", self.batch_id, operation, checkpoint.token
                )
                return False
            items, token = outcome.page(self.clients.omics, operation, self.batch_id, checkpoint.token)
            checkpoint.calls += 1
            kept.extend(self._records(operation, items, statuses))
            checkpoint.token, pages = token, pages + 1
            if token is None:
                self._write(checkpoint, operation, kept, begins, finished=True)
                return True
            if pages % PAGES_PER_FILE == 0:
                self._write(checkpoint, operation, kept, begins)
                kept, begins = [], token

    def _ask(self, checkpoint: Checkpoint, deadline: Callable[[], bool], run_ids: list[str]) -> bool:
        """GetRun of each run id not answered yet, until done (True) or the deadline (False)."""
        for run_id in run_ids:
            if run_id in checkpoint.answers:
                continue
            if deadline():
                self.save(checkpoint)
                return False
            checkpoint.answers[run_id] = _answer(outcome.get_run(self.clients.omics, self.batch_id, run_id))
            checkpoint.calls += 1
        checkpoint.phase = DONE
        self.save(checkpoint)
        return True

    @staticmethod
    def _records(operation: str, items: list[Mapping[str, Any]], statuses: Mapping[str, Run] | None) -> Iterator[Any]:
        if operation == RUNS:
            return ((str(item.get("id", "")), list(Run.of(item))) for item in items)
        known = statuses or {}
        return (outcome.row_of(item, known.get(str(item.get("runId") or "")))._asdict() for item in items)

    def _write(
        self, checkpoint: Checkpoint, operation: str, records: list[Any], begins: str | None, *, finished: bool = False
    ) -> None:
        """The records as the listing's next file (named after the token its pages begin at), then
        the checkpoint that counts it (and, when the listing is ``finished``, moves on a phase)."""
        if records:
            prefix = "runs" if operation == RUNS else "rows"
            name = f"{prefix}-{hashlib.sha256((begins or '').encode()).hexdigest()[:16]}.jsonl"
            files.write_json_lines(self.clients.s3, self._uri(name), records, self.batch_id)
            checkpoint.files[operation].append(name)
        if finished:
            checkpoint.phase, checkpoint.token = (ROWS if operation == RUNS else ASK), None
        self.save(checkpoint)

    def _read(self, operation: str, checkpoint: Checkpoint) -> Iterator[Any]:
        for name in checkpoint.files[operation]:
            yield from files.read_json_lines(self.clients.s3, self._uri(name), self.batch_id)
