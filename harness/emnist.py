"""EMNIST Balanced (47 classes) through ``torchvision.datasets.EMNIST``, for study ``emnist``.

No offline copy exists: when ``<root>/EMNIST/raw`` lacks the four ``emnist-balanced-*`` IDX
files and torchvision's download fails, loading raises ``DataUnavailable`` and the study's
cases skip with that one line. EMNIST stores every image transposed; ``load_emnist``
returns them upright.
"""

from __future__ import annotations

from pathlib import Path

import torch

from harness.errors import DataError, DataUnavailable
from harness.idx import read_idx
from harness.mnist import try_quietly

SPLIT = "balanced"
NUM_CLASSES = 47
TRAIN_IMAGES, VALID_IMAGES = 94_000, 18_800  # seeded split of the 112,800 training images
FILES = {
    f"emnist-{SPLIT}-{part}-{kind}-ubyte": ndim
    for part in ("train", "test")
    for kind, ndim in (("images-idx3", 3), ("labels-idx1", 1))
}


def raw_dir(root: Path) -> Path:
    return Path(root) / "EMNIST" / "raw"


def _missing(root: Path) -> list[str]:
    return [name for name in FILES if not (raw_dir(root) / name).is_file()]


def require_emnist(root: Path) -> Path:
    """Make sure the EMNIST Balanced files are present and well-formed; return the root."""
    if _missing(root):
        _torchvision_download(root)
    missing = _missing(root)
    if missing:
        raise DataUnavailable(
            f"EMNIST Balanced is not in {raw_dir(root)} (missing {', '.join(missing)}) and could not be downloaded; "
            f"on a machine with internet run torchvision.datasets.EMNIST('{root}', split='{SPLIT}', download=True), "
            f"or place the four emnist-{SPLIT}-* IDX files there"
        )
    counts = {}
    for name, ndim in FILES.items():
        counts[name] = len(
            read_idx(raw_dir(root) / name, ndim=ndim, fix=f"delete {raw_dir(root) / name} and download EMNIST again")
        )
    for part in ("train", "test"):
        images, labels = (f"emnist-{SPLIT}-{part}-{kind}-ubyte" for kind in ("images-idx3", "labels-idx1"))
        if counts[images] != counts[labels]:
            raise DataError(
                f"{raw_dir(root) / images} has {counts[images]} images but {labels} has {counts[labels]} "
                "labels; download EMNIST again"
            )
    return Path(root)


def _torchvision_download(root: Path) -> None:
    import torchvision

    try_quietly(lambda: torchvision.datasets.EMNIST(str(root), split=SPLIT, train=True, download=True))


def load_emnist(root: Path, *, train: bool) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Whole split as (upright uint8 images [N, 28, 28], int64 labels [N], class names)."""
    import torchvision

    ds = torchvision.datasets.EMNIST(str(root), split=SPLIT, train=train, download=False)
    return ds.data.transpose(1, 2).contiguous(), ds.targets, list(ds.classes)


def train_valid_split(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded indices: 94,000 / 18,800 of the 112,800 training images (the same 5:1 for other sizes)."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    valid = VALID_IMAGES if n == TRAIN_IMAGES + VALID_IMAGES else n // 6
    return order[valid:].sort().values, order[:valid].sort().values
