"""Study ``emnist``: the ladder's one-change-per-step rule, the skip without data, and the whole
pipeline (cases, records, report) on a small IDX fixture standing in for EMNIST."""

import itertools
import re
from pathlib import Path

import pytest
import torch

import models
from fakes import write_emnist
from reports.__main__ import main as report_main
from studies import emnist

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parent.parent


def test_each_ladder_step_changes_one_thing():
    steps = [c.params() for c in emnist.LADDER]
    assert [c.id for c in emnist.LADDER] == [
        "resnet50-b256",
        "resnet50-b2048",
        "resnet50-plateau",
        "resnet50-leaky",
        "resnet50-dropout",
        "resnet50-augment",
        "resnet50-pad",
    ]
    for before, after in itertools.pairwise(steps):
        changed = {k for k in before if before[k] != after[k]} - {"change"}
        assert 1 <= len(changed) <= 2, (
            after["change"],
            changed,
        )  # lr and plateau move together; build holds the model options
    assert steps[-1]["input"] == "zero-pad 28->32" and steps[-2]["input"] == "resize 28->32"
    assert set(emnist.writeup_results()) == {c.id for c in [*emnist.LENET, *emnist.LADDER]}


@pytest.mark.parametrize(
    "name", ["resnet50-cls", "vgg16-bn", "mobilenet-v2", "shufflenet-v2", "lenet5-old", "lenet5-new"]
)
def test_every_emnist_model_reads_one_channel_32x32_and_gives_47_logits(name):
    model = models.create(name, num_classes=47).eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 47)


def run(pytester, *args):
    config = ["--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"), "-p", "no:cacheprovider"]
    return pytester.runpytest_subprocess(*config, str(ROOT / "benchmarks"), "-m", "emnist", *args)


def test_without_data_every_case_skips_with_the_reason_and_the_report_says_not_run(pytester, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    result = run(
        pytester,
        "--data-root",
        str(tmp_path / "empty"),
        "--results-dir",
        str(tmp_path / "results"),
        "-rs",
        "-k",
        "data or lenet5-new",
    )
    result.assert_outcomes(skipped=2)  # the data case and the one case selected
    result.stdout.fnmatch_lines(["*EMNIST Balanced is not in*download=True*"])
    assert report_main(["render", str(tmp_path / "results"), "--out", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "emnist.md").read_text()
    assert "**Not run**: not run: EMNIST Balanced is not in" in text


@pytest.mark.slow
def test_the_whole_pipeline_runs_on_the_fixture(pytester, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    write_emnist(tmp_path / "data", n_train=47 * 8, n_test=94)
    result = run(
        pytester, "--emnist-tiny", "--data-root", str(tmp_path / "data"), "--results-dir", str(tmp_path / "results")
    )
    result.assert_outcomes(passed=1 + len(emnist.cases()))
    predictions = sorted(p.name for p in (tmp_path / "results" / "emnist" / "predictions").iterdir())
    assert len(predictions) == len(emnist.cases())
    assert report_main(["render", str(tmp_path / "results"), "--out", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "emnist.md").read_text()
    assert re.search(r"\| train\s+\|\s+314 \|", text) and re.search(r"\| valid\s+\|\s+62 \|", text)
    assert re.search(r"\| resnet50-b2048\s+\| batch 2048\s+\|\s+0\.76 ", text), "the write-up's number beside ours"
    assert "**Selection score from our measurements**" in text and "Chosen: **" in text
    assert "not comparable (different budget: smoke profile)" in text, "a verdict beside each write-up number"
    assert "## Write-up 004's selection score, recomputed" in text
    assert "McNemar's exact test on" in text and "Confusion matrix of the chosen model" in text
    for png in [
        "emnist_class_counts",
        "emnist_samples",
        "emnist_lenet_curves",
        "emnist_ladder_curves",
        "emnist_confusion",
    ]:
        assert (tmp_path / "out" / "figures" / f"{png}.png").is_file(), png


def test_the_study_names_the_files_the_loader_reads():
    from harness import emnist as loader

    assert set(emnist.DATA_FILES) == set(loader.FILES)
    assert emnist.SPLIT_SIZES == {"train": loader.TRAIN_IMAGES, "valid": loader.VALID_IMAGES, "test": 18_800}
