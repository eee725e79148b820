"""Instruction counts of a statement under valgrind's callgrind: the measure that a busy or
drifting host cannot move (PERFORMANCE.md, "Instruction counts").

``count_instructions(module, case_ids)`` starts one child process under callgrind,
``python -m harness.callgrind MODULE CASE_ID ...``. The child asks ``MODULE.statement(case_id)``
for a callable per case and calls each once uninstrumented (one-time work such as kernel
selection and the optimizer's state stays out of the counts), turns instrumentation on, and
counts one more call of each between ``torch._C._valgrind_toggle()`` calls, dumping that
call's counts to a file of its own. The parent reads each file with
``callgrind_annotate``: the program total and the exclusive count of each function.

This is what ``torch.utils.benchmark.Timer.collect_callgrind`` does, with changes that make
it affordable in CI: instrumentation starts off (importing torch under an instrumenting
callgrind took 4-5 minutes on this project's CPU, under 1 minute without), one process counts
several statements, processes run side by side, and nothing is run twice under
instrumentation (torch's runs up to 10 warm-up calls there; one ResNet-18 training step
takes over 2 minutes under callgrind). The child is started with this interpreter (``sys.executable``),
never whichever ``python`` is first on PATH, with the checkout on PYTHONPATH.

Valgrind runs no AVX-512 code and reports a CPU without it, so the kernels counted are the
AVX2 ones even on a host that has AVX-512: counts measure the code path, not the hardware.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
THREADS = 1  # with two threads the counts scattered by about 10 % (one thread: 1 part in 10,000)
TOP_FUNCTIONS = 25  # functions kept per record, by exclusive count
NAME_CHARS = 160
INSTALL_HINT = "install valgrind (Debian/Ubuntu: apt-get install valgrind; macOS: not supported)"
# oneDNN writes its kernels at run time; callgrind names them by address, which moves between processes.
JIT_CODE = "JIT-generated code (oneDNN kernels)"
CHILD_FAILED_LINES = 15


class CallgrindError(RuntimeError):
    """No counts (valgrind missing, failed, or wrote none); the message says why in one line."""


@dataclass(frozen=True)
class Counts:
    total: int  # instructions executed (callgrind's Ir) by one call of the statement
    functions: list[list]  # [[function, exclusive instructions], ...], the largest first
    valgrind: str  # e.g. "valgrind-3.19.0"
    cpu_capability: str  # the SIMD level torch reported inside valgrind (e.g. "AVX2")
    threads: int = THREADS

    def as_record(self) -> dict:
        return {**asdict(self), "identity": identity(self.valgrind, self.cpu_capability, self.threads)}


def missing_tools() -> str | None:
    """Why instruction counts cannot be collected here, or None when they can."""
    absent = [tool for tool in ("valgrind", "callgrind_control", "callgrind_annotate") if not shutil.which(tool)]
    return f"{', '.join(absent)} not found on PATH: {INSTALL_HINT}" if absent else None


def valgrind_version() -> str:
    return subprocess.run(["valgrind", "--version"], capture_output=True, text=True, check=True).stdout.strip()


def identity(valgrind: str, cpu_capability: str, threads: int) -> str:
    """What decides the count of a statement besides the code: counts are compared only
    between records with equal identities (reports/compare.py), on any host."""
    import torch

    parts = [valgrind, f"torch-{torch.__version__}-{torch.version.git_version[:12]}", platform.python_version()]
    parts += [f"cpu-{cpu_capability}", f"threads-{threads}"]
    return hashlib.sha256(" ".join(parts).encode()).hexdigest()[:16]


def count_instructions(
    module: str, groups: list[list[str]], *, env: dict[str, str] | None = None, timeout_s: float = 1800
) -> dict[str, Counts]:
    """case id -> the counts of one call of ``module.statement(case_id)()``. Each group of case
    ids is counted in one child process; the children run side by side, one per CPU core
    (a count does not depend on what else the host runs). ``env`` is added to the children's
    environment."""
    reason = missing_tools()
    if reason:
        raise CallgrindError(reason)
    version = valgrind_version()
    env = {
        **os.environ,
        **(env or {}),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    counts: dict[str, Counts] = {}
    workers = max(1, min(len(groups), os.cpu_count() or 1))
    with tempfile.TemporaryDirectory(prefix="callgrind-") as scratch, ThreadPoolExecutor(workers) as pool:
        jobs = [
            pool.submit(_count_group, module, ids, Path(scratch) / str(n), env, version, timeout_s)
            for n, ids in enumerate(groups)
        ]
        for job in jobs:
            counts.update(job.result())
    return counts


def _count_group(module: str, case_ids: list[str], scratch: Path, env: dict, version: str, timeout_s: float) -> dict:
    scratch.mkdir()
    out = scratch / "callgrind.out"
    command = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        "--instr-atstart=no",
        "--collect-atstart=no",
        sys.executable,
        "-m",
        "harness.callgrind",
        module,
        *case_ids,
    ]
    try:
        run = subprocess.run(
            command, capture_output=True, text=True, env=env, cwd=scratch, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        raise CallgrindError(f"callgrind of {module} {' '.join(case_ids)} ran past {timeout_s:.0f} s") from None
    if run.returncode:
        tail = [line for line in run.stderr.splitlines() if not line.startswith("==")][-CHILD_FAILED_LINES:]
        raise CallgrindError(f"callgrind child exited {run.returncode}: {' | '.join(tail)[-800:]}")
    capability = _reported(run.stdout, "cpu_capability")
    counts = {}
    for number, case_id in enumerate(case_ids, start=1):
        dump = Path(f"{out}.{number}")
        if not dump.exists():
            raise CallgrindError(f"callgrind wrote no counts for {case_id} ({dump.name} missing)")
        total, functions = parse_annotate(_annotate(dump))
        counts[case_id] = Counts(total, functions[:TOP_FUNCTIONS], version, capability)
    return counts


def _reported(stdout: str, key: str) -> str:
    match = re.search(rf"^{key}=(\S+)$", stdout, re.MULTILINE)
    if not match:
        raise CallgrindError(f"the callgrind child did not report its {key}")
    return match.group(1)


def _annotate(dump: Path) -> str:
    run = subprocess.run(
        ["callgrind_annotate", "--inclusive=no", "--threshold=100", "--show-percs=no", str(dump)],
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode:
        raise CallgrindError(f"callgrind_annotate {dump.name} failed: {run.stderr.strip()[-300:]}")
    return run.stdout


_TOTAL = re.compile(r"^\s*([\d,]+)\s+\(?.*PROGRAM TOTALS")
_FUNCTION = re.compile(r"^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(\S.*)$")


def parse_annotate(text: str) -> tuple[int, list[list]]:
    """Program total and [[function, exclusive count], ...] (largest first, equal names merged)
    from ``callgrind_annotate --inclusive=no`` output."""
    total, functions, in_table = None, {}, False
    for line in text.splitlines():
        if total is None:
            match = _TOTAL.match(line)
            total = int(match.group(1).replace(",", "")) if match else None
            continue
        if "file:function" in line:
            in_table = True
            continue
        match = _FUNCTION.match(line) if in_table else None
        if match:
            name = short_name(match.group(2))
            functions[name] = functions.get(name, 0) + int(match.group(1).replace(",", ""))
    if total is None:
        raise CallgrindError("callgrind_annotate printed no PROGRAM TOTALS line")
    return total, sorted(([n, c] for n, c in functions.items()), key=lambda nc: (-nc[1], nc[0]))


def short_name(file_function: str) -> str:
    """A name that is the same in every process: no source file, the library's file name
    instead of its path, run-time generated code under one name, long names cut."""
    text = file_function.split(":", 1)[1] if re.match(r"^[^:\s]*:", file_function) else file_function
    library = re.search(r"\s\[([^\]]*)\]$", text)
    if library:
        text = text[: library.start()]
    if re.fullmatch(r"0x[0-9a-f]+", text.strip()):
        return JIT_CODE
    lib = Path(library.group(1)).name if library and library.group(1) != "???" else ""
    text = text.strip()
    text = text if len(text) <= NAME_CHARS else text[: NAME_CHARS - 1] + "…"
    return f"{text} [{lib}]" if lib else text


def _child(module_name: str, case_ids: list[str]) -> None:
    import torch

    torch.set_num_threads(THREADS)
    module = importlib.import_module(module_name)
    statements: list[Callable[[], object]] = [module.statement(case_id) for case_id in case_ids]
    for statement in statements:  # one-time work (kernel choice, optimizer state) stays out of the counts
        statement()
    print(f"cpu_capability={torch.backends.cpu.get_cpu_capability()}", flush=True)
    subprocess.run(["callgrind_control", "--instr=on", str(os.getpid())], check=True, capture_output=True)
    for statement in statements:
        torch._C._valgrind_toggle()
        statement()
        torch._C._valgrind_toggle_and_dump_stats()


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2:])
