"""How the pages show numbers: rates, size buckets, the write-ups' ratios, figure titles, whiskers,
accuracy axes and the budget line. The verdicts themselves are tested in test_reports.py."""

import re

import pandas as pd
import pytest
from matplotlib.container import ErrorbarContainer

import studies.writeups as writeups
from fakes import fake_record, write_records
from harness.settings import lr_text
from reports import figures as reports_figures
from reports import sbh as reports_sbh
from reports import stats
from reports.__main__ import main
from reports.render import md_table
from reports.sbh import sections
from reports.sbh.sections import backbones_words, bucket_label, combos_words
from studies import sbh


@pytest.fixture(scope="module")
def cpu_default_records(tmp_path_factory):
    """The CPU default selection, one seed, records without a precision: write-up 001's grid on
    every backbone, ResNet-18 alone on the other combos and in the sweeps at their first value
    per bucket (the shipped run's shape)."""
    root = tmp_path_factory.mktemp("display")
    cases = [case for case in sbh.all_cases() if case.in_cpu_default]
    records = [fake_record(case, acc=0.95 + 0.001 * i % 0.04, seconds=1.0) for i, case in enumerate(cases)]
    for record, case in zip(records, cases, strict=True):
        record.budget = {"epochs": 1, "batch_size": 32, "lr": case.lr or sbh.BASE_LR, "min_steps": 96}
    write_records(root / "results", records)
    return root / "results"


@pytest.fixture(scope="module")
def titles(cpu_default_records, tmp_path_factory):
    """Every figure title the sbh page drew, by file name; the page's text under "page"."""
    out = tmp_path_factory.mktemp("display-out")
    drawn = {}
    patch = pytest.MonkeyPatch()
    for module, name in [(sections, "grouped_bars"), (sections, "lines"), (reports_sbh, "grouped_bars")]:
        real = getattr(module, name)

        def spy(table, path, *, title, real=real, **options):
            drawn[path.stem] = title
            return real(table, path, title=title, **options)

        patch.setattr(module, name, spy)
    try:
        assert main(["render", str(cpu_default_records), "--out", str(out)]) == 0
    finally:
        patch.undo()
    return {**drawn, "page": (out / "sbh.md").read_text()}


@pytest.fixture(scope="module")
def cpu_default_page(titles):
    return titles["page"]


@pytest.mark.parametrize(
    ("rate", "text"), [(1e-4, "1e-4"), (1.5e-4, "1.5e-4"), (1.25e-3, "1.25e-3"), (5e-3, "5e-3"), (0.001, "1e-3")]
)
def test_a_rate_is_written_as_the_writeups_write_it(rate, text):
    assert lr_text(rate) == text
    assert sbh.lr_tag(rate) == f"lr{text}", "case ids keep their form"


def test_a_text_row_label_is_not_read_as_a_number():
    table = md_table(pd.DataFrame({"accuracy": [0.5]}, index=pd.Index(["1.5e-4"], name="learning rate")))
    assert "| 1.5e-4 " in table and "0.0001" not in table


def test_rates_print_as_the_writeups_write_them(cpu_default_page):
    sweep = cpu_default_page[cpu_default_page.index("### 5-3.") : cpu_default_page.index("**Every sweep case**")]
    assert "learning rate 1e-4, 1.5e-4, 5e-4, 1.5e-3, 3.5e-3, 5e-3;" in cpu_default_page, "the budget line"
    assert "resnet18 on 1.5e-4, 5e-4, 1.5e-3, 3.5e-3, 5e-3;" in sweep, "matched cells, in the rates' order"
    assert sweep.count("| 1.5e-4 ") == 2, "both tables of the sweep"
    assert "0.0001" not in sweep and "0.00015" not in sweep
    assert "16 rates 1.5e-4 to 5e-3" in cpu_default_page


