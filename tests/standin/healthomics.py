"""A stand-in for HealthOmics' run batch API, behind a real botocore client.

The handler, tracker and CLI tests that follow a batch through its life need a service that
remembers: a repeated ``requestId`` answers with the batch it already has, a cancelled batch
stays cancelled, a deleted one is gone. This stand-in keeps that state and does only what the
service documents (docs/architecture.md, "What is proven, and how", says what that is).

It answers at the same point botocore's Stubber does (``before-call``), so every request has
been through botocore's own parameter validation and serializer first, and every answer goes
through the model's output shape and the client's own rest-json parser: a member the model
does not have, or a wrong type, fails the test as it would fail against the service. Errors
are the service's HTTP errors (``x-amzn-errortype``), raised by botocore as ``ClientError``.

The test moves the batch along its life cycle (``set_status``), ends it with the runs'
outcomes it chooses (``finish``: submissions refused with a reason, runs failed), chooses how a
repeated requestId answers (``replay_status``), and may hide a new batch from GetBatch for a few
reads (eventual consistency). Given an S3 client, it reads a batch's s3UriSettings file as the
service does, so the runs are exactly the settings' entries.
"""

from __future__ import annotations

import datetime
import functools
import itertools
import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.parsers import create_parser
from botocore.validate import validate_parameters

ACCOUNT = "123456789012"
REGION = "us-east-1"
RUN_START = datetime.datetime(2026, 4, 1, 8, 0, tzinfo=datetime.UTC)

CANCELLABLE = frozenset({"PENDING", "SUBMITTING", "INPROGRESS"})
RUNS_DELETABLE = frozenset({"PROCESSED", "CANCELLED"})
TERMINAL = frozenset({"PROCESSED", "FAILED", "CANCELLED", "RUNS_DELETED", "RUNS_DELETE_FAILED"})


class ServiceError(Exception):
    """An error answer: HTTP status, the service's error code and message."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass
class Run:
    """One run setting's submission, and the run it became (no run id: the submission failed)."""

    setting_id: str
    submission: str = "SUCCESS"
    reason: str = ""
    run_id: str = ""
    status: str = "PENDING"
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    deleted: bool = False
    failure_reason: str = ""  # a FAILED run's own (GetRun's failureReason)

    @property
    def arn(self) -> str:
        return f"arn:aws:omics:{REGION}:{ACCOUNT}:run/{self.run_id}"

    def status_event(self) -> dict[str, Any]:
        """HealthOmics' "Run Status Change" event for the run's status now, with the detail fields
        the documented example and EventBridge's schema agree on (arn, omicsVersion, status)."""
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Run Status Change",
            "source": "aws.omics",
            "account": ACCOUNT,
            "time": RUN_START.isoformat(),
            "region": REGION,
            "resources": [self.arn],
            "detail": {"omicsVersion": "1.0.0", "arn": self.arn, "status": self.status},
        }


# A failed run's reason when the test names none (one of the user guide's run failure reasons).
DEFAULT_RUN_FAILURE = "RUN_TASK_FAILED"


