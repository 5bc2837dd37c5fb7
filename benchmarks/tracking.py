#!/usr/bin/env python3
"""Figures for completion tracking, with the default settings.

- state transitions and history events per batch-day, and the days a batch may run
  before its execution reaches Standard's 25,000 history events;
- how long after a batch ends the execution notices, with and without HealthOmics' event;
- the state transitions and history events of a cohort, per batch the tracker starts, from a
  cohort deployed and followed with the real tracker (tests/tracking/deployment.py);
- the report's time and memory for 100,000 runs (benchmarks/tracker_report.py).

The state machine is the construct's own definition, executed by moto's ASL interpreter
with the tracker played in-process (tests/tracking/harness.py). Time is scaled: the
one-hour backstop runs as SCALED_BACKSTOP seconds, and latencies are given as a share of
the backstop, which is what the machine's speed cannot blur.

Run: JSII_NODE=.venv/nodejs/bin/node .venv/bin/python benchmarks/tracking.py   (the venv's Node.js, as
`make bench` sets it; jsii takes the PATH's otherwise)
"""

from __future__ import annotations

import logging
import random
import statistics
import threading
import time
from typing import Any

import aws_cdk as cdk
from aws_cdk.assertions import Template

from omics_batch_construct import DefaultRunSetting, OmicsRunBatch, RunSetting
from tests.tracking.deployment import Ending, deployed, synthesized
from tests.tracking.harness import ACCOUNT, REGION, definition_of, moto_machine
from tracker.cohort import CHECKS_PER_EXECUTION

BACKSTOP = 3600  # the default, in seconds
SCALED_BACKSTOP = 2  # what an hour becomes here
HISTORY_CAP = 25_000
DAY = 24 * 3600


class Batch:
    """A one-batch cohort not done until ``end()``: what ``check`` answers."""

    def __init__(self) -> None:
        self.ended_at: float | None = None
        self.tokens: list[str] = []
        self.lock = threading.Lock()

    def end(self) -> None:
        with self.lock:
            self.ended_at = time.monotonic()

    def __call__(self, payload: dict[str, Any]) -> dict[str, Any]:
        action = payload["action"]
        if action == "check":
            done = self.ended_at is not None
            return {"cohort": {}, "done": done, "again": False, "continue": False, "released": False}
        if action == "park":
            self.tokens.append(payload["taskToken"])
            return {}
        return {"succeeded": True, "status": "PROCESSED", "reportJsonUri": "s3://out/report.json"}


def definition() -> dict[str, Any]:
    stack = cdk.Stack(cdk.App(), "Bench", env=cdk.Environment(account=ACCOUNT, region=REGION))
    OmicsRunBatch(
        stack,
        "Cohort",
        default_run_setting=DefaultRunSetting(workflow_id="1234567"),
        runs=[RunSetting(run_setting_id="S1")],
    )
    return definition_of(Template.from_stack(stack).to_json(), backstop_seconds=SCALED_BACKSTOP)


def cycle_costs(asl: dict[str, Any], cycles: int = 4) -> tuple[float, float]:
    """Transitions and history events a backstop cycle adds (a batch that runs for ``cycles`` hours)."""
    costs = []
    for hours in (0, cycles):
        batch = Batch()
        with moto_machine(asl, batch) as machine:
            execution = machine.start("1")
            threading.Timer(SCALED_BACKSTOP * hours + SCALED_BACKSTOP / 2, batch.end).start()
            run = machine.wait(execution, timeout=SCALED_BACKSTOP * (hours + 3))
        costs.append((run.transitions, len(run.events)))
    (t0, e0), (t1, e1) = costs
    return (t1 - t0) / cycles, (e1 - e0) / cycles


def latency(asl: dict[str, Any], *, event: bool, trials: int) -> list[float]:
    """Seconds from the batch's end to the execution's, over ``trials`` random end times."""
    results = []
    for _ in range(trials):
        batch = Batch()
        with moto_machine(asl, batch) as machine:
            execution = machine.start("1")
            time.sleep(SCALED_BACKSTOP * random.uniform(0.2, 0.9))
            batch.end()
            if event:  # HealthOmics' event: the tracker resumes the parked token at once
                machine.sfn.send_task_success(taskToken=batch.tokens[-1], output='{"status": "PROCESSED"}')
            run = machine.wait(execution, timeout=SCALED_BACKSTOP * 4)
            done = time.monotonic()
        assert run.status == "SUCCEEDED" and batch.ended_at is not None, run
        results.append(done - batch.ended_at)
    return results


