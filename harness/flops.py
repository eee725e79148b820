"""What a network costs: parameters and forward FLOPs per image, counted by torch."""

from __future__ import annotations

import contextlib

import torch
import torch.nn as nn
from torch.utils import flop_counter
from torch.utils.flop_counter import FlopCounterMode


def _sdpa_cpu_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return flop_counter.sdpa_flop_count(query_shape, key_shape, value_shape)


# torch's counter knows the CUDA attention kernels but not the CPU one, and not the fused
# ``_native_multi_head_attention`` of nn.MultiheadAttention's inference fast path: without these
# the attention products (784x784 scores and their weighted sum in the blocks transformer) cost nothing.
_CPU_ATTENTION = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_cpu_flops}


@contextlib.contextmanager
def _attention_counted():
    """nn.MultiheadAttention through its decomposed path (same result), whose matmuls the counter sees."""
    was = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(was)


def model_stats(model: nn.Module, example: torch.Tensor) -> dict:
    """Parameter count and forward FLOPs per image (torch's counter: one multiply-add = 2 FLOPs)."""
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False, custom_mapping=_CPU_ATTENTION)
    with torch.no_grad(), _attention_counted(), counter:
        model(example[:1])
    model.train(was_training)
    return {"params": sum(p.numel() for p in model.parameters()), "flops_per_image": counter.get_total_flops()}
