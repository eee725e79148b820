import pytest
import torch

import models
from studies import sbh
from studies.sbh import plan as sbh_plan


def one_hot(indices, width):
    return torch.nn.functional.one_hot(torch.tensor(indices), width).float()


def test_head_targets_follow_the_split():
    targets = sbh_plan.head_targets(torch.tensor([0, 1, 2]))
    assert targets["a"].tolist() == [0, 0, 1]  # A: {a,b} vs {c}
    assert targets["b"].tolist() == [0, 1, 1]  # B: {a} vs {b,c}


def test_decode_maps_each_valid_pair_to_one_class_and_the_impossible_pair_to_none():
    outputs = {"a": one_hot([0, 0, 1, 1], 2), "b": one_hot([0, 1, 1, 0], 2)}
    assert sbh_plan.decode(outputs).tolist() == [0, 1, 2, -1]


def test_decode_round_trips_the_targets():
    labels = torch.tensor([0, 1, 2, 2, 1, 0])
    targets = sbh_plan.head_targets(labels)
    assert torch.equal(sbh_plan.decode({h: one_hot(targets[h].tolist(), 2) for h in "ab"}), labels)


def test_metrics_on_hand_made_split_predictions():
    labels = torch.tensor([0, 1, 2, 2])
    # A right on 3 of 4 (last wrong), B right on 2 of 4 (first two wrong); both right only on image 3.
    outputs = {"a": one_hot([0, 0, 1, 0], 2), "b": one_hot([1, 0, 1, 1], 2)}
    m = sbh_plan.metrics(outputs, labels)
    assert m["acc_head_a"] == pytest.approx(0.75)
    assert m["acc_head_b"] == pytest.approx(0.5)
    assert m["acc_mean_heads"] == pytest.approx(0.625)
    assert m["acc_all_heads"] == pytest.approx(0.25)


def test_metrics_on_hand_made_shared_predictions():
    labels = torch.tensor([0, 1, 2, 2, 0])
    m = sbh_plan.metrics({"abc": one_hot([0, 1, 1, 2, 2], 3)}, labels)
    assert m["acc_all_heads"] == m["acc_mean_heads"] == pytest.approx(0.6)


def test_loss_sums_the_two_binary_losses():
    labels = torch.tensor([0, 2])
    outputs = {"a": torch.zeros(2, 2), "b": torch.zeros(2, 2)}
    assert sbh_plan.SbhTask.loss(outputs, labels).item() == pytest.approx(2 * torch.log(torch.tensor(2.0)).item())


def test_case_ids_are_the_words_users_type():
    assert sbh.SbhCase((0, 1, 2), "arch4-1", "resnet34").id == "d012-arch4-1-resnet34"
    assert (
        sbh.SbhCase((6, 8, 9), "arch1", "resnet18", train_size=4000, lr=1e-3).id == "d689-n4000-lr1e-3-arch1-resnet18"
    )
    assert sbh.lr_tag(2.5e-4) == "lr2.5e-4"


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


def test_writeup000_experiments_have_the_documented_shape():
    grid_size = len(sbh.grid(sbh.WRITEUP001_DIGITS))
    combos, sizes, rates = (sbh.experiment_cases(name) for name in ("combos", "size", "lr"))
    assert len(combos) == 5 * grid_size and {c.digits for c in combos} == set(sbh.WRITEUP000_COMBOS)
    assert len(sbh.TRAIN_SIZES) >= 5 and max(sbh.TRAIN_SIZES) <= 10_000
    assert {c.train_size for c in sizes} == set(sbh.TRAIN_SIZES) and {c.digits for c in sizes} == {(6, 8, 9)}
    assert len(sbh.LEARNING_RATES) >= 4 and sbh.LEARNING_RATES[0] == sbh.BASE_LR
    assert list(sbh.LEARNING_RATES) == sorted(sbh.LEARNING_RATES)
    assert {(c.train_size, c.digits) for c in rates} == {(4000, (6, 8, 9))}
    ids = [c.id for c in sbh.all_cases()]
    assert len(ids) == len(set(ids)) == grid_size * (1 + 5 + len(sbh.TRAIN_SIZES) + len(sbh.LEARNING_RATES))
    assert "d689-n500-arch1-resnet18" in ids and "d689-n4000-lr3e-4-arch2-resnet50" in ids
    assert {size for sizes in sbh.SIZE_BUCKETS.values() for size in sizes} == set(sbh.TRAIN_SIZES)


def test_extra_digits_add_one_custom_grid_and_known_combos_are_not_repeated():
    base = sbh.all_cases()
    extra = sbh.all_cases([(2, 5, 7), (2, 5, 7), (0, 3, 4)])
    added = extra[len(base) :]
    assert [c.id for c in added] == [c.id for c in sbh.grid((2, 5, 7))]
    assert {c.experiment for c in added} == {"custom"} and {c.group for c in added} >= {"combos/resnet18"}


def test_ci_subset_covers_every_structure_backbone_and_experiment():
    by_id = {c.id: c for c in sbh.all_cases()}
    chosen = [by_id[case_id] for case_id in sbh.CI_CASES]
    assert {c.structure for c in chosen} == set(sbh.STRUCTURES)
    assert {c.backbone for c in chosen} == set(sbh.BACKBONES)
    assert {c.experiment for c in chosen} == {"combos", "size", "lr"}


def test_every_threshold_group_names_real_cases():
    groups = {c.group for c in sbh.all_cases()}
    for name, profile in sbh.PROFILES.items():
        assert set(profile.thresholds) <= groups, name


def test_groups_without_calibration_get_the_floor_and_say_so():
    calibrated = sbh.SbhCase((0, 1, 2), "arch1", "resnet18")
    assert calibrated.thresholds(sbh.PROFILES["smoke"]) == ({"acc_all_heads": 0.97}, True)
    unknown = sbh.SbhCase((6, 8, 9), "arch1", "resnet18", train_size=123, experiment="size")
    assert unknown.thresholds(sbh.PROFILES["smoke"]) == (sbh.UNCALIBRATED_FLOOR, False)


def test_the_grid_is_the_model_registry_s_families():
    """The study declares its grid without importing torch; the registry must build exactly those names."""
    assert list(sbh.STRUCTURES) == models.list_models(family="sbh")
    assert list(sbh.BACKBONES) == models.list_models(family="backbone")


def test_case_markers_come_from_the_experiments():
    by_id = {c.id: c for c in sbh.all_cases([(2, 5, 7)])}
    assert sbh.case_markers(by_id["d012-arch1-resnet18"]) == ["sbh_writeup001", "sbh_combos"]
    assert sbh.case_markers(by_id["d034-arch3-resnet50"]) == ["sbh_combos", "ci"]
    assert sbh.case_markers(by_id["d257-arch1-resnet18"]) == ["sbh_custom"]
    assert {m for e in sbh.EXPERIMENTS for m in [e.marker]} == {m for m, _ in sbh.STUDY.markers()} - {"sbh"}