def test_a_size_bucket_is_labelled_by_the_sizes_it_holds(cpu_default_page):
    assert "| 400-1.6K (ran: 400) " in cpu_default_page
    assert "| 2.0K-4.0K (ran: 2000) " in cpu_default_page
    assert "| 4.8K-10.0K (ran: 4800, 10000) " in cpu_default_page
    assert not re.search(r"\| 400-1\.6K +\|", cpu_default_page), "one size held, not named as if four"
    assert bucket_label("400-1.6K", pd.Series([400.0, 800.0, 1200.0, 1600.0])) == "400-1.6K"


def test_the_writeups_latency_ratio_prints_at_its_own_precision(cpu_default_page):
    """Write-up 001 Fig. 3 as a ratio, computed from their CSV: 2.0911 for ResNet-18, not 2.0910."""
    times = pd.DataFrame(writeups.rows("001_experiment_1")).astype({"inference_time": float})
    mine = times[times["backbone"] == "resnet18"].set_index("case")["inference_time"]
    ratio = mine[["1", "4_1", "4_2"]].mean() / mine[["2", "3"]].mean()
    assert f"{ratio:.4f}" == "2.0911"
    assert re.search(rf"\| resnet18\s+\|\s+{ratio:.4f} \|", cpu_default_page)
    assert "2.0910" not in cpu_default_page


def test_titles_say_which_backbones_combos_and_seeds_a_figure_averages(titles):
    assert titles["combos_acc_by_structure"] == (
        "acc_all_heads by structure\nresnet18: mean over 6 combos; resnet34, resnet50: digits 0,1,2 only; one seed"
    )
    assert titles["combos_inference_by_structure"].endswith("resnet34, resnet50: digits 0,1,2 only; one seed")
    assert titles["combos_acc_by_combo"].endswith("mean over 5 structures; one seed")
    for name in ("size_acc_curve", "size_acc_averages", "lr_acc_curve", "lr_acc_averages"):
        assert titles[name].endswith("\nresnet18 only; one seed"), name
        assert "mean over backbones" not in titles[name]
    assert titles["d012_acc_all_heads"].endswith("\ndigits 0,1,2, one seed")
    page = titles["page"]
    assert (
        "**`acc_all_heads` by structure (resnet18: mean over 6 combos; resnet34, resnet50: digits 0,1,2 only; " in page
    )
    assert "**`acc_all_heads` vs learning rate, one line per structure (resnet18 only; one seed)**" in page


def test_title_words_are_computed_from_the_frame():
    rows = [("resnet18", d) for d in ("0,1,2", "0,3,4", "6,8,9")] + [("resnet34", "0,1,2"), ("resnet50", "0,1,2")]
    frame = pd.DataFrame(rows, columns=["backbone", "digits"])
    assert combos_words(frame) == "resnet18: mean over 3 combos; resnet34, resnet50: digits 0,1,2 only"
    assert combos_words(frame[frame["backbone"] == "resnet18"]) == "mean over 3 combos"
    assert combos_words(frame[frame["digits"] == "0,1,2"]) == "digits 0,1,2 only"
    assert backbones_words(frame, "digits") == "mean over resnet18, resnet34, resnet50 where measured"
    assert backbones_words(frame[frame["digits"] == "0,1,2"], "digits") == "mean over resnet18, resnet34, resnet50"
    assert backbones_words(frame[frame["backbone"] == "resnet34"], "digits") == "resnet34 only"


@pytest.fixture
def drawn(monkeypatch):
    """The matplotlib figure each figure function saves, by file name."""
    figures = {}
    real = reports_figures.save_figure

    def keep(fig, path, table):
        figures[path.stem] = fig
        return real(fig, path, table)

    monkeypatch.setattr(reports_figures, "save_figure", keep)
    return figures


def whiskers(ax) -> list[tuple[float, float, float]]:
    """(x, bottom, top) of every error bar drawn on ``ax``."""
    out = []
    for container in ax.containers:
        if isinstance(container, ErrorbarContainer):
            for segment in container.lines[2][0].get_segments():
                (x, bottom), (_, top) = segment
                out.append((float(x), float(bottom), float(top)))
    return out


