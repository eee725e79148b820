"""Study ``speed``: round-robin timing, and the costs write-up 003's resources remark is checked on."""

import torch

import models
from harness.flops import model_stats
from harness.memory import training_step_peak
from harness.settings import Budget
from harness.sidebyside import round_robin
from harness.train import ClassificationTask
from models.blocks import author_attention_path
from studies import speed

TOKENS, WIDTH, LAYERS = 28 * 28, 8, 2


def test_round_robin_times_every_step_once_per_round_in_a_fresh_order():
    calls = []
    steps = {name: (lambda name=name: calls.append(name)) for name in "abcd"}
    times, orders = round_robin(steps, rounds=6, warmup_rounds=1, device=torch.device("cpu"), seed=0)
    assert {n: len(t) for n, t in times.items()} == dict.fromkeys("abcd", 6)
    assert all(sorted(order) == list("abcd") for order in orders) and len(calls) == 4 * 7
    assert len({tuple(o) for o in orders}) > 1, "the order changes from round to round"
    assert orders == round_robin(steps, rounds=6, warmup_rounds=0, device=torch.device("cpu"), seed=0)[1], "seeded"


def test_the_transformer_flops_include_its_attention_products():
    """2 layers x (scores q.k and their weighted sum of v) x 784^2 tokens x width 8 multiply-adds per image."""
    attention = LAYERS * 2 * TOKENS**2 * WIDTH * 2  # FLOPs: 2 per multiply-add
    x = torch.zeros(2, 1, 28, 28)
    for model in (models.create("transformer"), author_attention_path(models.create("transformer"))):
        assert model_stats(model, x)["flops_per_image"] >= attention
    assert model_stats(models.create("vgg"), x)["flops_per_image"] < attention / 10


def test_the_authors_attention_path_holds_the_attention_map():
    """need_weights builds the head-averaged 784x784 map of each layer and keeps it for backward."""
    x, y = torch.zeros(4, 1, 28, 28), torch.zeros(4, dtype=torch.long)
    budget = Budget(epochs=1, batch_size=4, lr=1e-3)
    fast = training_step_peak(models.create("transformer"), x, y, ClassificationTask, budget)["peak_memory_bytes"]
    author = author_attention_path(models.create("transformer"))
    held = training_step_peak(author, x, y, ClassificationTask, budget)["peak_memory_bytes"]
    maps = LAYERS * len(x) * TOKENS**2 * 4  # one fp32 map per layer and image
    assert 0.95 * maps <= held - fast <= 1.5 * maps


def test_every_compared_network_is_in_a_group():
    networks = {n.name for case in speed.CASES for n in case.networks}
    assert len(networks) == 15 + 5 and all(case.networks for case in speed.CASES)
    assert speed.WRITEUP003.phases == (speed.TRAIN_STEP, speed.INFERENCE)
