"""The machine fingerprint names the kind of machine, not the process or the day."""

import subprocess
import sys

import torch

from harness.probe import fingerprint
from harness.runner import with_fingerprint
from harness.runtime import machine_info

ENV = {"cpu": "AMD EPYC", "cpu_count": 2, "torch_threads": 2, "torch": "2.14.1", "deterministic": False}


def test_same_machine_same_fingerprint_across_processes():
    here = with_fingerprint(machine_info(torch.device("cpu")))["fingerprint"]
    code = (
        "import torch; from harness.runner import with_fingerprint; from harness.runtime import machine_info; "
        "print(with_fingerprint(machine_info(torch.device('cpu')))['fingerprint'])"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert here == other and len(here) == 16


def test_what_decides_speed_changes_the_fingerprint_and_the_hostname_does_not():
    base = fingerprint(ENV)
    assert fingerprint({**ENV, "hostname": "runner-7"}) == base
    for change in (
        {"cpu": "Intel Xeon"},
        {"torch_threads": 1},
        {"gpu": "NVIDIA H100"},
        {"torch": "2.15.0"},
        {"deterministic": True},
        {"torch_compile": True},
    ):
        assert fingerprint({**ENV, **change}) != base, change


def test_cpu_flags_are_part_of_the_fingerprint(monkeypatch):
    from harness import probe

    base = fingerprint(ENV)
    monkeypatch.setattr(probe, "cpu_flags", lambda: frozenset({"avx2", "avx512_bf16"}))
    assert fingerprint(ENV) != base
