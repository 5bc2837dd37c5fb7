"""The cohort's ``report.html``: one page a person reads instead of a million-row CSV.

``Summary`` takes the report's rows one at a time (the tracker's report loop, or the
``omics-batch report`` command streaming ``report.json``) and keeps aggregates only, whatever
the cohort's size: the counts by status (``outcome.tally``, as the completion event counts),
the cost digest and failure groups (``runrecords.Digest``, as the event's ``cost`` and
``failures``), each run's cost and duration in fixed log-spaced buckets, and the runs ended
each hour. ``render`` makes the page from it: one self-contained HTML file (inline CSS and
inline SVG, no script, font, image or link to fetch), tens of KB at any number of runs.

Percentiles are at bucket resolution: ``BUCKETS_PER_DECADE`` buckets a decade, so a
percentile is the upper edge of the bucket that holds it, at most 12 % above the true value
(and never above the exact maximum). Minimum, maximum, mean and totals are exact. Every
value that comes from a run, a batch or a user is HTML-escaped.
"""

from __future__ import annotations

import datetime
import html
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .outcome import RunRow, tally
from .runrecords import Digest

BUCKETS_PER_DECADE = 20  # a bucket's edges differ by 10 ** (1/20): 12 %
COST_RANGE = (0.001, 100_000.0)  # USD a run; below and above have a bucket each
DURATION_RANGE = (1.0, 1e7)  # seconds a run (1 s .. 116 days)
PERCENTILES = (0.5, 0.9, 0.99)
HISTOGRAM_BARS = 40  # at most, in a distribution's chart
TIMELINE_BARS = 96  # at most, in the completions' chart
FAILURE_GROUPS = 20  # shown, the largest first (as the completion event's)
HOUR = 3600
NOTHING = "\N{EN DASH}"  # shown for a value not known
# Bin widths of the completions' chart, in hours: the smallest that keeps it to TIMELINE_BARS.
TIMELINE_HOURS = (1, 2, 3, 6, 12, 24, 48, 168, 336, 720)

# Run endings in the completions' chart: completed, failed, the others that ended.
ENDED = {"COMPLETED": "completed", "FAILED": "failed", "CANCELLED": "stopped", "DELETED": "stopped"}
# The counts by status, in the order a person reads them, with their colour's class.
STATUS_ROWS = (
    ("completed", "Completed", "ok"),
    ("failed", "Failed", "bad"),
    ("submissionFailed", "Submission failed", "subf"),
    ("cancelled", "Cancelled", "off"),
    ("deleted", "Deleted", "del"),
    ("notFinished", "Not finished", "run"),
    ("statusUnknown", "Status unknown", "unk"),
)


