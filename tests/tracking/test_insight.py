"""Run insight, end to end: each run's cost, failure reason and failed task in the report, and the
cohort's cost and failure digest in the completion event.

The stack is synthesized and deployed offline (``deployment.py``); as each batch ends, its runs'
manifests are written to CloudWatch Logs (moto) as HealthOmics writes them, and their "Run Status
Change" events go through the template's own rule pattern to the insight function. One event is
lost (the report looks that run up itself), one run's metadata is dropped after its event, as
retention mode REMOVE drops it (the report has it from its record), and one run's manifest comes
after the function stopped waiting for it (the report looks it up again). Every call of the three
functions is held against their roles' policies.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from insight.index import MANIFEST_WAIT_RECEIVES
from omics_batch_construct import RunSetting
from tests.standin.healthomics import Batch
from tests.standin.workflowlog import put_manifest, task_record
from tests.tracking.deployment import Ending, completions, deployed, report, synthesized, until_reported
from tests.tracking.test_grants import audit

SAMPLES = ("NA12878", "NA12891", "NA12892", "NA12893", "NA12894")
RUNS = [RunSetting(run_setting_id=s, parameters={"sample": f"s3://in/{s}.bam"}) for s in SAMPLES]
FAILING = "NA12891"  # runs out of memory in its "call" task
LOST = "NA12892"  # its event never arrives
REMOVED = "NA12893"  # dropped from GetRun after its event (retention mode REMOVE)
LATE = "NA12894"  # recorded without a cost (its manifest came after the function stopped waiting)
START = datetime.datetime(2026, 4, 1, 8, 0, tzinfo=datetime.UTC)

# By hand, from the stand-in's price list: STATIC 1,200 GiB for 3 hours at 0.0001918 $/GiB-h, and
# tasks on omics.m.xlarge (0.2592 $/h): "align" 2 hours, "call" 90 s (the failing run's fails).
STORAGE = Decimal("1200") * Decimal("0.0001918") * 3
COMPUTE = Decimal("0.2592") * 2 + Decimal("0.2592") * Decimal(90) / 3600


@pytest.fixture(scope="module")
def stack() -> tuple[dict[str, Any], Path]:
    return synthesized(RUNS)


def failing(batch: Batch, part: int, attempt: int) -> Ending:
    return Ending(failed=frozenset({FAILING}))


def test_the_report_prices_and_explains_every_run(stack: tuple[dict[str, Any], Path]) -> None:
    template, assembly = stack
    with deployed(template, assembly, failing) as (deployment, tracking):
        logs = deployment.clients.logs  # HealthOmics writes the manifests, not a function of the stack
        sent_back: list[str] = []

        def ended(batch: Batch) -> None:
            for run in batch.runs:
                if run.setting_id == LATE:
                    sent_back.extend(deployment.announce_run(run, receives=MANIFEST_WAIT_RECEIVES))
                put_manifest(
                    logs,
                    run.run_id,
                    run.uuid,
                    storage_capacity=1200,
                    start=START,
                    stop=START + datetime.timedelta(hours=3),
                    tasks=[
                        task_record("align", "omics.m.xlarge", START, 7200),
                        task_record(
                            "call",
                            "omics.m.xlarge",
                            START + datetime.timedelta(hours=2),
                            90,
                            status="FAILED" if run.status == "FAILED" else "COMPLETED",
                        ),
                    ],
                )
                if run.setting_id not in (LOST, LATE):
                    sent_back.extend(deployment.announce_run(run))
                if run.setting_id == REMOVED:
                    run.deleted = True

        tracking.ended = ended
        deployment.create()
        until_reported(deployment)

        rows = {row["runSettingId"]: row for row in report(deployment)}
        (event,) = completions(deployment)
        denied = audit(deployment)

    assert sent_back == []
    run_cost = (COMPUTE + STORAGE).quantize(Decimal("0.0001"))
    for sample in SAMPLES:
        row = rows[sample]
        assert abs(Decimal(row["costUsd"]) - run_cost) < Decimal("0.01"), sample  # within a cent of the hand's
        assert Decimal(row["computeCostUsd"]) + Decimal(row["storageCostUsd"]) == Decimal(row["costUsd"])
        assert row["runUuid"]
    assert (rows[FAILING]["failureReason"], rows[FAILING]["failedTask"]) == ("RUN_TASK_FAILED", "call")
    assert rows[REMOVED]["costUsd"] == str(run_cost)  # its record outlived GetRun
    assert rows[REMOVED]["runStatus"] == "COMPLETED"  # the settle could not read it; its record could
    assert rows[LOST]["costUsd"] == str(run_cost)  # looked up by the report
    assert rows[LATE]["costUsd"] == str(run_cost)  # looked up again by the report
    assert event["counts"]["statusUnknown"] == 0
    assert event["cost"]["runsPriced"] == 5 and event["cost"]["runsWithoutCost"] == 0
    assert Decimal(str(event["cost"]["totalUsd"])) == 5 * run_cost
    assert event["failures"] == [{"reason": "RUN_TASK_FAILED", "task": "call", "runs": 1, "examples": [FAILING]}]
    assert denied == {"handler": [], "tracker": [], "insight": []}
