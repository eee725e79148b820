"""Peak training memory of one step, measured the same way for every case on a device.

CUDA: the caching allocator's high-water mark (``torch.cuda.max_memory_allocated``) over one
forward/backward/optimizer step, with its baseline (data already on the device) subtracted.
CPU: the process's resident high-water mark cannot be reset between cases, so instead the
bytes a step must hold at once are summed: parameters, gradients, the Adam state (two
tensors per parameter) and every tensor autograd saves for the backward pass.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from harness.train import Task, as_heads


def _tensor_bytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def training_step_peak(model: nn.Module, x: torch.Tensor, y: torch.Tensor, task: Task) -> dict:
    """Peak bytes of one training step at ``x``'s batch size; the model's weights are left as they were."""
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.train()
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)
        torch.cuda.reset_peak_memory_stats(x.device)
        base = torch.cuda.memory_allocated(x.device)
        optimizer = torch.optim.Adam(model.parameters())
        loss = task.loss(as_heads(model(x)), y)
        loss.backward()
        optimizer.step()
        torch.cuda.synchronize(x.device)
        peak = torch.cuda.max_memory_allocated(x.device) - base
        method = "CUDA allocator peak over one training step"
    else:
        saved = 0
        weights_seen = {p.data_ptr() for p in model.parameters()}

        def pack(t: torch.Tensor) -> torch.Tensor:
            nonlocal saved
            if t.data_ptr() not in weights_seen:  # weights are counted once, below
                weights_seen.add(t.data_ptr())
                saved += _tensor_bytes(t)
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = task.loss(as_heads(model(x)), y)
        loss.backward()
        weights = sum(_tensor_bytes(p) for p in model.parameters())
        peak = saved + 4 * weights  # weights + gradients + Adam's two moment buffers
        method = "CPU: saved activations + params, grads and Adam state for one step"
    model.zero_grad(set_to_none=True)
    model.load_state_dict(state)
    return {"peak_memory_bytes": int(peak), "peak_memory_method": method, "peak_memory_batch": len(x)}