def cohort_costs(attempts: int) -> tuple[int, int, int]:
    """Batches, state transitions and history events of a 3-sample cohort, deployed and followed
    with the real tracker (tests/tracking/deployment.py), one sample refused for quota until
    the ``attempts``-th submission; every status change is announced by its event."""
    template, assembly = synthesized([RunSetting(run_setting_id=f"S{i}") for i in range(3)])

    def script(batch: Any, part: int, attempt: int) -> Ending:
        return Ending(refused={"S1": "ServiceQuotaExceededException"}) if attempt < attempts else Ending()

    with deployed(template, assembly, script) as (deployment, _):
        deployment.create()
        runs = deployment.executions()
        batches = len(deployment.service.started())
    assert all(run.status == "SUCCEEDED" for run in runs), runs
    return batches, sum(run.transitions for run in runs), sum(len(run.events) for run in runs)


def main() -> None:
    # moto's interpreter logs an error for every IsPresent test of a path that is absent, which
    # the language defines as false; the executions are right, the log is noise here.
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    asl = definition()
    transitions, events = cycle_costs(asl)
    per_day = DAY / BACKSTOP
    print("Completion tracking, default settings (backstop 1 hour)")
    print(f"  per backstop cycle:  {transitions:.0f} state transitions, {events:.0f} history events")
    print(
        f"  per batch-day:       {transitions * per_day:.0f} state transitions (budget 150), "
        f"{events * per_day:.0f} history events"
    )
    print(
        f"  30-day batch:        {events * per_day * 30:,.0f} history events "
        f"({events * per_day * 30 / HISTORY_CAP:.0%} of {HISTORY_CAP:,})"
    )
    print(
        f"  one execution:       {CHECKS_PER_EXECUTION} checks (about {CHECKS_PER_EXECUTION / per_day:.0f} days at the "
        f"backstop), at most {events * CHECKS_PER_EXECUTION:,.0f} history events; then a fresh one carries on"
    )
    one, three = cohort_costs(1), cohort_costs(3)
    extra_transitions = (three[1] - one[1]) / (three[0] - one[0])
    extra_events = (three[2] - one[2]) / (three[0] - one[0])
    print("A cohort, followed by the real tracker (events delivered)")
    print(f"  one batch, clean:    {one[1]} state transitions, {one[2]} history events")
    print(f"  three attempts:      {three[0]} batches, {three[1]} state transitions, {three[2]} history events")
    print(f"  each further batch:  {extra_transitions:.0f} state transitions, {extra_events:.0f} history events")
    # A part is 100,000 runs; 3 attempts a part on top of the backstop cycles.
    for runs in (500_000, 1_000_000):
        batches = 3 * runs // 100_000
        print(
            f"  {runs:,} runs, 3 attempts a part ({batches} batches): "
            f"{one[1] + (batches - 1) * extra_transitions:,.0f} state transitions, "
            f"{one[2] + (batches - 1) * extra_events:,.0f} history events besides the backstop's"
        )
    print(
        f"  any cohort:          an execution carries on after {CHECKS_PER_EXECUTION} checks, at most "
        f"{CHECKS_PER_EXECUTION * 13:,} events ({CHECKS_PER_EXECUTION * 13 / HISTORY_CAP:.0%} of {HISTORY_CAP:,})"
    )
    lost = latency(asl, event=False, trials=6)
    delivered = latency(asl, event=True, trials=6)
    share = [x / SCALED_BACKSTOP for x in lost]
    print("Detection latency (batch end to execution end)")
    print(
        f"  event lost:      mean {statistics.mean(share):.2f}, max {max(share):.2f} of the backstop "
        f"-> about {statistics.mean(share) * 60:.0f} min mean, {max(share) * 60:.0f} min worst at 1 hour"
    )
    print(
        f"  event delivered: mean {statistics.mean(delivered):.2f} s, max {max(delivered):.2f} s in the "
        f"interpreter ({max(delivered) / SCALED_BACKSTOP:.2f} of the scaled backstop), plus EventBridge delivery"
    )


if __name__ == "__main__":
    main()
