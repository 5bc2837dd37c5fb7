"""A cohort of more than one batch (100,001 runs): synthesized in parts, deployed, followed to its report.

The deploy starts the first part's batch; the tracker starts the next part once the first
has submitted all its runs (one batch of the cohort submits at a time), and the report
covers both parts. One synth for the module (about 7 s); see deployment.py for what is real.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from omics_batch_construct import RunSetting
from omics_batch_construct_runtime import contract
from tests.tracking.deployment import Ending, deployed, synthesized

RUNS = contract.MAX_RUNS + 1


def sample(i: int) -> str:
    return f"S{i:06d}"


@pytest.fixture(scope="module")
def stack() -> tuple[dict[str, Any], Path]:
    return synthesized([RunSetting(run_setting_id=sample(i), parameters={"n": i}) for i in range(RUNS)])


def settings_files(assembly: Path) -> dict[str, list[dict[str, Any]]]:
    """The settings files the assembly ships, by object key."""
    (manifest,) = assembly.glob("*.assets.json")
    found = {}
    for asset in json.loads(manifest.read_text())["files"].values():
        source = assembly / asset["source"]["path"]
        if source.is_file() and not source.name.endswith(".template.json"):
            (destination,) = asset["destinations"].values()
            found[destination["objectKey"]] = json.loads(source.read_text())
    return found


def test_the_runs_are_shipped_in_parts_of_one_batch_each(stack: tuple[dict[str, Any], Path]) -> None:
    template, assembly = stack
    files = settings_files(assembly)
    by_size = sorted(files.items(), key=lambda item: -len(item[1]))
    (first_key, first), (second_key, second) = by_size
    assert [e["runSettingId"] for e in first] == [sample(i) for i in range(contract.MAX_RUNS)]
    assert second == [{"runSettingId": sample(contract.MAX_RUNS), "parameters": {"n": contract.MAX_RUNS}}]
    (resource,) = [r for r in template["Resources"].values() if r["Type"] == "Custom::OmicsRunBatch"]
    # The deploy starts the first part only ...
    assert resource["Properties"]["BatchRunSettings"]["s3UriSettings"].endswith(f"/{first_key}")
    # ... and the tracker knows both, in order.
    machines = template["Resources"].items()
    (machine,) = [r for k, r in machines if r["Type"] == "AWS::StepFunctions::StateMachine" and "Tracker" in k]
    definition = json.dumps(machine["Properties"]["DefinitionString"])
    assert definition.index(first_key) < definition.index(second_key)


def test_the_tracker_starts_the_next_part_once_the_first_has_submitted_and_reports_the_whole_cohort(
    stack: tuple[dict[str, Any], Path],
) -> None:
    seen_at_start: list[list[str]] = []
    with deployed(*stack, lambda batch, part, attempt: Ending()) as (deployment, _):
        service = deployment.service
        start = service.StartRunBatch

        def recording(params: dict[str, Any]) -> dict[str, Any]:
            seen_at_start.append([b.status for b in service.started()])
            return start(params)

        service.StartRunBatch = recording  # type: ignore[method-assign]
        first = deployment.create()
        (execution,) = deployment.executions(timeout=120)
        batches = service.started()
        bucket, _, folder = deployment.properties()[contract.PROP_REPORT_URI].removeprefix("s3://").partition("/")
        body = deployment.clients.s3.get_object(Bucket=bucket, Key=f"{folder}batch-{first}/report.json")["Body"]
        report = json.loads(body.read())
    assert execution.status == "SUCCEEDED", execution.cause
    assert [len(b.settings) for b in batches] == [contract.MAX_RUNS, 1]
    assert batches[1].request["batchName"] == contract.cohort_batch_name(first, 1, 1)
    assert seen_at_start == [[], ["INPROGRESS"]]  # the deploy's, then the next part's: not while submitting
    assert len(report) == RUNS
    assert [row["runSettingId"] for row in report[-2:]] == [sample(RUNS - 2), sample(RUNS - 1)]
    assert {row["batchId"] for row in report[-2:]} == {first, batches[1].id}
