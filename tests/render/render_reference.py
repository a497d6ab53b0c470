"""Test helpers for the render engine: small processors, a plain reference renderer, graphs.

The reference renderer is deliberately naive: one node at a time in a topological order, each
inlet the sum of every incoming edge, each processor called on that single node. Every render
method must give the same audio.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from grafx.data.configs import NodeConfigs
from grafx.data.tensor import GRAFXTensor


class Gain(nn.Module):
    """``y = g x`` with one gain per node."""

    def forward(self, x: Tensor, gain: Tensor) -> Tensor:
        return x * gain.unsqueeze(-1)

    def parameter_size(self) -> dict:
        return {"gain": (1,)}


class Delay(nn.Module):
    """Delay by one sample (no parameters)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.pad(x, (1, 0))[..., :-1]

    def parameter_size(self) -> dict:
        return {}


class Matrix(nn.Module):
    """Two inlets, two outlets: ``[x, y] = W [a, b]`` per node."""

    def forward(self, a: Tensor, b: Tensor, weight: Tensor) -> list[Tensor]:
        w = weight[..., None, None]
        return [w[:, 0, 0] * a + w[:, 0, 1] * b, w[:, 1, 0] * a + w[:, 1, 1] * b]

    def parameter_size(self) -> dict:
        return {"weight": (2, 2)}


class Widen(nn.Module):
    """Mono or stereo in, stereo out: the channel mean panned by an angle."""

    def forward(self, x: Tensor, angle: Tensor) -> Tensor:
        mono = x.mean(1, keepdim=True)
        return torch.cat(
            [mono * torch.cos(angle)[..., None], mono * torch.sin(angle)[..., None]], 1
        )

    def parameter_size(self) -> dict:
        return {"angle": (1,)}


class Tagged(nn.Module):
    """Doubles its input and reports the output energy per node as an extra."""

    def forward(self, x: Tensor) -> tuple[Tensor, dict]:
        y = 2 * x
        return y, {"energy": y.pow(2).sum(dim=(-1, -2))}


MIMO_CONFIG = NodeConfigs(
    {
        "gain": {"inlets": ["main"], "outlets": ["main"]},
        "delay": {"inlets": ["main"], "outlets": ["main"]},
        "matrix": {"inlets": ["a", "b"], "outlets": ["x", "y"]},
        "widen": {"inlets": ["main"], "outlets": ["main"]},
    }
)
PROCESSORS = {"gain": Gain(), "delay": Delay(), "matrix": Matrix(), "widen": Widen()}


def random_parameters(G_t: GRAFXTensor, processors: dict, seed: int = 0, dtype=torch.float64):
    """Parameters for every processor type, rows in node order."""
    generator = torch.Generator().manual_seed(seed)
    counts = torch.bincount(G_t.node_types, minlength=len(G_t.config))
    params = {}
    for name, processor in processors.items():
        n = int(counts[G_t.config.node_type_to_index[name]])
        params[name] = {
            key: torch.rand(n, *shape, generator=generator, dtype=dtype) + 0.5
            for key, shape in processor.parameter_size().items()
        }
    return params


def _broadcast_sum(signals: list[Tensor]) -> Tensor:
    channels = max(s.shape[-2] for s in signals)
    total = 0
    for s in signals:
        total = total + (
            s if s.shape[-2] == channels else s.expand(*s.shape[:-2], channels, s.shape[-1])
        )
    return total


def _param_row(value, row: int, batch: int):
    if isinstance(value, Tensor):
        return value[row : row + 1].expand(batch, *value.shape[1:])
    return {k: _param_row(v, row, batch) for k, v in value.items()}


