"""Figures: each one function from a DataFrame to a PNG path, with its numbers as CSV beside it.

Drawing dominates a report's run time (about 0.25 s a figure on a 2-core CPU), so:

- a figure whose PNG already holds the same key (a hash of the function, its data and
  options, this file and matplotlib's version, stored in the PNG's text chunk) is not drawn
  again: re-rendering a report whose records did not change redraws nothing;
- inside ``drawing_pool()`` the figure functions hand their drawing to worker processes and
  return the path at once; leaving the block waits for every figure and re-raises the first
  failure. Outside it they draw in place.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import multiprocessing
import os
import pickle
import textwrap
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

import matplotlib
import matplotlib.patches
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

# No timestamps or version strings in the files, so re-rendering the same records is byte-stable.
_PNG_METADATA = {"Software": None}
_KEY = "backbone-bench-figure"
_CODE = hashlib.sha256(Path(__file__).read_bytes() + matplotlib.__version__.encode()).hexdigest()
_pool: ProcessPoolExecutor | None = None
_pending: list[Future] = []
_key: str | None = None  # the key of the figure being drawn, written into its PNG


@contextlib.contextmanager
def drawing_pool(workers: int | None = None):
    """Draw the figures requested inside the block in parallel worker processes."""
    global _pool
    workers = workers or min(os.cpu_count() or 1, 8)
    if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        yield  # one core, or no fork (the workers must inherit the imported matplotlib): draw in place
        return
    _pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
    try:
        yield
        for future in _pending:
            future.result()
    finally:
        _pool.shutdown(cancel_futures=True)
        _pool = None
        _pending.clear()


_DRAWERS: dict = {}


def _draw(name: str, key: str, args: tuple, kwargs: dict) -> Path:
    global _key
    _key = key
    try:
        return _DRAWERS[name](*args, **kwargs)
    finally:
        _key = None


def _up_to_date(path: Path, key: str) -> bool:
    if not (path.is_file() and path.with_suffix(".csv").is_file()):
        return False
    from PIL import Image  # matplotlib's own PNG writer

    try:
        with Image.open(path) as image:
            return image.text.get(_KEY) == key
    except OSError:
        return False


def _deferred(draw):
    """Run ``draw`` in the pool when one is open; return its ``path`` argument either way."""
    _DRAWERS[draw.__name__] = draw
    signature = inspect.signature(draw)

    @functools.wraps(draw)
    def figure(*args, **kwargs) -> Path:
        arguments = signature.bind(*args, **kwargs).arguments
        path = Path(arguments["path"])
        content = sorted((name, value) for name, value in arguments.items() if name != "path")
        key = hashlib.sha256(_CODE.encode() + draw.__name__.encode() + pickle.dumps(content, protocol=4)).hexdigest()
        if _up_to_date(path, key):
            return path
        if _pool is None:
            return _draw(draw.__name__, key, args, kwargs)
        path.parent.mkdir(parents=True, exist_ok=True)
        _pending.append(_pool.submit(_draw, draw.__name__, key, args, kwargs))
        return path

    return figure


def save_figure(fig, path: Path, table: pd.DataFrame) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={**_PNG_METADATA, **({_KEY: _key} if _key else {})})
    plt.close(fig)
    table.to_csv(path.with_suffix(".csv"), float_format="%.6g")
    return path


@_deferred
def grouped_bars(
    table: pd.DataFrame,
    path: Path,
    *,
    title: str,
    ylabel: str,
    zoom: bool = False,
    flagged: pd.DataFrame | None = None,
    errors: pd.DataFrame | None = None,
    ymax: float | None = None,
) -> Path:
    """Rows are groups on the x axis, columns are bars within a group; NaN leaves a gap.

    ``zoom`` starts the y axis just below the smallest value (accuracies near 1 differ by
    tenths of a percent); ``flagged`` (same shape, bool) hatches bars of failed cases;
    ``errors`` (same shape) draws error bars of that half-width where it is a number (a 95 % CI
    needs two or more seeds, so a single run's NaN draws none); ``ymax`` is the largest value
    the quantity can take (accuracy: 1.0): neither the axis nor a whisker goes past it.
    """
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(table.index) + 2), 4))
    n = max(len(table.columns), 1)
    width = 0.8 / n
    x = np.arange(len(table.index))
    errors = errors.reindex(index=table.index, columns=table.columns) if errors is not None else None
    swatches = []  # the legend's own patches: a hidden (missing) first bar must not hide a column's colour
    low_ends, high_ends = [], []
    for i, column in enumerate(table.columns):
        values = table[column].to_numpy(dtype=float)
        name = str(column) if np.isfinite(values).any() else f"{column} (no data)"
        positions = x + (i - (n - 1) / 2) * width
        bars = ax.bar(positions, np.nan_to_num(values, nan=0.0), width, label=name, color=f"C{i}")
        swatches.append(matplotlib.patches.Patch(facecolor=f"C{i}", label=name))
        for bar, value, bad in zip(bars, values, _flags(flagged, column, len(values)), strict=True):
            if np.isnan(value):
                bar.set_visible(False)
            elif bad:
                bar.set_hatch("//")
        half = errors[column].to_numpy(dtype=float) if errors is not None else np.full(len(values), np.nan)
        whisker = np.isfinite(values) & np.isfinite(half)
        below, above = half[whisker], half[whisker]
        if ymax is not None:
            above = np.clip(ymax - values[whisker], 0.0, above)
        if whisker.any():
            ax.errorbar(positions[whisker], values[whisker], yerr=[below, above], fmt="none", ecolor="k", capsize=2)
        shown = np.isfinite(values)
        low_ends += list(values[shown] - np.where(whisker, half, 0.0)[shown])
        high_ends += list(values[whisker] + above) + list(values[shown & ~whisker])
    ax.set_xticks(x, [_tick_label(str(i)) for i in table.index])
    _set_title(ax, title)
    ax.set_ylabel(ylabel)
    if zoom and low_ends:
        low, high = min(low_ends), max(high_ends)
        pad = max((high - low) * 0.25, 0.002)
        ax.set_ylim(max(low - pad, 0.0), high + pad)
    _cap(ax, ymax)
    ax.grid(axis="y", alpha=0.3)
    # Outside the axes, so that it never hides a bar.
    ax.legend(
        handles=swatches, title=table.columns.name, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0)
    )
    return save_figure(fig, path, table)


@_deferred
def lines(
    table: pd.DataFrame,
    path: Path,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    logx: bool = False,
    xtick_labels=None,
    ymax: float | None = None,
) -> Path:
    """Rows are x values (numeric), columns are series; a point per measured cell, NaN breaks a line;
    the y axis stops at ``ymax`` (accuracy: 1.0)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    x = table.index.to_numpy(dtype=float)
    for column in table.columns:
        ax.plot(x, table[column].to_numpy(dtype=float), marker="o", label=str(column))
    if logx:
        ax.set_xscale("log")
    ax.set_xticks(x, xtick_labels or [f"{v:g}" for v in x])
    ax.minorticks_off()
    _set_title(ax, title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    _cap(ax, ymax)
    ax.grid(alpha=0.3)
    ax.legend(title=table.columns.name, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save_figure(fig, path, table)


@_deferred
def pareto(
    points: pd.DataFrame,
    path: Path,
    *,
    x: str,
    y: str,
    label: str,
    front: pd.Series,
    title: str,
    xlabel: str,
    ylabel: str,
    ymax: float | None = None,
) -> Path:
    """Scatter of every configuration, each named; the non-dominated ones joined by a step line.

    Labels are placed in order of the y value and pushed apart vertically so that they do not
    overlap; the log x axis reads in plain seconds; the legend sits outside the axes; the y axis
    stops at ``ymax`` (accuracy: 1.0).
    """
    fig, ax = plt.subplots(figsize=(8.5, 5))
    ax.scatter(points[x], points[y], color="0.6", s=18, label="dominated")
    best = points[front].sort_values(x)
    ax.step(best[x], best[y], where="post", color="C3", alpha=0.6)
    ax.scatter(best[x], best[y], color="C3", s=30, label="Pareto front")
    _label_points(ax, points, x, y, label, front, ymax)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(
        matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}" if str(f"{v:g}")[0] in "25" else "")
    )
    _set_title(ax, title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save_figure(fig, path, points.assign(pareto=front).set_index(label))


def _label_points(
    ax, points: pd.DataFrame, x: str, y: str, label: str, front: pd.Series, ymax: float | None = None
) -> None:
    """Name every point; labels sorted by y and spaced at least one text line apart (in axes units),
    pushed up from their points and, where that would pass ``ymax``, down from it."""
    order = points.sort_values(y)
    low, high = float(points[y].min()), float(points[y].max())
    span = (high - low) or 1.0
    step = span / max(18, 1.6 * len(points))  # about one 7-pt line on a 5-inch-high figure
    placed: list[float] = []
    for _, row in order.iterrows():
        target = float(row[y])
        placed.append(max(target, placed[-1] + step) if placed else target)
    if ymax is not None:
        limit = ymax - step / 2
        for i in reversed(range(len(placed))):
            placed[i] = min(placed[i], limit)
            limit = placed[i] - step
    for (index, row), target in zip(order.iterrows(), placed, strict=True):
        ax.annotate(
            str(row[label]),
            (row[x], row[y]),
            xytext=(row[x] * 1.04, target),
            textcoords="data",
            fontsize=7,
            color="C3" if bool(front.loc[index]) else "0.35",
            va="center",
            arrowprops={"arrowstyle": "-", "color": "0.7", "lw": 0.5} if target != float(row[y]) else None,
        )
    top = max(high, placed[-1]) + 0.08 * span
    ax.set_ylim(min(low, placed[0]) - 0.05 * span, top if ymax is None else min(top, ymax))


def _cap(ax, ymax: float | None) -> None:
    """The y axis stops at ``ymax`` (accuracy: 1.0), also where matplotlib's margin would pass it."""
    if ymax is not None and ax.get_ylim()[1] > ymax:
        ax.set_ylim(top=ymax)


def _set_title(ax, title: str, **options) -> None:
    """The title, each of its lines wrapped to the figure's width (titles say what is averaged, at length)."""
    width = int(ax.figure.get_figwidth() * 8)
    ax.set_title("\n".join(textwrap.fill(line, width) for line in title.split("\n")), **options)


def _tick_label(text: str, width: int = 15) -> str:
    """A group label too wide for its bars ("400-1.6K (ran: 400)") breaks before its parenthesis."""
    return text.replace(" (", "\n(", 1) if len(text) > width else text


def _flags(flagged: pd.DataFrame | None, column, n: int) -> list[bool]:
    if flagged is None or column not in flagged:
        return [False] * n
    return [v is True or v == 1 for v in flagged[column].tolist()]


@_deferred
def heatmap_grid(arrays: dict, networks: list[str], path: Path) -> Path:
    """Rows: the input digit, then each network's integrated-gradients attribution; one column per digit.

    Attributions use a diverging map centred on zero, scaled per image to its largest
    magnitude, so red pixels raised the true class's score and blue ones lowered it.
    """
    images, labels = arrays["images"], arrays["labels"]
    n = len(labels)
    fig, axes = plt.subplots(1 + len(networks), n, figsize=(1.3 * n, 1.45 * (1 + len(networks))))
    for j in range(n):
        axes[0, j].imshow(images[j], cmap="gray")
        axes[0, j].set_title(f"label {labels[j]}", fontsize=8)
        for i, network in enumerate(networks, start=1):
            attribution = arrays[f"attr_{network}"][j]
            bound = float(np.abs(attribution).max()) or 1.0
            axes[i, j].imshow(attribution, cmap="bwr", vmin=-bound, vmax=bound)
            axes[i, j].set_title(f"pred {arrays[f'pred_{network}'][j]}", fontsize=8)
    for i, name in enumerate(["input", *networks]):
        axes[i, 0].set_ylabel(name, fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    summary = pd.DataFrame(
        {f"sum_attr_{nw}": arrays[f"attr_{nw}"].reshape(n, -1).sum(1) for nw in networks},
        index=pd.Index(labels, name="label"),
    )
    return save_figure(fig, path, summary)


@_deferred
def curves_against(
    table: pd.DataFrame, path: Path, *, title: str, xlabel: str, ylabel: str, ymax: float | None = None
) -> Path:
    """Columns ``<name> (ours)`` solid and ``<name> (write-up)`` dashed, one colour per name; the y
    axis stops at ``ymax`` (accuracy: 1.0)."""
    fig, ax = plt.subplots(figsize=(8.5, 4.5))
    names = list(dict.fromkeys(c.rsplit(" (", 1)[0] for c in table.columns))
    for i, name in enumerate(names):
        for suffix, style in (("ours", "-"), ("write-up", "--")):
            column = f"{name} ({suffix})"
            if column in table:
                series = table[column].dropna()
                ax.plot(
                    series.index, series.to_numpy(dtype=float), style, marker="o", ms=3, color=f"C{i}", label=column
                )
    _set_title(ax, title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    _cap(ax, ymax)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save_figure(fig, path, table)


@_deferred
def summed_maps(arrays: dict, networks: list[str], path: Path) -> Path:
    """Write-up 003's heatmaps: per network, the positive attribution summed over a batch, over the
    batch's mean image (as captum's ``blended_heat_map`` with ``sign="positive"`` drew them)."""
    mean_image = arrays["writeup_mean_image"]
    fig, axes = plt.subplots(1, len(networks), figsize=(3.2 * len(networks), 3.4), squeeze=False)
    for ax, network in zip(axes[0], networks, strict=True):
        heat = arrays[f"writeup_attr_{network}"]
        ax.imshow(mean_image, cmap="gray")
        ax.imshow(heat / (heat.max() or 1.0), cmap="Greens", alpha=0.6, vmin=0, vmax=1)
        ax.set_title(network, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    table = pd.DataFrame({f"sum_positive_attr_{n}": [float(arrays[f"writeup_attr_{n}"].sum())] for n in networks})
    return save_figure(fig, path, table)
