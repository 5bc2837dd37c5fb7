"""Runs the tracking state machine's real definition in moto's ASL interpreter.

The definition is the one the construct synthesizes, with its CloudFormation references
resolved to fixed names. What moto does not do like the real service is supplied here:
Lambda functions (moto runs them in docker, which this machine lacks) are called
in-process; GetExecutionHistory honours ``reverseOrder``, ``maxResults`` and ``nextToken``;
StopExecution ends an execution parked on a task token at once, ABORTED, as it does
everywhere else (moto waits out the token's timeout, then lets the timeout's error win).

Waits are shortened, not slept: the backstop timeout becomes ``backstop_seconds`` and
retry intervals one second, so every path runs in a few seconds.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from moto import mock_aws
from moto.core.responses import ActionResult
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped
from moto.stepfunctions.responses import StepFunctionResponse

ACCOUNT = "123456789012"  # moto's own, and the HealthOmics stand-in's: one account for every ARN
REGION = "us-east-1"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:tracker"


class LambdaError(Exception):
    """What a Python Lambda raising ``error_type`` returns: Step Functions names the error after it."""

    def __init__(self, error_type: str, message: str = "") -> None:
        super().__init__(message)
        self.error_type = error_type


def resolve(value: Any, names: dict[str, str]) -> Any:
    """A synthesized CloudFormation value with its references replaced by fixed names."""
    if isinstance(value, dict):
        if "Fn::Join" in value:
            delimiter, parts = value["Fn::Join"]
            return delimiter.join(str(resolve(p, names)) for p in parts)
        if "Ref" in value:
            return names.get(
                value["Ref"],
                {
                    "AWS::Partition": "aws",
                    "AWS::Region": REGION,
                    "AWS::AccountId": ACCOUNT,
                    "AWS::URLSuffix": "amazonaws.com",
                }.get(value["Ref"], value["Ref"].lower()),
            )
        if "Fn::GetAtt" in value:
            logical_id, attribute = value["Fn::GetAtt"]
            if logical_id in names:
                return names[logical_id]
            return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{logical_id}" if attribute == "Arn" else logical_id
        return {k: resolve(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, names) for v in value]
    return value


def definition_of(
    template: dict[str, Any], *, backstop_seconds: int, names: dict[str, str] | None = None
) -> dict[str, Any]:
    """The tracking state machine's ASL from a template, every Lambda the tracker, waits shortened
    (``names``: what other references resolve to); a stack that does not track gets one that
    passes, so that the harness around it stays the same."""
    machines = [
        r
        for k, r in template["Resources"].items()
        if r["Type"] == "AWS::StepFunctions::StateMachine" and "Tracker" in k
    ]
    if not machines:
        return {"StartAt": "Untracked", "States": {"Untracked": {"Type": "Pass", "End": True}}}
    (machine,) = machines
    functions = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::Lambda::Function" and "Tracker" in k]
    text = resolve(machine["Properties"]["DefinitionString"], {**(names or {}), **{f: FUNCTION_ARN for f in functions}})
    definition = json.loads(text)
    for state in definition["States"].values():
        if "TimeoutSeconds" in state:
            state["TimeoutSeconds"] = backstop_seconds
        if state["Type"] == "Wait" and "Seconds" in state:  # the backoff after a delay: the backstop's
            state["Seconds"] = backstop_seconds
        for retry in state.get("Retry", []):
            retry["IntervalSeconds"] = 1
            retry.pop("MaxDelaySeconds", None)
            retry.pop("JitterStrategy", None)
            retry["BackoffRate"] = 1.0
    return definition


class FakeLambdaClient:
    """The Lambda client moto's interpreter uses, calling ``handler(payload)`` in-process."""

    def __init__(self, handler: Callable[[dict[str, Any]], Any]) -> None:
        self.handler = handler

    def invoke(self, **params: Any) -> dict[str, Any]:
        payload = json.loads(params.get("Payload") or b"{}")
        try:
            result = self.handler(payload)
        except Exception as err:  # as Lambda's Python runtime reports an unhandled exception
            error_type = err.error_type if isinstance(err, LambdaError) else type(err).__name__
            body = {"errorType": error_type, "errorMessage": str(err)}
            return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": io.BytesIO(json.dumps(body).encode())}
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(result).encode())}


