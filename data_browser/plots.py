"""Server-rendered SVG time series: continuous ratings per component, sync drift and quality.

The database averages the samples into at most ``MAX_POINTS`` onset buckets per line, so a
plot never ships more points than it can draw, however many rows lie behind it. No chart
library is needed: a polyline per participant, two axes, a legend.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.db.models import (
    Avg,
    BigIntegerField,
    Count,
    ExpressionWrapper,
    F,
    Max,
    Min,
    QuerySet,
    Value,
)
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

MAX_POINTS = 300
WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 14, 34
COLORS = ("#2f5bd3", "#d9480f", "#2b8a3e", "#9c36b5", "#e67700", "#0b7285", "#c2255c", "#5f3dc4")


@dataclass
class Series:
    label: str
    points: list[tuple[float, float]]  # (onset ms, value)


@dataclass
class Plot:
    slug: str
    title: str
    y_label: str
    series: list[Series] = field(default_factory=list)
    samples: int = 0  # rows behind the plot
    drift_bands: bool = False  # shade the sync quality bands (< 100, 100-500, > 500 ms)

    @property
    def points(self) -> int:
        return sum(len(s.points) for s in self.series)

    def svg(self) -> SafeString:
        return render_svg(self)


def bucketed(
    qs: QuerySet, value_column: str, group: tuple[str, ...]
) -> tuple[dict[tuple, list[tuple[float, float]]], dict[tuple, int]]:
    """Average ``value_column`` over onset buckets, per ``group``: at most MAX_POINTS per line,
    and the number of samples behind each line."""
    bounds = qs.order_by().aggregate(lo=Min("onset"), hi=Max("onset"))
    if bounds["lo"] is None:
        return {}, {}
    lo, hi = bounds["lo"], bounds["hi"]
    width = max(1, math.ceil((hi - lo + 1) / MAX_POINTS))
    bucket = ExpressionWrapper(
        (F("onset") - Value(lo)) / Value(width), output_field=BigIntegerField()
    )
    rows = (
        qs.order_by()
        .annotate(bucket=bucket)
        .values(*group, "bucket")
        .annotate(x=Avg("onset"), y=Avg(value_column), n=Count("id"))
        .order_by(*group, "bucket")
    )
    lines: dict[tuple, list[tuple[float, float]]] = {}
    samples: dict[tuple, int] = {}
    for row in rows:
        key = tuple(row[g] for g in group)
        samples[key] = samples.get(key, 0) + row["n"]
        if row["y"] is not None:
            lines.setdefault(key, []).append((row["x"], row["y"]))
    return lines, samples


def rating_plots(
    qs: QuerySet,
    label_for: Callable[[int | None], str],
    component_label: Callable[[str], str] = str,
) -> list[Plot]:
    """One plot per rating component, one line per participant; ``component_label`` shows a
    component id as the reader may see it (de-identified: scrubbed like any label)."""
    lines, samples = bucketed(qs, "value", ("component_id", "participant_id"))
    plots: dict[str, Plot] = {}
    for (component, participant), points in lines.items():
        shown = component_label(component)
        plot = plots.setdefault(
            component,
            Plot(f"rating-{shown}", f"Continuous rating: {shown}", "value"),
        )
        plot.series.append(Series(label_for(participant), points))
        plot.samples += samples[(component, participant)]
    return list(plots.values())


def sync_plots(qs: QuerySet, label_for: Callable[[int | None], str]) -> list[Plot]:
    out = []
    for column, slug, title, unit in (
        ("time_drift", "sync-drift", "Sync: time drift", "ms"),
        ("sync_quality", "sync-quality", "Sync: quality", "0-1"),
    ):
        lines, samples = bucketed(qs, column, ("participant_id",))
        if not lines:
            continue
        plot = Plot(slug, title, unit, samples=sum(samples.values()))
        plot.drift_bands = column == "time_drift"
        plot.series = [Series(label_for(p), pts) for (p,), pts in lines.items()]
        out.append(plot)
    return out


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


def _fmt(v: float) -> str:
    if abs(v) >= 100 or v == int(v):
        return f"{v:,.0f}"
    return f"{v:.2f}".rstrip("0").rstrip(".")


def render_svg(plot: Plot) -> SafeString:
    xs = [x for s in plot.series for x, _ in s.points]
    ys = [y for s in plot.series for _, y in s.points]
    if not xs:
        return mark_safe('<p class="muted">No data to plot.</p>')
    x_lo, x_hi = min(xs) / 1000, max(xs) / 1000
    y_lo, y_hi = min(ys), max(ys)
    if y_hi == y_lo:
        y_lo, y_hi = y_lo - 1, y_hi + 1
    if x_hi == x_lo:
        x_hi = x_lo + 1
    pad = (y_hi - y_lo) * 0.05
    y_lo, y_hi = y_lo - pad, y_hi + pad
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def sx(x: float) -> float:
        return LEFT + (x - x_lo) / (x_hi - x_lo) * plot_w

    def sy(y: float) -> float:
        return TOP + (1 - (y - y_lo) / (y_hi - y_lo)) * plot_h

    grid = format_html_join(
        "",
        '<line class="grid" x1="{0}" x2="{1}" y1="{2}" y2="{2}"/>'
        '<text class="tick" x="{3}" y="{4}" text-anchor="end">{5}</text>',
        (
            (LEFT, WIDTH - RIGHT, f"{sy(t):.1f}", LEFT - 6, f"{sy(t) + 4:.1f}", _fmt(t))
            for t in _ticks(y_lo, y_hi)
        ),
    )
    xgrid = format_html_join(
        "",
        '<line class="grid" x1="{0}" x2="{0}" y1="{1}" y2="{2}"/>'
        '<text class="tick" x="{0}" y="{3}" text-anchor="middle">{4}</text>',
        (
            (f"{sx(t):.1f}", TOP, TOP + plot_h, TOP + plot_h + 16, _fmt(t))
            for t in _ticks(x_lo, x_hi, 8)
        ),
    )
    lines = format_html_join(
        "",
        '<polyline fill="none" stroke="{}" stroke-width="1.6" points="{}"><title>{}</title>'
        "</polyline>",
        (
            (
                COLORS[i % len(COLORS)],
                " ".join(f"{sx(x / 1000):.1f},{sy(y):.1f}" for x, y in s.points),
                s.label,
            )
            for i, s in enumerate(plot.series)
        ),
    )
    bands = _drift_bands(y_lo, y_hi, sy, plot_w) if plot.drift_bands else ""
    zero = ""
    if x_lo < 0 < x_hi:
        zero = format_html(
            '<line class="zero" x1="{0}" x2="{0}" y1="{1}" y2="{2}"/>',
            f"{sx(0):.1f}",
            TOP,
            TOP + plot_h,
        )
    return format_html(
        '<svg class="plot" viewBox="0 0 {w} {h}" role="img" aria-label="{title}" '
        'xmlns="http://www.w3.org/2000/svg">'
        "<title>{title}</title>{bands}{grid}{xgrid}{zero}"
        '<rect class="frame" x="{l}" y="{t}" width="{pw}" height="{ph}" fill="none"/>'
        "{lines}"
        '<text class="axis" x="{cx}" y="{h_}" text-anchor="middle">onset (s)</text>'
        '<text class="axis" x="12" y="{cy}" text-anchor="middle" '
        'transform="rotate(-90 12 {cy})">{ylabel}</text></svg>',
        w=WIDTH,
        h=HEIGHT,
        title=plot.title,
        bands=bands,
        grid=grid,
        xgrid=xgrid,
        zero=zero,
        l=LEFT,
        t=TOP,
        pw=plot_w,
        ph=plot_h,
        lines=lines,
        cx=LEFT + plot_w / 2,
        h_=HEIGHT - 4,
        cy=TOP + plot_h / 2,
        ylabel=plot.y_label,
    )


DRIFT_BANDS = (  # (css class, lower ms, upper ms), as in data_browser.presentations
    ("band-poor", 500, float("inf")),
    ("band-fair", 100, 500),
    ("band-good", -100, 100),
    ("band-fair", -500, -100),
    ("band-poor", float("-inf"), -500),
)


def _drift_bands(y_lo: float, y_hi: float, sy: Callable[[float], float], width: float) -> str:
    """Green, yellow and red stripes behind a drift plot, cut to its value range."""
    rects = []
    for css, lo, hi in DRIFT_BANDS:
        lo, hi = max(lo, y_lo), min(hi, y_hi)
        if lo >= hi:
            continue
        rects.append((css, LEFT, f"{sy(hi):.1f}", width, f"{sy(lo) - sy(hi):.1f}"))
    return format_html_join("", '<rect class="{}" x="{}" y="{}" width="{}" height="{}"/>', rects)


def legend(plot: Plot) -> SafeString:
    return format_html_join(
        " ",
        '<span class="legend"><i style="background:{}"></i>{}</span>',
        ((COLORS[i % len(COLORS)], s.label) for i, s in enumerate(plot.series)),
    )


def all_plots(
    ratings: QuerySet,
    sync: QuerySet,
    label_for: Callable[[int | None], str],
    component_label: Callable[[str], str] = str,
) -> Iterable[Plot]:
    return [*rating_plots(ratings, label_for, component_label), *sync_plots(sync, label_for)]
