#!/usr/bin/env python3
"""How long a destroy takes, on the Provider framework's clock: its polls times the query interval.

A cohort is deployed offline (tests/tracking/deployment.py: the template's own state machine with
the real tracker, the HealthOmics stand-in, moto) and left mid-resubmission, its tracking running,
the way a destroy most often finds a cohort. Then the stack is destroyed under each ``on_delete``:
``on_event``, then ``is_complete`` every 15 simulated seconds, as the framework polls. A batch
asked to stop (``CancelRunBatch``) or to delete its runs (``DeleteRunBatch``) gets there by the
next poll, so what is measured is the handler's own waiting, not HealthOmics'.

Run: JSII_NODE=.venv/nodejs/bin/node .venv/bin/python benchmarks/destroys.py   (the venv's Node.js, as
`make bench` sets it; jsii takes the PATH's otherwise)
"""

from __future__ import annotations

import logging
import time
from typing import Any

from omics_batch_construct import OnDelete, RunSetting
from tests.standin.healthomics import Batch
from tests.tracking.deployment import QUERY_SECONDS, Ending, deployed, synthesized

SAMPLES = ("NA12878", "NA12891", "NA12892")


def script(batch: Batch, part: int, attempt: int) -> Ending:
    """The first batch's second sample is refused for quota: a resubmission starts, and runs on."""
    return Ending(refused={"NA12891": "ServiceQuotaExceededException"}) if attempt == 1 else Ending()


def destroy_polls(on_delete: OnDelete) -> int:
    runs = [RunSetting(run_setting_id=s, parameters={"sample": f"s3://in/{s}.bam"}) for s in SAMPLES]
    template, assembly = synthesized(runs, on_delete=on_delete)
    with deployed(template, assembly, script) as (deployment, tracking):
        tracking.hold = lambda part, attempt: attempt == 2  # the resubmission never ends by itself
        deployment.create()
        deadline = time.monotonic() + 30
        while not (len(deployment.service.started()) == 2 and tracking.settled()):
            if time.monotonic() > deadline:
                raise RuntimeError("the resubmission did not start")
            time.sleep(0.05)
        return deployment.destroy()


def main() -> None:
    logging.disable(logging.CRITICAL)
    print(f"Destroy of a tracked cohort mid-resubmission (polls every {QUERY_SECONDS} s, simulated):")
    print(f"{'on_delete':<24}{'polls':>7}{'minutes':>10}")
    results: dict[str, Any] = {}
    for on_delete in OnDelete:
        polls = destroy_polls(on_delete)
        results[on_delete.value] = polls
        # The first poll comes right after on_event; each later one a query interval on.
        print(f"{on_delete.value:<24}{polls:>7}{(polls - 1) * QUERY_SECONDS / 60:>10.2f}")


if __name__ == "__main__":
    main()
