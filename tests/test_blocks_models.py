import pytest
import torch

import models
from harness.memory import training_step_peak
from harness.settings import Budget
from harness.train import ClassificationTask
from models.blocks import SPPF, Bottleneck, BottleneckCSP, TransformerBlock, vgg_block
from studies import blocks

BUDGET = Budget(epochs=1, batch_size=8, lr=1e-3)


class _ConvDepth(torch.overrides.TorchFunctionMode):
    """Tags every tensor with the number of convolutions on the deepest chain that produced it."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        inputs = list(_tensors((args, list(kwargs.values()))))
        depth = max((getattr(t, "_conv_depth", 0) for t in inputs), default=0) + (func is torch.conv2d)
        for t in _tensors(out):
            t._conv_depth = depth
        return out


def _tensors(obj):
    if torch.is_tensor(obj):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from _tensors(item)


def convs_on_longest_path(model: torch.nn.Module, x: torch.Tensor) -> int:
    with torch.no_grad(), _ConvDepth():
        return model(x)._conv_depth


@pytest.mark.parametrize("name", [*models.list_models(family="blocks"), blocks.REFERENCE])
def test_network_shape_and_conv_depth(name):
    model = models.create(name).eval()
    x = torch.randn(2, 1, 28, 28)
    assert model(x).shape == (2, 10)
    assert convs_on_longest_path(model, x) == model.conv_depth


@pytest.mark.parametrize("name", [*models.list_models(family="blocks"), blocks.REFERENCE])
def test_parameter_count_is_the_authors(name):
    """Each network has exactly the parameter count of the author's build (seeds/reference/003/README.md)."""
    assert sum(p.numel() for p in models.create(name).parameters()) == blocks.WRITEUP_PARAMS[name]


def test_every_block_has_the_writeup_batch_size_and_numbers():
    assert list(blocks.NETWORKS) == models.list_models(family="blocks")
    assert set(blocks.WRITEUP_BATCH) == {*models.list_models(family="blocks"), blocks.REFERENCE}
    assert set(blocks.writeup_results()) == set(models.list_models(family="blocks"))
    assert blocks.writeup_results()["vgg"]["test_acc"] == 0.9912  # write-up 003's summary table


def test_bottleneck_adds_only_when_widths_match():
    assert Bottleneck(16, 16).add and not Bottleneck(16, 32).add
    assert Bottleneck(8, 16).cv1.conv.kernel_size == (3, 3), "the author's first bottleneck conv is 3x3"


def test_blocks_keep_or_set_the_shape():
    x = torch.randn(2, 8, 28, 28)
    assert vgg_block(8, 16)(x).shape == (2, 16, 14, 14)
    assert BottleneckCSP(8, 16)(x).shape == (2, 16, 28, 28)
    assert SPPF(8, 16)(x).shape == (2, 16, 28, 28)
    assert TransformerBlock(8, 8, 1, 2)(x).shape == (2, 8, 28, 28)


def test_transformer_position_term_is_learned():
    """YOLOv5's position term is a Linear of the tokens themselves, and the loss reaches it."""
    block = TransformerBlock(1, 8, 1, 2)
    block(torch.randn(2, 1, 28, 28)).square().sum().backward()
    assert block.position.weight.grad is not None and block.position.weight.grad.abs().sum() > 0


def test_cpu_peak_memory_grows_with_batch_and_leaves_weights_alone():
    model = models.create("csp")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    small = training_step_peak(model, torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,)), ClassificationTask, BUDGET)
    large = training_step_peak(
        model, torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,)), ClassificationTask, BUDGET
    )
    assert large["peak_memory_bytes"] > small["peak_memory_bytes"] > 4 * 4 * sum(p.numel() for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
