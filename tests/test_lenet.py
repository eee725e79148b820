import pytest
import torch

import models
from models.lenet import C3_TABLE


@pytest.mark.parametrize("name", models.list_models(family="lenet"))
def test_lenet_shapes(name):
    model = models.create(name, num_classes=47)
    assert model(torch.randn(3, 1, 32, 32)).shape == (3, 47)


def test_c3_follows_the_connection_table():
    """A C3 map must not react to S2 maps outside its row of the table."""
    model = models.create("lenet5-old")
    assert [len(t) for t in C3_TABLE] == [3] * 6 + [4] * 9 + [6]
    x = torch.randn(1, 6, 14, 14, requires_grad=True)
    for out, inputs in enumerate(C3_TABLE):
        (grad,) = torch.autograd.grad(model.c3(x)[0, out].sum(), x)
        reads = {i for i in range(6) if grad[0, i].abs().sum() > 0}
        assert reads == set(inputs), out
    # The paper's C3: 60 map-to-map connections of 5x5 weights (1,500) plus 16 biases = 1,516 parameters.
    assert model.c3.weight.mul(model.c3.mask).ne(0).sum().item() == 60 * 25


def test_rbf_output_is_nearest_prototype():
    model = models.create("lenet5-old", num_classes=5)
    codes = model.output.prototypes
    logits = model.output(codes[[3, 1]])
    assert logits.argmax(1).tolist() == [3, 1]
    assert "prototypes" in dict(model.output.named_buffers()), "fixed codes, not parameters the optimizer moves"


def _one_step(model: torch.nn.Module) -> dict:
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = torch.nn.functional.cross_entropy(model(torch.randn(4, 1, 32, 32)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    optimizer.step()
    return {k: not torch.equal(before[k], v) for k, v in model.named_parameters()}


def test_subsampling_and_not_the_rbf_codes_learn():
    model = models.create("lenet5-old", num_classes=5)
    codes = model.output.prototypes.clone()
    moved = _one_step(model)
    assert moved["s2.weight"] and moved["s2.bias"] and moved["s4.weight"], "trainable subsampling moves in a step"
    assert torch.equal(model.output.prototypes, codes)
