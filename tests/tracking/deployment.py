"""A synthesized stack deployed offline, and its cohort followed to the end.

Every piece is the real one except the services:

- the custom resource's requests go to the provider's own ``on_event`` and ``is_complete``,
  as the Provider framework sends them, with the properties as CloudFormation delivers them
  (every scalar a string); the settings files are published from the cloud assembly, as
  ``cdk deploy`` publishes assets;
- the tracking state machine is the template's, executed by moto's ASL interpreter
  (``harness.py``), with the real tracker function called in-process;
- HealthOmics is the stand-in (``tests/standin``); S3, Step Functions and EventBridge are moto's;
- HealthOmics' status events are matched against the template's own rule pattern by moto's
  EventBridge matcher (the one its PutEvents routes by) and delivered through the rule's input
  transformer.

While the tracker waits, the batches move along the life cycle the service documents
(``CREATING`` .. ``SUBMITTING`` ▸ ``INPROGRESS`` ▸ an ending the test chooses), one step a wait,
and each change is announced by its event.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import boto3
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Template
from botocore.config import Config
from moto.events.models import EventPattern

from insight.index import capture
from omics_batch_construct import DefaultRunSetting, OmicsRunBatch, RunSetting
from omics_batch_construct._provider import QUERY_INTERVAL
from omics_batch_construct_runtime import contract
from omics_batch_construct_runtime.clients import Clients
from omics_batch_construct_runtime.omics import omics_client
from provider import index as provider
from tests.standin.healthomics import TERMINAL, HealthOmics
from tests.standin.healthomics import Batch as StandinBatch
from tests.standin.healthomics import Run as StandinRun
from tests.standin.pricing import PriceList, pricing_client
from tests.standin.quotas import RUN_QUOTA, ServiceQuotas, quotas_client
from tests.tracking.grants import Recorder
from tests.tracking.harness import ACCOUNT, REGION, Machine, Run, definition_of, moto_machine, resolve
from tracker.index import handle

# The Provider framework's interval between is_complete polls.
QUERY_SECONDS = int(QUERY_INTERVAL.to_seconds())
NAME = re.compile(r"^c(?P<first>[0-9]+)-p(?P<part>[0-9]+)a(?P<attempt>[0-9]+)$")


@dataclass(frozen=True)
class Ending:
    """How a batch ends: settings refused at submission (with their reason), runs failed; or the
    batch FAILED with ``failure_reason``, before it submitted any run (``submitted=False``)."""

    refused: dict[str, str] = field(default_factory=dict)
    failed: frozenset[str] = frozenset()
    status: str = "PROCESSED"
    failure_reason: str = ""
    submitted: bool = True


# What the test says of each batch: its ending, from the batch and its (part, attempt).
Script = Callable[[StandinBatch, int, int], Ending]


def part_and_attempt(batch: StandinBatch) -> tuple[int, int]:
    """A tracker-started batch's part and attempt, from the name it was given; the deploy's is (0, 1)."""
    match = NAME.match(str(batch.request.get("batchName", "")))
    return (int(match["part"]), int(match["attempt"])) if match else (0, 1)


def as_delivered(value: Any) -> Any:
    """A resource property as CloudFormation delivers it to the function: scalars as strings."""
    if isinstance(value, dict):
        return {k: as_delivered(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_delivered(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


class _Context:
    """The parts of a Lambda context the provider reads."""

    log_group_name = "/aws/lambda/provider"
    log_stream_name = "2026/12/01/[$LATEST]0123456789abcdef"
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:provider"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def _rule(template: dict[str, Any], detail_type: str) -> dict[str, Any] | None:
    """The properties of the template's rule for HealthOmics events of ``detail_type``, if any."""
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Events::Rule":
            pattern = resource["Properties"]["EventPattern"]
            if detail_type in pattern.get("detail-type", []):
                return dict(resource["Properties"])
    return None


def role_arns(template: dict[str, Any]) -> dict[str, str]:
    """What the template's roles' ARNs resolve to."""
    roles = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role"]
    return {role: f"arn:aws:iam::{ACCOUNT}:role/{role}" for role in roles}


def _one(template: dict[str, Any], resource_type: str) -> tuple[str, dict[str, Any]]:
    (found,) = [(k, r) for k, r in template["Resources"].items() if r["Type"] == resource_type]
    return found


