"""Instruction counts: callgrind_annotate output is read into stable names, the counted
statements are real training steps, a missing valgrind is a skip with its reason, and the gate
flags a grown count (naming the function) while ignoring host speed."""

import json
from dataclasses import replace

import pytest
import torch

from fakes import write_records
from harness import callgrind, runner
from harness.errors import CaseSkipped
from harness.records import ResultRecord
from reports.__main__ import main
from studies import perf_instructions
from studies.perf_instructions import plan

ANNOTATE = """\
--------------------------------------------------------------------------------
Profile data file 'callgrind.out.1' (creator: callgrind-3.19.0)
--------------------------------------------------------------------------------
Ir
--------------------------------------------------------------------------------
34,957,992  PROGRAM TOTALS

--------------------------------------------------------------------------------
Ir         file:function
--------------------------------------------------------------------------------
5,434,871  ???:at::native::cpu_max_pool_channels_last<float, false>(at::Tensor const&) [/v/lib/libtorch_cpu.so]
2,965,760  ???:0x00000000dfc8b000 [???]
2,308,736  ???:0x00000000dfd8b000 [???]
  927,717  ???:mkl_vml_kernel_sSqrt_L9HAynn [/v/lib/libtorch_cpu.so]
  100,000  Objects/ceval.c:_PyEval_EvalFrameDefault [/usr/bin/python3.11]

--------------------------------------------------------------------------------
-- Auto-annotated source: Objects/ceval.c
"""


def test_annotate_output_becomes_a_total_and_stable_function_names():
    total, functions = callgrind.parse_annotate(ANNOTATE)
    assert total == 34_957_992
    assert functions[0] == [
        "at::native::cpu_max_pool_channels_last<float, false>(at::Tensor const&) [libtorch_cpu.so]",
        5_434_871,
    ]
    # Run-time generated kernels move between processes: their addresses merge under one name.
    assert functions[1] == [callgrind.JIT_CODE, 2_965_760 + 2_308_736]
    assert ["_PyEval_EvalFrameDefault [python3.11]", 100_000] in functions
    assert len(functions) == 4


def test_annotate_output_without_a_total_is_a_clear_error():
    with pytest.raises(callgrind.CallgrindError, match="PROGRAM TOTALS"):
        callgrind.parse_annotate("nothing useful\n")


@pytest.mark.parametrize("case", perf_instructions.CASES, ids=lambda case: case.id)
def test_each_counted_statement_is_the_real_step(case, mnist_root, monkeypatch):
    monkeypatch.setenv("BACKBONE_BENCH_DATA", str(mnist_root))
    run = plan.statement(case.id, batch=8)
    first = run()
    second = run()
    if case.phase == "train-step":  # train_one_epoch over one batch: (loss, accuracy) of one optimizer step
        assert first[0] != second[0]
    else:  # evaluate: logits of every head for the batch
        assert all(logits.shape[0] == 8 for logits in first.values())
        assert all(torch.equal(first[h], second[h]) for h in first)


def test_without_valgrind_the_cases_skip_with_the_reason_and_an_error_record(run_context, tmp_path, monkeypatch):
    monkeypatch.setattr(callgrind.shutil, "which", lambda tool: None)
    ctx = replace(run_context, results_dir=tmp_path, device=torch.device("cpu"))
    case = perf_instructions.CASES[0]
    with pytest.raises(CaseSkipped, match="valgrind, callgrind_control, callgrind_annotate not found on PATH"):
        runner.run(plan.instructions_job(case, ctx), ctx)
    record = json.loads((tmp_path / "perf_instructions" / f"{case.id}-seed0.json").read_text())
    assert (
        record["status"] == "error"
        and record["error"].startswith("not run:")
        and "apt-get install valgrind" in record["error"]
    )


