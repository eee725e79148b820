"""A run stopped mid-case keeps the records already written and leaves no partial file."""

import textwrap
from pathlib import Path

import pytest

from harness.records import read_record

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parent.parent

CASES = textwrap.dedent(
    """
    import os, signal, time
    import pytest
    import harness.fileio
    from harness.judge import judge
    from harness.runner import recorded
    from harness.records import ResultRecord

    # A shell starts background jobs with SIGINT ignored, and Python then never raises
    # KeyboardInterrupt; a user's terminal does not do that, so restore Python's handler.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    WHEN = "{when}"

    def interrupted_fsync(fd):
        raise KeyboardInterrupt  # Ctrl-C while the record's bytes are being written

    @pytest.mark.parametrize("n", [1, 2, 3])
    def test_case(n, monkeypatch):
        results = os.environ["RESULTS"]
        record = ResultRecord(study="demo", case_id=f"case{n}", params={}, profile="smoke", seed=0, device="cpu")
        with recorded(record, results):
            if n == 2 and WHEN == "mid-case":
                os.kill(os.getpid(), signal.{sig})  # the user presses Ctrl-C / the job is killed mid-case
                time.sleep(5)
            if n == 2 and WHEN == "mid-write":
                monkeypatch.setattr(harness.fileio.os, "fsync", interrupted_fsync)
            judge(record)
    """
)


@pytest.mark.parametrize(("sig", "when"), [("SIGINT", "mid-case"), ("SIGTERM", "mid-case"), ("SIGINT", "mid-write")])
def test_interrupted_run_keeps_finished_records(pytester, monkeypatch, tmp_path, sig, when):
    pytester.makepyfile(test_demo=CASES.replace("{sig}", sig).replace("{when}", when))
    monkeypatch.setenv("RESULTS", str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:benchmark", "-q")
    assert result.ret != 0
    # Hidden files included: a leftover temporary file of an interrupted write would show here.
    written = sorted(p.name for p in (tmp_path / "demo").iterdir())
    assert written == ["case1-seed0.json"], (
        "the finished case's record stays; nothing partial, temporary or later is left"
    )
    assert read_record(tmp_path / "demo" / "case1-seed0.json").status == "passed"
