"""The reporter, on records made here: values, figures, links, merging and bad inputs."""

import json
import re
import struct
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from fakes import fake_record, write_records, writeup001_speed, writeup003_speed
from harness.records import ResultRecord
from reports import emnist as reports_emnist
from reports import stats, versus
from reports.__main__ import main
from studies import sbh

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def grid_records(tmp_path):
    """The write-up 001 grid with known numbers: arch3 best, arch4-2 worst, split backbones 2x slower."""
    acc = {"arch1": 0.990, "arch2": 0.985, "arch3": 0.995, "arch4-1": 0.992, "arch4-2": 0.970}
    records = []
    for case in sbh.grid(sbh.WRITEUP001_DIGITS):
        two = not sbh.STRUCTURES[case.structure].shared_backbone
        seconds = {"resnet18": 1.0, "resnet34": 2.0, "resnet50": 4.0}[case.backbone] * (2 if two else 1)
        records.append(fake_record(case, acc=acc[case.structure], seconds=seconds))
    write_records(tmp_path / "results", [*records, writeup001_speed()])
    return tmp_path / "results"


def render(results, out, *extra):
    return main(["render", *map(str, results if isinstance(results, list) else [results]), "--out", str(out), *extra])


def test_tables_match_the_records(grid_records, tmp_path):
    assert render(grid_records, tmp_path / "out") == 0
    text = (tmp_path / "out" / "sbh.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| arch4-2 (4)-2") and "0.9700" in line)
    assert row.count("0.9700") == 3
    # One seed on each of three backbones: the backbones are the units, and arch3 leads on all three.
    assert "most accurate: **arch3 (3)**; **arch3 (3)** (0.9950) beats **arch4-1 (4)-1** (0.9920) by 0.0030" in text
    assert "lowest mean **arch4-2 (4)-2** (0.9700)" in text
    assert "Matched cells: 15 records = 5 structures x 3 backbone(s) (resnet18, resnet34, resnet50) x 1 seed(s)" in text
    # Speeds from the side-by-side record only (the records' own times say 2x and 4x too, in separate processes).
    assert re.search(r"\*\*a shared backbone\*\* is faster than \*\*split backbones\*\*: 2\.0\dx .*side by side", text)
    assert "**resnet18** is faster than **resnet34**: 1.8" in text
    assert "Every expected case ran and passed" in text
    index = (tmp_path / "out" / "index.md").read_text()
    assert "[sbh.md](sbh.md)" in index and "not run: no records (`pytest benchmarks -m blocks`)" in index
    csv = (tmp_path / "out" / "figures" / "d012_acc_all_heads.csv").read_text()
    assert "arch3 (3),0.995,0.995,0.995" in csv


def test_writeup_numbers_stand_beside_ours(grid_records, tmp_path):
    """Section 3: every cell of write-up 001's figures beside ours. Smoke records are "not
    comparable" for accuracy; the split/shared latency ratio is compared on any budget; records
    of the writeup profile get agree / differs."""
    assert render(grid_records, tmp_path / "out") == 0
    text = (tmp_path / "out" / "sbh.md").read_text()
    section = text[text.index("## 3. Write-ups") : text.index("## 3b.")]
    assert re.search(
        r"\| 001 Fig\. 4\s+\| arch1\s+\| resnet18\s+\| acc_all_heads\s+\|\s+0\.9962\s+"
        r"\| 0\.9900 \(1 seed\)\s+\|\s+-0\.0062\s+\| not comparable \(different budget: smoke profile\)",
        section,
    )
    # Fig. 3: their ratio from the CSV beside ours from the side-by-side record, judged on our interval.
    assert re.search(
        r"\| resnet18\s+\|\s+2\.0911\s+\|\s+2\.00\d+\s+\| 1\.99\d+-2\.0\d+\s+\| agree \(interval inside", section
    )
    about_two = r"A shared backbone is about 2\N{MULTIPLICATION SIGN} faster than split backbones\."
    assert re.search(about_two + r"\s+\| holds", section)
    assert "| 001 Fig. 4  | acc_all_heads  |               15 |             15 |" in section
    for path in grid_records.glob("sbh/d012-arch*-resnet18-seed0.json"):
        record = json.loads(path.read_text())
        record["profile"] = "writeup"
        record["metrics"]["acc_all_heads"] = 0.9962 if "arch1" in path.name else 0.97
        path.write_text(json.dumps(record))
    render(grid_records, tmp_path / "out")
    section = (tmp_path / "out" / "sbh.md").read_text()
    assert re.search(r"\| 001 Fig\. 4\s+\| arch1\s+\| resnet18 .*\| agree \(within 0\.01\)", section)
    assert re.search(r"\| 001 Fig\. 4\s+\| arch2\s+\| resnet18 .*\| differs by -0\.0233 \(one seed\)", section)


