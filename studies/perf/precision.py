"""fp32 against bf16 autocast, interleaved in one process: ``python -m studies.perf.precision``.

For each model the same network and optimizer alternate between the two precisions in
blocks (fp32, bf16, fp32, bf16, ...), so a host that speeds up or slows down during the run
moves both sides alike; the medians of the blocks and their spread are reported. Training
goes through ``train_one_epoch`` at the study's batch size, inference through ``evaluate``
at the study's evaluation batch, the two functions every case uses. Images are seeded random
uint8 28x28: speed does not depend on what the pixels show.

Prints a Markdown table and the models that ``auto`` should keep in fp32 on this CPU;
``--json PATH`` also writes every block's rates, and ``--from PATH`` prints both again from
such a file. The stored measurement decides ``harness.precision.CPU_FP32_TRAINING`` and
``CPU_FP32_INFERENCE`` (PERFORMANCE.md, "Precision"; a test keeps them in step).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

import models
from harness.precision import Precision
from harness.runtime import seed_everything, timed
from harness.settings import InputPrep
from harness.train import ClassificationTask, DeviceData, adam, evaluate, prepare_model, train_one_epoch
from studies import blocks, emnist, sbh
from studies.sbh.plan import INPUT as SBH_INPUT
from studies.sbh.plan import SbhTask

PRECISIONS = {"fp32": Precision("fp32", "fp32", "measured"), "bf16": Precision("bf16", "bf16", "measured")}


@dataclass(frozen=True)
class Subject:
    name: str  # row label
    model: str  # registry name
    build: dict
    prep: InputPrep
    batch: int  # training batch of the study's cases
    eval_batch: int
    classes: int
    train_steps: int  # per timed block
    sbh: bool = False


def subjects() -> list[Subject]:
    out = [Subject("lenet5-new", "lenet5-new", {"num_classes": 47}, emnist.PAD, 128, 1024, 47, 24)]
    for backbone, steps in (("resnet18", 8), ("resnet34", 6), ("resnet50", 4)):
        out += [
            Subject(
                f"{s}-{backbone}", s, {"backbone": backbone, "weights": "none"}, SBH_INPUT, 32, 1024, 3, steps, True
            )
            for s in sbh.STRUCTURES
        ]
    out += [
        Subject(
            n, n, {}, blocks.INPUT, blocks.WRITEUP_BATCH[n], blocks.WRITEUP_BATCH[n], 10, 2 if n == "transformer" else 4
        )
        for n in (*blocks.NETWORKS, blocks.REFERENCE)
    ]
    return out


def measure(subject: Subject, blocks_per_side: int, eval_images: int) -> dict:
    device = torch.device("cpu")
    generator = seed_everything(0)
    n_train = subject.train_steps * subject.batch
    images = torch.randint(0, 256, (max(n_train, eval_images), 28, 28), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, subject.classes, (len(images),), generator=generator)
    train = DeviceData(images[:n_train], labels[:n_train], subject.prep)
    test = DeviceData(images[:eval_images], labels[:eval_images], subject.prep)
    model = prepare_model(models.create(subject.model, **subject.build), device)
    optimizer = adam(model, 1e-4, device)
    task = SbhTask() if subject.sbh else ClassificationTask

    def train_block(precision: Precision) -> float:
        step = lambda: train_one_epoch(  # noqa: E731
            model,
            optimizer,
            train,
            task,
            batch_size=subject.batch,
            generator=generator,
            device=device,
            epoch=1,
            precision=precision,
        )
        return timed(device, step)[1]

    def infer_block(precision: Precision) -> float:
        return timed(
            device, lambda: evaluate(model, test, batch_size=subject.eval_batch, device=device, precision=precision)
        )[1]

    times: dict[str, dict[str, list[float]]] = {p: {"train": [], "inference": []} for p in PRECISIONS}
    for precision in PRECISIONS.values():  # warm-up: allocator, oneDNN primitive caches
        train_block(precision)
        infer_block(precision)
    for _ in range(blocks_per_side):
        for name, precision in PRECISIONS.items():
            times[name]["train"].append(train_block(precision))
            times[name]["inference"].append(infer_block(precision))
    rates = {
        name: {
            "train_images_per_s": [n_train / t for t in side["train"]],
            "inference_images_per_s": [eval_images / t for t in side["inference"]],
        }
        for name, side in times.items()
    }
    return {"subject": subject.name, "train_images": n_train, "eval_images": eval_images, "rates": rates}


def _median_spread(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f})"


def _ratios(result: dict, key: str) -> list[float]:
    """bf16/fp32 per interleaved pair of blocks: each pair ran side by side in time."""
    return [b / f for f, b in zip(result["rates"]["fp32"][key], result["rates"]["bf16"][key], strict=True)]


def table(results: list[dict]) -> str:
    lines = [
        "| model | train img/s fp32 | train img/s bf16 | bf16/fp32 train | inference img/s fp32 | "
        "inference img/s bf16 | bf16/fp32 inference |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        fp32, bf16 = r["rates"]["fp32"], r["rates"]["bf16"]
        tr, inf = _ratios(r, "train_images_per_s"), _ratios(r, "inference_images_per_s")
        lines.append(
            f"| {r['subject']} | {_median_spread(fp32['train_images_per_s'])} | "
            f"{_median_spread(bf16['train_images_per_s'])} | {statistics.median(tr):.2f}x "
            f"({min(tr):.2f}-{max(tr):.2f}) | {_median_spread(fp32['inference_images_per_s'])} | "
            f"{_median_spread(bf16['inference_images_per_s'])} | {statistics.median(inf):.2f}x "
            f"({min(inf):.2f}-{max(inf):.2f}) |"
        )
    return "\n".join(lines)


def slower_in_bf16(results: list[dict], key: str) -> frozenset[str]:
    """Registry names for which bf16 was slower than fp32 (median interleaved ratio below 1) in
    most of their rows: a model measured with several backbones follows the majority of them."""
    model_of = {s.name: s.model for s in subjects()}
    votes: dict[str, list[bool]] = {}
    for r in results:
        votes.setdefault(model_of[r["subject"]], []).append(statistics.median(_ratios(r, key)) < 1.0)
    return frozenset(model for model, slower in votes.items() if sum(slower) * 2 > len(slower))


def verdict(results: list[dict]) -> str:
    lines = []
    for part, key in (("training", "train_images_per_s"), ("inference", "inference_images_per_s")):
        names = sorted(slower_in_bf16(results, key))
        lines.append(f"fp32 {part} on this CPU (bf16 slower): {', '.join(names) or 'none'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="row names to measure (default: all)")
    parser.add_argument("--blocks", type=int, default=5, help="timed blocks per precision (default 5)")
    parser.add_argument("--eval-images", type=int, default=1024)
    parser.add_argument("--json", type=Path, help="write every block's rates here")
    parser.add_argument("--from", dest="source", type=Path, help="measure nothing: table and verdict of a --json file")
    args = parser.parse_args(argv)
    if args.source:
        try:
            stored = json.loads(args.source.read_text())
            print(table(stored) + "\n\n" + verdict(stored))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(
                f"--from {args.source}: not a --json file of this tool ({type(exc).__name__}: {exc})", file=sys.stderr
            )
            return 2
        return 0
    chosen = [s for s in subjects() if not args.only or s.name in args.only]
    if not chosen:
        print(f"--only {' '.join(args.only)}: no such row; rows: {', '.join(s.name for s in subjects())}")
        return 2
    results = []
    for subject in chosen:
        results.append(measure(subject, args.blocks, args.eval_images))
        print(table(results[-1:]).splitlines()[-1], flush=True)
    print(f"\n{torch.get_num_threads()} threads, torch {torch.__version__}\n")
    print(table(results) + "\n\n" + verdict(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
