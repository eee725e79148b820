"""The ``writeup`` profile of the blocks study on a small subset, so its path cannot rot:
the author's loss (cross-entropy on softmax outputs), per-epoch records, and write-up 003's
heatmap method on the trained VGG and exp3 networks."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from fakes import run_training
from harness.runner import check_passed, run
from studies import blocks
from studies.blocks.plan import heatmaps_job, plan

pytestmark = pytest.mark.slow


@pytest.fixture
def writeup_context(run_context, mnist_root, tmp_path, monkeypatch):
    tiny = replace(blocks.PROFILES["writeup"], train_images=400, epochs=2, thresholds={})
    monkeypatch.setitem(blocks.PROFILES, "writeup", tiny)
    return replace(
        run_context, profile="writeup", device=torch.device("cpu"), results_dir=tmp_path, _cache=run_context._cache
    )


def test_writeup_profile_trains_with_the_authors_loss_and_keeps_every_epoch(writeup_context):
    record = run_training(plan(blocks.BlocksCase("vgg"), writeup_context), writeup_context)
    check_passed(record)
    assert record.params["loss"] == "cross-entropy on softmax outputs"
    # Cross-entropy of probabilities cannot fall below log(e + 9) - 1 for 10 classes.
    floor = float(np.log(np.e + 9) - 1)
    assert floor < record.metrics["test_loss"] < np.log(10) and floor < record.metrics["train_loss"]
    assert [c["epoch"] for c in record.curves] == [1, 2]
    assert record.budget["batch_size"] == blocks.WRITEUP_BATCH["vgg"] and record.budget["train_images"] == 400


def test_writeup_heatmaps_sum_positive_attributions_over_the_batch(writeup_context, monkeypatch):
    # Networks trained on 400 images are not what the completeness bar was calibrated on.
    monkeypatch.setattr("studies.blocks.plan.IG_MAX_RELATIVE_DELTA", 1.0)
    for network in ("vgg", blocks.REFERENCE):
        check_passed(run_training(plan(blocks.BlocksCase(network), writeup_context), writeup_context))
    record = run(heatmaps_job(writeup_context), writeup_context)
    check_passed(record)
    assert record.params["writeup_method"]["networks"] == ["vgg", "exp3"]
    arrays = np.load(writeup_context.results_dir / "blocks" / record.artifacts["attributions"])
    for network in ("vgg", "exp3"):
        heat = arrays[f"writeup_attr_{network}"]
        assert heat.shape == (28, 28) and heat.min() >= 0 and heat.sum() > 0, "positive parts, summed over 200 images"
    assert arrays["writeup_mean_image"].shape == (28, 28)
