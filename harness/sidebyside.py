"""Several networks timed side by side in one process: the only timing a speed ratio can rest on.

Between two processes the same code's time moves up to 1.2x at one thread and 1.6x at two on a
small shared CPU (docs/gate.md), more than most differences between the networks compared.
Here every network is built first, then each round times every network once, in a fresh
seeded order per round (so no network always follows the same neighbour, nor always comes
first after a pause), and a host that speeds up or slows down during the run moves all of
them alike. A ratio between two networks is then taken round by round (reports/comparison.py).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping

import torch

from harness.runtime import timed


def round_robin(
    steps: Mapping[str, Callable[[], object]], *, rounds: int, warmup_rounds: int, device: torch.device, seed: int
) -> tuple[dict[str, list[float]], list[list[str]]]:
    """Seconds of every ``steps[name]()`` call, ``rounds`` per name, after ``warmup_rounds``
    untimed ones (allocator, oneDNN primitive caches); also the order each round ran in."""
    names = list(steps)
    order_rng = random.Random(seed)
    for _ in range(warmup_rounds):
        for name in names:
            steps[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    orders = []
    for _ in range(rounds):
        order = order_rng.sample(names, len(names))
        for name in order:
            times[name].append(timed(device, steps[name])[1])
        orders.append(order)
    return times, orders