class Deployment:
    """The stack's batch resource and its tracking, against the stand-in and moto."""

    def __init__(
        self,
        template: dict[str, Any],
        assembly: Path,
        machine: Machine,
        service: HealthOmics,
        clients: Clients,
        roles: dict[str, tuple[Clients, Recorder]],
    ) -> None:
        self.template, self.machine, self.service, self.clients = template, machine, service, clients
        # Each function's own clients, recording its calls for the grants' audit (tests/tracking/grants.py).
        self.handler_clients, self.handler_calls = roles["handler"]
        self.tracker_clients, self.tracker_calls = roles["tracker"]
        self.resource_id, resource = _one(template, "Custom::OmicsRunBatch")
        tracker = self._state_machine_id()  # None: the stack does not track (track_completion=False)
        self.names = {**({tracker: machine.arn} if tracker else {}), **role_arns(template)}
        self._resource = resource
        self.insight_clients, self.insight_calls = roles["insight"]
        self._rule = _rule(template, contract.OMICS_BATCH_EVENT_DETAIL_TYPE)
        self._run_rule = _rule(template, contract.OMICS_RUN_EVENT_DETAIL_TYPE)
        self._publish_assets(assembly)
        self.first_batch_id: str | None = None
        self.completed: dict[str, Any] = {}  # is_complete's last answer that said complete
        self.backstop_seconds = 60
        self.prices = PriceList()  # the Price List API's stand-in, shared by the functions' clients
        self.delivered: list[dict[str, Any]] = []  # the events the rule matched, as delivered
        self.unmatched: list[dict[str, Any]] = []  # the events it did not

    def _state_machine_id(self) -> str | None:
        found = [
            k
            for k, r in self.template["Resources"].items()
            if r["Type"] == "AWS::StepFunctions::StateMachine" and "Tracker" in k
        ]
        return found[0] if found else None

    def _publish_assets(self, assembly: Path) -> None:
        """What ``cdk deploy`` does first: each file asset to its destination bucket and key."""
        s3 = self.clients.s3
        for assets in assembly.glob("*.assets.json"):
            for asset in json.loads(assets.read_text())["files"].values():
                source = assembly / asset["source"]["path"]
                if not source.is_file():
                    continue  # the handlers' code
                for destination in asset["destinations"].values():
                    bucket = destination["bucketName"].replace("${AWS::AccountId}", ACCOUNT)
                    bucket = bucket.replace("${AWS::Region}", REGION)
                    if bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
                        s3.create_bucket(Bucket=bucket)
                    s3.put_object(Bucket=bucket, Key=destination["objectKey"], Body=source.read_bytes())

    # --- the custom resource --------------------------------------------------------------

    def announce_run(self, run: StandinRun, *, receives: int = 1) -> list[str]:
        """HealthOmics' event for a run's new status, through the template's run rule (if it matches)
        to the insight function, as its queue delivers it; the messages it sends back."""
        assert self._run_rule is not None, "the stack has no insight function"
        event = run.status_event()
        if not EventPattern.load(json.dumps(self._run_rule["EventPattern"])).matches_event(event):
            self.unmatched.append(event)
            return []
        (function_id,) = [
            k
            for k, r in self.template["Resources"].items()
            if r["Type"] == "AWS::Lambda::Function" and r["Properties"]["Handler"] == contract.HANDLER_INSIGHT
        ]
        environment = self.template["Resources"][function_id]["Properties"]["Environment"]["Variables"]
        report_uri = str(resolve(environment[contract.ENV_REPORT_URI], self.names))
        message = {
            "messageId": f"{run.run_id}-{receives}",
            "body": json.dumps(event),  # an SQS target gets the whole event
            "attributes": {"ApproximateReceiveCount": str(receives)},
        }
        answer = capture([message], self.insight_clients, report_uri, REGION)
        return [item["itemIdentifier"] for item in answer["batchItemFailures"]]

    def properties(self) -> dict[str, Any]:
        resolved = resolve(self._resource["Properties"], self.names)
        return dict(as_delivered(resolved))

    def _request(self, request_type: str, **extra: Any) -> dict[str, Any]:
        return {
            "RequestType": request_type,
            "ServiceToken": "arn:aws:lambda:us-east-1:111122223333:function:framework-onEvent",
            "ResponseURL": "https://cloudformation-custom-resource-response.example/signed",
            "StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/Tracked/0a1b2c3d",
            "RequestId": f"{request_type.lower()}-request",
            "LogicalResourceId": self.resource_id,
            "ResourceType": "Custom::OmicsRunBatch",
            "ResourceProperties": self.properties(),
            **extra,
        }

    def create(self) -> str:
        """The deploy: on_event starts the batch; is_complete waits for validation and starts tracking."""
        event = self._request("Create")
        started = provider.on_event(event, _Context(), self.handler_clients)
        batch_id = str(started["PhysicalResourceId"])
        self.service.set_status(batch_id, "SUBMITTING")  # validation passed
        self._until_complete({**event, **started})
        self.first_batch_id = batch_id
        return batch_id

    def redeploy(self, template: dict[str, Any], assembly: Path, *, request_id: str = "update-request") -> str:
        """A deploy of the same stack with another template: its assets published, the tracking state
        machine's definition updated (a running execution keeps the one it started with, as in Step
        Functions), and an Update of the batch resource, old properties against new; its batches
        pass validation at once. The resource's id after it."""
        old = self.properties()
        self.template = template
        self.resource_id, self._resource = _one(template, "Custom::OmicsRunBatch")
        self._publish_assets(assembly)
        definition = definition_of(template, backstop_seconds=self.backstop_seconds, names=role_arns(template))
        self.machine.sfn.update_state_machine(stateMachineArn=self.machine.arn, definition=json.dumps(definition))
        event = self._request("Update", PhysicalResourceId=self.first_batch_id, OldResourceProperties=old)
        event["RequestId"] = request_id
        result = provider.on_event(event, _Context(), self.handler_clients)
        for batch in self.service.started():
            if batch.status in ("CREATING", "PENDING"):
                batch.status = "SUBMITTING"  # validation passed
        self._until_complete({**event, **result})
        self.first_batch_id = str(self.completed.get("PhysicalResourceId") or result["PhysicalResourceId"])
        return self.first_batch_id

    def update(self, **changes: Any) -> None:
        """A deploy of the same stack with ``changes`` to the resource's properties (as delivered)."""
        old = self.properties()
        event = self._request("Update", PhysicalResourceId=self.first_batch_id, OldResourceProperties=old)
        event["ResourceProperties"] = {**old, **changes}
        result = provider.on_event(event, _Context(), self.handler_clients)
        self._until_complete({**event, **result})

    def destroy(self, *, between_polls: Callable[[], None] | None = None) -> int:
        """A stack destroy: on_event's first step, then is_complete until the delete is done; the
        polls it took, on a clock that moves by the provider's query interval between polls."""
        assert self.first_batch_id is not None
        event = self._request("Delete", PhysicalResourceId=self.first_batch_id)
        result = provider.on_event(event, _Context(), self.handler_clients)
        polls = contract.DELETE_BUDGET_SECONDS // QUERY_SECONDS + 5

        def between() -> None:
            (between_polls or self._stopping_ends)()
            self.wait_stopped()  # a stop has taken effect by the next poll, 15 s later

        return self._until_complete({**event, **result}, between_polls=between, polls=polls)

    def _until_complete(
        self, event: dict[str, Any], *, between_polls: Callable[[], None] | None = None, polls: int = 5
    ) -> int:
        start = float((event.get("Data") or {}).get(contract.DATA_STARTED_AT) or time.time())
        for poll in range(polls):
            clock = _at(start + poll * QUERY_SECONDS)
            answer = provider.is_complete(event, _Context(), self.handler_clients, clock)
            if answer["IsComplete"]:
                self.completed = dict(answer)
                return poll + 1
            if between_polls:
                between_polls()
            self.wait_stopped()  # a stop has taken effect by the next poll, 15 s later
        raise AssertionError(f"{event['RequestType']} was not complete after {polls} polls")

    def _stopping_ends(self) -> None:
        """A cancel's STOPPING becomes CANCELLED; a runs' delete RUNS_DELETING becomes RUNS_DELETED."""
        for batch in self.service.started():
            if batch.status == "STOPPING":
                batch.status = "CANCELLED"
            elif batch.status == "RUNS_DELETING":
                batch.status = "RUNS_DELETED"

    def wait_stopped(self, timeout: float = 10.0) -> None:
        """Until no execution runs (moto ends a stopped one in its own thread)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            listed = self.machine.sfn.list_executions(stateMachineArn=self.machine.arn, statusFilter="RUNNING")
            if not listed["executions"]:
                return
            time.sleep(0.02)

    def executions(self, *, timeout: float = 60.0) -> list[Run]:
        """The cohort's executions once none is running, oldest first (a long cohort carries on)."""
        sfn, deadline = self.machine.sfn, time.monotonic() + timeout
        while True:
            listed = sfn.list_executions(stateMachineArn=self.machine.arn)["executions"]
            if (listed and all(e["status"] != "RUNNING" for e in listed)) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        ordered = sorted(listed, key=lambda e: e["startDate"])
        return [self.machine.wait(e["executionArn"], timeout=0) for e in ordered]

    # --- HealthOmics' events ----------------------------------------------------------------

    def announce(self, batch: StandinBatch) -> None:
        """HealthOmics' event for the batch's new status, through the template's rule (if it matches)."""
        assert self.first_batch_id is not None
        names = {**self.names, self.resource_id: self.first_batch_id}
        assert self._rule is not None, "the stack does not track its batch"
        rule = resolve(self._rule, names)
        event = batch.status_event()
        if not EventPattern.load(json.dumps(rule["EventPattern"])).matches_event(event):
            self.unmatched.append(event)
            return
        (target,) = rule["Targets"]
        transformer = target["InputTransformer"]
        text = transformer["InputTemplate"]
        for name, path in transformer["InputPathsMap"].items():
            text = text.replace(f"<{name}>", json.dumps(event[path.removeprefix("$.")]))
        delivered = json.loads(text)
        self.delivered.append(delivered)
        handle(delivered, self.tracker_clients)