def _counted(directory, total, *, identity="id-1", grown=0, host=1.0):
    functions = [["at::native::conv [libtorch_cpu.so]", 600 + grown], ["_PyEval_EvalFrameDefault [python3.11]", 300]]
    records = []
    for run in range(3):
        record = ResultRecord(
            study="perf_instructions",
            case_id="lenet5-new-train-step",
            params={"model": "lenet5-new", "phase": "train-step", "batch": 32},
            profile="smoke",
            seed=run,
            device="cpu",
            status="passed",
            metrics={"instructions": total + run, "step_s": 0.005 * host},
            timing={"rounds_s": [0.005 * host * f for f in (0.98, 1.0, 1.01, 0.99, 1.02)], "measures": "step_s"},
            environment={
                "fingerprint": "0123456789abcdef",
                "probe": {"before": {"matmul_s": 0.02 * host}, "after": {"matmul_s": 0.02 * host}},
            },
            instructions={
                "total": total + run,
                "functions": functions,
                "identity": identity,
                "valgrind": "valgrind-3.19.0",
            },
        )
        record.finished_at = record.started_at
        records.append(record)
    write_records(directory, records)
    return directory


def _gate(baseline, current, tmp_path):
    """Exit code, Markdown, and the verdict of each compared metric."""
    out, verdicts = tmp_path / "diff.md", tmp_path / "diff.json"
    code = main(["compare", str(baseline), str(current), "--out", str(out), "--json", str(verdicts)])
    return code, out.read_text(), {row["metric"]: row["verdict"] for row in json.loads(verdicts.read_text())}


def test_a_grown_instruction_count_is_a_regression_that_names_the_function(tmp_path):
    base = _counted(tmp_path / "base", 1_000_000)
    code, _, verdicts = _gate(base, _counted(tmp_path / "same", 1_000_000), tmp_path)
    assert code == 0 and verdicts == {"step_s": "ok", "instructions": "ok"}
    code, text, verdicts = _gate(base, _counted(tmp_path / "grown", 1_050_000, grown=50_000), tmp_path)
    assert code == 1 and verdicts == {"step_s": "ok", "instructions": "REGRESSION"}
    assert "grew most: `at::native::conv [libtorch_cpu.so]` +50,000" in text


def test_instruction_counts_ignore_host_speed_and_other_valgrind_builds(tmp_path):
    base = _counted(tmp_path / "base", 1_000_000)
    code, _, verdicts = _gate(base, _counted(tmp_path / "slow-host", 1_000_000, host=3.0), tmp_path)
    assert code == 0 and verdicts == {"step_s": "ok", "instructions": "ok"}
    code, text, verdicts = _gate(base, _counted(tmp_path / "other", 2_000_000, identity="id-2"), tmp_path)
    assert code == 0 and verdicts["instructions"] == "not comparable"
    assert "not comparable (different valgrind, torch, Python, SIMD level or threads" in text


def test_the_report_page_states_counts_spread_and_where_they_go(tmp_path):
    records = _counted(tmp_path / "runs", 1_000_000)
    assert main(["render", str(records), "--out", str(tmp_path / "report")]) == 0
    page = (tmp_path / "report" / "perf_instructions.md").read_text()
    assert "batch 32, fp32" in page and "valgrind-3.19.0" in page and "AVX2" in page
    row = next(line for line in page.splitlines() if line.startswith("| lenet5-new-train-step"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1:4] == ["3", "1", "2e-06"]  # runs, millions of instructions, (max - min) / median
    assert "- 600 `at::native::conv [libtorch_cpu.so]`" in page
    assert "[perf_instructions.md](perf_instructions.md)" in (tmp_path / "report" / "index.md").read_text()


def test_the_noise_study_reports_the_counts_spread_and_both_gates_on_planted_code(tmp_path, capsys):

    same = [str(_counted(tmp_path / f"run{n}", 1_000_000)) for n in (1, 2)]
    planted = str(_counted(tmp_path / "planted", 1_020_000, grown=20_000))
    assert main(["noise", *same, "--planted", planted]) == 0
    text = capsys.readouterr().out
    assert "| lenet5-new-train-step | 6 | 1,000,001 | 2.0e-06 |" in text  # 3 records a run, counts 1,000,000-2
    assert "| lenet5-new-train-step | instructions | 2 of 2 | 1.0200 (1.0200) |" in text
    assert "| lenet5-new-train-step | step_s | 0 of 2 |" in text
