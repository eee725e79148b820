"""Peak training memory of one step, measured the way the case itself trains.

The step uses the case's own optimizer (``harness.train.make_optimizer`` from the case's budget),
its precision (``harness.precision``) and its batch. CUDA: the caching allocator's
high-water mark over one forward/backward/optimizer step, with its baseline (data already on
the device) subtracted. CPU: the process's resident high-water mark cannot be reset between
cases, so the bytes the step must hold at once are summed instead: parameters, gradients, the
optimizer's state as it stands after the step, and every tensor autograd saves for the
backward pass (in the dtype autocast gave it).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from harness.precision import FP32, Precision
from harness.settings import Budget
from harness.train import Task, as_heads, make_optimizer


def _tensor_bytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def _optimizer_state_bytes(optimizer: torch.optim.Optimizer) -> int:
    return sum(_tensor_bytes(v) for state in optimizer.state.values() for v in state.values() if torch.is_tensor(v))


def training_step_peak(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, task: Task, budget: Budget, precision: Precision = FP32
) -> dict:
    """Peak bytes of one training step at ``x``'s batch size; the model's weights are left as they were."""
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.train()
    device = x.device
    optimizer = make_optimizer(model, budget, device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        with precision.autocast(device, training=True):
            loss = task.loss(as_heads(model(x)), y)
        loss.backward()
        optimizer.step()
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - base
        method = "CUDA allocator peak over one training step (the case's optimizer and precision)"
    else:
        saved = 0
        weights_seen = {p.data_ptr() for p in model.parameters()}

        def pack(t: torch.Tensor) -> torch.Tensor:
            nonlocal saved
            if t.data_ptr() not in weights_seen:  # weights are counted once, below
                weights_seen.add(t.data_ptr())
                saved += _tensor_bytes(t)
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), precision.autocast(device, training=True):
            loss = task.loss(as_heads(model(x)), y)
        loss.backward()
        optimizer.step()
        weights = sum(_tensor_bytes(p) for p in model.parameters())
        peak = saved + 2 * weights + _optimizer_state_bytes(optimizer)  # weights + gradients + optimizer state
        method = "CPU: saved activations + params, grads and optimizer state for one step"
        method += " (the case's optimizer and precision)"
    model.zero_grad(set_to_none=True)
    model.load_state_dict(state)
    return {"peak_memory_bytes": int(peak), "peak_memory_method": method, "peak_memory_batch": len(x)}
