"""Command-line options of the suite, validated once; the session's RunContext fixture."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.context import PROFILE_CHOICES, RunContext, resolve_profile  # noqa: E402
from harness.errors import BenchError  # noqa: E402
from harness.mnist import DATA_ROOT_ENV, default_data_root  # noqa: E402
from harness.runtime import DEVICE_CHOICES, configure_backends, device_label, resolve_device  # noqa: E402
from studies.sbh import parse_digits  # noqa: E402

CONTEXT_KEY = pytest.StashKey[RunContext]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("backbone-bench")
    group.addoption("--profile", default="auto", help=f"budget and thresholds: {', '.join(PROFILE_CHOICES)} (auto: full on CUDA, smoke on CPU)")
    group.addoption("--device", default="auto", help=f"{', '.join(DEVICE_CHOICES)} or cuda:N")
    group.addoption("--data-root", default=None, help=f"dataset folder (default: ${DATA_ROOT_ENV} or {default_data_root()})")
    group.addoption("--results-dir", default="results", help="where result records are written (default: results)")
    group.addoption("--digits", action="append", default=[], metavar="A,B,C", help="extra sbh digit combination, e.g. 2,5,7 (repeatable)")
    group.addoption("--seed", type=int, default=0, help="seed for initialisation, batch order and subsets (default 0)")
    group.addoption("--skip-done", action="store_true", help="skip cases whose passed/failed record for this profile and seed exists (resume a run)")
    group.addoption("--deterministic", action="store_true", help="deterministic kernels on CUDA (slower); CPU runs are deterministic anyway")


def pytest_configure(config: pytest.Config) -> None:
    opt = config.option
    try:
        device = resolve_device(opt.device)
        profile = resolve_profile(opt.profile, device)
        config.sbh_extra_digits = [parse_digits(text) for text in opt.digits]
    except (BenchError, ValueError) as exc:
        raise pytest.UsageError(str(exc)) from None
    if opt.seed < 0:
        raise pytest.UsageError(f"--seed {opt.seed}: must be a non-negative integer")
    configure_backends(device, deterministic=opt.deterministic)
    data_root = Path(opt.data_root).expanduser() if opt.data_root else default_data_root()
    config.stash[CONTEXT_KEY] = RunContext(
        profile=profile,
        device=device,
        data_root=data_root,
        results_dir=Path(opt.results_dir),
        seed=opt.seed,
        deterministic=opt.deterministic,
        skip_done=opt.skip_done,
    )


def pytest_report_header(config: pytest.Config) -> list[str]:
    ctx = config.stash[CONTEXT_KEY]
    return [
        f"backbone-bench: profile={ctx.profile} device={ctx.device} ({device_label(ctx.device)}) seed={ctx.seed}",
        f"backbone-bench: data-root={ctx.data_root} results-dir={ctx.results_dir}",
    ]


@pytest.fixture(scope="session")
def run_context(request: pytest.FixtureRequest) -> RunContext:
    return request.config.stash[CONTEXT_KEY]