def test_statements_follow_the_numbers(grid_records, tmp_path):
    """Change the numbers and the conclusion changes with them."""
    for path in grid_records.glob("sbh/*arch2*.json"):
        path.write_text(path.read_text().replace('"acc_all_heads": 0.985', '"acc_all_heads": 0.999'))
    render(grid_records, tmp_path / "out")
    assert (
        "all heads right (write-up 001, experiment 2): most accurate: **arch2 (2)**"
        in (tmp_path / "out" / "sbh.md").read_text()
    )


def test_comparisons_use_matched_cells_and_say_tie_or_lead_by_the_seed_spread(three_seed_records, tmp_path):
    """A stray case of one structure on another backbone must not enter the means; with three
    seeds a gap beyond the spread is a lead and one inside it a tie; a 1.0x ratio is no speed-up."""
    stray = fake_record(sbh.SbhCase(sbh.WRITEUP001_DIGITS, "arch3", "resnet18"), acc=0.5, seconds=1.0, seed=5)
    write_records(three_seed_records, [stray])
    assert render(three_seed_records, tmp_path / "out") == 0
    text = (tmp_path / "out" / "sbh.md").read_text()
    # The stray seed 5 has no full block of five structures: it is not among the matched records.
    assert "Matched cells: 45 records = 5 structures x 3 backbone(s) (resnet18, resnet34, resnet50) x 3 seed(s)" in text
    assert "most accurate: **arch1 (1)**; **arch1 (1)** (0.9910) beats **arch3 (3)** (0.9860) by 0.0050" in text
    sides = r"\*\*(a shared backbone|split backbones)\*\*"
    assert re.search(rf"tie \(within noise\): {sides} and {sides}, time ratio 1\.00x", text)


def test_matched_cells_say_which_blocks_have_which_seeds(grid_records, tmp_path):
    """Half way through a calibration ResNet-18 has three seeds and the others one: the report
    must not call that "3 backbones x 3 seeds"."""
    extra = [
        fake_record(case, acc=0.99, seconds=1.0, seed=seed)
        for case in sbh.grid(sbh.WRITEUP001_DIGITS)
        if case.backbone == "resnet18"
        for seed in (1, 2)
    ]
    write_records(grid_records, extra)
    render(grid_records, tmp_path / "out")
    text = (tmp_path / "out" / "sbh.md").read_text()
    assert (
        "Matched cells: 25 records = 5 structures x 5 (backbone, seed) blocks "
        "(seeds 0, 1, 2 in resnet18; seed 0 in resnet34, resnet50)" in text
    )
    # Seed 1 of one structure only: that block is incomplete and stays out of the structure means.
    (lone,) = [c for c in sbh.grid(sbh.WRITEUP001_DIGITS) if c.backbone == "resnet34" and c.structure == "arch1"]
    write_records(grid_records, [fake_record(lone, acc=0.5, seconds=1.0, seed=1)])
    render(grid_records, tmp_path / "again")
    assert "seed 0 in resnet34" in (tmp_path / "again" / "sbh.md").read_text()
    records = pd.DataFrame({"case_id": ["a", "a", "a", "b"], "seed": [0, 1, 2, 0]})
    assert stats.seeds_words(records) == "mean over 1 to 3 seeds per case"


def test_figures_are_valid_pngs_and_every_link_resolves(grid_records, tmp_path):
    render(grid_records, tmp_path / "out")
    for doc in (tmp_path / "out").glob("*.md"):
        for target in re.findall(r"\]\(([^)#]+)\)", doc.read_text()):
            if "://" in target:
                continue
            path = doc.parent / target
            assert path.is_file(), f"{doc.name} links to missing {target}"
            if path.suffix == ".png":
                data = path.read_bytes()
                assert data[:8] == PNG_SIGNATURE
                width, height = struct.unpack(">II", data[16:24])
                assert width > 200 and height > 200 and len(data) > 5000


def test_partial_grid_shows_gaps_and_lists_missing_cases(grid_records, tmp_path):
    for path in grid_records.glob("sbh/*resnet50-seed0.json"):
        path.unlink()
    assert render(grid_records, tmp_path / "out") == 0
    text = (tmp_path / "out" / "sbh.md").read_text()
    assert re.search(r"\| arch1 \(1\)\s+\|\s+0\.9900\s+\|\s+0\.9900\s+\|\s+— ", text)
    assert "Not run (no record): 5 case(s)" in text and "`d012-arch1-resnet50`" in text


def test_failed_and_errored_cases_are_flagged(grid_records, tmp_path):
    case = sbh.SbhCase((0, 1, 2), "arch2", "resnet18")
    failed = fake_record(case, acc=0.5, seconds=1.0, status="failed", finished="2027-01-01T00:00:00+00:00")
    write_records(tmp_path / "later", [failed])
    errored = ResultRecord(
        study="sbh",
        case_id="d012-arch3-resnet18",
        params=sbh.SbhCase((0, 1, 2), "arch3", "resnet18").params(),
        profile="smoke",
        seed=0,
        device="cpu",
        status="error",
        error="not run: data absent",
    )
    errored.finished_at = "2027-01-01T00:00:00+00:00"
    write_records(tmp_path / "later", [errored])
    assert render([grid_records, tmp_path / "later"], tmp_path / "out") == 0
    text = (tmp_path / "out" / "sbh.md").read_text()
    assert re.search(r"\| d012-arch2-resnet18 ✗↻!\s+\|\s+0 \| failed\s+\| below threshold", text)
    assert re.search(r"\| d012-arch3-resnet18 ✗↻\s+\|\s+0 \| error\s+\| not run: data absent", text)
    assert "has two records; kept" in text