@dataclass
class Tracking:
    """The cohort's batches moving along while the tracker waits, and its executions' outcome."""

    deployment: Deployment
    script: Script
    deliver: bool = True  # False: every event is lost, and only the backstop wakes the tracker
    hold: Callable[[int, int], bool] = lambda part, attempt: False  # batches that never end
    ended: Callable[[StandinBatch], None] = lambda batch: None  # told of each batch the script ended
    parks: int = 0
    last_changed: int = -1  # how many batches the last wait moved on
    lock: threading.Lock = field(default_factory=threading.Lock)

    def settled(self) -> bool:
        """The execution is parked on a wait in which no batch moved: nothing happens until
        the backstop, or a destroy."""
        return self.last_changed == 0 and self._submitted() >= self.parks

    def tracker(self, payload: dict[str, Any]) -> Any:
        """The tracker function as the state machine invokes it; a wait lets the batches move on."""
        result = handle(payload, self.deployment.tracker_clients)
        if payload.get("action") == contract.TRACKER_ACTION_PARK:
            with self.lock:
                self.parks += 1
                parks = self.parks
            changed = self.step()
            self.last_changed = len(changed)
            if self.deliver:
                threading.Thread(target=self._announce_when_parked, args=(parks, changed), daemon=True).start()
        return result

    def step(self) -> list[StandinBatch]:
        """Each live batch one step along its life cycle; the batches that changed."""
        changed = []
        for batch in self.deployment.service.started():
            if batch.deleted or batch.status in TERMINAL or batch.status in ("STOPPING", "RUNS_DELETING"):
                continue
            part, attempt = part_and_attempt(batch)
            if batch.status != "INPROGRESS":
                batch.status = "INPROGRESS"  # validated, and every run submitted
            elif self.hold(part, attempt):
                continue
            else:
                ending = self.script(batch, part, attempt)
                self.deployment.service.finish(
                    batch.id, refused=ending.refused, failed=ending.failed, status=ending.status
                )
                if not ending.submitted:
                    batch.runs = []
                if ending.failure_reason:
                    batch.failure_reason = ending.failure_reason
                self.ended(batch)
            changed.append(batch)
        return changed

    def _announce_when_parked(self, parks: int, changed: list[StandinBatch]) -> None:
        """The events, once the execution is parked on its token (as they come after the change)."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self._submitted() < parks:
            time.sleep(0.02)
        for batch in changed:
            self.deployment.announce(batch)

    def _submitted(self) -> int:
        sfn = self.deployment.machine.sfn
        executions = sfn.list_executions(stateMachineArn=self.deployment.machine.arn)["executions"]
        return sum(
            1
            for execution in executions
            for event in self.deployment.machine.history(execution["executionArn"])
            if event["type"] == "TaskSubmitted"
        )


def synthesized(runs: Sequence[RunSetting], *, encrypted: bool = False, **kwargs: Any) -> tuple[dict[str, Any], Path]:
    """The template and cloud assembly of a stack with one OmicsRunBatch, ``Cohort``, of ``runs``
    (``kwargs``: its further arguments; ``encrypted``: with a customer-managed key of the stack)."""
    app = cdk.App()
    stack = cdk.Stack(app, "Tracked", env=cdk.Environment(account=ACCOUNT, region=REGION))
    if encrypted:
        kwargs["encryption_key"] = kms.Key(stack, "Key", enable_key_rotation=True)
    kwargs.setdefault("default_run_setting", DefaultRunSetting(workflow_id="1234567"))
    OmicsRunBatch(stack, "Cohort", runs=runs, **kwargs)
    return Template.from_stack(stack).to_json(), Path(app.synth().directory)


@contextmanager
def deployed(
    template: dict[str, Any],
    assembly: Path,
    script: Script,
    *,
    backstop_seconds: int = 60,
) -> Iterator[tuple[Deployment, Tracking]]:
    """The stack's resources in moto and the stand-in, with the tracker's definition running."""
    holder: dict[str, Tracking] = {}
    definition = definition_of(template, backstop_seconds=backstop_seconds, names=role_arns(template))
    with moto_machine(definition, lambda payload: holder["tracking"].tracker(payload)) as machine:
        s3 = boto3.client("s3", region_name=REGION)
        for bucket_id, resource in template["Resources"].items():
            if resource["Type"] == "AWS::S3::Bucket":
                s3.create_bucket(Bucket=resolve({"Ref": bucket_id}, {}))
        service, prices = HealthOmics(s3=s3), PriceList()
        with ExitStack() as serving:

            def role_clients() -> tuple[Clients, Recorder]:
                """A function's own clients, answered by the same services, its calls recorded."""
                recorder = Recorder()
                omics = omics_client(region_name=REGION, config=Config(retries={"total_max_attempts": 1}))
                quotas = quotas_client()
                serving.enter_context(service.serving(omics))
                # The run quota's default is not published: one that fits every cohort these tests deploy.
                serving.enter_context(ServiceQuotas(defaults={RUN_QUOTA: 1_000_000}).serving(quotas))
                pricing = pricing_client(attempts=1)
                serving.enter_context(prices.serving(pricing))
                made = {
                    "omics": omics,
                    "s3": boto3.client("s3", region_name=REGION),
                    "events": boto3.client("events", region_name=REGION),
                    "stepfunctions": boto3.client("stepfunctions", region_name=REGION),
                    "servicequotas": quotas,
                    "logs": boto3.client("logs", region_name=REGION),
                    "pricing": pricing,
                }
                return Clients(**{name: recorder.attach(client) for name, client in made.items()}), recorder

            clients, _ = role_clients()
            roles = {"handler": role_clients(), "tracker": role_clients(), "insight": role_clients()}
            deployment = Deployment(template, assembly, machine, service, clients, roles)
            deployment.prices = prices
            deployment.backstop_seconds = backstop_seconds
            holder["tracking"] = Tracking(deployment, script)
            try:
                yield deployment, holder["tracking"]
            finally:  # nothing may run on once moto and the stand-in are gone
                _stop_all(machine)


