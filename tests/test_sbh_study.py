import math

import pytest
import torch

import models
import studies.writeups as writeups
from studies import sbh
from studies.sbh import plan as sbh_plan


def one_hot(indices, width):
    return torch.nn.functional.one_hot(torch.tensor(indices), width).float()


def test_head_targets_follow_the_split():
    targets = sbh_plan.head_targets(torch.tensor([0, 1, 2]))
    assert targets["a"].tolist() == [0, 0, 1]  # A: {a,b} vs {c}
    assert targets["b"].tolist() == [0, 1, 0]  # B: {a,c} vs {b} (write-up 001, Fig. 1: "0,2 vs. 1")


def test_decode_maps_each_valid_pair_to_one_class_and_the_impossible_pair_to_none():
    outputs = {"a": one_hot([0, 0, 1, 1], 2), "b": one_hot([0, 1, 0, 1], 2)}
    assert sbh_plan.decode(outputs).tolist() == [0, 1, 2, -1]


def test_decode_round_trips_the_targets():
    labels = torch.tensor([0, 1, 2, 2, 1, 0])
    targets = sbh_plan.head_targets(labels)
    assert torch.equal(sbh_plan.decode({h: one_hot(targets[h].tolist(), 2) for h in "ab"}), labels)


def test_metrics_on_hand_made_split_predictions():
    labels = torch.tensor([0, 1, 2, 2])
    # A right on 3 of 4 (last wrong), B right on 2 of 4 (first two wrong); both right only on image 3.
    outputs = {"a": one_hot([0, 0, 1, 0], 2), "b": one_hot([1, 0, 0, 0], 2)}
    m = sbh_plan.metrics(sbh_plan.SbhTask(), outputs, labels)
    assert m["acc_head_a"] == pytest.approx(0.75)
    assert m["acc_head_b"] == pytest.approx(0.5)
    assert m["acc_mean_heads"] == pytest.approx(0.625)
    assert m["acc_all_heads"] == pytest.approx(0.25)


def test_metrics_on_hand_made_shared_predictions():
    labels = torch.tensor([0, 1, 2, 2, 0])
    m = sbh_plan.metrics(sbh_plan.SbhTask(), {"abc": one_hot([0, 1, 1, 2, 2], 3)}, labels)
    assert m["acc_all_heads"] == m["acc_mean_heads"] == pytest.approx(0.6)


def test_loss_sums_the_two_binary_losses():
    labels = torch.tensor([0, 2])
    outputs = {"a": torch.zeros(2, 2), "b": torch.zeros(2, 2)}
    assert sbh_plan.SbhTask().loss(outputs, labels).item() == pytest.approx(2 * torch.log(torch.tensor(2.0)).item())


def test_softmax_before_the_loss_is_the_authors_and_bounded_below():
    """On softmax outputs a perfect prediction still costs log(k - 1 + e) - 1 per head."""
    labels = torch.tensor([0, 2])
    sure = {"abc": 100 * one_hot([0, 2], 3)}
    on_logits, on_softmax = sbh_plan.SbhTask(), sbh_plan.SbhTask(softmax=True)
    assert on_logits.loss(sure, labels).item() == pytest.approx(0.0, abs=1e-6)
    floor = torch.log(torch.tensor(2 + torch.e)).item() - 1
    assert on_softmax.loss(sure, labels).item() == pytest.approx(floor, abs=1e-6)


def test_mean_heads_selection_counts_head_answers():
    labels = torch.tensor([0, 1, 2, 2])
    outputs = {"a": one_hot([0, 0, 1, 0], 2), "b": one_hot([1, 0, 0, 0], 2)}
    assert sbh_plan.SbhTask(selection="mean_heads").correct(outputs, labels).item() == pytest.approx(2.5)
    assert sbh_plan.SbhTask().correct(outputs, labels).item() == 1


def test_case_ids_are_the_words_users_type():
    assert sbh.SbhCase((0, 1, 2), "arch4-1", "resnet34").id == "d012-arch4-1-resnet34"
    assert (
        sbh.SbhCase((6, 8, 9), "arch1", "resnet18", train_size=4000, lr=1e-3).id == "d689-n4000-lr1e-3-arch1-resnet18"
    )
    assert sbh.lr_tag(2.5e-4) == "lr2.5e-4"
    assert sbh.SbhCase((0, 1, 2), "arch1", "resnet18", selection="mean_heads").id == "d012-exp1-arch1-resnet18"