@dataclass
class Run:
    """One execution's outcome, as moto's Step Functions tells it."""

    status: str
    error: str | None
    cause: str | None
    events: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    name: str = ""

    def count(self, event_type: str) -> int:
        return sum(1 for e in self.events if e["type"] == event_type)

    @property
    def transitions(self) -> int:
        """State transitions, as Step Functions bills them: one per state entered."""
        return sum(1 for e in self.events if e["type"].endswith("StateEntered"))


class Machine:
    """The tracking state machine created in moto, ready to run executions."""

    def __init__(self, definition: dict[str, Any], sfn: Any) -> None:
        self.sfn = sfn
        self.arn = sfn.create_state_machine(
            name="Tracker", definition=json.dumps(definition), roleArn=f"arn:aws:iam::{ACCOUNT}:role/tracker"
        )["stateMachineArn"]

    def start(self, batch_id: str) -> str:
        return self.sfn.start_execution(
            stateMachineArn=self.arn, name=f"batch-{batch_id}", input=json.dumps({"batchId": batch_id})
        )["executionArn"]

    def wait(self, execution_arn: str, *, timeout: float = 30.0) -> Run:
        started = time.monotonic()
        while True:
            described = self.sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING" or time.monotonic() - started > timeout:
                break
            time.sleep(0.05)
        events = self.history(execution_arn)
        return Run(
            described["status"],
            described.get("error"),
            described.get("cause"),
            events,
            time.monotonic() - started,
            described["name"],
        )

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        pages = self.sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
        return [event for page in pages for event in page["events"]]

    def when_parked(self, execution_arn: str, then: Callable[[], None], *, timeout: float = 10.0) -> threading.Thread:
        """Call ``then`` from another thread once the execution waits on its task token."""

        def watch() -> None:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if any(e["type"] == "TaskSubmitted" for e in self.history(execution_arn)):
                    then()
                    return
                time.sleep(0.02)

        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        return thread


def _paged_history(original: Callable[[Any], ActionResult]) -> Callable[[Any], ActionResult]:
    """GetExecutionHistory with the real service's reverseOrder, maxResults and nextToken.

    moto returns the whole history oldest first whatever is asked; the tracker reads it
    newest first, a page at a time, as the real service allows.
    """

    def get_execution_history(self: Any) -> ActionResult:
        history = dict(original(self).result)  # type: ignore[call-overload]
        events = list(history.get("events", []))
        if self._get_param("reverseOrder"):
            events.reverse()
        start = int(self._get_param("nextToken") or 0)
        size = int(self._get_param("maxResults") or 100)
        history["events"] = events[start : start + size]
        history.pop("nextToken", None)
        if start + size < len(events):
            history["nextToken"] = str(start + size)
        return ActionResult(history)

    return get_execution_history


def _stops_at_once(set_stop: Any, set_error: Any) -> tuple[Any, Any]:
    """Environment's set_stop and set_error, such that a stop ends a parked wait and stays a stop."""

    def stop(env: Environment, stop_date: Any, cause: str | None, error: str | None) -> None:
        set_stop(env, stop_date=stop_date, cause=cause, error=error)
        for endpoint in list(env.callback_pool_manager._pool.values()):
            endpoint.interrupt_all()  # the parked task token is void: its wait ends now

    def fail(env: Environment, error: Any) -> None:
        if not isinstance(env.program_state(), ProgramStopped):  # a stopped execution is ABORTED
            set_error(env, error)

    return stop, fail


@contextmanager
def moto_machine(definition: dict[str, Any], lambda_handler: Callable[[dict[str, Any]], Any]) -> Iterator[Machine]:
    """moto's Step Functions, executing for real, with the tracker supplied in-process."""
    original = lambda_eval_utils.boto_client_for
    history = StepFunctionResponse.get_execution_history
    set_stop, set_error = Environment.set_stop, Environment.set_error
    StepFunctionResponse.get_execution_history = _paged_history(history)  # type: ignore[method-assign]
    Environment.set_stop, Environment.set_error = _stops_at_once(set_stop, set_error)  # type: ignore[method-assign]
    lambda_eval_utils.boto_client_for = lambda *a, **k: FakeLambdaClient(lambda_handler)  # type: ignore[assignment]
    try:
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            yield Machine(definition, boto3.client("stepfunctions", region_name=REGION))
    finally:
        lambda_eval_utils.boto_client_for = original
        StepFunctionResponse.get_execution_history = history  # type: ignore[method-assign]
        Environment.set_stop, Environment.set_error = set_stop, set_error  # type: ignore[method-assign]
