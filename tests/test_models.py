import subprocess
import sys
import urllib.error
from pathlib import Path

import pytest
import torch
import torchvision

import models
from harness.errors import BenchError, DataUnavailable
from models import backbones
from models._registry import register_model
from studies import sbh
from studies.sbh import STRUCTURES


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name", models.list_models(family="backbone"))
def test_backbone_keeps_the_imagenet_fc_and_takes_one_channel(name):
    """The write-ups' authors kept torchvision's 1000-way fc: its output is the feature."""
    backbone = models.create(name)
    assert backbone.num_features == 1000 and backbone.net.fc.out_features == 1000
    assert backbone.net.conv1.in_channels == 1
    assert backbone(torch.zeros(2, 1, 28, 28)).shape == (2, 1000)
    assert backbone.weights == "none"


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


def test_heads_are_single_linear_layers_on_the_1000d_outputs():
    """The authors' heads (seeds/reference/README.md): Linear(2000,3), Linear(1000,3),
    2 x Linear(1000,2), 2 x Linear(2000,2), and one Linear(1000,2) per backbone."""
    one = n_params(models.create("resnet18"))
    linear = lambda inp, k: inp * k + k  # noqa: E731
    assert n_params(models.create("arch1")) == 2 * one + linear(2000, 3)
    assert n_params(models.create("arch2")) == one + linear(1000, 3)
    assert n_params(models.create("arch3")) == one + 2 * linear(1000, 2)
    assert n_params(models.create("arch4-1")) == 2 * one + 2 * linear(2000, 2)
    assert n_params(models.create("arch4-2")) == 2 * (one + linear(1000, 2))
    heads = [m for name, m in models.create("arch4-1").named_children() if name.startswith("head")]
    assert all(isinstance(h, torch.nn.Linear) for h in heads) and len(heads) == 2


def test_weights_from_a_state_dict_file_and_folder(tmp_path):
    """--weights PATH: a torchvision state dict (3-channel conv1, as ImageNet files have) is
    loaded, then conv1 is replaced by a fresh 1-channel conv, as the authors did."""
    torch.manual_seed(1)
    source = torchvision.models.resnet18(weights=None)
    torch.save(source.state_dict(), tmp_path / "resnet18.pth")
    for given in (tmp_path / "resnet18.pth", tmp_path):
        backbone = models.create("resnet18", weights=str(given))
        assert backbone.weights == str(tmp_path / "resnet18.pth")
        assert torch.equal(backbone.net.layer4[1].conv2.weight, source.layer4[1].conv2.weight)
        assert torch.equal(backbone.net.fc.weight, source.fc.weight)
        assert backbone.net.conv1.weight.shape == (64, 1, 7, 7)
    model = models.create("arch4-2", weights=str(tmp_path))
    assert torch.equal(model.backbone_b.net.fc.bias, source.fc.bias)


def test_weights_that_do_not_fit_or_are_missing_say_so_in_one_line(tmp_path):
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / "r18.pth")
    with pytest.raises(BenchError, match=r"does not fit torchvision's resnet34 \(Error\(s\) in loading"):
        models.create("resnet34", weights=str(tmp_path / "r18.pth"))
    with pytest.raises(BenchError, match=r"no state dict for resnet50 \(expected .*resnet50.pth\)"):
        models.create("resnet50", weights=str(tmp_path))
    (tmp_path / "junk.pth").write_text("not a tensor file")
    with pytest.raises(BenchError, match="not a readable state dict"):
        models.create("resnet18", weights=str(tmp_path / "junk.pth"))


def test_imagenet_weights_offline_without_cache_skip_with_the_file_to_place(tmp_path, monkeypatch):
    """No cache and no network: a DataUnavailable (the case skips) naming the file and where it goes."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network here")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", offline)
    with pytest.raises(DataUnavailable) as caught:
        models.create("resnet18", weights="imagenet")
    message = str(caught.value)
    assert "\n" not in message and "resnet18-f37072fd.pth" in message
    assert str(tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth") in message


def test_imagenet_weights_come_from_the_torch_cache(tmp_path, monkeypatch):
    """A pre-filled $TORCH_HOME (what an offline runner gets) is used without the network."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    torch.manual_seed(2)
    source = torchvision.models.resnet18(weights=None)
    target = backbones.imagenet_file("resnet18")
    target.parent.mkdir(parents=True)
    torch.save(source.state_dict(), target)
    backbone = models.create("resnet18", weights="imagenet")
    assert backbone.weights == "imagenet"
    assert torch.equal(backbone.net.layer1[0].conv1.weight, source.layer1[0].conv1.weight)


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


def test_every_catalogued_name_is_registered_and_nothing_else_can_be():
    from models import _registry, catalogue

    models.describe("arch2")  # loads the model files
    assert sorted(_registry._BUILDERS) == sorted(catalogue.names())
    with pytest.raises(ValueError, match=r"not in family 'backbone' of models/catalogue\.py"):
        _registry.register_model("resnet101", family="backbone")(lambda: None)


def test_listing_names_imports_no_torch():
    code = "import sys, models; models.list_models(); from studies import STUDIES; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])


def test_a_backbone_without_calibrated_bars_is_named_in_the_header(pytester_header):
    assert sbh.uncalibrated("smoke") == [] and sbh.uncalibrated("writeup") == []
    assert sbh.uncalibrated("full") == list(sbh.BACKBONES)
    assert "UNCALIBRATED under profile full: sbh resnet18, resnet34, resnet50" in pytester_header("full")
    assert "UNCALIBRATED" not in pytester_header("smoke")


@pytest.fixture
def pytester_header():
    root = Path(__file__).resolve().parents[1]

    def header(profile: str) -> str:
        command = [
            sys.executable,
            "-m",
            "pytest",
            "benchmarks",
            "--collect-only",
            "--profile",
            profile,
            "-p",
            "no:cacheprovider",
        ]
        return subprocess.run(command, cwd=root, capture_output=True, text=True, check=False).stdout

    return header
