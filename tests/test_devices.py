"""One box, many GPUs: ``pytest -n N`` gives each xdist worker its own GPU under ``--device auto``."""

import pytest
import torch

from harness.errors import BenchError
from harness.runtime import resolve_device, worker_gpu


@pytest.mark.parametrize(
    ("worker", "count", "expected"),
    [
        (None, 8, "cuda"),  # no xdist: the current device, as before
        ("gw0", 8, "cuda:0"),
        ("gw7", 8, "cuda:7"),
        ("gw9", 8, "cuda:1"),  # more workers than GPUs: they share round-robin
        ("gw3", 1, "cuda:0"),
        ("master", 8, "cuda"),
        ("gwx", 8, "cuda"),
    ],
)
def test_each_worker_gets_its_own_gpu(worker, count, expected):
    assert worker_gpu(worker, count) == expected


def test_auto_picks_the_workers_gpu_and_an_explicit_device_still_wins(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert resolve_device("auto", worker="gw6") == torch.device("cuda:2")
    assert resolve_device("cuda:1", worker="gw6") == torch.device("cuda:1")
    assert resolve_device("cpu", worker="gw6") == torch.device("cpu")
    with pytest.raises(BenchError, match="only 4 CUDA device"):
        resolve_device("cuda:5")


def test_without_cuda_auto_stays_on_the_cpu_in_every_worker(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto", worker="gw3") == torch.device("cpu")


def test_a_record_names_the_gpu_it_was_timed_on_and_the_fingerprint_stays_the_model(monkeypatch):
    from harness import runtime
    from harness.probe import fingerprint

    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Fake GPU 80GB")
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(runtime, "_nvidia_driver", lambda: "999.1")
    infos = [runtime.machine_info(torch.device(name)) for name in ("cuda:3", "cuda:5")]
    assert [info["gpu_index"] for info in infos] == [3, 5]
    assert infos[0]["gpu"] == "Fake GPU 80GB"
    assert fingerprint(infos[0]) == fingerprint(infos[1]), "two GPUs of one model are one kind of machine"
