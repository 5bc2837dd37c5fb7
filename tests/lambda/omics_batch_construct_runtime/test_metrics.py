"""The cohort's metrics as embedded metric format (EMF) lines, held against the specification.

``spec_problems`` checks a document the way CloudWatch Logs reads it (the "Specification: Embedded
metric format" page of the CloudWatch user guide): a root ``_aws`` member with ``Timestamp`` (epoch
milliseconds) and ``CloudWatchMetrics``, a list of directives with ``Namespace``, ``Dimensions``
(lists of member names) and ``Metrics`` (``Name``, ``Unit``), every name a top-level member, a
dimension's value a string, a metric's a number or a list of at most 100 numbers. Units come from
CloudWatch's own model.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import boto3
import pytest

from omics_batch_construct_runtime import metrics, outcome

COHORT = "4455667"
NOW_MS = 1_775_030_400_000  # 2026-04-01T08:00:00Z
MAX_EVENT_BYTES = 256 * 1024  # a CloudWatch Logs event, the older (smaller) limit


def standard_units() -> set[str]:
    """CloudWatch's units, from its service model."""
    model = boto3.client("cloudwatch", region_name="us-east-1").meta.service_model
    return set(model.shape_for("StandardUnit").enum)


def spec_problems(document: Any, units: set[str]) -> list[str]:
    """What keeps ``document`` from being an EMF document CloudWatch extracts every metric of."""
    problems: list[str] = []
    if not isinstance(document, dict) or not isinstance(document.get("_aws"), dict):
        return ["no _aws object at the root"]
    meta = document["_aws"]
    if not isinstance(meta.get("Timestamp"), int) or meta["Timestamp"] < 0:
        problems.append("_aws.Timestamp must be epoch milliseconds (an integer)")
    directives = meta.get("CloudWatchMetrics")
    if not isinstance(directives, list) or not directives:
        return [*problems, "_aws.CloudWatchMetrics must be a non-empty list"]
    for directive in directives:
        namespace = directive.get("Namespace")
        if not isinstance(namespace, str) or not 1 <= len(namespace) <= 1024:
            problems.append(f"Namespace {namespace!r}: 1 to 1024 characters")
        for dimension_set in directive.get("Dimensions", []):
            if not isinstance(dimension_set, list) or len(dimension_set) > 30:
                problems.append(f"dimension set {dimension_set!r}: a list of at most 30 names")
                continue
            for name in dimension_set:
                value = document.get(name)
                if not isinstance(value, str) or not 1 <= len(value) <= 1024:
                    problems.append(f"dimension {name!r}: its member must be a string of 1 to 1024 characters")
        definitions = directive.get("Metrics")
        if not isinstance(definitions, list) or not 1 <= len(definitions) <= 100:
            problems.append("Metrics: a list of 1 to 100 definitions")
            continue
        for definition in definitions:
            name = definition.get("Name")
            if not isinstance(name, str) or not 1 <= len(name) <= 1024:
                problems.append(f"metric name {name!r}: 1 to 1024 characters")
                continue
            if "Unit" in definition and definition["Unit"] not in units:
                problems.append(f"{name}: unit {definition['Unit']!r} is not a CloudWatch unit")
            value = document.get(name)
            numbers = value if isinstance(value, list) else [value]
            if not 1 <= len(numbers) <= 100 or not all(
                isinstance(n, int | float) and not isinstance(n, bool) and math.isfinite(n) for n in numbers
            ):
                problems.append(f"{name}: its member must be a number or a list of 1 to 100 numbers")
    if len(json.dumps(document).encode()) > MAX_EVENT_BYTES:
        problems.append("larger than a log event")
    return problems


@pytest.fixture(scope="module")
def units() -> set[str]:
    return standard_units()


def test_a_checks_counts_are_one_document_by_the_specification(units: set[str]) -> None:
    counts = {metrics.RUNS_COMPLETED: 990, metrics.RUNS_FAILED: 5, metrics.RUNS_NOT_FINISHED: 0}

    (document,) = metrics.documents(COHORT, counts, NOW_MS)

    assert spec_problems(document, units) == []
    assert document["_aws"] == {
        "Timestamp": NOW_MS,
        "CloudWatchMetrics": [
            {
                "Namespace": "OmicsRunBatch",
                "Dimensions": [["Cohort"]],
                "Metrics": [
                    {"Name": "RunsCompleted", "Unit": "Count"},
                    {"Name": "RunsFailed", "Unit": "Count"},
                    {"Name": "RunsNotFinished", "Unit": "Count"},
                ],
            }
        ],
    }
    # The values and the dimension are top-level members, the dimension's a string.
    assert {k: v for k, v in document.items() if k != "_aws"} == {
        "Cohort": COHORT,
        "RunsCompleted": 990.0,
        "RunsFailed": 5.0,
        "RunsNotFinished": 0.0,
    }


