"""The original library's buffer helpers (read, aggregate, write) on :mod:`grafx.render.plan`
objects, importable as ``grafx.render.core`` too.

:func:`~grafx.render.render_grafx` does not use these: it keeps one output tensor per step and
gathers from them (see :mod:`grafx.render.graph`). They are here, under the reference's names,
for code that drives a render plan by hand with one ``(R, C, L)`` signal buffer. Unlike the
reference, the buffer starts at zeros (never uninitialised memory) in the sources' dtype,
and ``read_tensor_dict`` works.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import torch
from torch import Tensor

from grafx.errors import RenderError
from grafx.render.graph import read_rows
from grafx.render.plan import Access, Aggregation

__all__ = [
    "aggregate_tensor",
    "create_signal_buffer",
    "expand_single_tensor",
    "expand_tensor_or_tensor_dict",
    "flatten_batch_and_node",
    "inplace_write_tensor",
    "read_single_tensor",
    "read_tensor_dict",
    "read_tensor_or_tensor_dict",
]


def create_signal_buffer(method: str, num_buffers: int, input_signals: Tensor) -> Any:
    """A buffer of ``num_buffers`` rows whose first rows are the sources.

    ``(K, C, L)`` sources give ``(num_buffers, C, L)``, ``(B, K, C, L)`` give
    ``(B, num_buffers, C, L)``; ``method="one-by-one"`` gives a list instead, one ``(1, C, L)``
    tensor per source followed by ``None`` for the rows still to be written.
    """
    if input_signals.ndim not in (3, 4):
        raise RenderError(
            f"create_signal_buffer: sources of shape {tuple(input_signals.shape)}; expected "
            "(K, C, L) or (B, K, C, L)"
        )
    dim = input_signals.ndim - 3
    num_sources = input_signals.shape[dim]
    if num_buffers < num_sources:
        raise RenderError(f"create_signal_buffer: {num_buffers} rows for {num_sources} sources")
    if method == "one-by-one":
        rows: list[Tensor | None] = [x[None] for x in input_signals]
        return rows + [None] * (num_buffers - num_sources)
    shape = list(input_signals.shape)
    shape[dim] = num_buffers
    buffer = input_signals.new_zeros(shape)
    buffer.narrow(dim, 0, num_sources).copy_(input_signals)
    return buffer


def _first_row(access: Access) -> int:
    """The row an access starts at (the one-by-one buffer's single row)."""
    return int(access.index[0])


def read_single_tensor(
    x: Tensor, access: Access, dim: int = 0, return_copy: bool = False, postprocess=None
) -> Tensor:
    """Rows of ``x`` along ``dim`` by ``access``: a view for a slice (a copy if asked)."""
    if access.method not in ("slice", "index", "none"):
        raise RenderError(f"unknown read method {access.method!r}; use slice, index or none")
    if access.method == "index":  # the engine's plans hold tensors; a list is accepted here
        access = Access("index", torch.as_tensor(access.index, device=x.device))
    rows = read_rows(x, access, dim)
    if return_copy and access.method == "slice":
        rows = rows.clone()
    return postprocess(rows) if postprocess is not None else rows


def read_tensor_or_tensor_dict(
    x: Any, access: Access, dim: int = 0, return_copy: bool = False, postprocess=None
) -> Any:
    """:func:`read_single_tensor` on a tensor, on every tensor of a (nested) dict, or the row
    ``access`` starts at of a list (the one-by-one buffer)."""
    if isinstance(x, Tensor):
        return read_single_tensor(x, access, dim, return_copy, postprocess)
    if isinstance(x, Mapping):
        return {
            k: read_tensor_or_tensor_dict(v, access, dim, return_copy, postprocess)
            for k, v in x.items()
        }
    if isinstance(x, list):
        return x[_first_row(access)]
    raise RenderError(f"cannot read rows of a {type(x).__name__}")


def read_tensor_dict(x: Mapping, access: Access, dim: int = 0, return_copy: bool = False) -> dict:
    """:func:`read_single_tensor` on every value of a dict of tensors."""
    return {k: read_single_tensor(v, access, dim, return_copy) for k, v in x.items()}


def inplace_write_tensor(method: str, x: Any, y: Any, access: Access, dim: int = 0) -> None:
    """Write ``y`` into the rows ``access`` names of the buffer ``x`` (``dim`` 0 or 1)."""
    if method == "one-by-one":
        x[_first_row(access)] = y
        return
    if access.method == "none":
        return  # a node without outlets (an ``out``) owns no rows
    if dim not in (0, 1):
        raise RenderError(f"inplace_write_tensor: dim must be 0 or 1, got {dim}")
    if access.method == "slice":
        start, stop = cast(tuple, access.index)
        x.narrow(dim, start, stop - start).copy_(y)
    elif access.method == "index":
        index = torch.as_tensor(access.index, device=x.device)
        if dim == 0:
            x[index] = y
        else:
            x[:, index] = y
    else:
        raise RenderError(f"unknown write method {access.method!r}; use slice, index or none")


def aggregate_tensor(x: Tensor, aggregation: Aggregation, dim: int = 0) -> Tensor:
    """Sum rows into node inputs: ``"sum"`` (all into one, kept as a row), ``"scatter"`` (row
    ``e`` into node ``index[e]``) or ``"none"`` (unchanged)."""
    if aggregation.method == "none":
        return x
    if aggregation.method == "sum":
        return x.sum(dim, keepdim=True)
    if aggregation.method == "scatter":
        index = torch.as_tensor(aggregation.index, device=x.device)
        count = aggregation.num_nodes
        if not count and index.numel():
            count = int(index.max()) + 1
        shape = list(x.shape)
        shape[dim] = count
        return x.new_zeros(shape).index_add_(dim, index, x)
    raise RenderError(f"unknown aggregation {aggregation.method!r}; use sum, scatter or none")


def expand_single_tensor(x: Tensor, expand: int = 2, dim: int = 0) -> Tensor:
    """``x`` with a new axis at ``dim`` repeated ``expand`` times (a contiguous copy)."""
    x = x.unsqueeze(dim)
    sizes = [-1] * x.ndim
    sizes[dim] = expand
    return x.expand(*sizes).contiguous()


def expand_tensor_or_tensor_dict(x: Any, expand: int = 2, dim: int = 0) -> Any:
    """:func:`expand_single_tensor` on a tensor or on every tensor of a (nested) dict."""
    if isinstance(x, Tensor):
        return expand_single_tensor(x, expand, dim)
    return {k: expand_tensor_or_tensor_dict(v, expand, dim) for k, v in x.items()}


def flatten_batch_and_node(x: Tensor) -> Tensor:
    """``(B, N, ...)`` to ``(B * N, ...)``, batch-major."""
    return x.reshape(-1, *x.shape[2:])