@dataclass
class Batch:
    """What the stand-in remembers of one batch."""

    id: str
    request_id: str
    request: dict[str, Any]
    created: datetime.datetime
    status: str = "CREATING"
    failure_reason: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    deleted: bool = False
    hidden_reads: int = 0  # GetBatch answers "not found" this many more times
    # Runs a batch-wide cancel or delete did not reach (submissionSummary's failed*SubmissionCount).
    failed_cancels: int = 0
    failed_deletes: int = 0
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    settings: list[dict[str, Any]] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    submitted: bool = False  # its runs were submitted before it ended (``HealthOmics.submit``)
    _started: tuple[list[Run], list[Run]] | None = field(default=None, repr=False)

    @property
    def arn(self) -> str:
        return f"arn:aws:omics:{REGION}:{ACCOUNT}:runBatch/{self.id}"

    def started_runs(self) -> list[Run]:
        """The runs that started (a submission that succeeded) and were not deleted, in order; kept
        for paging (a deleted run clears it)."""
        if self._started is None or self._started[0] is not self.runs:
            self._started = (self.runs, [run for run in self.runs if run.run_id and not run.deleted])
        return self._started[1]

    def describe(self) -> dict[str, Any]:
        """The GetBatch answer."""
        answer: dict[str, Any] = {
            "id": self.id,
            "arn": self.arn,
            "uuid": self.uuid,
            "status": self.status,
            "tags": dict(self.tags),
            "defaultRunSetting": self.request["defaultRunSetting"],
            "creationTime": self.created,
        }
        if "batchName" in self.request:
            answer["name"] = self.request["batchName"]
        if self.failure_reason:
            answer["failureReason"] = self.failure_reason
        if self.runs:
            answer["totalRuns"] = len(self.runs)
            failed = sum(1 for run in self.runs if run.submission == "FAILED")
            answer["submissionSummary"] = {
                "successfulStartSubmissionCount": len(self.runs) - failed,
                "failedStartSubmissionCount": failed,
            }
            if self.failed_cancels:
                answer["submissionSummary"]["failedCancelSubmissionCount"] = self.failed_cancels
            if self.failed_deletes:
                answer["submissionSummary"]["failedDeleteSubmissionCount"] = self.failed_deletes
            counts: dict[str, int] = {}
            for run in self.runs:
                if run.run_id and not run.deleted:
                    key = f"{run.status.lower()}RunCount"
                    counts[key] = counts.get(key, 0) + 1
            answer["runSummary"] = counts
        return answer

    def status_event(self) -> dict[str, Any]:
        """HealthOmics' "RunBatch Status Change" event for the batch's status now: the fields the
        user guide lists, every detail value a string, counts only when there are runs."""
        described = self.describe()
        detail: dict[str, str] = {
            "omicsVersion": "1.0.0",
            "arn": self.arn,
            "batchId": self.id,
            "status": self.status,
            "uuid": self.uuid,
            "workflowId": str(self.request["defaultRunSetting"]["workflowId"]),
        }
        if "name" in described:
            detail["batchName"] = described["name"]
        if self.runs:
            detail["totalRuns"] = str(described["totalRuns"])
            detail.update({key: str(value) for key, value in described["submissionSummary"].items()})
            detail.update({key: str(value) for key, value in described["runSummary"].items()})
        if self.status == "FAILED" and self.failure_reason:
            detail.update(failureReason=self.failure_reason, failureMessage=self.failure_reason)
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "RunBatch Status Change",
            "source": "aws.omics",
            "account": ACCOUNT,
            "time": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": [self.arn],
            "detail": detail,
        }