def test_no_records_is_exit_2_with_the_command(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert render(tmp_path / "empty", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pytest benchmarks" in err
    assert render(tmp_path / "nowhere", tmp_path / "out") == 2


def test_malformed_file_is_skipped_with_a_warning(grid_records, tmp_path, capsys):
    (grid_records / "sbh" / "broken.json").write_text("{oops")
    (grid_records / "notes.txt").write_text("unrelated")
    assert render(grid_records, tmp_path / "out") == 0
    assert "warning: skipped" in capsys.readouterr().err and "broken.json" in (tmp_path / "out" / "sbh.md").read_text()


def test_rendering_twice_gives_identical_files(grid_records, tmp_path):
    render(grid_records, tmp_path / "a")
    render(grid_records, tmp_path / "b")
    for path in (tmp_path / "a").rglob("*.*"):
        assert path.read_bytes() == (tmp_path / "b" / path.relative_to(tmp_path / "a")).read_bytes(), path.name


def test_the_reporter_imports_no_torch(grid_records, tmp_path):
    """Rendering needs pandas, Jinja2 and matplotlib only: a report machine needs no training stack."""
    code = (
        "import runpy, sys; sys.argv = ['reports', 'render', sys.argv[1], '--out', sys.argv[2]]\n"
        "try:\n    runpy.run_module('reports', run_name='__main__')\nexcept SystemExit as exit:\n    assert "
        "exit.code == 0, exit.code\n"
        "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))[:5]"
    )
    root = Path(__file__).resolve().parent.parent
    subprocess.run(
        [sys.executable, "-c", code, str(grid_records), str(tmp_path / "out")],
        cwd=root,
        check=True,
        capture_output=True,
    )
    assert (tmp_path / "out" / "sbh.md").is_file()


def test_figures_are_redrawn_only_when_their_data_change(grid_records, tmp_path):
    out = tmp_path / "out"
    render(grid_records, out)
    figures = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (out / "figures").glob("*.png")}
    render(grid_records, out)
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (out / "figures").glob("*.png")} == figures, (
        "unchanged data: nothing redrawn"
    )
    path = grid_records / "sbh" / "d012-arch1-resnet18-seed0.json"
    raw = json.loads(path.read_text())
    raw["metrics"]["acc_all_heads"] = 0.5
    path.write_text(json.dumps(raw))
    render(grid_records, out)
    assert (out / "figures" / "d012_acc_all_heads.png").read_bytes() != figures["d012_acc_all_heads.png"][0], (
        "its data changed: redrawn"
    )
    assert (out / "figures" / "d012_inference_s.png").read_bytes() == figures["d012_inference_s.png"][0]


@pytest.fixture
def blocks_records(tmp_path, profile="smoke"):
    import numpy as np

    from studies import blocks

    accs = {"vgg": 0.991, "bottleneck": 0.987, "csp": 0.986, "sppf": 0.96, "transformer": 0.9, blocks.REFERENCE: 0.98}
    records = []
    for case in blocks.cases():
        record = ResultRecord(
            study="blocks",
            case_id=case.id,
            params={**case.params(), "loss": "cross-entropy on logits"},
            profile=profile,
            seed=0,
            device="cpu",
            status="passed",
            metrics={
                "train_acc": accs[case.id] + 0.001,
                "train_loss": 0.1,
                "test_acc": accs[case.id],
                "test_loss": 0.2,
                "train_s": 5.0,
                "s_per_epoch": 5.0,
                "inference_s": 1.0,
                "inference_images_per_s": 10000.0,
            },
            model={
                "params": 1000,
                "flops_per_image": 1e6,
                "peak_memory_bytes": (50 if case.id == "transformer" else 10) * 2**20,
                "peak_memory_method": "test",
                "conv_depth": 4,
            },
            budget={"epochs": 1, "batch_size": 100, "lr": 1e-3, "train_images": 100},
            environment={"cpu": "Test CPU"},
            started_at="2026-01-01T00:00:00+00:00",
        )
        record.finished_at = "2026-01-01T00:00:00+00:00"
        records.append(record)
    heat = ResultRecord(
        study="blocks",
        case_id=blocks.HEATMAP_ID,
        params={
            "networks": ["vgg", blocks.REFERENCE],
            "baseline": "black",
            "n_steps": 8,
            "digits": "first",
            "writeup_method": {
                "networks": ["vgg", blocks.REFERENCE],
                "baseline": "mid-grey",
                "n_steps": 50,
                "images": "200 training images",
                "map": "positive attributions summed",
            },
        },
        profile=profile,
        seed=0,
        device="cpu",
        status="passed",
        metrics={"ig_relative_delta_vgg": 0.001, f"ig_relative_delta_{blocks.REFERENCE}": 0.002},
        artifacts={"attributions": "heatmaps-seed0.npz"},
        started_at="2026-01-01T00:00:00+00:00",
    )
    heat.finished_at = "2026-01-01T00:00:00+00:00"
    records.append(heat)
    write_records(tmp_path / "results", [*records, writeup003_speed()])
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "results" / "blocks" / "heatmaps-seed0.npz",
        images=rng.integers(0, 255, (10, 28, 28)).astype(np.uint8),
        labels=np.arange(10),
        writeup_mean_image=rng.random((28, 28)),
        **{f"attr_{n}": rng.normal(size=(10, 28, 28)) for n in ("vgg", blocks.REFERENCE)},
        **{f"pred_{n}": np.arange(10) for n in ("vgg", blocks.REFERENCE)},
        **{f"writeup_attr_{n}": rng.random((28, 28)) for n in ("vgg", blocks.REFERENCE)},
    )
    return tmp_path / "results"