def test_records_name_each_head_s_class_groups_in_digits():
    assert sbh.SbhCase((0, 1, 2), "arch3", "resnet18").params()["heads"] == {"a": [[0, 1], [2]], "b": [[0, 2], [1]]}
    assert sbh.SbhCase((6, 8, 9), "arch4-2", "resnet18").params()["heads"] == {"a": [[6, 8], [9]], "b": [[6, 9], [8]]}
    assert sbh.SbhCase((0, 3, 4), "arch2", "resnet18").params()["heads"] == {"abc": [[0], [3], [4]]}


def test_grid_is_every_registered_structure_times_backbone():
    cases = sbh.grid((0, 1, 2))
    assert len(cases) == len(models.list_models(family="sbh")) * len(models.list_models(family="backbone")) == 15
    assert len({c.id for c in cases}) == 15
    assert [c.id for c in cases if "resnet34" in c.id] == [
        f"d012-{s}-resnet34" for s in models.list_models(family="sbh")
    ]


@pytest.mark.parametrize("text", ["1,2", "1,2,3,4", "1,1,2", "1,2,10", "a,b,c", "-1,2,3", ""])
def test_parse_digits_rejects_bad_combinations(text):
    with pytest.raises(ValueError, match="--digits"):
        sbh.parse_digits(text)


def test_parse_digits_accepts_three_distinct_digits():
    assert sbh.parse_digits("2, 5,7") == (2, 5, 7)


def test_select_digits_relabels_in_the_given_order():
    images = torch.arange(6).view(6, 1, 1)
    labels = torch.tensor([6, 8, 9, 1, 8, 6])
    x, y = sbh_plan.select_digits(images, labels, (9, 8, 6))
    assert y.tolist() == [2, 1, 0, 1, 2]
    assert x.flatten().tolist() == [0, 1, 2, 4, 5]


def test_balanced_subset_is_balanced_and_seeded():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 40)
    pick = sbh_plan.balanced_subset(labels, 31, seed=3)
    assert torch.bincount(labels[pick]).tolist() == [11, 10, 10]
    assert torch.equal(pick, sbh_plan.balanced_subset(labels, 31, seed=3))
    assert not torch.equal(pick, sbh_plan.balanced_subset(labels, 31, seed=4))
    with pytest.raises(ValueError, match="only 30 exist"):
        sbh_plan.balanced_subset(labels, 100, seed=0)


def test_writeup000_experiments_are_the_authors_grids():
    grid_size = len(sbh.grid(sbh.WRITEUP001_DIGITS))
    combos, sizes, rates = (sbh.experiment_cases(name) for name in ("combos", "size", "lr"))
    assert len(combos) == 5 * grid_size and {c.digits for c in combos} == set(sbh.WRITEUP000_COMBOS)
    assert sbh.TRAIN_SIZES == (400, 800, 1200, 1600, 2000, 2400, 3200, 4000, 4800, 6000, 8000, 10000)
    assert {c.train_size for c in sizes} == set(sbh.TRAIN_SIZES) and {c.digits for c in sizes} == {(6, 8, 9)}
    assert len(sbh.LEARNING_RATES) == 16 and (sbh.LEARNING_RATES[0], sbh.LEARNING_RATES[-1]) == (1.5e-4, 5e-3)
    assert list(sbh.LEARNING_RATES) == sorted(sbh.LEARNING_RATES)
    assert {(c.train_size, c.digits) for c in rates} == {(4000, (6, 8, 9))}
    ids = [c.id for c in sbh.all_cases()]
    experiments = 2 + 5 + len(sbh.TRAIN_SIZES) + len(sbh.LEARNING_RATES)  # 001 has experiments 1 and 2
    assert len(ids) == len(set(ids)) == grid_size * experiments
    assert "d689-n400-arch1-resnet50" in ids and "d689-n4000-lr1.25e-3-arch2-resnet50" in ids
    assert {size for sizes in sbh.SIZE_BUCKETS.values() for size in sizes} == set(sbh.TRAIN_SIZES)
    assert [r for rates in sbh.LR_BUCKETS.values() for r in rates] == list(sbh.LEARNING_RATES)