def reference_render(
    G_t: GRAFXTensor, source: Tensor, processors: dict, parameters: dict, edge_weights=None
):
    """Render one node at a time; returns ``(output, node outputs by (row, outlet))``.

    ``edge_weights``, one number per edge in ``edge_indices`` order, scales each edge's signal.

    ``source`` is ``(K, C, L)`` or ``(B, K, C, L)``; the output is ``(N_out, C, L)`` or
    ``(B, N_out, C, L)``, ``out`` nodes in row order. Mono and stereo meeting at an inlet are
    broadcast, as the engine documents.
    """
    config = G_t.config
    types = [config.node_types[t] for t in G_t.node_types.tolist()]
    V = len(types)
    batched = source.ndim == 4
    x = source if batched else source.unsqueeze(0)
    B = x.shape[0]
    src, dst = G_t.edge_indices.tolist()
    if G_t.edge_types is None:
        outlet, inlet = [0] * len(src), [0] * len(src)
    else:
        outlet, inlet = G_t.edge_types.tolist()
    incoming = {v: [] for v in range(V)}
    for e, (s, d, o, i) in enumerate(zip(src, dst, outlet, inlet, strict=True)):
        incoming[d].append((s, o, i, e))
    # Kahn's algorithm, plain lists.
    indegree = [len(incoming[v]) for v in range(V)]
    succ = {v: [] for v in range(V)}
    for s, d in zip(src, dst, strict=True):
        succ[s].append(d)
    ready = [v for v in range(V) if indegree[v] == 0]
    topo = []
    while ready:
        v = ready.pop(0)
        topo.append(v)
        for w in succ[v]:
            indegree[w] -= 1
            if indegree[w] == 0:
                ready.append(w)
    assert len(topo) == V, "reference renderer needs a DAG"
    type_rank, counter = [0] * V, {}
    for v in range(V):
        type_rank[v] = counter.get(types[v], 0)
        counter[types[v]] = type_rank[v] + 1
    in_rows = [v for v in range(V) if types[v] == "in"]
    signal = {}
    for v in topo:
        t = types[v]
        if t == "in":
            signal[(v, 0)] = x[:, in_rows.index(v)]
            continue
        inputs = []
        for k in range(config.num_inlets[t]):
            parts = [
                signal[(s, o)] * (1.0 if edge_weights is None else float(edge_weights[e]))
                for s, o, i, e in incoming[v]
                if i == k
            ]
            inputs.append(_broadcast_sum(parts))
        if t in processors:
            kwargs = _param_row(parameters.get(t, {}), type_rank[v], B)
            result = processors[t](*inputs, **kwargs)
            if isinstance(result, tuple):
                result = result[0]
            outs = result if isinstance(result, list) else [result]
        else:
            outs = inputs
        for o, y in enumerate(outs):
            signal[(v, o)] = y
    outs = [signal[(v, 0)] for v in range(V) if types[v] == "out"]
    channels = max(o.shape[-2] for o in outs)
    output = torch.stack([o.expand(B, channels, o.shape[-1]) for o in outs], 1)
    return (output if batched else output[0]), signal


def make_tensor_graph(
    types: list[str],
    edges: list[tuple],
    config: NodeConfigs = MIMO_CONFIG,
    node_ids: list[int] | None = None,
) -> GRAFXTensor:
    """GRAFXTensor from type names and ``(src, dst)`` or ``(src, dst, outlet, inlet)`` edges."""
    full = [e if len(e) == 4 else (*e, 0, 0) for e in edges]
    edge_indices = torch.tensor([[e[0] for e in full], [e[1] for e in full]], dtype=torch.long)
    edge_indices = edge_indices.reshape(2, -1)
    edge_types = None
    if not config.siso_only:
        edge_types = torch.tensor([[e[2] for e in full], [e[3] for e in full]], dtype=torch.long)
        edge_types = edge_types.reshape(2, -1)
    return GRAFXTensor(
        node_types=torch.tensor([config.node_type_to_index[t] for t in types], dtype=torch.long),
        edge_indices=edge_indices,
        edge_types=edge_types,
        counter=len(types),
        config=config,
        config_hash=hash(config),
        node_ids=None if node_ids is None else torch.tensor(node_ids, dtype=torch.long),
    )


def union(graphs: list[GRAFXTensor]) -> GRAFXTensor:
    """Disjoint union of tensor graphs (a graph batch), ``graph_ids`` set."""
    offset, edges, types, ports, ids, gids = 0, [], [], [], [], []
    for g, G_t in enumerate(graphs):
        types.append(G_t.node_types)
        edges.append(G_t.edge_indices + offset)
        if G_t.edge_types is not None:
            ports.append(G_t.edge_types)
        ids.append(G_t.node_ids if G_t.node_ids is not None else torch.arange(G_t.num_nodes))
        gids.append(torch.full((G_t.num_nodes,), g, dtype=torch.long))
        offset += G_t.num_nodes
    first = graphs[0]
    return first.copy(
        node_types=torch.cat(types),
        edge_indices=torch.cat(edges, 1),
        edge_types=torch.cat(ports, 1) if ports else None,
        node_ids=torch.cat(ids),
        graph_ids=torch.cat(gids),
        batch=True,
        rendering_orders=None,
        type_sequence=None,
    )


def chain_types(n: int) -> list[str]:
    """``in``, ``n`` processors cycling through gain/delay, ``out``."""
    return ["in", *(("gain", "delay")[i % 2] for i in range(n)), "out"]
