"""The reference's internal-but-public render modules: ``grafx.render.order.tensor``,
``grafx.render.order.graph`` and ``grafx.render.core``, checked against the public API and
plain tensor arithmetic."""

from __future__ import annotations

import pytest
import torch

from grafx.data import GRAFX, convert_to_tensor
from grafx.errors import GraphError, RenderError
from grafx.presets import build_mixing_console
from grafx.render import compute_render_order, reorder_for_fast_render
from grafx.render.core import (
    aggregate_tensor,
    create_signal_buffer,
    expand_single_tensor,
    expand_tensor_or_tensor_dict,
    flatten_batch_and_node,
    inplace_write_tensor,
    read_single_tensor,
    read_tensor_dict,
    read_tensor_or_tensor_dict,
)
from grafx.render.order.graph import return_render_ordered_graph
from grafx.render.order.tensor import (
    compute_render_order_tensor,
    node_id_from_render_order,
    return_render_ordered_tensor,
)
from grafx.render.plan import Access, Aggregation


def _graph() -> GRAFX:
    return build_mixing_console(3, num_buses=1, chain=["eq", "gain_pan"])[0]


def test_order_modules_agree_with_the_public_functions():
    G = _graph()
    G_t = convert_to_tensor(G)
    sequence, order = compute_render_order_tensor(G_t, "greedy")
    expected_sequence, expected_order = compute_render_order(G_t, method="greedy")
    assert list(sequence) == list(expected_sequence)
    assert torch.equal(order, expected_order)
    reordered = return_render_ordered_tensor(G_t)
    assert torch.equal(reordered.node_types, reorder_for_fast_render(G_t).node_types)
    annotated = return_render_ordered_graph(G)
    assert annotated.type_sequence == reorder_for_fast_render(G).type_sequence
    with pytest.raises(GraphError, match="GRAFXTensor"):
        return_render_ordered_tensor(G)
    with pytest.raises(GraphError, match="GRAFX"):
        return_render_ordered_graph(G_t)


def test_node_id_from_render_order_sorts_by_step_then_id():
    # steps of nodes 0..4: new ids by (step, old id): node 3 (step 0) first, then 0, 4 (step 1)...
    order = torch.tensor([1, 2, 2, 0, 1])
    assert node_id_from_render_order(order).tolist() == [1, 3, 4, 0, 2]


def test_buffer_reads_writes_and_aggregations():
    sources = torch.arange(12.0, dtype=torch.float64).reshape(2, 2, 3)
    buffer = create_signal_buffer("beam", 5, sources)
    assert buffer.shape == (5, 2, 3) and buffer.dtype == torch.float64
    assert torch.equal(buffer[:2], sources) and not buffer[2:].any()
    batched = create_signal_buffer("beam", 4, sources[None].expand(3, 2, 2, 3))
    assert batched.shape == (3, 4, 2, 3) and torch.equal(batched[1, :2], sources)
    rows = create_signal_buffer("one-by-one", 4, sources)
    assert len(rows) == 4 and rows[2] is None and torch.equal(rows[1], sources[1:2])

    inplace_write_tensor("beam", buffer, 2 * sources, Access("slice", (2, 4)))
    assert torch.equal(buffer[2:4], 2 * sources)
    inplace_write_tensor("beam", buffer, sources[:1], Access("index", torch.tensor([4])))
    assert torch.equal(buffer[4], sources[0])
    view = read_single_tensor(buffer, Access("slice", (1, 3)))
    assert view.data_ptr() == buffer[1].data_ptr()
    copy = read_single_tensor(buffer, Access("slice", (1, 3)), return_copy=True)
    assert copy.data_ptr() != buffer[1].data_ptr() and torch.equal(copy, buffer[1:3])
    picked = read_single_tensor(
        buffer, Access("index", torch.tensor([4, 0])), postprocess=torch.neg
    )
    assert torch.equal(picked, -buffer[[4, 0]])
    tree = read_tensor_or_tensor_dict({"a": buffer, "b": {"c": buffer}}, Access("slice", (0, 1)))
    assert torch.equal(tree["b"]["c"], buffer[:1])
    assert torch.equal(read_tensor_dict({"a": buffer}, Access("index", [3]))["a"], buffer[[3]])
    assert read_tensor_or_tensor_dict(rows, Access("slice", (1, 2))) is rows[1]

    x = torch.arange(8.0).reshape(4, 2)
    assert torch.equal(aggregate_tensor(x, Aggregation("sum")), x.sum(0, keepdim=True))
    assert aggregate_tensor(x, Aggregation("none")) is x
    scattered = aggregate_tensor(x, Aggregation("scatter", torch.tensor([1, 0, 1, 2]), 3))
    assert torch.equal(scattered, torch.stack([x[1], x[0] + x[2], x[3]]))
    with pytest.raises(RenderError, match="aggregation"):
        aggregate_tensor(x, Aggregation("mean"))


def test_expansions():
    x = torch.arange(6.0).reshape(2, 3)
    y = expand_single_tensor(x, expand=4, dim=0)
    assert y.shape == (4, 2, 3) and y.is_contiguous() and torch.equal(y[3], x)
    tree = expand_tensor_or_tensor_dict({"p": {"q": x}}, expand=2, dim=1)
    assert tree["p"]["q"].shape == (2, 2, 3) and torch.equal(tree["p"]["q"][:, 1], x)
    assert torch.equal(flatten_batch_and_node(y), x.repeat(4, 1))