def test_every_metric_has_a_cloudwatch_unit_and_one_bounded_dimension(units: set[str]) -> None:
    values = dict.fromkeys(metrics.UNITS, 1)
    (document,) = metrics.documents(COHORT, values, NOW_MS)
    assert spec_problems(document, units) == []
    assert {d["Name"] for d in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]} == set(metrics.UNITS)
    # The cost of the metrics: one custom metric per name and cohort, whatever the cohort's size.
    assert document["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [[metrics.COHORT]]


def test_run_costs_go_as_lists_of_at_most_a_hundred_values(units: set[str]) -> None:
    costs = [Decimal("0.0125") * i for i in range(250)]

    found = metrics.documents(COHORT, {metrics.RUN_COST_USD: costs}, NOW_MS)

    assert [len(d[metrics.RUN_COST_USD]) for d in found] == [100, 100, 50]
    assert all(spec_problems(d, units) == [] for d in found)
    assert sum(v for d in found for v in d[metrics.RUN_COST_USD]) == pytest.approx(float(sum(costs)))


def test_a_scalar_beside_a_long_list_is_sent_once() -> None:
    found = metrics.documents(COHORT, {metrics.COST_USD: 12.5, metrics.RUN_COST_USD: [1.0] * 150}, NOW_MS)
    assert [d.get(metrics.COST_USD) for d in found] == [12.5, None]
    assert [[m["Name"] for m in d["_aws"]["CloudWatchMetrics"][0]["Metrics"]] for d in found] == [
        ["CostUsd", "RunCostUsd"],
        ["RunCostUsd"],
    ]


def test_values_that_are_not_finite_are_left_out_and_nothing_is_no_document() -> None:
    (document,) = metrics.documents(COHORT, {metrics.RUN_COST_USD: [1.5, math.nan, math.inf]}, NOW_MS)
    assert document[metrics.RUN_COST_USD] == [1.5]
    assert metrics.documents(COHORT, {metrics.RUN_COST_USD: []}, NOW_MS) == []
    assert metrics.documents(COHORT, {metrics.COST_USD: math.nan}, NOW_MS) == []


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"RunsLost": 1}, "not metrics of OmicsRunBatch: RunsLost"),
        ({metrics.RUNS_FAILED: True}, "must be a number"),
        ({metrics.RUN_COST_USD: ["1.5"]}, "must be a number"),
    ],
)
def test_what_is_not_a_metric_of_the_namespace_is_refused(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        metrics.documents(COHORT, values, NOW_MS)


def test_publish_prints_each_document_as_one_raw_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    metrics.publish(COHORT, {metrics.TRACKING_DELAYS: 1, metrics.RUN_COST_USD: [0.5] * 101}, clock=lambda: 1.5)

    out = capsys.readouterr().out
    assert out.endswith("\n")
    documents = [json.loads(line) for line in out.splitlines()]
    assert [d["_aws"]["Timestamp"] for d in documents] == [1500, 1500]
    assert documents == metrics.documents(COHORT, {metrics.TRACKING_DELAYS: 1, metrics.RUN_COST_USD: [0.5] * 101}, 1500)


def test_publish_never_fails_its_caller(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    metrics.publish(COHORT, {"RunsLost": 1})
    assert capsys.readouterr().out == ""
    assert "metrics not written: not metrics of OmicsRunBatch: RunsLost" in caplog.text


def test_the_counts_are_getbatchs_summaries_summed_over_the_cohorts_batches() -> None:
    first = {
        "totalRuns": 6,
        "runSummary": {"completedRunCount": 3, "failedRunCount": 1, "runningRunCount": 1, "pendingRunCount": 1},
        "submissionSummary": {"successfulStartSubmissionCount": 6, "failedStartSubmissionCount": 2},
    }
    resubmission = {"runSummary": {"completedRunCount": 2}, "submissionSummary": {"successfulStartSubmissionCount": 2}}

    counts = [metrics.batch_counts(first), metrics.batch_counts(resubmission)]

    assert counts[0] == {"completed": 3, "failed": 1, "notFinished": 2, "submissionFailed": 2}
    assert metrics.cohort_counts(counts) == {
        "RunsCompleted": 5,
        "RunsFailed": 1,
        "RunsNotFinished": 2,
        "SubmissionsFailed": 2,
    }
    assert metrics.cohort_counts([{}]) == dict.fromkeys(metrics.COUNTS, 0)  # a batch not read yet


def test_the_count_metrics_are_summary_counts() -> None:
    assert set(metrics.COUNTS) <= set(metrics.UNITS)
    assert set(metrics.COUNTS.values()) <= set(outcome.COUNT_KEYS)
