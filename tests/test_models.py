import pytest
import torch

import models
from models._registry import register_model
from studies.sbh import STRUCTURES

BACKBONE_PARAMS = {"resnet18": 512, "resnet34": 512, "resnet50": 2048}


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name", models.list_models(family="backbone"))
def test_backbone_is_one_channel_feature_extractor(name):
    backbone = models.create(name)
    assert backbone.num_features == BACKBONE_PARAMS[name]
    assert backbone(torch.zeros(2, 1, 28, 28)).shape == (2, BACKBONE_PARAMS[name])


@pytest.mark.parametrize("name", models.list_models(family="sbh"))
def test_structure_heads_and_shapes(name):
    model = models.create(name, backbone="resnet18").eval()
    out = model(torch.zeros(3, 1, 28, 28))
    assert tuple(out) == STRUCTURES[name].heads
    widths = {head: logits.shape for head, logits in out.items()}
    expected = {"abc": (3, 3)} if STRUCTURES[name].shared_head else {"a": (3, 2), "b": (3, 2)}
    assert widths == expected


@pytest.mark.parametrize("name", models.list_models(family="sbh"))
def test_structure_shares_what_the_study_says(name):
    """The study's table of structures (write-up 001's figure 1) against the built network:
    one backbone module when shared, two otherwise; one 3-class head when shared."""
    model = models.create(name, backbone="resnet18")
    backbones = {id(m) for m in model.modules() if type(m).__name__ == type(models.create("resnet18")).__name__}
    assert len(backbones) == (1 if STRUCTURES[name].shared_backbone else 2)
    assert (STRUCTURES[name].heads == ("abc",)) == STRUCTURES[name].shared_head


def test_parameter_sharing_counts():
    one_backbone = n_params(models.create("resnet18"))
    hidden, feat = 256, 512
    mlp = lambda inp: inp * hidden + hidden  # noqa: E731
    out = lambda k: hidden * k + k  # noqa: E731
    assert n_params(models.create("arch2")) == one_backbone + mlp(feat) + out(3)
    assert n_params(models.create("arch1")) == 2 * one_backbone + mlp(2 * feat) + out(3)
    assert n_params(models.create("arch3")) == one_backbone + 2 * (mlp(feat) + out(2))
    assert n_params(models.create("arch4-1")) == 2 * one_backbone + mlp(2 * feat) + 2 * out(2)
    assert n_params(models.create("arch4-2")) == 2 * (one_backbone + mlp(feat) + out(2))


def test_split_backbones_are_distinct_modules():
    model = models.create("arch4-2")
    assert model.backbone_a is not model.backbone_b
    a = dict(model.backbone_a.named_parameters())
    assert all(p is not a[n] for n, p in model.backbone_b.named_parameters())


def test_arch3_heads_see_the_same_features():
    model = models.create("arch3").eval()
    x = torch.randn(2, 1, 28, 28)
    features = model.backbone(x)
    with torch.no_grad():
        assert torch.equal(model(x)["a"], model.head_a(features))


def test_unknown_names_list_valid_choices():
    with pytest.raises(ValueError, match=r"unknown model 'arch9'; valid names: .*arch4-1"):
        models.create("arch9")
    with pytest.raises(ValueError, match="unknown backbone 'vgg'; valid names: resnet18, resnet34, resnet50"):
        models.create("arch1", backbone="vgg")
    with pytest.raises(ValueError, match="unknown sbh 'resnet18'"):
        models.create("resnet18", family="sbh")


def test_registry_refuses_a_taken_name():
    with pytest.raises(ValueError, match="already registered"):
        register_model("resnet18", family="backbone")(lambda: None)


def test_list_models_glob():
    assert models.list_models("arch4*") == ["arch4-1", "arch4-2"]
