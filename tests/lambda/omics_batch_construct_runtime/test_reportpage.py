"""report.html's figures and markup: the accumulator's bounded aggregates, its percentiles against
exact ones, the counts and digest the completion event has, escaping, and a page that fetches
nothing and does not grow with the runs. What a person sees in a browser: test_reportpage_in_chromium.py.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Iterator

import pytest

from omics_batch_construct_runtime import outcome, reportpage
from omics_batch_construct_runtime.outcome import RunRow
from omics_batch_construct_runtime.reportpage import Histogram, Summary
from omics_batch_construct_runtime.runrecords import Digest
from tests import samplecohort


@pytest.fixture(scope="module")
def sample() -> tuple[list[dict[str, str]], Summary]:
    rows = list(samplecohort.rows(5000))
    return rows, Summary().add_all(rows)


# --- the histogram ----------------------------------------------------------------------------


@pytest.mark.parametrize("spread", [0.2, 1.0, 3.0])
def test_percentiles_are_within_a_bucket_above_the_exact_ones(spread: float) -> None:
    rng = random.Random(3)
    values = sorted(rng.lognormvariate(math.log(5), spread) for _ in range(20_000))
    histogram = Histogram(0.001, 100_000)
    for value in values:
        histogram.add(value)

    for q in reportpage.PERCENTILES:
        exact = values[math.ceil(q * len(values)) - 1]
        found = histogram.percentile(q)
        assert found is not None
        assert exact <= found <= exact * 10 ** (1 / reportpage.BUCKETS_PER_DECADE)  # 12 %
    assert (histogram.most, histogram.least, histogram.count) == (values[-1], values[0], len(values))
    assert histogram.mean == pytest.approx(sum(values) / len(values))


def test_the_buckets_are_fixed_whatever_the_values() -> None:
    histogram = Histogram(1.0, 1e7)
    size = len(histogram.buckets)
    for value in (0.0, 0.5, 1.0, 59.9, 3600.0, 1e7, 1e12, -1.0, math.nan, math.inf):
        histogram.add(value)

    assert len(histogram.buckets) == size == 142  # 7 decades of 20, below and above
    assert histogram.count == 7  # negative, NaN and infinite are no run's
    assert histogram.buckets[0] == 2 and histogram.buckets[-1] == 2
    assert histogram.percentile(1.0) == 1e12  # the exact maximum, above the range


def test_a_chart_has_at_most_forty_bars_aligned_to_decades() -> None:
    histogram = Histogram(0.001, 100_000)
    for exponent in range(-5, 7):
        histogram.add(10.0**exponent * 1.5)

    bars = histogram.bars()

    assert len(bars) <= reportpage.HISTOGRAM_BARS
    assert bars[0] == (0.0, 0.001, 2)  # below the range: one bar from 0
    assert bars[-1][0] == 100_000 and bars[-1][2] == 2  # above it: one bar to the maximum
    assert sum(count for _, _, count in bars) == histogram.count
    edges = [lo for lo, _, _ in bars[1:]]
    for decade in range(-3, 6):  # each decade's edge is a bar's
        assert any(edge == pytest.approx(10.0**decade) for edge in edges), decade


def test_a_narrow_spread_is_shown_over_a_decade() -> None:
    histogram = Histogram(0.001, 100_000)
    for _ in range(10):
        histogram.add(4.2)

    bars = histogram.bars()

    assert len(bars) == reportpage.BUCKETS_PER_DECADE
    assert bars[-1][1] / bars[0][0] == pytest.approx(10)
    assert sum(count for _, _, count in bars) == 10


# --- the summary ------------------------------------------------------------------------------------


def test_the_summary_counts_and_digests_as_the_completion_event_does(
    sample: tuple[list[dict[str, str]], Summary],
) -> None:
    rows, summary = sample
    digest = Digest()
    for row in rows:
        digest.add(row)

    expected = outcome.counts(RunRow(*(row[name] for name in RunRow._fields)) for row in rows)
    assert {key: summary.counts[key] for key in outcome.COUNT_KEYS} == expected
    assert summary.digest.cost() == digest.cost()
    assert summary.digest.failure_groups() == digest.failure_groups()


def test_runs_ended_are_counted_by_hour_and_kind(sample: tuple[list[dict[str, str]], Summary]) -> None:
    rows, summary = sample
    ended = [row for row in rows if row["runStatus"] in ("COMPLETED", "FAILED")]

    assert sum(summary.ended.values()) == len(ended) == summary.duration.count
    assert Counter(kind for (_, kind), count in summary.ended.items() for _ in range(count)) == Counter(
        reportpage.ENDED[row["runStatus"]] for row in ended
    )
    assert len(summary.ended) <= 2 * 48  # two kinds, about two days of hours


def test_a_year_of_completions_keeps_to_the_charts_bars() -> None:
    summary = Summary()
    for day in range(365):
        stop = f"2026-{1 + day // 31 % 12:02d}-{1 + day % 28:02d}T12:00:00Z"
        summary.add({"runStatus": "COMPLETED", "runId": "1", "startTime": "", "stopTime": stop})

    chart = reportpage.timeline_chart(summary)

    assert chart.count('<g class="bar">') <= reportpage.TIMELINE_BARS
    assert "Runs ended per" in chart


def test_times_without_a_zone_are_utc_and_bad_ones_are_skipped() -> None:
    summary = Summary()
    summary.add({"runStatus": "COMPLETED", "startTime": "2026-04-01T08:00:00", "stopTime": "2026-04-01T09:30:00Z"})
    summary.add({"runStatus": "FAILED", "startTime": "yesterday", "stopTime": ""})

    assert summary.duration.count == 1 and summary.duration.most == 5400
    assert summary.without_stop == 1


# --- the page ---------------------------------------------------------------------------------------


def page_of(rows: list[dict[str, str]]) -> str:
    return reportpage.render(Summary().add_all(rows), samplecohort.detail(len(rows)))


def test_the_page_fetches_nothing(sample: tuple[list[dict[str, str]], Summary]) -> None:
    rows, summary = sample
    page = reportpage.render(summary, samplecohort.detail(len(rows)))

    for needle in ("<script", "<link", "<img", "<iframe", "<object", "src=", "href=", "url(", "@import", "http"):
        assert needle not in page.lower(), needle
    assert page.count("<svg") == 5  # the status and cost bars, two distributions, the completions


def test_every_value_from_a_run_or_a_batch_is_escaped() -> None:
    rows = list(samplecohort.rows(300))
    hostile = '<script>alert("x")</script>'
    rows[0].update(runStatus="FAILED", failureReason=hostile, failedTask="<b>task</b>", runSettingId="<img src=x>")
    detail = {**samplecohort.detail(300), "batchName": "a&b <i>", "status": "<PROCESSED>"}
    detail["reportJsonUri"] = 's3://bucket/"quoted"/report.json'

    page = reportpage.render(Summary().add_all(rows), detail)

    assert "<script" not in page and "<img" not in page and "<b>task" not in page and "<i>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "&lt;img src=x&gt;" in page and "a&amp;b &lt;i&gt;" in page and "&lt;PROCESSED&gt;" in page
    assert "s3://bucket/&quot;quoted&quot;/report.json" in page


def test_the_page_does_not_grow_with_the_runs() -> None:
    """Aggregates only: a bounded number of bars and rows, whatever the number of runs."""
    page = page_of(list(samplecohort.rows(20_000)))

    most = 2 * reportpage.HISTOGRAM_BARS + 3 * reportpage.TIMELINE_BARS + len(reportpage.STATUS_ROWS) + 2
    assert page.count("<rect") <= most
    assert page.count("<tr") <= len(reportpage.STATUS_ROWS) + 2 + 3 + 1 + 2 + reportpage.FAILURE_GROUPS + 1 + 3
    assert len(page) < 40_000


def test_the_largest_failure_groups_are_shown_and_the_rest_counted() -> None:
    rows = [
        {"runSettingId": f"S{i}", "runId": str(i), "runStatus": "FAILED", "failureReason": f"REASON_{i % 30:02d}"}
        for i in range(300)
    ]

    page = page_of(rows)

    assert page.count("<code>REASON_") == reportpage.FAILURE_GROUPS
    assert "and 10 smaller groups (100 runs): report.csv has every run." in page
    assert "Failures: 300 runs in 30 groups" in page


def test_an_empty_cohort_has_a_page_too() -> None:
    page = reportpage.render(Summary(), {"batchId": "4455667"})

    assert "<h1>Cohort of batch 4455667</h1>" in page
    assert "No run has a cost" in page and "No run ended." in page and "No run and no submission failed." in page


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "\N{EN DASH}"),
        (0.0, "$0"),
        (0.0123, "$0.0123"),
        (0.5, "$0.500"),
        (5.0, "$5.00"),
        (12345.678, "$12,345.68"),
    ],
)
def test_dollars_read_as_dollars(value: float | None, shown: str) -> None:
    assert reportpage.usd(value) == shown


@pytest.mark.parametrize(
    ("seconds", "shown"), [(45, "45 s"), (720, "12 min"), (11_100, "3 h 05 min"), (187_200, "2 d 4 h")]
)
def test_durations_read_in_two_units(seconds: float, shown: str) -> None:
    assert reportpage.duration(seconds) == shown


def iter_tags(page: str) -> Iterator[str]:
    yield from re.findall(r"<([a-z0-9]+)[\s>/]", page)


def test_the_page_is_made_of_plain_markup(sample: tuple[list[dict[str, str]], Summary]) -> None:
    rows, summary = sample
    tags = set(iter_tags(reportpage.render(summary, samplecohort.detail(len(rows)))))

    allowed = {"html", "head", "meta", "title", "style", "body", "main", "h1", "h2", "p", "b", "span", "div"}
    allowed |= {"section", "table", "tr", "th", "td", "code", "svg", "g", "rect", "line", "text"}
    assert tags <= allowed
