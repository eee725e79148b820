"""EMNIST loading on small IDX files written here in the exact EMNIST layout (images transposed)."""

import numpy as np
import pytest
import torch

from fakes import write_emnist
from harness import emnist
from harness.errors import DataError, DataUnavailable
from harness.idx import encode_idx


def test_images_come_back_upright_with_labels_and_class_names(tmp_path):
    upright = write_emnist(tmp_path)
    emnist.require_emnist(tmp_path)
    images, labels, classes = emnist.load_emnist(tmp_path, train=True)
    assert torch.equal(images, torch.from_numpy(upright["train"]))
    assert images[0, 2, 5:20].eq(255).all() and images[0, 5:20, 2].eq(0).all()
    assert labels.tolist() == list(range(12))
    assert len(classes) == emnist.NUM_CLASSES and classes[:3] == ["0", "1", "2"]


def test_absent_data_is_a_one_line_skip_reason_with_the_way_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(emnist, "_torchvision_download", lambda root: None)
    with pytest.raises(DataUnavailable) as info:
        emnist.require_emnist(tmp_path)
    message = str(info.value)
    assert "\n" not in message and "download=True" in message and str(emnist.raw_dir(tmp_path)) in message


def test_corrupt_and_mismatched_files_are_named(tmp_path):
    write_emnist(tmp_path)
    path = emnist.raw_dir(tmp_path) / "emnist-balanced-test-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DataError, match="test-images-idx3-ubyte is truncated"):
        emnist.require_emnist(tmp_path)
    path.write_bytes(encode_idx(np.zeros((5, 28, 28), np.uint8)))
    with pytest.raises(DataError, match="has 5 images but emnist-balanced-test-labels-idx1-ubyte has 6 labels"):
        emnist.require_emnist(tmp_path)


def test_train_valid_split_is_seeded_and_disjoint():
    train, valid = emnist.train_valid_split(112_800, seed=0)
    assert (len(train), len(valid)) == (94_000, 18_800)
    assert len(set(train.tolist()) | set(valid.tolist())) == 112_800
    again, _ = emnist.train_valid_split(112_800, seed=0)
    other, _ = emnist.train_valid_split(112_800, seed=1)
    assert torch.equal(train, again) and not torch.equal(train, other)
    small_train, small_valid = emnist.train_valid_split(12, seed=0)
    assert (len(small_train), len(small_valid)) == (10, 2)