def test_whiskers_only_on_bars_with_two_or_more_seeds(drawn, tmp_path):
    """resnet18 ran three seeds, resnet34 one: its CI is NaN and its bar has no whisker."""
    runs = pd.DataFrame(
        [("arch1 (1)", "resnet18", acc) for acc in (0.90, 0.92, 0.94)] + [("arch1 (1)", "resnet34", 0.95)],
        columns=["structure", "backbone", "acc"],
    )
    cells = runs.groupby(["structure", "backbone"])["acc"]
    means, halves = cells.mean().unstack(), cells.agg(stats.ci_halfwidth).unstack()
    assert halves["resnet34"].isna().all()
    reports_figures.grouped_bars(
        means, tmp_path / "bars.png", title="t", ylabel="test accuracy", zoom=True, errors=halves, ymax=1.0
    )
    (ax,) = drawn["bars"].axes
    bars = [patch for patch in ax.patches if patch.get_visible()]
    drawn_at = [x for x, _, _ in whiskers(ax)]
    assert len(drawn_at) == 1, "one whisker: the three-seed bar"
    assert drawn_at[0] == pytest.approx(bars[0].get_x() + bars[0].get_width() / 2)


def test_a_whisker_and_the_accuracy_axis_stop_at_one(drawn, tmp_path):
    means = pd.DataFrame({"resnet18": [0.99, 0.95]}, index=["arch1 (1)", "arch2 (2)"])
    halves = pd.DataFrame({"resnet18": [0.05, 0.01]}, index=means.index)
    reports_figures.grouped_bars(
        means, tmp_path / "acc.png", title="t", ylabel="test accuracy", zoom=True, errors=halves, ymax=1.0
    )
    (ax,) = drawn["acc"].axes
    assert ax.get_ylim()[1] <= 1.0
    assert max(top for _, _, top in whiskers(ax)) == pytest.approx(1.0)
    assert min(bottom for _, bottom, _ in whiskers(ax)) == pytest.approx(0.94), "the lower half stays whole"
    curve = pd.DataFrame({"arch1 (1)": [0.999, 1.0]}, index=pd.Index([400.0, 800.0], name="train images"))
    reports_figures.lines(curve, tmp_path / "curve.png", title="t", xlabel="n", ylabel="test accuracy", ymax=1.0)
    assert drawn["curve"].axes[0].get_ylim()[1] <= 1.0
    points = pd.DataFrame({"name": ["a", "b", "c"], "acc": [0.999, 0.998, 0.9], "s": [1.0, 2.0, 3.0]})
    reports_figures.pareto(
        points,
        tmp_path / "front.png",
        x="s",
        y="acc",
        label="name",
        front=pd.Series([True, False, False]),
        title="t",
        xlabel="s",
        ylabel="test accuracy",
        ymax=1.0,
    )
    (ax, *_) = drawn["front"].axes
    assert ax.get_ylim()[1] <= 1.0
    assert all(text.xyann[1] < 1.0 for text in ax.texts), "every label inside the axis"


def test_the_budget_line_says_precision_not_recorded_for_records_without_one(cpu_default_page, tmp_path):
    assert "backbone weights none, precision not recorded;" in cpu_default_page
    cases = sbh.grid(sbh.WRITEUP001_DIGITS)
    records = [fake_record(case, acc=0.99 - 0.002 * i, seconds=1.0) for i, case in enumerate(cases)]
    for record in records[:10]:
        record.environment["precision"] = {"train": "bf16", "inference": "bf16", "why": "native"}
    write_records(tmp_path / "results", records)
    assert main(["render", str(tmp_path / "results"), "--out", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "sbh.md").read_text()
    assert "precision bf16 (10 records), precision not recorded (5 records);" in text
    assert "fp32" not in text.split("training images per case")[0], "no precision is assumed"
