"""`omics-batch report`: a reported cohort's summary from its report.json, and its report.html.

The cohort is reported as in production (``test_cohort.Cohort``: the HealthOmics stand-in, the
tracker's own check and report, moto's S3); the command reads what the tracker wrote. No browser
is opened: ``main`` gets one that records the URL.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from omics_batch_cli import main as cli
from omics_batch_construct_runtime import layout, reportpage
from omics_batch_construct_runtime.s3files import JsonArrayWriter, S3Writer, json_array_lines
from tests import samplecohort

from .clikit import FakeClients, Result
from .test_cohort import BUCKET, OUTPUT_URI, Cohort, deployed, resubmitted


@pytest.fixture
def reported() -> Iterator[Cohort]:
    """A cohort of three whose S2 failed at both attempts, tracked to its report."""
    with deployed() as cohort:
        resubmitted(cohort, second_fails=True)
        cohort.check()
        cohort.report()
        yield cohort


@pytest.fixture
def opened() -> list[str]:
    return []


@pytest.fixture
def run(reported: Cohort, opened: list[str]) -> Callable[..., Result]:
    def run_cli(*argv: str) -> Result:
        clients = FakeClients({"omics": reported.omics, "s3": reported.s3})
        stdout, stderr = io.StringIO(), io.StringIO()

        def browse(url: str) -> bool:
            opened.append(url)
            return True

        code = cli.main(list(argv), clients=clients, stdout=stdout, stderr=stderr, browse=browse)
        return Result(code, stdout.getvalue(), stderr.getvalue(), [], clients.asked)

    return run_cli


def key(cohort: Cohort, name: str) -> str:
    return layout.CohortLayout(layout.report_uri(OUTPUT_URI), cohort.first).prefix.split(f"{BUCKET}/", 1)[1] + name


def test_report_prints_the_cohorts_counts_and_failures(reported: Cohort, run: Callable[..., Result]) -> None:
    result = run("report", reported.first)

    assert result.code == cli.EXIT_OK, result.err
    assert result.out.splitlines() == [
        f"Cohort of batch {reported.first}: PROCESSED, not clean",
        "  runs:        3: completed 2, failed 1",
        "  cost:        none recorded (3 ended runs without a cost)",  # tracked without run insight
        "  duration:    p50 2 h 00 min, p90 2 h 00 min, p99 2 h 00 min, max 2 h 00 min",
        "  failures:    1 run(s) in 1 group(s), the largest:",
        "    1  (no reason given)  (e.g. S2)",
    ]
    assert result.err == ""


def test_open_writes_the_trackers_page_and_opens_it(
    reported: Cohort, run: Callable[..., Result], opened: list[str], tmp_path: Path
) -> None:
    target = tmp_path / "cohort.html"

    result = run("report", reported.first, "--open", "--html", str(target))

    assert result.code == cli.EXIT_OK, result.err
    written = reported.s3.get_object(Bucket=BUCKET, Key=key(reported, "report.html"))["Body"].read()
    assert target.read_bytes() == written  # the tracker's own page, as it wrote it
    assert opened == [target.resolve().as_uri()]
    assert result.err == f"wrote {target}\n"


def test_a_cohort_reported_without_a_page_gets_one_made_from_its_report_json(
    reported: Cohort, run: Callable[..., Result], opened: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reported.s3.delete_object(Bucket=BUCKET, Key=key(reported, "report.html"))  # as an earlier release left it
    monkeypatch.chdir(tmp_path)

    result = run("report", reported.first, "--open")

    assert result.code == cli.EXIT_OK, result.err
    assert "has no report.html (an earlier release reported it): made from report.json" in result.err
    page = (tmp_path / f"report-{reported.first}.html").read_text(encoding="utf-8")
    assert f"<h1>Cohort of batch {reported.first}</h1>" in page
    assert "needs attention" in page and "(no reason given)" in page
    assert opened == [(tmp_path / f"report-{reported.first}.html").as_uri()]


def test_costs_and_durations_come_from_every_row_of_report_json(
    reported: Cohort, run: Callable[..., Result], opened: list[str]
) -> None:
    """report.json streamed line by line: 2,000 rows of a made-up cohort in place of the tracker's."""
    rows = list(samplecohort.rows(2000))
    with S3Writer(reported.s3, f"s3://{BUCKET}/{key(reported, 'report.json')}", "application/json", "1") as out:
        array = JsonArrayWriter(out)
        for row in rows:
            array.add(row)
        array.close()

    result = run("report", reported.first)

    compute = sum(Decimal(row["computeCostUsd"]) for row in rows if row["costUsd"])
    total = compute + sum(Decimal(row["storageCostUsd"]) for row in rows if row["costUsd"])
    priced = sum(1 for row in rows if row["costUsd"])
    expected = reportpage.Summary().add_all(rows)
    usd = reportpage.usd  # of the sums as the completion event has them (4 decimals)
    shown = f"{usd(float(round(total, 4)), total=True)} estimated (compute {usd(float(round(compute, 4)), total=True)}"
    assert f"  cost:        {shown}, storage " in result.out
    assert f"; {priced:,} runs priced, 0 without a cost" in result.out
    p50 = reportpage.usd(expected.cost.percentile(0.5))
    assert f"  cost a run:  p50 {p50}, p90 " in result.out
    assert f"  duration:    p50 {reportpage.duration(expected.duration.percentile(0.5))}" in result.out
    failed = sum(1 for row in rows if row["runStatus"] == "FAILED" or row["submissionStatus"] == "FAILED")
    assert f"  failures:    {failed:,} run(s) in 4 group(s), the largest:" in result.out
    assert "OUT_OF_MEMORY_ERROR in call_variants  (e.g. NA" in result.out
    assert opened == []  # no --open


