"""Command-line options are validated once, at start-up, with a one-line usage error."""

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]


ROOT = Path(__file__).resolve().parent.parent


def run(pytester, *args):
    """Collect the real benchmarks in a subprocess, with the suite's own configuration."""
    config = ["--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"), "-p", "no:cacheprovider"]
    return pytester.runpytest_subprocess("--collect-only", *config, str(ROOT / "benchmarks"), *args)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--digits", "1,1,2"], "must differ"),
        (["--digits", "1,2"], "expected three digits"),
        (["--digits", "1,2,12"], "expected three digits"),
        (["--profile", "huge"], "unknown profile 'huge'; valid choices: auto, smoke, full"),
        (["--device", "tpu"], "unknown device 'tpu'"),
        (["--seed", "-1"], "--seed -1"),
        (["--seeds", "0"], "--seeds 0: must be a positive number"),
        (["--seeds", "two"], "invalid int value: 'two'"),
        (["--model", "resnet19"], "--model resnet19: unknown model; valid choices: resnet18, resnet34, resnet50, vgg"),
        (["--precision", "fp16"], "--precision 'fp16': valid choices: auto, fp32, bf16"),
        (["--weights", "nowhere.pth"], "--weights 'nowhere.pth': neither auto, none, imagenet nor an existing file"),
    ],
)
def test_bad_options_are_usage_errors(pytester, args, message):
    result = run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}*"])
    assert "Traceback" not in result.stderr.str()


def test_cuda_on_a_machine_without_it(pytester):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = run(pytester, "--device", "cuda")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--device cuda asked for, but torch sees no CUDA device*"])


def test_extra_digits_add_a_grid_and_k_selects_by_backbone(pytester):
    result = run(pytester, "--digits", "2,5,7", "-k", "resnet34", "-m", "sbh_writeup001 or sbh_custom")
    # write-up 001: experiments 2 and 1 (-exp1-) on ResNet-34, and the extra combo's grid row
    result.stdout.fnmatch_lines(["*d012-arch1-resnet34*", "*d257-arch4-2-resnet34*", "*15/* tests collected*"])


def test_header_shows_profile_device_and_data_root(pytester, tmp_path):
    result = run(pytester, "--data-root", str(tmp_path), "-k", "nothing-matches-this")
    result.stdout.fnmatch_lines(
        [
            "backbone-bench: profile=smoke device=cpu*weights=auto precision=auto -> *",
            f"backbone-bench: data-root={tmp_path}*",
        ]
    )


def test_seeds_repeat_every_case_with_the_seed_in_its_id(pytester):
    result = run(
        pytester, "--seeds", "3", "--seed", "4", "-k", "d012-arch1-resnet18 or vgg", "-m", "sbh_writeup001 or blocks"
    )
    result.stdout.fnmatch_lines(
        ["*vgg-seed5*", "*d012-arch1-resnet18-seed4*", "*d012-arch1-resnet18-seed6*", "*6/* tests collected*"]
    )


def test_model_option_keeps_the_cases_that_use_it(pytester):
    result = run(pytester, "--model", "resnet34,vgg", "-m", "sbh_writeup001 or blocks")
    result.stdout.fnmatch_lines(["*test_blocks?vgg?*", "*d012-arch1-resnet34*", "*11/* tests collected*"])