def test_prefix_subsets_are_the_authors(run_context, mnist_root):
    """N is a prefix of the 60k set filtered to 6, 8, 9: 400 leaves 110 images, 4,000 leaves 1,175."""
    smoke = sbh.PROFILES["smoke"]
    for size, expected in ((400, 110), (4000, 1175)):
        case = sbh.SbhCase(sbh.SWEEP_DIGITS, "arch2", "resnet18", train_size=size, experiment="size")
        assert len(sbh_plan.task_data(case, run_context, smoke).train) == expected


def test_writeup_profile_holds_out_a_seeded_tenth_for_early_stopping(run_context, mnist_root):
    writeup = sbh.PROFILES["writeup"]
    case = sbh.SbhCase(sbh.SWEEP_DIGITS, "arch2", "resnet18", train_size=4000, experiment="size")
    splits = sbh_plan.task_data(case, run_context, writeup)
    assert (len(splits.train), len(splits.eval)) == (1057, 118) and splits.eval is not splits.test
    again = sbh_plan.task_data(case, run_context, writeup)
    assert torch.equal(splits.eval.labels, again.eval.labels)
    assert writeup.budget.optimizer == "adamw" and writeup.budget.batch_size == 32
    assert (writeup.budget.patience, writeup.budget.monitor) == (10, "accuracy")
    assert (writeup.budget_for("lr").patience, writeup.budget_for("lr").monitor) == (20, "loss")
    assert writeup.softmax_loss and writeup.weights == "imagenet"


def test_writeup_thresholds_are_the_authors_lowest_minus_the_margin():
    thresholds = sbh.PROFILES["writeup"].thresholds
    lowest = min(float(r["accuracy"]) for r in writeups.rows("001_experiment_2") if r["backbone"] == "resnet18")
    assert thresholds["writeup001/resnet18"] == {"acc_all_heads": math.floor((lowest - 0.01) * 100) / 100}
    assert "writeup001-exp1/resnet18" in thresholds
    # Groups where the authors' own runs sat at chance get no minimum: a seed gate whose bar is
    # their lowest converged run minus the margin.
    assert "lr/lr5e-3/resnet18" not in thresholds
    gates = sbh.PROFILES["writeup"].seed_gates
    assert set(gates).isdisjoint(thresholds) and len(gates) == 26
    rates = [float(r["accuracy"]) for r in writeups.rows("000_lr_sweep") if r["backbone"] == "resnet18"]
    at_3e3 = [
        float(r["accuracy"])
        for r in writeups.rows("000_lr_sweep")
        if r["backbone"] == "resnet18" and float(r["learning_rate"]) == 3e-3
    ]
    assert min(rates) < 0.5 and min(at_3e3) < 0.5
    bar = math.floor((min(a for a in at_3e3 if a >= 0.5) - 0.01) * 100) / 100
    assert gates["lr/lr3e-3/resnet18"].bar == bar and gates["lr/lr3e-3/resnet18"].need == 2


def test_extra_digits_add_one_custom_grid_and_known_combos_are_not_repeated():
    base = sbh.all_cases()
    extra = sbh.all_cases([(2, 5, 7), (2, 5, 7), (0, 3, 4)])
    added = extra[len(base) :]
    assert [c.id for c in added] == [c.id for c in sbh.grid((2, 5, 7))]
    assert {c.experiment for c in added} == {"custom"} and {c.group for c in added} >= {"combos/resnet18"}


def test_ci_subset_covers_every_structure_backbone_and_experiment():
    by_id = {c.id: c for c in sbh.all_cases()}
    chosen = [by_id[case_id] for case_id in sbh.CI_CASES] + sbh.grid(sbh.WRITEUP001_DIGITS)[:5]
    assert {c.structure for c in chosen} == set(sbh.STRUCTURES)
    assert {c.backbone for c in chosen} == set(sbh.BACKBONES)
    assert {c.experiment for c in chosen} == {"writeup001", "combos", "size", "lr"}
    assert all(c.in_cpu_default for c in chosen)


