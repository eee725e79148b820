"""Input preparation on whole batches: padding, resizing, normalising and the shift augmentation."""

import torch

from harness.train import DeviceData, InputPrep

CPU = torch.device("cpu")


def data(prep, n=8, side=28):
    images = torch.zeros(n, side, side, dtype=torch.uint8)
    images[:, 10:18, 12:16] = 255  # a bar away from the border
    return DeviceData(images, torch.arange(n), prep)


def test_pad_keeps_pixels_and_adds_a_zero_border():
    x, _ = data(InputPrep(pad=2, mean=0.0, std=1.0)).batch(torch.arange(8), CPU)
    assert x.shape == (8, 1, 32, 32)
    assert x[:, :, :2].abs().sum() == 0 and x[:, 0, 12:20, 14:18].min() == 1.0


def test_resize_rescales_to_the_requested_side_and_normalises():
    x, _ = data(InputPrep(resize=32, mean=0.5, std=0.25)).batch(torch.arange(8), CPU)
    assert x.shape == (8, 1, 32, 32)
    assert torch.isclose(x.min(), torch.tensor(-2.0)) and x.max() <= 2.0 + 1e-6


def test_shift_moves_each_image_without_losing_the_stroke_and_only_in_training():
    d = data(InputPrep(shift=2, mean=0.0, std=1.0), n=64)
    torch.manual_seed(0)
    shifted, _ = d.batch(torch.arange(64), CPU, train=True)
    plain, _ = d.batch(torch.arange(64), CPU)
    assert torch.equal(plain, d.batch(torch.arange(64), CPU)[0]), "evaluation batches are never augmented"
    assert torch.allclose(shifted.sum(dim=(1, 2, 3)), plain.sum(dim=(1, 2, 3))), "the bar stays whole inside the frame"
    moved = [(shifted[i] != plain[i]).any().item() for i in range(64)]
    assert 40 < sum(moved) < 64, "most images move, a few draw (0, 0)"
    for i in range(64):  # each one is a pure translation of the original by at most 2 px
        rows, cols = shifted[i, 0].nonzero(as_tuple=True)
        assert 8 <= rows.min() <= 12 and 10 <= cols.min() <= 14 and rows.max() - rows.min() == 7


def test_shift_is_seeded():
    d = data(InputPrep(shift=3), n=16)
    torch.manual_seed(1)
    first = d.batch(torch.arange(16), CPU, train=True)[0]
    torch.manual_seed(1)
    assert torch.equal(first, d.batch(torch.arange(16), CPU, train=True)[0])
