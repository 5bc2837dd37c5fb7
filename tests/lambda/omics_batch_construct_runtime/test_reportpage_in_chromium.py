"""report.html as a person sees it: rendered by headless Chromium (one browser for the module,
driven over its DevTools pipe, ``tests/browser.py``), its text as laid out, its charts' bars as
drawn, and every request it makes. Skipped only where no Chromium is installed (``make install``
installs Debian's).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from omics_batch_construct_runtime import reportpage
from tests import browser, samplecohort

RUNS = 10_000
WIDTH, HEIGHT = 1280, 1800


@pytest.fixture(scope="module")
def summary() -> reportpage.Summary:
    return reportpage.Summary().add_all(samplecohort.rows(RUNS))


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory, summary: reportpage.Summary) -> Iterator[browser.Browser]:
    """The browser, with the sample cohort's page loaded from a file."""
    executable = browser.find()
    if executable is None:
        pytest.skip("no Chromium on the PATH (make install installs Debian's chromium; CHROMIUM names another)")
    path = tmp_path_factory.mktemp("page") / "report.html"
    path.write_text(reportpage.render(summary, samplecohort.detail(RUNS)), encoding="utf-8")
    with browser.Browser(executable) as opened:
        opened.load(path, WIDTH, HEIGHT)
        yield opened


def test_the_page_asks_for_nothing_but_itself(chromium: browser.Browser) -> None:
    assert len(chromium.requests) == 1 and chromium.requests[0].startswith("file://")
    assert chromium.evaluate("document.scripts.length + document.images.length + document.styleSheets.length") == 1
    assert chromium.evaluate("performance.getEntriesByType('resource').length") == 0


def test_a_person_reads_the_counts_the_cost_and_the_failures(
    chromium: browser.Browser, summary: reportpage.Summary
) -> None:
    text = chromium.text()
    cost = summary.digest.cost()

    assert "Cohort of batch 4455667 (cohort-7)" in text
    assert "10,000\nruns (each at its last attempt)" in text
    assert f"{summary.counts['completed']:,}\ncompleted" in text
    assert f"Failed\t{summary.counts['failed']:,}\t" in text
    assert f"Cost: {reportpage.usd(cost['totalUsd'], total=True)}" in text
    assert f"Compute (tasks)\t{reportpage.usd(cost['computeUsd'], total=True)}\t" in text
    assert f"Run storage\t{reportpage.usd(cost['storageUsd'], total=True)}\t" in text
    p50 = reportpage.usd(summary.cost.percentile(0.5))
    assert f"p50\tp90\tp99\tmax\n{p50}\t" in text
    for reason, task, _ in samplecohort.FAILURES:
        assert reason in text and (not task or task in text)
    assert "ServiceQuotaExceededException" in text
    assert "Runs ended per hour (UTC)" in text


def bars_drawn(chromium: browser.Browser) -> list[dict[str, Any]]:
    """Each chart's title, its bars as laid out (their size on screen), and whether all lie inside it."""
    value = chromium.evaluate(
        """[...document.querySelectorAll('svg.chart')].map(chart => {
            const box = chart.getBoundingClientRect();
            const bars = [...chart.querySelectorAll('g.bar rect')].map(r => r.getBoundingClientRect());
            return {
                title: chart.getAttribute('aria-label'),
                width: box.width,
                bars: bars.filter(b => b.width > 0 && b.height > 0).length,
                inside: bars.every(b => b.left >= box.left - 1 && b.right <= box.right + 1
                                    && b.top >= box.top - 1 && b.bottom <= box.bottom + 1),
            };
        })"""
    )
    return list(value)


def test_the_charts_are_drawn_with_their_bars(chromium: browser.Browser) -> None:
    charts = {chart["title"]: chart for chart in bars_drawn(chromium)}

    assert set(charts) == {"Cost per run", "Duration per run", "Runs ended per hour (UTC)"}
    for chart in charts.values():
        assert chart["bars"] >= 10 and chart["inside"], chart
        assert chart["width"] > 300  # legible, not squeezed
    assert charts["Runs ended per hour (UTC)"]["bars"] >= 36  # a day and a half of hours


def test_nothing_spills_out_of_the_window(chromium: browser.Browser) -> None:
    assert chromium.evaluate("document.documentElement.scrollWidth") <= WIDTH


def test_the_screenshot_shows_the_page(chromium: browser.Browser, tmp_path: Path) -> None:
    png = chromium.screenshot()
    (tmp_path / "report.png").write_bytes(png)

    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert width == WIDTH and height > HEIGHT  # the whole page, longer than the window