def test_blocks_document(blocks_records, tmp_path):
    assert render(blocks_records, tmp_path / "out") == 0
    text = (tmp_path / "out" / "blocks.md").read_text()
    assert re.search(r"\| vgg\s+\|\s+0\.9920 \|\s+0\.9930 \|", text), "ours beside the write-up's acc"
    assert "one seed, untested: **vgg** 0.9910 and **bottleneck** 0.9870 are 0.0040 apart" in text
    assert "Lowest mean: **transformer** (0.9000)" in text
    # Resources from the side-by-side record: memory, and time per image by the one rule.
    assert "most at its batch **transformer** (50.0 MiB at batch 50)" in text
    assert "slowest: **transformer**" in text and "memory holds here" in text and "time holds" in text
    assert "not comparable (different budget: smoke profile" in text, "a smoke run is not judged against the write-up"
    assert "**Budget of every number below:** smoke profile; 1 epoch(s);" in text and "6 of 6 networks present" in text
    for name in ("blocks_heatmaps", "blocks_heatmaps_writeup"):
        assert f"](figures/{name}.png)" in text
        png = (tmp_path / "out" / "figures" / f"{name}.png").read_bytes()
        assert png[:8] == PNG_SIGNATURE and len(png) > 10000


def test_blocks_writeup_runs_are_judged_against_the_writeup(tmp_path):
    results = blocks_records.__wrapped__(tmp_path, profile="writeup")
    assert render(results, tmp_path / "out") == 0
    text = (tmp_path / "out" / "blocks.md").read_text()
    assert re.search(r"\| vgg\s+\| 0\.9912\s+\| 0\.9910 \(1 seed\)\s+\| -0\.0002\s+\| agree \(within 0\.01\)", text)
    assert re.search(r"\| transformer\s+\| 0\.8946\s+\| 0\.9000 \(1 seed\)\s+\| \+0\.0054", text)
    assert "**Budget of every number below:** writeup profile" in text and "did **not** run" not in text


def test_blocks_without_heatmap_record_says_not_run(blocks_records, tmp_path):
    (blocks_records / "blocks" / "heatmaps-seed0.json").unlink()
    render(blocks_records, tmp_path / "out")
    assert "Not run: no heatmap record" in (tmp_path / "out" / "blocks.md").read_text()


@pytest.fixture
def writeup000_records(grid_records):
    """Resnet18 only: (1) best over combos, small sizes hurt (4)-2 most, (2) best at high rates."""
    structures = list(sbh.STRUCTURES)
    records = []
    for case in sbh.experiment_cases("combos"):
        if case.backbone == "resnet18":
            hard = 0.02 if case.digits == (6, 8, 9) else 0.0
            records.append(
                fake_record(
                    case,
                    acc=0.99
                    - hard
                    - 0.004 * structures.index(case.structure)
                    + (0.01 if case.structure == "arch1" else 0),
                    seconds=1.0,
                )
            )
    for case in sbh.experiment_cases("size"):
        if case.backbone == "resnet18":
            gap = {"arch4-2": 0.05}.get(case.structure, 0.01 * structures.index(case.structure) / 4)
            records.append(fake_record(case, acc=0.99 - gap * 1000 / case.train_size, seconds=1.0))
    for case in sbh.experiment_cases("lr"):
        if case.backbone == "resnet18":
            acc = 0.97 - (0.0 if case.structure == "arch2" else 0.02) * (case.lr / 1e-4) ** 0.5
            records.append(fake_record(case, acc=acc, seconds=1.0))
    write_records(grid_records, records)
    return grid_records


