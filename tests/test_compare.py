"""``python -m reports compare``: a planted regression is caught, seed-level noise is not."""

import json
import shutil

import pytest

from fakes import fake_record, scaled_times, write_records
from reports.__main__ import main
from studies import sbh

CASES = sbh.grid(sbh.WRITEUP001_DIGITS)


@pytest.fixture
def baseline(tmp_path):
    """Two seeds per case; the widest seed-to-seed range of acc_all_heads is 0.006."""
    records = [
        fake_record(
            case, acc=0.98 + (0.006 if seed and case.structure == "arch1" else 0.002 * seed), seconds=1.0, seed=seed
        )
        for case in CASES
        for seed in (0, 1)
    ]
    write_records(tmp_path / "baseline", records)
    return tmp_path / "baseline"


def current_run(tmp_path, name="current", *, change=None, host=1.0, schema=2):
    """The baseline's numbers, with ``change(case, seed, acc, seconds, status)`` applied."""
    records = []
    for case in CASES:
        for seed in (0, 1):
            acc, seconds, status = 0.98 + (0.006 if seed and case.structure == "arch1" else 0.002 * seed), 1.0, "passed"
            if change:
                acc, seconds, status = change(case, seed, acc, seconds, status)
            records.append(
                fake_record(case, acc=acc, seconds=seconds, seed=seed, status=status, host=host, schema=schema)
            )
    write_records(tmp_path / name, records)
    return tmp_path / name


def edit_records(directory, edit):
    for path in directory.glob("sbh/*.json"):
        record = json.loads(path.read_text())
        edit(record)
        path.write_text(json.dumps(record))


def compare(baseline, current, tmp_path, *extra):
    out = tmp_path / "diff.md"
    code = main(["compare", str(baseline), str(current), "--out", str(out), *extra])
    return code, out.read_text()


def test_a_run_compared_with_itself_passes(baseline, tmp_path):
    code, text = compare(baseline, baseline, tmp_path)
    assert code == 0 and "**0 regression(s)** in 15 compared case(s)" in text
    assert "tolerance: the case's seed range; 2 vs 2 seed(s)" in text


def test_an_accuracy_drop_beyond_the_seed_spread_is_caught(baseline, tmp_path, capsys):
    planted = current_run(
        tmp_path, change=lambda c, s, a, t, st: (a - 0.03 if c.id == "d012-arch3-resnet34" else a, t, st)
    )
    code, text = compare(baseline, planted, tmp_path)
    assert code == 1 and "**1 regression(s)**" in text
    assert "REGRESSION sbh/d012-arch3-resnet34 acc_all_heads" in capsys.readouterr().err


def test_a_drop_beyond_the_range_that_the_seeds_do_not_support_is_not_flagged(baseline, tmp_path):
    """arch1's baseline seeds are 0.980 and 0.986; current seeds 0.995 and 0.950 average 0.0105
    lower, beyond the range, but Welch's test cannot tell the two apart."""
    scattered = current_run(
        tmp_path, change=lambda c, s, a, t, st: ((0.995, 0.950)[s] if c.id == "d012-arch1-resnet18" else a, t, st)
    )
    code, text = compare(baseline, scattered, tmp_path)
    assert code == 0 and "drop not significant (p" in text


def test_a_noise_level_change_is_not_a_regression(baseline, tmp_path):
    noisy = current_run(tmp_path, change=lambda c, s, a, t, st: (a - 0.004, t * 1.08, st))
    code, text = compare(baseline, noisy, tmp_path)
    assert code == 0, text


def test_a_slowdown_beyond_the_bound_is_caught(baseline, tmp_path):
    slow = current_run(tmp_path, change=lambda c, s, a, t, st: (a, t * 1.5 if c.backbone == "resnet50" else t, st))
    code, text = compare(baseline, slow, tmp_path)
    assert code == 1 and "**5 regression(s)**" in text and "+50.0%" in text


def test_a_uniformly_slower_host_is_not_a_regression(baseline, tmp_path):
    """Every time 1.6x, the probe included: the host was slower, not the code."""
    slower_host = current_run(tmp_path, change=lambda c, s, a, t, st: (a, t * 1.6, st), host=1.6)
    code, text = compare(baseline, slower_host, tmp_path)
    assert code == 0 and "raw ratio 1.600, host (probe) ratio 1.600" in text
    faster_code = current_run(tmp_path, "faster", change=lambda c, s, a, t, st: (a, t * 1.6, st), host=2.0)
    assert compare(baseline, faster_code, tmp_path)[0] == 0