def test_cpu_default_is_the_documented_subset():
    default = [c for c in sbh.all_cases() if c.in_cpu_default and c.id not in sbh.CI_CASES]
    assert {c.backbone for c in default if c.experiment == "writeup001"} == set(sbh.BACKBONES)
    sizes = {c.train_size for c in default if c.experiment == "size"}
    assert sizes == set(sbh.CPU_DEFAULT_SIZES) == {400, 2000, 4800, 10000}
    assert {c.lr for c in default if c.experiment == "lr"} == set(sbh.CPU_DEFAULT_RATES)
    assert not [c for c in default if c.selection == "mean_heads"]
    extended = [c for c in sbh.all_cases() if not c.in_cpu_default]
    assert all("sbh_extended" in sbh.case_markers(c) for c in extended)


def test_every_threshold_group_names_real_cases():
    groups = {c.group for c in sbh.all_cases()}
    for name, profile in sbh.PROFILES.items():
        assert set(profile.thresholds) <= groups, name


def test_groups_without_calibration_get_the_floor_and_say_so():
    calibrated = sbh.SbhCase((0, 1, 2), "arch1", "resnet18")
    assert calibrated.thresholds(sbh.PROFILES["smoke"]) == (
        sbh.PROFILES["smoke"].thresholds["writeup001/resnet18"],
        True,
    )
    unknown = sbh.SbhCase((6, 8, 9), "arch1", "resnet18", train_size=123, experiment="size")
    assert unknown.thresholds(sbh.PROFILES["smoke"]) == (sbh.UNCALIBRATED_FLOOR, False)
    exp1 = sbh.SbhCase((6, 8, 9), "arch1", "resnet18", selection="mean_heads", experiment="custom")
    assert exp1.thresholds(sbh.PROFILES["smoke"]) == ({"acc_mean_heads": 0.5}, False)


def test_the_grid_is_the_model_registry_s_families():
    """The study declares its grid without importing torch; the registry must build exactly those names."""
    assert list(sbh.STRUCTURES) == models.list_models(family="sbh")
    assert list(sbh.BACKBONES) == models.list_models(family="backbone")


def test_case_markers_come_from_the_experiments():
    by_id = {c.id: c for c in sbh.all_cases([(2, 5, 7)])}
    assert sbh.case_markers(by_id["d012-arch1-resnet18"]) == ["sbh_writeup001", "sbh_combos", "ci"]
    assert sbh.case_markers(by_id["d012-arch1-resnet34"]) == ["sbh_writeup001", "sbh_combos"]
    assert sbh.case_markers(by_id["d012-exp1-arch1-resnet18"]) == ["sbh_writeup001", "sbh_extended"]
    assert sbh.case_markers(by_id["d012-arch4-2-resnet34"]) == ["sbh_writeup001", "sbh_combos", "ci"]
    assert sbh.case_markers(by_id["d034-arch3-resnet34"]) == ["sbh_combos", "sbh_extended"]
    assert sbh.case_markers(by_id["d034-arch3-resnet50"]) == ["sbh_combos", "sbh_extended"]
    assert sbh.case_markers(by_id["d257-arch1-resnet18"]) == ["sbh_custom"]
    assert {m for e in sbh.EXPERIMENTS for m in [e.marker]} == {m for m, _ in sbh.STUDY.markers()} - {"sbh"}


def test_a_seed_gated_group_asserts_nothing_per_seed_and_hands_its_rule_to_the_plan(run_context):
    from dataclasses import replace

    from harness.settings import SeedGate

    case = sbh.SbhCase((6, 8, 9), "arch1", "resnet18", train_size=4000, lr=5e-3, experiment="lr")
    gate = SeedGate("acc_all_heads", bar=0.9)
    settings = replace(sbh.PROFILES["smoke"], seed_gates={case.group: gate})
    assert case.thresholds(settings) == ({}, True)
    planned = sbh_plan.plan(case, run_context, settings)
    assert planned.seed_gate == gate and planned.thresholds == {}
    assert gate.describe() == "at least 2 of seeds 0-2 reach acc_all_heads >= 0.90"
    for name, profile in sbh.PROFILES.items():
        assert not set(profile.seed_gates) & set(profile.thresholds), f"{name}: a group is gated one way"
        assert set(profile.seed_gates) <= {c.group for c in sbh.all_cases()}, name