def test_writeup000_sections_are_computed_from_the_records(writeup000_records, tmp_path):
    assert render(writeup000_records, tmp_path / "out") == 0
    text = (tmp_path / "out" / "sbh.md").read_text()
    summary = text[text.index("## 3b. Summary") : text.index("## 4.")]
    # The leader is named by the one rule, the lowest by its mean. Over the combos arch3 leads arch1 on
    # (0,1,2)'s ResNet-34/50 cases and trails it elsewhere: the two tie.
    assert re.search(
        r"five more digit combinations, plus \(0, 1, 2\)\s+\|\s+40 \| tie \(within noise\): arch1 \(1\), arch3 \(3\)\s+"
        r"\| arch4-2 \(4\)-2 [0-9.]+",
        summary,
    )
    assert re.search(r"train-size sweep .*?\|\s+60 \| arch1 \(1\)\s+\| arch4-2 \(4\)-2 [0-9.]+", summary)
    assert re.search(r"learning-rate sweep .*\|\s+80 \| arch2 \(2\)\s+\|", summary)
    assert "Lowest mean combo **6,8,9**" in text
    assert "Highest mean at each value: 1.5e-4 → arch2 (2)" in text
    for name in [
        "combos_acc_by_structure",
        "combos_inference_by_structure",
        "combos_acc_by_combo",
        "size_acc_curve",
        "size_acc_averages",
        "lr_acc_curve",
        "lr_acc_averages",
    ]:
        assert f"](figures/{name}.png)" in text and (tmp_path / "out" / "figures" / f"{name}.png").is_file()
    for tag in ["d034", "d056", "d689", "d038", "d179"]:
        assert f"Digits {tag[1]},{tag[2]},{tag[3]}" in text
    buckets = (tmp_path / "out" / "figures" / "size_acc_averages.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in buckets[1:]] == list(sbh.SIZE_BUCKETS)


def test_writeup000_best_structure_moves_with_the_numbers(writeup000_records, tmp_path):
    for path in writeup000_records.glob("sbh/d689-n*-arch3-resnet18-seed0.json"):
        record = json.loads(path.read_text())
        if record["params"]["experiment"] == "size":
            record["metrics"]["acc_all_heads"] = 0.9999
            path.write_text(json.dumps(record))
    render(writeup000_records, tmp_path / "out")
    text = (tmp_path / "out" / "sbh.md").read_text()
    summary = text[text.index("## 3b. Summary") : text.index("## 4.")]
    assert re.search(r"train-size sweep .*?\|\s+60 \| arch3 \(3\)\s+\|", summary)


@pytest.fixture
def three_seed_records(tmp_path):
    """Write-up 001's grid, 3 seeds, with stored predictions: arch1 clearly best, arch3 close behind."""
    import numpy as np

    acc = {"arch1": 0.990, "arch2": 0.950, "arch3": 0.985, "arch4-1": 0.960, "arch4-2": 0.940}
    labels = np.arange(2000) % 3
    records = []
    for case in sbh.grid(sbh.WRITEUP001_DIGITS):
        for seed in range(3):
            record = fake_record(case, acc=acc[case.structure] + 0.001 * seed, seconds=1.0 + 0.1 * seed, seed=seed)
            wrong = round((1 - record.metrics["acc_all_heads"]) * len(labels))
            predictions = labels.copy()
            predictions[(np.arange(wrong) * 7 + seed) % len(labels)] += 1
            name = f"predictions/{case.id}-seed{seed}.npz"
            (tmp_path / "results" / "sbh" / "predictions").mkdir(parents=True, exist_ok=True)
            np.savez(tmp_path / "results" / "sbh" / name, predictions=predictions % 3, labels=labels)
            record.artifacts["predictions"] = name
            records.append(record)
    # Side by side every structure takes the same time: no speed difference to find.
    write_records(tmp_path / "results", [*records, writeup001_speed(split_factor=1.0)])
    return tmp_path / "results"


def test_repeated_seeds_give_intervals_tests_and_a_pareto_front(three_seed_records, tmp_path):
    assert render(three_seed_records, tmp_path / "out") == 0
    text = (tmp_path / "out" / "sbh.md").read_text()
    assert re.search(r"\| arch1 \(1\)\s+\| 0\.9910 ± 0\.0025", text), "mean ± t-interval of 0.990, 0.991, 0.992"
    assert "Non-dominated configurations" in text and "**arch1 (1) resnet18**" in text
    # Cases are the blocks (three backbones, their three seeds averaged), not nine seed-blocks.
    assert re.search(r"\| digit combos \(write-ups 001 and 000\) \|\s+3 \|\s+5 \|", text)
    assert "over 3 cases (3 seed(s) each, averaged): the structures differ; most accurate: **arch1 (1)**" in text
    assert re.search(r"\| resnet18\s+\|\s+0 \| arch1 \(1\) \| arch3 \(3\) \|", text), (
        "McNemar row for the two best structures"
    )
    assert (tmp_path / "out" / "figures" / "d012_pareto.png").is_file()


def test_blocks_with_three_seeds_shows_intervals_and_a_pareto_front(blocks_records, tmp_path):
    for path in sorted((blocks_records / "blocks").glob("*-seed0.json")):
        record = json.loads(path.read_text())
        if record["case_id"] == "heatmaps":
            continue
        for seed, shift in ((1, 0.002), (2, -0.002)):
            copy = {
                **record,
                "seed": seed,
                "metrics": {**record["metrics"], "test_acc": record["metrics"]["test_acc"] + shift},
            }
            path.with_name(path.name.replace("seed0", f"seed{seed}")).write_text(json.dumps(copy))
    assert render(blocks_records, tmp_path / "out") == 0
    text = (tmp_path / "out" / "blocks.md").read_text()
    assert re.search(r"\| vgg\s+\| 0\.9912\s+\| 0\.9910 ± 0\.0050 \(3 seeds\)", text), (
        "t(0.975, 2) * sd 0.002 / sqrt(3) = 0.0050"
    )
    assert (
        "tie (within noise): **vgg** and **bottleneck** are 0.0040 apart (95 % CI -0.0005 to +0.0085 over 3 seeds"
        in text
    )
    assert "Non-dominated networks" in text and "**vgg**" in text
    assert (tmp_path / "out" / "figures" / "blocks_pareto.png").is_file()


def test_emnist_has_a_page_without_records(grid_records, tmp_path):
    """No EMNIST records: the page says why, what it would show, the write-up's numbers and how to run it."""
    assert render(grid_records, tmp_path / "out") == 0
    text = (tmp_path / "out" / "emnist.md").read_text()
    assert text.startswith("# Model selection on EMNIST Balanced") and "**Not run.**" in text
    assert "`emnist-balanced-test-labels-idx1-ubyte`" in text and "pytest benchmarks -m emnist --data-root ROOT" in text
    assert "18,799" in text and "94,000 / 18,800 / 18,800" in text
    assert re.search(r"\| resnet50-b2048\s+\|\s+0\.76\d*\s+\|\s+20", text), "write-up 004's numbers, from the data file"
    index = (tmp_path / "out" / "index.md").read_text()
    assert "not run: [emnist.md](emnist.md) says why and how" in index
    assert "## Write-up 004's selection score, recomputed" in text


def test_writeup004_selection_score_is_recomputed_from_its_inputs():
    """Min-max normalisation of the write-up's own inputs: the best model scores 1, the worst 0,
    and where the printed table disagrees with its inputs beyond rounding it is named."""
    result = reports_emnist.writeup_selection_recomputed()
    table = result["table"]
    assert table.loc["EfficientNetB7", "top5 (recomputed)"] == 1.0 and table.loc["SqueezeNet", "top5 (recomputed)"] == 0
    assert table.loc["MobileNet", "gpu (recomputed)"] == 1.0 and table.loc["VGG16", "params (recomputed)"] == 0
    # SENet: 115M parameters of 60K..138M -> (138 - 115) / (138 - 0.06) = 0.167, printed 0.18.
    assert table.loc["SENet", "params (recomputed)"] == pytest.approx(0.167, abs=5e-4)
    assert table.loc["SENet", "check"] == "differs: top5, params"
    assert table.loc["EfficientNetB1", "check"] == "same (to rounding)"
    assert table.loc["EfficientNetB1", "score (write-up)"] == 2.74 and result["sums_add_up"]
    assert result["top_printed"][:2] == ["EfficientNetB1", "EfficientNetB2"]


def test_failed_rerun_recalibrated_and_outlier_cases_are_marked_in_every_table(grid_records, tmp_path):
    path = next(grid_records.glob("sbh/d012-arch4-2-resnet34-seed0.json"))
    record = json.loads(path.read_text())
    record.update(status="failed", finished_at="2026-02-01T00:00:00+00:00")
    record["metrics"]["acc_all_heads"] = 0.40
    record["thresholds"]["acc_all_heads"] = 0.99  # a bar the study no longer asserts
    (grid_records / "sbh" / "rerun").mkdir()
    (grid_records / "sbh" / "rerun" / path.name).write_text(json.dumps(record))  # newer: replaces the first
    render(grid_records, tmp_path / "out")
    text = (tmp_path / "out" / "sbh.md").read_text()
    assert re.search(r"\| d012-arch4-2-resnet34 ✗↻†!\s+\| failed", text)
    assert re.search(r"\| arch4-2 \(4\)-2 .*\| 0\.4000 ✗↻†!", text), "the figure table marks the cell too"
    assert "✗ did not pass" in text and "↻ rerun" in text and "† threshold changed since this run" in text


def test_both_languages_render_the_same_numbers_budget_ties_markers_and_figure_map(three_seed_records, tmp_path):
    """A small record set in English and Korean: matched coverage, the tie wording, markers, the
    budget line and the write-up figure map hold in both, and the numbers are the same."""
    path = next(three_seed_records.glob("sbh/d012-arch4-2-resnet34-seed0.json"))
    record = json.loads(path.read_text())
    record.update(status="failed")
    path.write_text(json.dumps(record))
    # arch3 0.001 under arch1 on average, ahead on one backbone and behind on two: a tie.
    for backbone, shift in (("resnet18", 0.006), ("resnet34", 0.002), ("resnet50", 0.004)):
        for path in three_seed_records.glob(f"sbh/d012-arch3-{backbone}-*.json"):
            record = json.loads(path.read_text())
            record["metrics"]["acc_all_heads"] += shift
            path.write_text(json.dumps(record))
    pages = {}
    for lang in ("en", "ko"):
        assert render(three_seed_records, tmp_path / lang, "--lang", lang) == 0
        pages[lang] = (tmp_path / lang / "sbh.md").read_text()
    en, ko = pages["en"], pages["ko"]
    assert "**Budget of every number below**: smoke profile" in en
    assert "**아래 모든 수치의 예산**: smoke 프로필" in ko and "정밀도 기록 없음" in ko, "no precision recorded"
    assert "Matched cells: 45 records = 5 structures x 3 backbone(s)" in en
    assert "일치 셀: 기록 45개 = 구조 5개 x backbone 3개" in ko
    assert "tie (within noise): **arch1 (1)** and **arch3 (3)** are 0.0010 apart" in en
    assert "동률 (잡음 범위 내): **arch1 (1)**과 **arch3 (3)**의 차이는 0.0010 (95 % CI" in ko
    assert "## 1. How to reproduce" in en and "## 1. 재현 방법" in ko
    assert "[1. 재현 방법](#1-재현-방법)" in ko, "the contents follow the translated headings"
    assert re.search(r"\| d012-arch4-2-resnet34 ✗\s+\|\s+0 \| failed", en)
    assert re.search(r"\| d012-arch4-2-resnet34 ✗\s+\|\s+0 \| 실패", ko)
    for text, heading in (
        (en, "Write-up figures and tables in this report"),
        (ko, "문서의 그림·표와 이 보고서의 파일"),
    ):
        assert f"## {heading}" in text
        assert "[figures/d012_acc_all_heads.png](figures/d012_acc_all_heads.png)" in text
    numbers = lambda text: re.findall(r"\d+\.\d{4}", text)  # noqa: E731
    # A translation may reorder a sentence: the same numbers, each as often.
    assert sorted(numbers(en)) == sorted(numbers(ko)), "translation must not touch a number"
    assert "`tox -e report`" in ko, "code spans are kept as written"
    assert (tmp_path / "ko" / "index.md").read_text().startswith("# backbone-bench 보고서")


def test_blocks_tables_mark_failed_and_recalibrated_networks(blocks_records, tmp_path):
    path = blocks_records / "blocks" / "sppf-seed0.json"
    record = json.loads(path.read_text())
    record.update(status="failed")
    record["thresholds"] = {"test_acc": 0.99}  # a bar the smoke profile no longer asserts
    path.write_text(json.dumps(record))
    render(blocks_records, tmp_path / "out")
    text = (tmp_path / "out" / "blocks.md").read_text()
    assert re.search(r"^\| sppf ✗†\s+\|", text, re.M), "the comparison table marks the network"
    assert "### sppf ✗†" in text and "### vgg\n" in text
    assert "✗ did not pass" in text and "† threshold changed since this run" in text


def test_seed_gated_groups_are_named_with_their_rule_and_marked(tmp_path):
    gate = {"metric": "acc_all_heads", "bar": 0.9, "need": 2, "of": 3}
    records = []
    for case in sbh.grid(sbh.WRITEUP001_DIGITS)[:2]:
        for seed, acc in enumerate((0.97, 0.35, 0.34) if case.structure == "arch1" else (0.97, 0.96, 0.35)):
            record = fake_record(case, acc=acc, seconds=1.0, seed=seed)
            record.thresholds, record.seed_gate = {}, {**gate, "converged": acc >= 0.9}
            records.append(record)
    write_records(tmp_path / "results", records)
    assert render(tmp_path / "results", tmp_path / "out") == 0
    text = (tmp_path / "out" / "sbh.md").read_text()
    assert "**Seed-gated groups** (marked ≈)" in text
    row = next(line for line in text.splitlines() if line.startswith("| writeup001/resnet18"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    rule = "at least 2 of seeds 0-2 reach acc_all_heads >= 0.90"
    assert cells == ["writeup001/resnet18", rule, "2", "3 of 6", "2", "1"]
    assert "d012-arch1-resnet18 ≈" in text and "seed-gated (unstable group)" in text


def test_blocks_times_are_compared_only_on_one_machine(blocks_records, tmp_path):
    """The transformer's one record ran on another machine (another fingerprint: another CPU or
    thread count): its seconds stay out of the resources table; the time verdict and the
    accuracy/time plot read only the side-by-side record, whatever the training records say."""
    for path in (blocks_records / "blocks").glob("*-seed0.json"):
        record = json.loads(path.read_text())
        if record["case_id"] == "heatmaps":
            continue
        elsewhere = record["case_id"] == "transformer"
        record["environment"]["fingerprint"] = "b" * 16 if elsewhere else "a" * 16
        record["environment"]["torch_threads"] = 1 if elsewhere else 2
        record["metrics"]["s_per_epoch"] = 99.0 if elsewhere else 5.0
        record["metrics"]["s_per_epoch"] += 1.0 if record["case_id"] == "sppf" else 0.0
        record["metrics"]["inference_s"] = 0.001 if elsewhere else 1.0
        path.write_text(json.dumps(record))
    render(blocks_records, tmp_path / "out")
    text = (tmp_path / "out" / "blocks.md").read_text()
    assert f"only over the seeds timed on one machine (Test CPU, 2 torch thread(s), machine {'a' * 16})" in text
    assert "**sppf** is the slowest" not in text, "no verdict from per-epoch seconds of separate processes"
    assert "slowest: **transformer**; **sppf** is faster than **transformer**" in text
    resources_row = (line for line in text.splitlines() if line.startswith("| transformer") and line.count("|") > 12)
    row = next(resources_row)
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[5:8] == ["—", "—", "—"] and cells[-3:-1] == ["0", "1"], "its times left out, its seed counted"
    front = next(line for line in text.splitlines() if line.startswith("both a higher mean accuracy"))
    assert "transformer" not in front, "its 1 ms from another machine must not put it on the front"


def test_records_from_before_a_group_was_seed_gated_are_read_under_the_rule_in_force(tmp_path):
    """Shipped records of lr 3.5e-3 asserted the 0.5 floor; the group is seed-gated now."""
    cases = [c for c in sbh.experiment_cases("lr") if c.backbone == "resnet18" and c.lr == 3.5e-3]
    records = []
    for case in cases:
        collapsed = case.structure == "arch4-1"
        record = fake_record(
            case, acc=0.35 if collapsed else 0.95, seconds=1.0, status="failed" if collapsed else "passed"
        )
        record.thresholds = {"acc_all_heads": 0.5}
        records.append(record)
    write_records(tmp_path / "results", records)
    render(tmp_path / "results", tmp_path / "out")
    text = (tmp_path / "out" / "sbh.md").read_text()
    gate = sbh.PROFILES["smoke"].seed_gates["lr/lr3.5e-3/resnet18"]
    assert f"| lr/lr3.5e-3/resnet18 | {gate.describe()} |" in text.replace("  ", " ").replace("  ", " ")
    assert "d689-n4000-lr3.5e-3-arch4-1-resnet18 ✗†≈" in text


def test_a_mean_near_the_writeup_with_a_seed_far_from_it_names_the_seeds():
    comparable = {"comparable": True, "budget_words": ""}
    assert versus.verdict(0.96, pd.Series([0.965, 0.958, 0.961]), **comparable) == "agree (within 0.01)"
    assert (
        versus.verdict(0.9602, pd.Series([0.9703, 0.9709, 0.9285]), **comparable)
        == "agree on the mean (within 0.01); our seeds 0.9285 to 0.9709"
    )
    assert versus.verdict(0.99, pd.Series([0.97]), **comparable) == "differs by -0.0200 (one seed)"


def test_a_sweep_value_half_way_through_its_seeds_is_averaged_over_complete_seeds_only(writeup000_records, tmp_path):
    """Seed 1 of four structures at one size (a calibration stopped half way): averaging it in
    would compare four structures over two seeds with one over one seed, so it stays out."""
    size = [c for c in sbh.experiment_cases("size") if c.backbone == "resnet18" and c.structure != "arch4-2"]
    value = size[0].train_size
    write_records(
        writeup000_records, [fake_record(c, acc=0.1, seconds=1.0, seed=1) for c in size if c.train_size == value]
    )
    render(writeup000_records, tmp_path / "out")
    section = (tmp_path / "out" / "sbh.md").read_text().split("### 5-2.")[1].split("### 5-3.")[0]
    assert "seeds 0, 1" not in section and "1 seed(s)" in section
    assert "0.1000" not in section


def test_sbh_times_compare_records_of_one_machine_only(tmp_path):
    """Seeds 1-2 of one backbone ran on a host ten times faster: their accuracies count, their
    times are left out, and the page says which machine's times it shows."""
    from reports.load import collect
    from reports.sbh.tables import cases_frame, one_machine_times

    grid = sbh.grid(sbh.WRITEUP001_DIGITS)
    records = [fake_record(c, acc=0.97, seconds=2.0, seed=0) for c in grid]
    for seed in (1, 2):
        for c in grid:
            record = fake_record(c, acc=0.98, seconds=0.2 if c.backbone == "resnet34" else 2.0, seed=seed)
            if c.backbone == "resnet34":
                record.environment["fingerprint"] = "another-machine"
            records.append(record)
    write_records(tmp_path, records)
    df, notes = one_machine_times(cases_frame(collect([tmp_path]).study("sbh")))
    faster = df["environment.fingerprint"] == "another-machine"
    assert faster.sum() == 10 and df.loc[faster, "inference_s"].isna().all()
    assert df.loc[faster, "acc_all_heads"].notna().all() and df.loc[~faster, "inference_s"].notna().all()
    assert len(notes) == 1 and "left out: another-machine (10)" in notes[0]
    assert main(["render", str(tmp_path), "--out", str(tmp_path / "report")]) == 0
    assert "Times compare one machine" in (tmp_path / "report" / "sbh.md").read_text()