def test_the_conv_probe_s_slow_mode_does_not_excuse_a_slower_case(baseline, tmp_path):
    """The conv forward probe alternates between two speeds about 1.8x apart on the same host;
    only the matmul probe stands for the host's speed, so a 1.3x slower case is still caught."""
    slow = current_run(tmp_path, change=lambda c, s, a, t, st: (a, t * 1.3 if c.backbone == "resnet50" else t, st))
    edit_records(
        slow, lambda r: [p.update(conv_forward_s=p["conv_forward_s"] * 1.8) for p in r["environment"]["probe"].values()]
    )
    code, text = compare(baseline, slow, tmp_path)
    assert code == 1 and "**5 regression(s)**" in text and "host (probe) ratio 1.000" in text


def test_the_contract_every_time_scaled_alike_is_not_a_regression(baseline, tmp_path):
    contract = tmp_path / "contract"
    shutil.copytree(baseline, contract)
    edit_records(contract, lambda r: r.update(scaled_times(r, 2.6)))
    record = json.loads(next(contract.glob("sbh/*.json")).read_text())
    assert record["environment"]["probe"]["before"]["matmul_s"] == pytest.approx(0.052)
    code, text = compare(baseline, contract, tmp_path)
    assert code == 0 and "host (probe) ratio 2.600" in text


def test_timings_from_another_machine_are_not_comparable_never_a_regression(baseline, tmp_path):
    other = current_run(tmp_path, change=lambda c, s, a, t, st: (a, t * 3, st))
    edit_records(other, lambda r: r["environment"].update(fingerprint="fedcba9876543210"))
    code, text = compare(baseline, other, tmp_path)
    assert code == 0 and "times of 15 case(s) not gated: not comparable (different machine" in text
    assert text.count("| not comparable |") == 15


def test_timings_in_another_precision_are_not_compared(baseline, tmp_path):
    other = current_run(tmp_path, change=lambda c, s, a, t, st: (a, t / 2, st))
    edit_records(other, lambda r: r["environment"].update(precision={"train": "bf16", "inference": "bf16"}))
    code, text = compare(baseline, other, tmp_path)
    assert code == 0 and "not comparable (different precision: fp32 vs bf16)" in text


def test_schema_1_records_are_compared_on_accuracy_and_their_times_are_not_gated(tmp_path):
    old = current_run(tmp_path, "old", schema=1)
    slow = current_run(tmp_path, change=lambda c, s, a, t, st: (a - 0.03 if c.structure == "arch2" else a, t * 3, st))
    code, text = compare(old, slow, tmp_path)
    assert code == 1 and "**3 regression(s)**" in text
    assert "not gated: schema-1 record(s) without timed rounds and probe" in text


def test_a_case_that_stopped_passing_is_a_regression(baseline, tmp_path):
    broken = current_run(
        tmp_path, change=lambda c, s, a, t, st: (a, t, "error" if c.id == "d012-arch2-resnet18" and s == 1 else st)
    )
    code, text = compare(baseline, broken, tmp_path)
    assert code == 1 and "| d012-arch2-resnet18 | status" in text.replace("  ", " ")


def test_an_explicit_tolerance_overrides_the_spread(baseline, tmp_path):
    planted = current_run(tmp_path, change=lambda c, s, a, t, st: (a - 0.03, t, st))
    assert compare(baseline, planted, tmp_path, "--acc-tolerance", "0.05")[0] == 0


def test_json_verdicts_one_entry_per_case_and_metric(baseline, tmp_path):
    slow = current_run(tmp_path, change=lambda c, s, a, t, st: (a, t * 1.5 if c.id == "d012-arch2-resnet18" else t, st))
    code, _ = compare(baseline, slow, tmp_path, "--json", str(tmp_path / "verdicts.json"))
    verdicts = json.loads((tmp_path / "verdicts.json").read_text())
    assert code == 1 and len(verdicts) == 30  # 15 cases x (accuracy, time)
    flagged = [v for v in verdicts if v["verdict"] == "REGRESSION"]
    assert [(v["case_id"], v["kind"]) for v in flagged] == [("d012-arch2-resnet18", "time")]
    assert flagged[0]["ratio"] == pytest.approx(1.5) and flagged[0]["p_value"] < 0.01
    assert {v["kind"] for v in verdicts} == {"ok", "time"}
    assert {"case_id", "kind", "baseline", "current", "ratio", "p_value"} <= set(flagged[0])


