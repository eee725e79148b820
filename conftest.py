"""Command-line options of the suite, validated once; the session's RunContext fixture; the one
place where the harness's skip and failure (``harness.errors``) become pytest outcomes."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

import models
from harness import judge
from harness.context import PROFILE_CHOICES, RunContext, check_weights, resolve_profile
from harness.errors import BenchError, CaseFailed, CaseSkipped
from harness.mnist import DATA_ROOT_ENV, default_data_root
from harness.precision import check_precision, resolve_precision, session_precision
from harness.runtime import DEVICE_CHOICES, configure_backends, device_label, resolve_device
from studies import GENERAL_MARKERS, STUDIES
from studies.sbh import parse_digits

CONTEXT_KEY = pytest.StashKey[RunContext]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("backbone-bench")
    group.addoption(
        "--profile",
        default="auto",
        help=f"budget and thresholds: {', '.join(PROFILE_CHOICES)} (auto: full on CUDA, smoke on CPU)",
    )
    group.addoption("--device", default="auto", help=f"{', '.join(DEVICE_CHOICES)} or cuda:N")
    group.addoption(
        "--data-root", default=None, help=f"dataset folder (default: ${DATA_ROOT_ENV} or {default_data_root()})"
    )
    group.addoption("--results-dir", default="results", help="where result records are written (default: results)")
    group.addoption(
        "--digits",
        action="append",
        default=[],
        metavar="A,B,C",
        help="extra sbh digit combination, e.g. 2,5,7 (repeatable)",
    )
    group.addoption("--seed", type=int, default=0, help="seed for initialisation, batch order and subsets (default 0)")
    group.addoption(
        "--seeds",
        type=int,
        default=1,
        metavar="N",
        help="run every selected case with N seeds: --seed, --seed+1, ... (ids end in -seedK when N > 1)",
    )
    group.addoption(
        "--model",
        action="append",
        default=[],
        metavar="NAME[,NAME]",
        help="run only cases that use these registered models, e.g. resnet34 or arch2,vgg (repeatable)",
    )
    group.addoption(
        "--skip-done",
        action="store_true",
        help="skip cases whose passed/failed record for this profile and seed exists, and continue a case "
        "stopped mid-training from its last saved epoch (resume a run)",
    )
    group.addoption(
        "--emnist-tiny",
        action="store_true",
        help="test-only: run the emnist cases on a small fixture with a one-epoch budget and no accuracy bar",
    )
    group.addoption(
        "--deterministic",
        action="store_true",
        help="deterministic kernels on CUDA (slower); CPU runs are deterministic anyway",
    )
    group.addoption(
        "--weights",
        default="auto",
        metavar="{auto,none,imagenet,PATH}",
        help="backbone initialisation: auto = the profile's (imagenet for writeup, none otherwise), none = random, "
        "imagenet = torchvision's weights (download cache, $TORCH_HOME), PATH = a state dict or a folder of <name>.pth",
    )
    group.addoption(
        "--precision",
        default="auto",
        metavar="{auto,fp32,bf16}",
        help="training and inference precision: auto = bf16 autocast where the device computes bf16 natively "
        "(CUDA with bf16, CPUs with AVX512-BF16 or AMX) unless the profile names fp32, fp32 elsewhere",
    )
    group.addoption(
        "--compile",
        action="store_true",
        help="torch.compile every model before training (the first steps then include compilation)",
    )


def pytest_configure(config: pytest.Config) -> None:
    # Every study's marker and its experiments' markers come from the registry (--strict-markers).
    for study in STUDIES.values():
        for marker, text in study.markers():
            config.addinivalue_line("markers", f"{marker}: {text}")
    for marker, text in GENERAL_MARKERS.items():
        config.addinivalue_line("markers", f"{marker}: {text}")
    opt = config.option
    try:
        device = resolve_device(opt.device, worker=os.environ.get("PYTEST_XDIST_WORKER"))
        profile = resolve_profile(opt.profile, device)
        config.sbh_extra_digits = [parse_digits(text) for text in opt.digits]
        weights = check_weights(opt.weights)
        precision = check_precision(opt.precision)
        if precision == "bf16":
            resolve_precision(precision, device)  # a CUDA device without bf16 is a usage error
    except (BenchError, ValueError) as exc:
        raise pytest.UsageError(str(exc)) from None
    if opt.seed < 0:
        raise pytest.UsageError(f"--seed {opt.seed}: must be a non-negative integer")
    if opt.seeds < 1:
        raise pytest.UsageError(f"--seeds {opt.seeds}: must be a positive number of seeds (1 runs --seed alone)")
    config.bench_seeds = list(range(opt.seed, opt.seed + opt.seeds))
    config.bench_models = {name.strip() for text in opt.model for name in text.split(",") if name.strip()}
    unknown = sorted(config.bench_models - set(models.list_models()))
    if unknown:
        raise pytest.UsageError(
            f"--model {', '.join(unknown)}: unknown model; valid choices: {', '.join(models.list_models())}"
        )
    configure_backends(device, deterministic=opt.deterministic)
    data_root = Path(opt.data_root).expanduser() if opt.data_root else default_data_root()
    config.stash[CONTEXT_KEY] = RunContext(
        profile=profile,
        device=device,
        data_root=data_root,
        results_dir=Path(opt.results_dir),
        seed=opt.seed,
        deterministic=opt.deterministic,
        compile=opt.compile,
        skip_done=opt.skip_done,
        weights=weights,
        precision=precision,
    )


def pytest_report_header(config: pytest.Config) -> list[str]:
    ctx = config.stash[CONTEXT_KEY]
    return [
        f"backbone-bench: profile={ctx.profile} device={ctx.device} ({device_label(ctx.device)}) seed={ctx.seed} "
        f"weights={ctx.weights} precision={session_precision(ctx.precision, ctx.device)}",
        f"backbone-bench: data-root={ctx.data_root} results-dir={ctx.results_dir}",
        *(
            f"backbone-bench: UNCALIBRATED under profile {ctx.profile}: {study.name} {', '.join(names)} assert only "
            f"the untrained floor {judge.FLOOR} (no calibration runs; docs/thresholds.md)"
            for study in STUDIES.values()
            if study.uncalibrated and (names := study.uncalibrated(ctx.profile))
        ),
    ]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """The harness knows no pytest: its CaseSkipped and CaseFailed become a skip and a one-line failure here."""
    try:
        return (yield)
    except CaseSkipped as exc:
        pytest.skip(str(exc))
    except CaseFailed as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def run_context(request: pytest.FixtureRequest) -> RunContext:
    return request.config.stash[CONTEXT_KEY]


@pytest.hookimpl(trylast=True)  # after the studies' own parametrization, so ids end in -seedK
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    seeds = metafunc.config.bench_seeds
    if "case_context" in metafunc.fixturenames and len(seeds) > 1:
        metafunc.parametrize("case_context", seeds, indirect=True, ids=[f"seed{s}" for s in seeds])


@pytest.fixture
def case_context(run_context: RunContext, request: pytest.FixtureRequest) -> RunContext:
    """The session's context with this case's seed (``--seeds N`` parametrizes it)."""
    return replace(run_context, seed=getattr(request, "param", run_context.seed))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Studies that measure the machine run only when selected alone; ``--model`` keeps the
    cases whose parameters name one of the models asked for."""
    markexpr = config.option.markexpr or ""
    for study in STUDIES.values():
        if study.run_alone and study.name not in markexpr:
            reason = f"{study.name} measures the machine; run it alone with `{study.command}`"
            for item in items:
                if item.get_closest_marker(study.name):
                    item.add_marker(pytest.mark.skip(reason=reason))
    if not config.bench_models:
        return

    def uses_asked_model(item: pytest.Item) -> bool:
        params = getattr(item, "callspec", None)
        names = {n for value in (params.params.values() if params else []) for n in getattr(value, "model_names", ())}
        return bool(names & config.bench_models)

    keep, drop = [], []
    for item in items:
        (keep if uses_asked_model(item) else drop).append(item)
    config.hook.pytest_deselected(items=drop)
    items[:] = keep