def until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Wait for ``condition`` (the executions and the stand-in move on in threads of their own)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def until_reported(deployment: Deployment, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        listed = deployment.machine.sfn.list_executions(stateMachineArn=deployment.machine.arn)["executions"]
        if listed and all(e["status"] != "RUNNING" for e in listed):
            return
        assert time.monotonic() < deadline, "the cohort's tracking did not end"
        time.sleep(0.05)


def report(deployment: Deployment) -> list[dict[str, str]]:
    uri = deployment.properties()[contract.PROP_REPORT_URI]
    bucket, _, folder = uri.removeprefix("s3://").partition("/")
    key = f"{folder}batch-{deployment.first_batch_id}/report.json"
    return list(json.loads(deployment.clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read()))


def completions(deployment: Deployment) -> list[dict[str, Any]]:
    return [
        json.loads(entry["Detail"])
        for service, operation, params in deployment.tracker_calls.calls
        if (service, operation) == ("events", "PutEvents")
        for entry in params["Entries"]
        if entry["DetailType"] == contract.EVENT_DETAIL_TYPE
    ]


def _stop_all(machine: Machine) -> None:
    """Stop every running execution (moto refuses to stop one whose first state has not begun yet:
    such a stop is tried again shortly)."""
    deadline = time.monotonic() + 10
    while True:
        running = machine.sfn.list_executions(stateMachineArn=machine.arn, statusFilter="RUNNING")["executions"]
        try:
            for execution in running:
                machine.sfn.stop_execution(executionArn=execution["executionArn"])
            return
        except AttributeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _at(moment: float) -> Callable[[], float]:
    """A clock stopped at ``moment``: one poll's time."""
    return lambda: moment
