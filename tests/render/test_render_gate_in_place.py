"""Node gates without gradients: the blend written into the processor's own output.

Each render is compared, bit for bit, with the same render recording gradients (where the
blend always makes a new tensor), and inputs, buffers and intermediates the processor's output
shares memory with must come out unchanged.
"""

from __future__ import annotations

import torch
from render_reference import Delay, Gain, Widen, make_tensor_graph, random_parameters
from torch import Tensor, nn

from grafx.data.configs import NodeConfigs
from grafx.processors.core import drywet
from grafx.render import prepare_render, render_grafx, reorder_for_fast_render

FAN = (
    ["in", "in", "gain", "delay", "widen", "gain", "delay", "out"],
    [(0, 2), (1, 3), (2, 4), (3, 4), (2, 5), (4, 6), (5, 6), (6, 7), (0, 7)],
)


def _signal(*shape, seed=0):
    return torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def _gated(params: dict, G_t, types) -> dict:
    counts = torch.bincount(G_t.node_types, minlength=len(G_t.config))
    out = dict(params)
    for i, name in enumerate(types):
        n = int(counts[G_t.config.node_type_to_index[name]])
        weight = _signal(n, 1, seed=10 + i) * 2
        out[name] = {**params.get(name, {}), "drywet_weight": weight}
    return out


def _render(G_t, source, params, processors, grad: bool) -> Tensor:
    data = prepare_render(reorder_for_fast_render(G_t, method="beam"))
    if grad:
        params = {
            k: {n: v.clone().requires_grad_() for n, v in p.items()} for k, p in params.items()
        }
        return render_grafx(source, processors, params, data)[0].detach()
    with torch.no_grad():
        return render_grafx(source, processors, params, data)[0]


def test_no_grad_gated_render_equals_the_recorded_one_bit_for_bit(monkeypatch):
    written = []
    original = drywet._can_write_into

    def spy(wet, dry, mix):
        written.append(original(wet, dry, mix))
        return written[-1]

    monkeypatch.setattr(drywet, "_can_write_into", spy)
    config = NodeConfigs(["gain", "delay", "widen"])
    G_t = make_tensor_graph(*FAN, config)
    procs = {"gain": Gain(), "delay": Delay(), "widen": Widen()}
    params = _gated(random_parameters(G_t, {"gain": Gain(), "widen": Widen()}), G_t, procs)
    x = _signal(2, 2, 64)
    kept = x.clone()
    fast = _render(G_t, x, params, procs, grad=False)
    assert written and all(written)  # every gated type's blend was written in place
    assert torch.equal(fast, _render(G_t, x, params, procs, grad=True))
    assert torch.equal(x, kept)
    data = prepare_render(reorder_for_fast_render(G_t, method="beam"))
    with torch.inference_mode():
        assert torch.equal(render_grafx(x, procs, params, data)[0], fast)


class Through(nn.Module):
    """Returns its input itself (the same tensor)."""

    def forward(self, x: Tensor) -> Tensor:
        return x

    def parameter_size(self) -> dict:
        return {}


class Cached(nn.Module):
    """Returns a module buffer expanded to the input's shape (the same memory every call)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("level", torch.full((1, 1, 1), 0.5, dtype=torch.float64))

    def forward(self, x: Tensor) -> Tensor:
        return self.level.expand_as(x)

    def parameter_size(self) -> dict:
        return {}


class Kept(nn.Module):
    """Returns a slice of a module buffer (contiguous, writable, the same memory every call)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("store", torch.full((4, 2, 32), 0.25, dtype=torch.float64))

    def forward(self, x: Tensor) -> Tensor:
        return self.store[: x.shape[0]]

    def parameter_size(self) -> dict:
        return {}


class Memo(nn.Module):
    """Returns a tensor it keeps in a plain attribute (a cache), not a registered buffer."""

    def __init__(self) -> None:
        super().__init__()
        self.memo = {"last": torch.full((1, 2, 32), -0.5, dtype=torch.float64)}

    def forward(self, x: Tensor) -> Tensor:
        return self.memo["last"]

    def parameter_size(self) -> dict:
        return {}


class Twice(nn.Module):
    """Doubles its input and keeps the result as an intermediate."""

    def forward(self, x: Tensor) -> tuple[Tensor, dict]:
        y = 2 * x
        return y, {"doubled": y}

    def parameter_size(self) -> dict:
        return {}


def test_outputs_sharing_memory_are_not_written_into():
    config = NodeConfigs(["through", "cached", "kept", "memo", "twice"])
    G_t = make_tensor_graph(
        ["in", "through", "cached", "kept", "memo", "twice", "out"],
        [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6)],
        config,
    )
    procs = {
        "through": Through(),
        "cached": Cached(),
        "kept": Kept(),
        "memo": Memo(),
        "twice": Twice(),
    }
    w = {"through": 0.25, "cached": 0.6, "kept": 0.3, "memo": 0.7, "twice": 0.8}
    omega = {k: torch.tensor([[v / (1 - v)]], dtype=torch.float64).log() for k, v in w.items()}
    params = {k: {"drywet_weight": o} for k, o in omega.items()}
    x = _signal(1, 2, 32)
    kept = x.clone()
    data = prepare_render(reorder_for_fast_render(G_t, method="beam"))
    with torch.no_grad():
        y, intermediates = render_grafx(x, procs, params, data)
    assert torch.equal(x, kept)  # the "through" output is the source itself
    assert torch.equal(procs["cached"].level, torch.full((1, 1, 1), 0.5, dtype=torch.float64))
    assert torch.equal(procs["kept"].store, torch.full((4, 2, 32), 0.25, dtype=torch.float64))
    memo = procs["memo"].memo["last"]
    assert torch.equal(memo, torch.full((1, 2, 32), -0.5, dtype=torch.float64))
    mix = {k: 1 / (1 + torch.exp(-o)) for k, o in omega.items()}
    c = torch.lerp(x, torch.full_like(x, 0.5), mix["cached"])
    k = torch.lerp(c, torch.full_like(x, 0.25), mix["kept"])
    m = torch.lerp(k, torch.full_like(x, -0.5), mix["memo"])
    expected = torch.lerp(m, 2 * m, mix["twice"])
    torch.testing.assert_close(y, expected, rtol=1e-14, atol=1e-14)
    assert torch.equal(y, _render(G_t, x, params, procs, grad=True))
    assert any(torch.equal(t, 2 * m) for t in _tensors(intermediates))  # kept intact


def _tensors(tree):
    if isinstance(tree, Tensor):
        yield tree
    elif isinstance(tree, dict):
        for v in tree.values():
            yield from _tensors(v)
    elif isinstance(tree, (list, tuple)):
        for v in tree:
            yield from _tensors(v)
    elif hasattr(tree, "__dict__"):
        yield from _tensors(vars(tree))