class Histogram:
    """Values counted in log-spaced buckets: ``BUCKETS_PER_DECADE`` a decade from ``low`` to
    ``high``, one bucket below ``low`` (zero included) and one from ``high`` up; the count, sum,
    minimum and maximum exactly. Its size is fixed, whatever the number of values."""

    def __init__(self, low: float, high: float, per_decade: int = BUCKETS_PER_DECADE) -> None:
        self.low, self.high, self.per_decade = low, high, per_decade
        self.inner = math.ceil(math.log10(high / low) * per_decade)
        self.buckets = [0] * (self.inner + 2)  # [0, low), the inner ones, [high, inf)
        self.count = 0
        self.total = 0.0
        self.least = math.inf
        self.most = -math.inf

    def add(self, value: float) -> None:
        if not value >= 0 or value == math.inf:  # NaN, negative, infinite: not a run's
            return
        self.buckets[self.index(value)] += 1
        self.count += 1
        self.total += value
        if value < self.least:
            self.least = value
        if value > self.most:
            self.most = value

    def index(self, value: float) -> int:
        if value < self.low:
            return 0
        if value >= self.high:
            return self.inner + 1
        return min(self.inner, 1 + int(math.log10(value / self.low) * self.per_decade))

    def edges(self, index: int) -> tuple[float, float]:
        """The bucket's lower and upper edges (0 below ``low``; the maximum above ``high``)."""
        if index == 0:
            return 0.0, self.low
        if index > self.inner:
            return self.high, max(self.most, self.high)
        return self.edge(index - 1), min(self.edge(index), self.high)

    def edge(self, step: int) -> float:
        return float(self.low * 10 ** (step / self.per_decade))

    def percentile(self, q: float) -> float | None:
        """The upper edge of the bucket holding the ``q`` quantile, within the exact minimum and
        maximum; None without values."""
        if not self.count:
            return None
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for index, count in enumerate(self.buckets):
            seen += count
            if seen >= rank:
                return max(self.least, min(self.edges(index)[1], self.most))
        return self.most  # not reached: the buckets hold every value

    def _widths(self) -> Iterable[int]:
        """Bar widths in buckets: the divisors of a decade, then whole decades doubling (so that a
        decade's edge is always a bar's)."""
        yield from (w for w in range(1, self.per_decade + 1) if self.per_decade % w == 0)
        width = self.per_decade
        while True:
            width *= 2
            yield width

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None

    def bars(self, most: int = HISTOGRAM_BARS) -> list[tuple[float, float, int]]:
        """The chart's bars: (lower edge, upper edge, count) over the buckets from the first value
        to the last, neighbours merged so that there are at most ``most`` (``most`` >= 3), each
        merged bar aligned to a multiple of its width; at least a decade is shown."""
        used = [index for index, count in enumerate(self.buckets) if count]
        if not used:
            return []
        first, last = used[0], used[-1]
        inner_first, inner_last = max(first, 1), min(last, self.inner)
        if inner_last - inner_first + 1 < self.per_decade:  # a narrow spread: show a decade around it
            middle = (inner_first + inner_last) // 2
            inner_first = max(1, middle - self.per_decade // 2)
            inner_last = min(self.inner, inner_first + self.per_decade - 1)
        if first == 0:
            inner_first = 1
        if last == self.inner + 1:
            inner_last = self.inner
        room = most - (first == 0) - (last == self.inner + 1)
        width = next(w for w in self._widths() if math.ceil((inner_last - inner_first + 1) / w) + 1 <= room)
        start = ((inner_first - 1) // width) * width + 1
        bars = []
        if first == 0:
            bars.append((0.0, self.low, self.buckets[0]))
        for lo in range(start, inner_last + 1, width):
            hi = min(lo + width - 1, self.inner)
            bars.append((self.edges(lo)[0], self.edges(hi)[1], sum(self.buckets[lo : hi + 1])))
        if last == self.inner + 1:
            bars.append((self.high, max(self.most, self.high), self.buckets[-1]))
        return bars


class Summary:
    """What the page shows, taken from the report's rows one at a time (``add``)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.digest = Digest()
        self.cost = Histogram(*COST_RANGE)
        self.duration = Histogram(*DURATION_RANGE)
        self.ended: Counter[tuple[int, str]] = Counter()  # (hour since 1970, ENDED's kind): runs
        self.first_start: float | None = None
        self.last_stop: float | None = None
        self.without_stop = 0  # ended runs with no stop time to place them

    def add(self, row: Mapping[str, str]) -> None:
        """One row of the report (its keys are ``tracker.report.COLUMNS``)."""
        tally(self.counts, RunRow._make(map(row.get, RunRow._fields)))  # a key not there: as if empty
        self.digest.add(row)
        if row.get("costUsd"):
            self.cost.add(_number(row["costUsd"]))
        start, stop = _epoch(row.get("startTime")), _epoch(row.get("stopTime"))
        if start is not None:
            self.first_start = start if self.first_start is None else min(self.first_start, start)
        kind = ENDED.get(row.get("runStatus") or "")
        if kind is None:
            return
        if stop is None:
            self.without_stop += 1
            return
        self.last_stop = stop if self.last_stop is None else max(self.last_stop, stop)
        self.ended[(int(stop // HOUR), kind)] += 1
        if start is not None:
            self.duration.add(stop - start)

    def add_all(self, rows: Iterable[Mapping[str, str]]) -> Summary:
        for row in rows:
            self.add(row)
        return self

    def count(self, key: str) -> int:
        return self.counts[key]


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def _epoch(text: str | None) -> float | None:
    """Seconds since 1970 of an ISO 8601 time (UTC when it names no zone); None if not one."""
    if not text:
        return None
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


# --- formatting -------------------------------------------------------------------------------


def usd(value: float | None, *, total: bool = False) -> str:
    """Dollars for a person: totals to the cent with thousands separators, a run's cost to three
    significant digits below a dollar."""
    if value is None:
        return NOTHING
    if total or value >= 1:
        return f"${value:,.2f}"
    if value == 0:
        return "$0"
    return f"${value:.{max(2, 2 - math.floor(math.log10(value)))}f}"


def duration(seconds: float | None) -> str:
    """A run's length in the two largest units: 45 s, 12 min, 3 h 05 min, 2 d 4 h."""
    if seconds is None:
        return NOTHING
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, hours, days = seconds // 60, seconds // HOUR, seconds // 86400
    if seconds < HOUR:
        return f"{minutes} min"
    if seconds < 86400:
        return f"{hours} h {minutes % 60:02d} min"
    return f"{days} d {hours % 24} h"


def _when(epoch: float, hours: int = 1) -> str:
    """A time in UTC: 2026-04-01 08:00 (a whole day: 2026-04-01)."""
    moment = datetime.datetime.fromtimestamp(epoch, datetime.UTC)
    return moment.strftime("%Y-%m-%d" if hours % 24 == 0 else "%Y-%m-%d %H:%M")


def _tick_time(epoch: float, hours: int) -> str:
    """A time on the completions' axis, short: Apr 1 08:00 (a whole day: Apr 1)."""
    moment = datetime.datetime.fromtimestamp(epoch, datetime.UTC)
    day = f"{MONTHS[moment.month - 1]} {moment.day}"
    return day if hours % 24 == 0 else f"{day} {moment:%H:%M}"


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _share(part: float, whole: float) -> str:
    if not whole:
        return NOTHING
    share = 100 * part / whole
    return f"{share:.1f} %" if share >= 0.1 or not part else "<0.1 %"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


# --- charts (inline SVG) --------------------------------------------------------------------------

WIDE, NARROW = 760, 380  # a chart's width in its own units: the page's, half the page's
CHART_HEIGHT = 200
PLOT_LEFT, PLOT_RIGHT, PLOT_BOTTOM, PLOT_TOP = 46, 10, 26, 10
LABEL_WIDTH = 62  # an x axis label's, in a chart's units


@dataclass(frozen=True)
class Bar:
    """One bar: its stacked parts (count, colour class), bottom first, and its tooltip."""

    parts: Sequence[tuple[int, str]]
    title: str


def _axis_top(value: float) -> int:
    """The y axis' top: four grid steps of 1, 2, 2.5 or 5 times a power of ten, at least ``value``."""
    step = 10 ** max(0, math.floor(math.log10(max(value / 4, 1))))
    return next(int(4 * m * step) for m in (1, 2, 2.5, 5, 10) if 4 * m * step >= value and (m * step) % 1 == 0)


def bar_chart(label: str, bars: Sequence[Bar], ticks: Sequence[tuple[float, str]], width: int = WIDE) -> str:
    """A bar chart as inline SVG: equal bars side by side, a y axis of runs with its grid, and the
    x axis labelled at ``ticks`` (position in bars from the left edge, text)."""
    right = width - PLOT_RIGHT
    plot_width, plot_height = right - PLOT_LEFT, CHART_HEIGHT - PLOT_BOTTOM - PLOT_TOP
    top = _axis_top(max((sum(count for count, _ in bar.parts) for bar in bars), default=1))
    step = plot_width / max(len(bars), 1)
    gap = min(2.0, step * 0.15)
    base = PLOT_TOP + plot_height
    out = [
        f'<svg class="chart" viewBox="0 0 {width} {CHART_HEIGHT}" role="img" aria-label="{_e(label)}">',
        f"<title>{_e(label)}</title>",
    ]
    for i in range(5):
        y = base - plot_height * i / 4
        out.append(f'<line class="grid" x1="{PLOT_LEFT}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text class="ylab" x="{PLOT_LEFT - 5}" y="{y + 4:.1f}">{_e(_runs(top * i / 4))}</text>')
    for i, bar in enumerate(bars):
        x = PLOT_LEFT + i * step + gap / 2
        y = float(base)
        shapes = []
        for count, colour in bar.parts:
            if not count:
                continue
            height = max(plot_height * count / top, 1.0)  # one run still shows
            y -= height
            shapes.append(
                f'<rect class="{colour}" x="{x:.1f}" y="{y:.1f}" width="{step - gap:.1f}" height="{height:.1f}"/>'
            )
        if shapes:
            out.append(f'<g class="bar"><title>{_e(bar.title)}</title>{"".join(shapes)}</g>')
    out.append(f'<line class="axis" x1="{PLOT_LEFT}" x2="{right}" y1="{base}" y2="{base}"/>')
    for position, text in ticks:
        x = PLOT_LEFT + position * step
        out.append(f'<line class="axis" x1="{x:.1f}" x2="{x:.1f}" y1="{base}" y2="{base + 4}"/>')
        anchor = ""  # centred under its tick, but for a label that would leave the chart
        if x - LABEL_WIDTH / 2 < PLOT_LEFT - 20:
            anchor = ' style="text-anchor:start"'
        elif x + LABEL_WIDTH / 4 > width:
            anchor = ' style="text-anchor:end"'
        out.append(f'<text class="xlab" x="{x:.1f}" y="{base + 17}"{anchor}>{_e(text)}</text>')
    out.append("</svg>")
    return "".join(out)


def _runs(value: float) -> str:
    """An axis' count: 750, 1,500, 25k, 1.5M."""
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 10_000:
        return f"{value / 1000:g}k"
    return f"{value:,.0f}"


def _log_ticks(
    bars: Sequence[tuple[float, float, int]], values: Sequence[float], show: Callable[[float], str], width: int
) -> list[tuple[float, str]]:
    """Where ``values`` fall on bars of log-spaced edges (the bar's index plus the log fraction),
    as many as fit side by side."""
    ticks = []
    for value in values:
        for i, (lo, hi, _) in enumerate(bars):
            if 0 < lo <= value <= hi and hi > lo:
                ticks.append((i + math.log(value / lo) / math.log(hi / lo), show(value)))
                break
    room = LABEL_WIDTH * len(bars) / (width - PLOT_LEFT - PLOT_RIGHT)  # a label's width, in bars
    spaced: list[tuple[float, str]] = []
    for tick in ticks:
        if not spaced or tick[0] - spaced[-1][0] >= room:
            spaced.append(tick)
    return spaced


def usd_tick(value: float) -> str:
    return f"${value:,.0f}" if value >= 1 else f"${value:g}"


def duration_tick(seconds: float) -> str:
    for unit, name in ((86400, "d"), (HOUR, "h"), (60, "min")):
        if seconds >= unit:
            return f"{seconds / unit:g} {name}"
    return f"{seconds:g} s"


COST_TICKS = tuple(10.0**k for k in range(-3, 6))
DURATION_TICKS = (1, 10, 60, 600, 1800, HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, 86400, 2 * 86400, 7 * 86400, 30 * 86400)


def histogram_chart(
    label: str,
    histogram: Histogram,
    show: Callable[[float], str],
    tick: Callable[[float], str],
    values: Sequence[float],
) -> str:
    """A distribution's bars (``Histogram.bars``) on a log axis labelled at ``values``."""
    bars = histogram.bars()
    shown = [
        Bar([(count, "ok")], f"{count:,} runs, {show(lo)} to {show(hi)}" if lo else f"{count:,} runs below {show(hi)}")
        for lo, hi, count in bars
    ]
    ticks = _log_ticks(bars, values, tick, NARROW)
    if bars and bars[0][0] == 0:
        ticks.insert(0, (0.0, tick(0.0)))
    return bar_chart(label, shown, ticks, NARROW)


def timeline_chart(summary: Summary) -> str:
    """Runs ended per bin of the smallest width in ``TIMELINE_HOURS`` (then doubled) that keeps to
    ``TIMELINE_BARS``, stacked completed, failed, stopped."""
    hours = sorted({hour for hour, _ in summary.ended})
    first, last = hours[0], hours[-1]
    width = next((w for w in TIMELINE_HOURS if (last - first) // w + 1 <= TIMELINE_BARS), TIMELINE_HOURS[-1])
    while (last - first) // width + 1 > TIMELINE_BARS:
        width *= 2
    if width % 24 == 0:
        first -= first % 24  # days start at midnight UTC
    bins: dict[int, Counter[str]] = {}
    for (hour, kind), count in summary.ended.items():
        bins.setdefault((hour - first) // width, Counter())[kind] += count
    n = (last - first) // width + 1
    bars = []
    for i in range(n):
        got = bins.get(i, Counter())
        start = (first + i * width) * HOUR
        parts = [(got["completed"], "ok"), (got["failed"], "bad"), (got["stopped"], "off")]
        described = ", ".join(f"{got[k]:,} {k}" for k in ("completed", "failed", "stopped") if got[k]) or "none"
        bars.append(Bar(parts, f"{_when(start, width)} (+{width} h): {described}"))
    every = max(1, math.ceil(n / 6))
    ticks = [(float(i), _tick_time((first + i * width) * HOUR, width)) for i in range(0, n, every)]
    label = f"Runs ended per {'hour' if width == 1 else f'{width} hours' if width % 24 else _days(width)} (UTC)"
    return f'<p class="note">{_e(label)}</p>' + bar_chart(label, bars, ticks)


def _days(hours: int) -> str:
    days = hours // 24
    return "day" if days == 1 else f"{days} days"


def status_bar(summary: Summary) -> str:
    """The runs by status as one stacked bar, as wide as the page."""
    total = sum(summary.count(key) for key, _, _ in STATUS_ROWS) or 1
    x, out = 0.0, []
    for key, label, colour in STATUS_ROWS:
        count = summary.count(key)
        if count:
            width = 1000 * count / total
            out.append(
                f'<rect class="{colour}" x="{x:.2f}" y="0" width="{max(width, 1.5):.2f}" height="24">'
                f"<title>{_e(label)}: {count:,}</title></rect>"
            )
            x += width
    return f'<svg class="status" viewBox="0 0 1000 24" preserveAspectRatio="none" role="img">{"".join(out)}</svg>'


# --- the page ----------------------------------------------------------------------------------

STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1f24;margin:0;background:#f6f7f9}
main{max-width:1000px;margin:0 auto;padding:24px 28px 40px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px}
.lead{color:#57606a;margin:0 0 4px}.note{color:#57606a;font-size:13px;margin:4px 0}
section{background:#fff;border:1px solid #d8dee4;border-radius:8px;padding:4px 20px 16px;margin:16px 0}
.tiles{display:flex;flex-wrap:wrap;gap:12px;margin:14px 0}
.tile{flex:1 1 140px;background:#fff;border:1px solid #d8dee4;border-radius:8px;padding:10px 14px}
.tile b{display:block;font-size:24px;font-variant-numeric:tabular-nums}.tile span{color:#57606a;font-size:13px}
.verdict{display:inline-block;border-radius:12px;padding:1px 10px;font-weight:600;font-size:13px}
.clean{background:#dafbe1;color:#116329}.unclean{background:#ffebe9;color:#a40e26}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #eaeef2;vertical-align:top}
th{font-size:13px;color:#57606a;font-weight:600}td.n,th.n{text-align:right;white-space:nowrap}
code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;word-break:break-all}
.key{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:6px;vertical-align:-1px}
svg.chart{width:100%;height:auto;display:block}svg.status{width:100%;height:24px;display:block;margin:6px 0 10px}
.grid{stroke:#eaeef2}.axis{stroke:#8c959f}.ylab{font-size:11px;fill:#57606a;text-anchor:end}
.xlab{font-size:11px;fill:#57606a;text-anchor:middle}.bar:hover rect{opacity:.75}
.ok{fill:#2da44e;background:#2da44e}.bad{fill:#cf222e;background:#cf222e}.subf{fill:#bf8700;background:#bf8700}
.off{fill:#8c959f;background:#8c959f}.del{fill:#57606a;background:#57606a}.run{fill:#0969da;background:#0969da}
.unk{fill:#8250df;background:#8250df}.compute{fill:#0969da;background:#0969da}.storage{fill:#bf8700;background:#bf8700}
tr.zero td{color:#8c959f}
.split{display:grid;grid-template-columns:1fr 1fr;gap:24px}@media(max-width:700px){.split{grid-template-columns:1fr}}
"""


def render(summary: Summary, detail: Mapping[str, Any]) -> str:
    """The page, from the summary of every row and the completion event's ``detail`` (its batch
    id, name, status, whether it succeeded, batches, attempts, files; only what is there)."""
    first = str(detail.get("batchId") or "")
    name = str(detail.get("batchName") or "")
    title = f"Cohort of batch {first}" + (f" ({name})" if name else "")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}: report</title><style>{STYLE}</style></head><body><main>",
        _heading(summary, detail, title),
        _status(summary, detail),
        _cost(summary),
        _distributions(summary),
        _failures(summary),
        _timeline(summary),
        _files(detail),
        "</main></body></html>\n",
    ]
    return "\n".join(parts)


def _heading(summary: Summary, detail: Mapping[str, Any], title: str) -> str:
    status = str(detail.get("status") or "")
    succeeded = detail.get("succeeded")
    verdict = ""
    if succeeded is not None:
        verdict = (
            '<span class="verdict clean">clean</span>'
            if succeeded
            else '<span class="verdict unclean">needs attention</span>'
        )
    batches = list(detail.get("batchIds") or [])
    said = [f"status <b>{_e(status)}</b> {verdict}" if status else verdict]
    if batches:
        said.append(f"{len(batches):,} batch{'es' if len(batches) != 1 else ''}")
    if detail.get("attempts"):
        attempts = int(detail["attempts"])
        said.append(f"up to {attempts} attempt{'s' if attempts != 1 else ''} a run")
    if summary.first_start is not None and summary.last_stop is not None:
        said.append(f"runs from {_when(summary.first_start)} to {_when(summary.last_stop)} UTC")
    out = [f"<h1>{_e(title)}</h1>", f'<p class="lead">{" · ".join(s for s in said if s)}</p>']
    for key, label in (("failureReason", "Batch failure"), ("settingsError", "Settings")):
        if detail.get(key):
            out.append(f'<p class="lead"><b>{label}:</b> {_e(detail[key])}</p>')
    cost = summary.digest.cost()
    tiles = [
        (f"{summary.count('runs'):,}", "runs (each at its last attempt)"),
        (f"{summary.count('completed'):,}", "completed"),
        (f"{summary.count('failed') + summary.count('submissionFailed'):,}", "failed (runs and submissions)"),
        (usd(cost["totalUsd"], total=True), "estimated cost"),
    ]
    out.append(
        '<div class="tiles">'
        + "".join(f'<div class="tile"><b>{_e(value)}</b><span>{_e(text)}</span></div>' for value, text in tiles)
        + "</div>"
    )
    return "\n".join(out)


def _status(summary: Summary, detail: Mapping[str, Any]) -> str:
    runs = summary.count("runs")
    rows = []
    for key, label, colour in STATUS_ROWS:
        count = summary.count(key)
        rows.append(
            f'<tr{"" if count else " class=zero"}><td><span class="key {colour}"></span>{_e(label)}</td>'
            f'<td class="n">{count:,}</td><td class="n">{_share(count, runs)}</td></tr>'
        )
    counts = detail.get("counts") or {}
    extra = []
    if counts.get("retry"):
        extra.append(f"{int(counts['retry']):,} runs in the retry file")
    if counts.get("totalRuns"):
        extra.append(f"{int(counts['totalRuns']):,} runs asked for by the first attempts")
    note = f'<p class="note">{_e("; ".join(extra))}.</p>' if extra else ""
    return (
        "<section><h2>Runs by status</h2>"
        + status_bar(summary)
        + '<table><tr><th>status</th><th class="n">runs</th><th class="n">share</th></tr>'
        + "".join(rows)
        + f'<tr><th>all</th><th class="n">{runs:,}</th><th></th></tr></table>'
        + note
        + "</section>"
    )


def _cost(summary: Summary) -> str:
    cost = summary.digest.cost()
    total, compute, storage = cost["totalUsd"], cost["computeUsd"], cost["storageUsd"]
    if not cost["runsPriced"]:
        body = (
            '<p class="note">No run has a cost: the cohort was tracked without run insight, or its runs left no '
            f"manifest ({cost['runsWithoutCost']:,} ended runs without one).</p>"
        )
        return f"<section><h2>Cost</h2>{body}</section>"
    compute_width = 1000 * compute / total if total else 500
    bar = (
        '<svg class="status" viewBox="0 0 1000 24" preserveAspectRatio="none" role="img">'
        f'<rect class="compute" x="0" y="0" width="{compute_width:.2f}" height="24"><title>compute</title></rect>'
        f'<rect class="storage" x="{compute_width:.2f}" y="0" width="{1000 - compute_width:.2f}" height="24">'
        "<title>storage</title></rect></svg>"
    )
    rows = "".join(
        f'<tr><td><span class="key {colour}"></span>{label}</td><td class="n">{usd(value, total=True)}</td>'
        f'<td class="n">{_share(value, total)}</td></tr>'
        for label, value, colour in (("Compute (tasks)", compute, "compute"), ("Run storage", storage, "storage"))
    )
    unpriced = cost["runsWithoutCost"]
    note = (
        f"{cost['runsPriced']:,} runs priced"
        + (f"; {unpriced:,} ended runs without a cost (no manifest or no price)" if unpriced else "")
        + ". Estimates at list prices: no discounts, credits or Savings Plans; Cost Explorer has the bill."
    )
    return (
        f"<section><h2>Cost: {_e(usd(total, total=True))}</h2>{bar}"
        f'<table><tr><th>part</th><th class="n">USD</th><th class="n">share</th></tr>{rows}'
        f'<tr><th>total</th><th class="n">{_e(usd(total, total=True))}</th><th></th></tr></table>'
        f'<p class="note">{_e(note)}</p></section>'
    )


def _distribution(
    label: str,
    histogram: Histogram,
    show: Callable[[float | None], str],
    tick: Callable[[float], str],
    ticks: Sequence[float],
) -> str:
    if not histogram.count:
        return f'<div><h2>{_e(label)}</h2><p class="note">No run to show.</p></div>'
    cells = [("p50", histogram.percentile(0.5)), ("p90", histogram.percentile(0.9))]
    cells += [("p99", histogram.percentile(0.99)), ("max", histogram.most)]
    head = "".join(f'<th class="n">{name}</th>' for name, _ in cells)
    values = "".join(f'<td class="n">{_e(show(value))}</td>' for _, value in cells)
    note = f"{histogram.count:,} runs; mean {show(histogram.mean)}, min {show(histogram.least)}"
    return (
        f"<div><h2>{_e(label)}</h2><table><tr>{head}</tr><tr>{values}</tr></table>"
        f'<p class="note">{_e(note)}</p>{histogram_chart(label, histogram, show, tick, ticks)}</div>'
    )


def _distributions(summary: Summary) -> str:
    return (
        '<section><div class="split">'
        + _distribution("Cost per run", summary.cost, usd, usd_tick, COST_TICKS)
        + _distribution("Duration per run", summary.duration, duration, duration_tick, DURATION_TICKS)
        + "</div>"
        + '<p class="note">p50, p90 and p99 are at bucket resolution (20 log-spaced buckets a decade: at most '
        "12 % above the true value); max, min and mean are exact. Durations are from start to stop of the runs "
        "that ended.</p></section>"
    )


def _failures(summary: Summary) -> str:
    digest = summary.digest
    failed = sum(digest.failures.values())
    if not failed:
        return "<section><h2>Failures</h2><p>No run and no submission failed.</p></section>"
    groups = digest.failure_groups(FAILURE_GROUPS)
    rows = "".join(
        f"<tr><td><code>{_e(group['reason'])}</code></td><td><code>{_e(group['task'] or NOTHING)}</code></td>"
        f'<td class="n">{group["runs"]:,}</td><td class="n">{_share(group["runs"], failed)}</td>'
        f"<td>{', '.join(f'<code>{_e(example)}</code>' for example in group['examples'])}</td></tr>"
        for group in groups
    )
    rest = len(digest.failures) - len(groups)
    more = ""
    if rest > 0:
        runs = failed - sum(group["runs"] for group in groups)
        more = f'<p class="note">and {rest:,} smaller groups ({runs:,} runs): report.csv has every run.</p>'
    return (
        f"<section><h2>Failures: {failed:,} runs in {len(digest.failures):,} groups</h2>"
        '<table><tr><th>reason</th><th>failed task</th><th class="n">runs</th><th class="n">share</th>'
        f"<th>examples (runSettingId)</th></tr>{rows}</table>{more}"
        '<p class="note">Failed runs by their failure reason and first failed task, failed submissions by their '
        "reason; the largest groups first.</p></section>"
    )


def _timeline(summary: Summary) -> str:
    if not summary.ended:
        return '<section><h2>Completions over time</h2><p class="note">No run ended.</p></section>'
    keys = "".join(
        f'<span class="key {colour}"></span>{label} &nbsp; '
        for colour, label in (("ok", "completed"), ("bad", "failed"), ("off", "cancelled or deleted"))
    )
    missing = (
        f'<p class="note">{summary.without_stop:,} ended runs have no stop time.</p>' if summary.without_stop else ""
    )
    return (
        f'<section><h2>Completions over time</h2>{timeline_chart(summary)}<p class="note">{keys}</p>{missing}</section>'
    )


def _files(detail: Mapping[str, Any]) -> str:
    rows = [
        (label, detail.get(key))
        for key, label in (
            ("reportJsonUri", "every run (JSON)"),
            ("reportCsvUri", "every run (CSV)"),
            ("retrySettingsUri", "settings of the runs to retry"),
        )
        if detail.get(key)
    ]
    if not rows:
        return ""
    cells = "".join(f"<tr><td>{_e(label)}</td><td><code>{_e(uri)}</code></td></tr>" for label, uri in rows)
    return f"<section><h2>Files</h2><table>{cells}</table></section>"
