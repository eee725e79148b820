"""What a network costs: parameters and forward FLOPs per image, counted by torch."""

from __future__ import annotations

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode


def model_stats(model: nn.Module, example: torch.Tensor) -> dict:
    """Parameter count and forward FLOPs per image (torch's counter: one multiply-add = 2 FLOPs)."""
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(example[:1])
    model.train(was_training)
    return {"params": sum(p.numel() for p in model.parameters()), "flops_per_image": counter.get_total_flops()}