def test_missing_or_empty_inputs_exit_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["compare", str(tmp_path / "empty"), str(tmp_path / "empty")]) == 2
    assert main(["compare", str(tmp_path / "nope"), str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert "error: baseline: no result records" in err and "does not exist" in err


def test_drill_passes_on_real_looking_records_and_fails_when_the_gate_is_open(baseline, monkeypatch):
    from harness import judge
    from reports import drill

    assert main(["drill", str(baseline)]) == 0
    monkeypatch.setattr(judge, "MARGIN", 1.0)
    monkeypatch.setattr(drill, "compare_main", lambda argv: main(["compare", *argv, "--acc-tolerance", "1.0"]))
    assert main(["drill", str(baseline)]) == 1, "a gate that lets a 0.05 drop through must fail the drill"


def test_noise_study_counts_false_alarms_and_catches_planted_slowdowns(baseline, tmp_path, capsys):

    rerun = current_run(tmp_path, "rerun", change=lambda c, s, a, t, st: (a, t * 1.03, st), host=1.02)
    assert main(["noise", str(baseline), str(rerun)]) == 0
    text = capsys.readouterr().out
    assert "false alarms: **0**" in text
    assert "| 1.5x | 30 of 30 |" in text  # 2 ordered pairs x 15 cases
    # 1.1x on top of the rerun's 1.03 stays under the bound; 1.2x does not
    assert "| 1.1x | 0 of 30 |" in text and "Smallest planted slowdown caught in every trial: 1.2x." in text


def test_perf_speed_ratios_are_gated_by_status_not_as_accuracies(tmp_path):
    from harness.records import ResultRecord

    def perf(name, ratio, status):
        record = ResultRecord(
            study="perf",
            case_id="lenet5-new",
            params={"model": "lenet5-new"},
            profile="smoke",
            seed=0,
            device="cpu",
            status=status,
            thresholds={"harness_over_dataloader": 3.0},
            metrics={"harness_over_dataloader": ratio},
        )
        write_records(tmp_path / name, [record])
        return tmp_path / name

    base = perf("base", 4.2, "passed")
    assert compare(base, perf("noisy", 3.9, "passed"), tmp_path)[0] == 0
    code, text = compare(base, perf("below", 2.8, "failed"), tmp_path)
    assert code == 1 and "stopped passing" in text


def _seed_gated_run(directory, accs):
    """One case of an unstable group with one record per seed (``accs``), beside a stable case."""
    gate = {"metric": "acc_all_heads", "bar": 0.9, "need": 2, "of": 3}
    records = []
    for seed, acc in enumerate(accs):
        record = fake_record(CASES[0], acc=acc, seconds=1.0, seed=seed)
        record.thresholds, record.seed_gate = {}, dict(gate)
        records += [record, fake_record(CASES[1], acc=0.98 + 0.002 * seed, seconds=1.0, seed=seed)]
    write_records(directory, records)
    return directory


@pytest.mark.parametrize(
    ("accs", "code", "shown"),
    [
        ((0.97, 0.35, 0.96), 0, "| 2 of 3 "),  # one collapsed seed: the mean fell by 0.2, the rule holds
        ((0.97, 0.35, 0.34), 1, "| 1 of 3 "),
        ((0.35, 0.34), 0, "not judged: 2 of seeds 0-2 ran"),
    ],
)
def test_a_seed_gated_case_is_judged_on_its_converged_seeds_not_its_mean(tmp_path, accs, code, shown):
    base = _seed_gated_run(tmp_path / "base", (0.97, 0.96, 0.98))
    cur = _seed_gated_run(tmp_path / "cur", accs)
    result, text = compare(base, cur, tmp_path)
    assert result == code and shown in text.replace("  ", " ")
    assert f"| {CASES[0].id} | acc_all_heads |" not in text.replace("  ", " "), "no mean-accuracy row for it"
    if code:
        assert f"| {CASES[0].id} | acc_all_heads seeds >= 0.90 | accuracy |" in text.replace("  ", " ")


def test_times_taken_with_a_thread_on_every_cpu_core_are_called_out(baseline, tmp_path):
    def cores(threads):
        return lambda r: r["environment"].update(torch_threads=threads, cpu_count=2)

    crowded, spare = tmp_path / "crowded", tmp_path / "spare"
    shutil.copytree(baseline, crowded)
    shutil.copytree(baseline, spare)
    edit_records(crowded, cores(2))
    edit_records(spare, cores(1))
    assert "30 record(s) were timed on the CPU with a thread on every core" in compare(crowded, spare, tmp_path)[1]
    assert "with a thread on every core" not in compare(spare, spare, tmp_path)[1]


def test_a_faster_probe_reading_alone_does_not_make_a_regression(baseline, tmp_path):
    """Times 1.10x and the probe 0.9x: normalised 1.22x, but as measured the case is within the bound."""
    faster_probe = current_run(tmp_path, change=lambda c, s, a, t, st: (a, t * 1.1, st), host=0.9)
    code, text = compare(baseline, faster_probe, tmp_path)
    assert code == 0 and "raw ratio within +15% (a faster probe reading cannot accuse)" in text
    assert "not significant" not in text