class HealthOmics:
    """The stand-in's state and its answers, by operation name.

    ``replay_status``: what StartRunBatch says of the batch a repeated requestId names:
    ``"first"`` (its first answer, CREATING) or ``"current"`` (its status now). The service's
    documents say neither, so the handlers must not care: tests run both.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], datetime.datetime] | None = None,
        replay_status: str = "first",
        s3: Any = None,
    ) -> None:
        assert replay_status in ("first", "current")
        self.replay_status = replay_status
        self.s3 = s3  # reads s3UriSettings files, as the run role would
        # The handlers read the real clock, so new batches are created "now" by default.
        self.clock = clock or (lambda: datetime.datetime.now(datetime.UTC))
        self.batches: dict[str, Batch] = {}
        self.by_request: dict[str, str] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._ids = itertools.count(4455667)
        self._run_ids = itertools.count(9000001)
        # A new batch is hidden from GetBatch for this many reads (eventual consistency).
        self.hide_new_batches_for = 0
        # Errors the next calls of an operation answer with, in order (``fail``).
        self.faults: dict[str, list[ServiceError]] = {}
        # A cancelled run is STOPPING until the test ends it (``finish``), not CANCELLED at once.
        self.stopping_runs = False

    # --- what the test does ---------------------------------------------------------------

    def set_status(self, batch_id: str, status: str, **fields: Any) -> None:
        batch = self.batches[batch_id]
        batch.status = status
        if "failure_reason" in fields:
            batch.failure_reason = fields["failure_reason"]

    def finish(
        self,
        batch_id: str,
        *,
        refused: dict[str, str] | None = None,
        failed: set[str] | frozenset[str] = frozenset(),
        status: str = "PROCESSED",
        failure_reasons: dict[str, str] | None = None,
    ) -> Batch:
        """End the batch: each setting submitted (or ``refused`` with its reason), each run
        COMPLETED (or ``failed``, for ``failure_reasons`` or DEFAULT_RUN_FAILURE), and the batch
        in ``status``."""
        batch = self.batches[batch_id]
        if batch.submitted:  # its runs started already: those still going end now
            for run in batch.runs:
                if run.run_id and run.status in ("PENDING", "STARTING", "RUNNING"):
                    run.status = "FAILED" if run.setting_id in failed else "COMPLETED"
                    if run.status == "FAILED":
                        run.failure_reason = (failure_reasons or {}).get(run.setting_id, DEFAULT_RUN_FAILURE)
                elif run.status == "STOPPING":
                    run.status = "CANCELLED"
            batch.status = status
            return batch
        batch.runs = []
        for entry in batch.settings:
            setting_id = entry["runSettingId"]
            reason = (refused or {}).get(setting_id)
            if reason is not None:
                batch.runs.append(Run(setting_id, "FAILED", reason))
            else:
                run_status = "FAILED" if setting_id in failed else "COMPLETED"
                run = Run(setting_id, "SUCCESS", "", str(next(self._run_ids)), run_status)
                run.failure_reason = (
                    (failure_reasons or {}).get(setting_id, DEFAULT_RUN_FAILURE) if setting_id in failed else ""
                )
                batch.runs.append(run)
        batch.status = status
        return batch

    def submit(self, batch_id: str) -> Batch:
        """Every setting of the batch submitted, its run RUNNING, the batch INPROGRESS (``finish``
        ends the runs still going)."""
        batch = self.batches[batch_id]
        batch.runs = [
            Run(entry["runSettingId"], "SUCCESS", "", str(next(self._run_ids)), "RUNNING") for entry in batch.settings
        ]
        batch.status, batch.submitted = "INPROGRESS", True
        return batch

    def fail(self, operation: str, code: str, status: int = 400, *, times: int = 1, message: str = "") -> None:
        """The next ``times`` calls of ``operation`` answer ``code`` (HTTP ``status``) instead: a
        throttle (429), a 5xx, AccessDenied (403) while IAM propagates, and so on."""
        error = ServiceError(code, message or f"{code} (the stand-in's fault)", status)
        self.faults.setdefault(operation, []).extend([error] * times)

    def forget_tokens(self) -> None:
        """Forget every requestId: no document says how long HealthOmics remembers one."""
        self.by_request.clear()

    def run_batches(self, setting_id: str) -> list[Batch]:
        """The batches that hold a run setting of this id, oldest first."""
        return [b for b in self.batches.values() if any(e["runSettingId"] == setting_id for e in b.settings)]

    def age(self, seconds: float) -> None:
        """Let time pass for the batches there are: as if they were created ``seconds`` earlier."""
        for batch in self.batches.values():
            batch.created -= datetime.timedelta(seconds=seconds)

    def started(self) -> list[Batch]:
        """Every batch StartRunBatch created, oldest first."""
        return list(self.batches.values())

    def names(self) -> list[str]:
        """The operations called, in order."""
        return [name for name, _ in self.calls]

    # --- the operations ---------------------------------------------------------------------

    def StartRunBatch(self, params: dict[str, Any]) -> dict[str, Any]:
        token = params["requestId"]
        if token in self.by_request:
            batch = self.batches[self.by_request[token]]
            status = "CREATING" if self.replay_status == "first" else batch.status
        else:
            batch = Batch(
                id=str(next(self._ids)),
                request_id=token,
                request=params,
                created=self.clock(),
                tags=dict(params.get("tags") or {}),
                hidden_reads=self.hide_new_batches_for,
            )
            batch.settings = self._settings(params["batchRunSettings"])
            self.batches[batch.id] = batch
            self.by_request[token] = batch.id
            status = batch.status
        return {"id": batch.id, "arn": batch.arn, "uuid": batch.uuid, "status": status, "tags": dict(batch.tags)}

    def _settings(self, run_settings: dict[str, Any]) -> list[dict[str, Any]]:
        if "inlineSettings" in run_settings:
            return [dict(entry) for entry in run_settings["inlineSettings"]]
        if self.s3 is None:
            return []  # the test does not look at the runs
        bucket, _, key = run_settings["s3UriSettings"][5:].partition("/")
        settings: list[dict[str, Any]] = json.loads(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        return settings

    def ListRunsInBatch(self, params: dict[str, Any]) -> dict[str, Any]:
        batch = self._batch(params["batchId"])
        runs = batch.runs
        # One filter at most (the API's): a run setting, a run, or a submission status.
        for name, field_name in (
            ("runSettingId", "setting_id"),
            ("runId", "run_id"),
            ("submissionStatus", "submission"),
        ):
            if name in params:
                runs = [run for run in runs if getattr(run, field_name) == params[name]]
        start, size = _window(params, "maxItems")
        items = []
        for run in runs[start : start + size]:
            item: dict[str, Any] = {"runSettingId": run.setting_id, "submissionStatus": run.submission}
            if run.run_id:
                item.update(
                    runId=run.run_id,
                    runArn=f"arn:aws:omics:{REGION}:{ACCOUNT}:run/{run.run_id}",
                    runInternalUuid=run.uuid,
                )
            else:
                item.update(submissionFailureReason=run.reason, submissionFailureMessage=f"{run.reason} says no")
            items.append(item)
        return _page(items, "runs", start, size, len(runs))

    def ListRuns(self, params: dict[str, Any]) -> dict[str, Any]:
        batch = self._batch(params["batchId"])
        started = batch.started_runs()
        if "status" in params:
            started = [run for run in started if run.status == params["status"]]
        start, size = _window(params, "maxResults")
        items = [
            {
                "id": run.run_id,
                "status": run.status,
                "name": f"run-{run.setting_id}",
                "batchId": batch.id,
                "startTime": RUN_START,
                "stopTime": RUN_START + datetime.timedelta(hours=2),
            }
            for run in started[start : start + size]
        ]
        return _page(items, "items", start, size, len(started))

    def GetRun(self, params: dict[str, Any]) -> dict[str, Any]:
        run, batch = self._run(params["id"])
        answer = {
            "id": run.run_id,
            "arn": run.arn,
            "status": run.status,
            "name": f"run-{run.setting_id}",
            "uuid": run.uuid,
            "batchId": batch.id,
        }
        if run.status in ("COMPLETED", "FAILED", "CANCELLED"):
            answer.update(startTime=RUN_START, stopTime=RUN_START + datetime.timedelta(hours=2))
        if run.failure_reason:
            answer["failureReason"] = run.failure_reason
        return answer

    def CancelRun(self, params: dict[str, Any]) -> dict[str, Any]:
        run, _ = self._run(params["id"])
        if run.status not in ("PENDING", "STARTING", "RUNNING"):
            raise ServiceError("ConflictException", f"Run {run.run_id} is {run.status}")
        run.status = "STOPPING" if self.stopping_runs else "CANCELLED"
        return {}

    def DeleteRun(self, params: dict[str, Any]) -> dict[str, Any]:
        run, _ = self._run(params["id"])
        if run.status not in ("COMPLETED", "FAILED", "CANCELLED"):
            raise ServiceError("ConflictException", f"Run {run.run_id} is {run.status}: it cannot be deleted")
        run.deleted = True
        for batch in self.batches.values():
            batch._started = None
        return {}

    def _run(self, run_id: str) -> tuple[Run, Batch]:
        """The run that has this id now (deleted runs' ids are reused: the newest wins)."""
        for batch in reversed(list(self.batches.values())):
            for run in batch.runs:
                if run.run_id == run_id and not run.deleted:
                    return run, batch
        raise ServiceError("ResourceNotFoundException", f"Run {run_id} not found", 404)

    def GetBatch(self, params: dict[str, Any]) -> dict[str, Any]:
        batch = self._batch(params["batchId"])
        if batch.hidden_reads:
            batch.hidden_reads -= 1
            raise self._not_found(batch.id)
        return batch.describe()

    def ListBatch(self, params: dict[str, Any]) -> dict[str, Any]:
        """The batches there are (not deleted ones), with the one filter the API takes, oldest first."""
        filters = [key for key in ("status", "name", "runGroupId") if key in params]
        if len(filters) > 1:
            raise ServiceError("ValidationException", "Only one filter may be given")
        listed = [
            batch
            for batch in self.batches.values()
            if not batch.deleted
            and not batch.hidden_reads
            and batch.status == params.get("status", batch.status)
            and batch.request.get("batchName") == params.get("name", batch.request.get("batchName"))
            and batch.request["defaultRunSetting"].get("runGroupId")
            == params.get("runGroupId", batch.request["defaultRunSetting"].get("runGroupId"))
        ]
        start, size = _window(params, "maxItems")
        items = [
            {"id": b.id, "name": b.request.get("batchName"), "status": b.status, "createdAt": b.created}
            for b in listed[start : start + size]
        ]
        return _page(
            [{k: v for k, v in item.items() if v is not None} for item in items], "items", start, size, len(listed)
        )

    def CancelRunBatch(self, params: dict[str, Any]) -> dict[str, Any]:
        batch = self._visible(params["batchId"])
        if batch.status not in CANCELLABLE:
            raise ServiceError("ValidationException", f"Batch {batch.id} is {batch.status} and cannot be cancelled")
        batch.status = "STOPPING"
        return {}

    def DeleteRunBatch(self, params: dict[str, Any]) -> dict[str, Any]:
        batch = self._visible(params["batchId"])
        if batch.status not in RUNS_DELETABLE:
            raise ServiceError("ValidationException", f"Batch {batch.id} is {batch.status}: its runs cannot be deleted")
        batch.status = "RUNS_DELETING"
        return {}

    def DeleteBatch(self, params: dict[str, Any]) -> dict[str, Any]:
        batch = self._visible(params["batchId"])
        if batch.status not in TERMINAL:
            raise ServiceError("ValidationException", f"Batch {batch.id} is {batch.status}, not terminal")
        batch.deleted = True
        return {}

    def TagResource(self, params: dict[str, Any]) -> dict[str, Any]:
        self._by_arn(params["resourceArn"]).tags.update(params["tags"])
        return {}

    def UntagResource(self, params: dict[str, Any]) -> dict[str, Any]:
        batch = self._by_arn(params["resourceArn"])
        for key in params["tagKeys"]:
            batch.tags.pop(key, None)
        return {}

    # --- helpers -----------------------------------------------------------------------------

    def _batch(self, batch_id: str) -> Batch:
        batch = self.batches.get(batch_id)
        if batch is None or batch.deleted:
            raise self._not_found(batch_id)
        return batch

    def _visible(self, batch_id: str) -> Batch:
        batch = self._batch(batch_id)
        if batch.hidden_reads:
            raise self._not_found(batch_id)
        return batch

    def _by_arn(self, arn: str) -> Batch:
        return self._batch(arn.rsplit("/", 1)[-1])

    @staticmethod
    def _not_found(batch_id: str) -> ServiceError:
        return ServiceError("ResourceNotFoundException", f"Batch {batch_id} not found", 404)

    # --- botocore ----------------------------------------------------------------------------

    @contextmanager
    def serving(self, client: Any) -> Iterator[HealthOmics]:
        """Answer ``client``'s omics calls from this stand-in while the block runs."""
        events = client.meta.events
        # The answers are read by the client's own parser, as its endpoint would read them.
        factory = client._endpoint._response_parser_factory
        parser = factory.create_parser("rest-json") if factory is not None else create_parser("rest-json")
        ident = f"healthomics-standin-{id(self)}-{id(client)}"
        events.register("before-parameter-build.omics.*", self._keep_params, unique_id=f"{ident}-params")
        events.register_first("before-call.omics.*", functools.partial(self._answer, parser), unique_id=f"{ident}-call")
        events.register("before-endpoint-resolution.omics", _no_account_lookup, unique_id=f"{ident}-account")
        try:
            yield self
        finally:
            events.unregister("before-parameter-build.omics.*", unique_id=f"{ident}-params")
            events.unregister("before-call.omics.*", unique_id=f"{ident}-call")
            events.unregister("before-endpoint-resolution.omics", unique_id=f"{ident}-account")

    def _keep_params(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["standin_params"] = json.loads(json.dumps(params, default=str))

    def _answer(self, parser: Any, model: Any, context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        params = context.pop("standin_params")
        self.calls.append((model.name, params))
        operation = getattr(self, model.name, None)
        assert operation is not None, f"the stand-in has no {model.name}"
        try:
            faults = self.faults.get(model.name)
            if faults:
                raise faults.pop(0)
            answer = operation(params)
        except ServiceError as err:
            headers = {"x-amzn-errortype": err.code}
            body = json.dumps({"message": err.message}).encode()
            status = err.status
        else:
            if model.output_shape is not None:
                validate_parameters(_sample(answer), model.output_shape)
            headers = {"content-type": "application/json"}
            body = json.dumps(answer, default=_timestamp).encode()
            status = int(model.http.get("responseCode", 200))
        parsed = parser.parse(
            {"status_code": status, "headers": headers, "body": body}, None if status >= 300 else model.output_shape
        )
        return AWSResponse(None, status, headers, None), parsed


def _sample(answer: dict[str, Any], keep: int = 5) -> dict[str, Any]:
    """The answer with each long list cut to its first and last ``keep`` items, for checking
    against the model: a page's items are alike, and checking 100,000 runs' pages item by
    item would cost the test seconds."""
    return {
        key: value[:keep] + value[-keep:] if isinstance(value, list) and len(value) > 2 * keep else value
        for key, value in answer.items()
    }


def _window(params: dict[str, Any], size_key: str) -> tuple[int, int]:
    """Where a page starts (the token is the offset) and its size (the service's default, 100)."""
    return int(params.get("startingToken") or 0), int(params.get(size_key) or 100)


def _page(items: list[dict[str, Any]], key: str, start: int, size: int, total: int) -> dict[str, Any]:
    page: dict[str, Any] = {key: items}
    if start + size < total:
        page["nextToken"] = str(start + size)
    return page


def _timestamp(value: Any) -> str:
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    raise TypeError(f"not JSON: {value!r}")


def _no_account_lookup(builtins: dict[str, Any], **_: Any) -> None:
    """As the Stubber does: no credentials are resolved to find the account for the endpoint."""
    if "AWS::Auth::AccountId" in builtins:
        builtins["AWS::Auth::AccountId"] = None
