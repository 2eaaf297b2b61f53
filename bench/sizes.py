"""Cost against size: the newsletter and the CSV import run at several sizes, the report's rows on whether time
per item and worker peak RSS stay flat, and the chart of both that `make bench` writes beside the report."""

from collections.abc import Callable
from pathlib import Path

NEWSLETTER_SIZES = (1_000, 10_000, 100_000)
IMPORT_SIZES = (50_000, 200_000, 500_000)
QUICK_NEWSLETTER_SIZES = (200, 1_000)
QUICK_IMPORT_SIZES = (1_000, 5_000)
# The sizes whose absolute figures have targets of their own (rows 4 and 5).
NEWSLETTER_TARGET_SIZE = 10_000
IMPORT_TARGET_SIZE = 50_000
FLAT = 1.2  # largest ÷ smallest, for time per item and for peak RSS
CHART = Path("docs/benchmarks/sizes.png")  # relative to the report


def run_series(measure: Callable[[int], dict], sizes: tuple[int, ...]) -> list[dict]:
    """Smallest first; each measurement is {size, seconds, peak_mb, complete, detail}."""
    return [measure(size) for size in sizes]


def per_item(point: dict, unit: float) -> float:
    return point["seconds"] / point["size"] * unit


# A row of the report's table: number, what, target, measured, met (None: no target).
Row = tuple[int, str, str, str, bool | None]


def newsletter_rows(series: list[dict]) -> list[Row]:
    return _rows(
        series,
        number=4,
        what="newsletter to {size:,} subscribers via SMTP",
        item="message",
        unit=("ms", 1e3),
        target_size=NEWSLETTER_TARGET_SIZE,
        target=("≤ 30 s, each exactly once", lambda point: point["seconds"] <= 30),
        completeness="each exactly once",
    )


def import_rows(series: list[dict]) -> list[Row]:
    return _rows(
        series,
        number=5,
        what="CSV import of {size:,} rows",
        item="row",
        unit=("µs", 1e6),
        target_size=IMPORT_TARGET_SIZE,
        target=(
            "≤ 15 s, worker peak RSS ≤ 250 MB",
            lambda point: point["seconds"] <= 15 and point["peak_mb"] <= 250,
        ),
        completeness="every row created",
    )


def _rows(
    series: list[dict],
    *,
    number: int,
    what: str,
    item: str,
    unit: tuple[str, float],
    target_size: int,
    target: tuple[str, Callable[[dict], bool]],
    completeness: str,
) -> list[Row]:
    unit_name, scale = unit
    rows = []
    for point in series:
        figure = (
            f"{point['seconds']:.1f} s, {per_item(point, scale):.1f} {unit_name} per {item}, "
            f"peak RSS {point['peak_mb']:.0f} MB; {point['detail']}"
        )
        if point["size"] == target_size:
            rows.append(
                (number, what.format(size=point["size"]), target[0], figure, target[1](point) and point["complete"])
            )
        else:
            rows.append((number, what.format(size=point["size"]), completeness, figure, point["complete"]))
    if target_size not in [point["size"] for point in series]:
        rows.append(
            (number, what.format(size=target_size), target[0], "not measured: `--quick` runs smaller sizes", None)
        )
    if len(series) > 1:
        smallest, largest = series[0], series[-1]
        sizes = f"{largest['size']:,} ÷ {smallest['size']:,}"
        time_ratio = per_item(largest, 1) / per_item(smallest, 1)
        rss_ratio = largest["peak_mb"] / smallest["peak_mb"]
        rows += [
            (number, f"time per {item}, {sizes}", f"≤ {FLAT}", f"{time_ratio:.2f}", time_ratio <= FLAT),
            (number, f"worker peak RSS, {sizes}", f"≤ {FLAT}", f"{rss_ratio:.2f}", rss_ratio <= FLAT),
        ]
    return rows


def write_chart(path: Path, *, newsletter: list[dict], imports: list[dict]) -> None:
    """Two small panels against size on a log axis: time per item (µs, log too: the two differ 40-fold) and peak
    RSS of the bulk worker's pool processes."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a server
    from matplotlib import pyplot, ticker

    figure, (time_axis, memory_axis) = pyplot.subplots(1, 2, figsize=(8, 3.2), layout="constrained")
    for label, series, marker in (
        ("newsletter (per message)", newsletter, "o"),
        ("CSV import (per row)", imports, "s"),
    ):
        if not series:
            continue
        sizes = [point["size"] for point in series]
        time_axis.plot(sizes, [per_item(point, 1e6) for point in series], marker=marker, label=label)
        memory_axis.plot(sizes, [point["peak_mb"] for point in series], marker=marker, label=label)
    time_axis.set(xscale="log", yscale="log", xlabel="items", ylabel="time per item (µs)", title="Time per item")
    memory_axis.set(xscale="log", xlabel="items", ylabel="MB", title="Bulk worker peak RSS")
    peaks = [point["peak_mb"] for point in [*newsletter, *imports]]
    memory_axis.set_ylim(0, max(peaks, default=1) * 1.25)  # from zero, so flat looks flat
    for axis in (time_axis, memory_axis):
        axis.grid(True, which="both", alpha=0.3)
        axis.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:,.0f}"))
        axis.xaxis.set_minor_formatter(ticker.NullFormatter())  # labelled minor ticks overlap on a short range
    time_axis.legend(fontsize="small")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
