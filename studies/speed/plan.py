"""Measuring side of study ``speed``: build a group's networks, time them round-robin, record every round."""

from __future__ import annotations

from dataclasses import asdict

import torch
import torch.nn as nn

import models
from harness.context import RunContext
from harness.flops import model_stats
from harness.memory import training_step_peak
from harness.precision import Precision, resolve_precision
from harness.records import ResultRecord
from harness.runner import Job
from harness.runtime import seed_everything
from harness.settings import Budget
from harness.sidebyside import round_robin
from harness.timing import Timing
from harness.train import ClassificationTask, DeviceData, adam, as_heads, prepare_model
from models.blocks import author_attention_path
from studies import blocks
from studies.sbh.plan import INPUT as SBH_INPUT
from studies.sbh.plan import SbhTask
from studies.speed import INFERENCE, NAME, PROFILES, TRAIN_STEP, Network, SpeedCase

# The write-ups' optimizers: only the training step's cost depends on it.
LR = {"001": 1e-4, "003": 1e-3}


def _precision(ctx: RunContext) -> Precision:
    return resolve_precision(ctx.precision, ctx.device, profile_precision="fp32")


def _build(network: Network, ctx: RunContext) -> nn.Module:
    model = models.create(network.model, **dict(network.build))
    return prepare_model(author_attention_path(model), ctx.device)


def _batch(network: Network, ctx: RunContext, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.randint(0, 256, (network.batch, 28, 28), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, network.classes, (network.batch,), generator=generator)
    prep = SBH_INPUT if network.classes == 3 else blocks.INPUT
    data = DeviceData.create(images, labels, ctx.device, prep=prep)
    return data.batch(torch.arange(network.batch, device=ctx.device), ctx.device)


def _steps(case: SpeedCase, network: Network, model: nn.Module, x, y, ctx: RunContext, precision: Precision) -> dict:
    task = SbhTask() if case.writeup == "001" else ClassificationTask
    out = {}
    if INFERENCE in case.phases:

        def infer() -> None:
            model.eval()
            with torch.inference_mode(), precision.autocast(ctx.device, training=False):
                model(x)

        out[INFERENCE] = infer
    if TRAIN_STEP in case.phases:
        optimizer = adam(model, LR[case.writeup], ctx.device)

        def train_step() -> None:
            model.train()
            optimizer.zero_grad(set_to_none=True)
            with precision.autocast(ctx.device, training=True):
                loss = task.loss(as_heads(model(x)), y)
            loss.backward()
            optimizer.step()

        out[TRAIN_STEP] = train_step
    return out


def _cost(case: SpeedCase, network: Network, model: nn.Module, x, y, precision: Precision) -> dict:
    cost = model_stats(model, x)
    if TRAIN_STEP in case.phases:
        budget = Budget(epochs=1, batch_size=network.batch, lr=LR[case.writeup])
        cost.update(training_step_peak(model, x, y, ClassificationTask, budget, precision))
    return cost


def speed_job(case: SpeedCase, ctx: RunContext) -> Job:
    settings = PROFILES[ctx.profile]
    precision = _precision(ctx)

    def measure(record: ResultRecord) -> None:
        generator = seed_everything(ctx.seed)
        built = {n.name: (n, _build(n, ctx), *_batch(n, ctx, generator)) for n in case.networks}
        steps = {
            f"{name}/{phase}": fn
            for name, (n, model, x, y) in built.items()
            for phase, fn in _steps(case, n, model, x, y, ctx, precision).items()
        }
        times, orders = round_robin(
            steps, rounds=settings.rounds, warmup_rounds=settings.warmup_rounds, device=ctx.device, seed=ctx.seed
        )
        networks = {}
        for name, (n, model, x, y) in built.items():
            networks[name] = {
                "model": n.model,
                "build": dict(n.build),
                "batch": n.batch,
                **_cost(case, n, model, x, y, precision),
                "rounds_s": {phase: times[f"{name}/{phase}"] for phase in case.phases},
            }
        record.side_by_side = {
            "writeup": case.writeup,
            "unit": case.unit,
            "phases": list(case.phases),
            "rounds": settings.rounds,
            "warmup_rounds": settings.warmup_rounds,
            "order": "every round one call per network and phase, in a seeded random order per round",
            "attention_path": "author's attention path (need_weights: the 784x784 map is built)"
            if any(n.model == "transformer" for n in case.networks)
            else None,
            "networks": networks,
        }
        # The whole group's seconds per round: what the regression gate compares between runs.
        totals = [sum(round_times) for round_times in zip(*times.values(), strict=True)]
        record.timing = {**asdict(Timing.from_samples(totals, "round-robin")), "measures": "round_s"}
        record.metrics = {"round_s": record.timing["median_s"], "networks": len(networks)}
        record.environment["precision"] = asdict(precision)
        record.environment["first_orders"] = orders[:3]

    params = {"group": case.id, "writeup": case.writeup, "networks": [n.name for n in case.networks]}
    budget = Budget(epochs=0, batch_size=max(n.batch for n in case.networks), lr=0.0, precision="fp32")
    return Job(study=NAME, case_id=case.id, params=params, budget=budget, thresholds={}, measure=measure)