def test_a_cohort_still_tracked_has_no_report_yet(run: Callable[..., Result], reported: Cohort) -> None:
    manifest_key = key(reported, "cohort.json")
    manifest = json.loads(reported.s3.get_object(Bucket=BUCKET, Key=manifest_key)["Body"].read())
    manifest["done"] = False
    manifest.pop("result")
    reported.s3.put_object(Bucket=BUCKET, Key=manifest_key, Body=json.dumps(manifest).encode())

    result = run("report", reported.first)

    assert result.code == cli.EXIT_FAILED
    assert result.err.startswith(f"error: cohort {reported.first} is still being tracked: its report is written")
    assert result.out == ""


def test_a_batch_without_a_manifest_has_no_report(run: Callable[..., Result], reported: Cohort) -> None:
    reported.s3.delete_object(Bucket=BUCKET, Key=key(reported, "cohort.json"))

    result = run("report", reported.first)

    assert result.code == cli.EXIT_FAILED
    assert result.err == (
        f"error: batch {reported.first} has no cohort manifest under its outputUri: a report is written for the "
        "first batch of a tracked OmicsRunBatch\n"
    )


def test_an_unreadable_report_json_is_an_error_not_a_traceback(run: Callable[..., Result], reported: Cohort) -> None:
    reported.s3.delete_object(Bucket=BUCKET, Key=key(reported, "report.json"))

    result = run("report", reported.first)

    assert result.code == cli.EXIT_FAILED
    assert result.err.startswith("error: NoSuchKey: ")


class Collected(io.BytesIO):
    """Where a JsonArrayWriter writes, in memory (an S3Writer's ``write``)."""


@pytest.mark.parametrize(
    "items",
    [[], [{"a": "1"}], [{"reason": 'ends with a comma,"', "text": "two\nlines, and ] [ too"}, {"b": ""}], ["x,", 7]],
)
def test_report_json_reads_back_a_line_at_a_time(items: list[object]) -> None:
    out = Collected()
    array = JsonArrayWriter(out)  # type: ignore[arg-type]
    for item in items:
        array.add(item)
    array.close()

    assert json.loads(out.getvalue()) == items  # a JSON array, whole
    assert list(json_array_lines(out.getvalue().splitlines())) == items  # and line by line
