r"""Per-type parameter trees: creating them, and reading and writing one node's values.

Parameters live per node type: ``parameters[t][k]`` is a tensor whose row ``n`` belongs to the
``n``-th node of type ``t`` (rows in ascending node id for a :class:`~grafx.data.graph.GRAFX`, and
in row order for a :class:`~grafx.data.tensor.GRAFXTensor`, which keeps that correspondence
through reordering). :func:`node_parameters` answers "which values are node 7's?".

:mod:`grafx.utils` re-exports these under the original library's module path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.modules.module import _addindent

from grafx.data.graph import GRAFX
from grafx.data.rows import (
    _is_graph,
    count_nodes_per_type,
    parameter_row,
)
from grafx.errors import GraphError, ParameterError

__all__ = [
    "BARE_PARAMETER_KEY",
    "GrafxParameterDict",
    "create_empty_parameters",
    "create_empty_parameters_from_shape_dict",
    "node_parameters",
    "set_node_parameters",
    "fill_parameters_from_graph",
    "create_parameters_from_graph",
]

#: Key of the single parameter of a processor whose ``parameter_size()`` is a bare shape
#: (the render engine passes it to the processor under this keyword).
BARE_PARAMETER_KEY = "parameter"


class GrafxParameterDict(nn.ParameterDict):
    """An ``nn.ParameterDict`` that prints one entry per line, nested dicts indented.

    It is a plain :class:`torch.nn.ParameterDict` in every other way (registered, trainable,
    moved by ``.to``); only ``repr`` differs, to match the documentation's layout (torch prints a
    one-entry dict on a single line and lists nested dicts twice).
    """

    def _get_name(self) -> str:
        return "ParameterDict"

    def __repr__(self) -> str:
        lines = []
        for key, value in self.items():
            if isinstance(value, Tensor):
                kind = "Parameter" if isinstance(value, nn.Parameter) else "Tensor"
                size = "x".join(str(s) for s in value.shape)
                device = "" if value.device.type == "cpu" else f" ({value.device})"
                text = f"{kind} containing: [{torch.typename(value)} of size {size}{device}]"
            else:
                text = _addindent(repr(value), 2)
            lines.append(f"  ({key}): {text}")
        if not lines:
            return "ParameterDict()"
        return "ParameterDict(\n" + "\n".join(lines) + "\n)"


# ----------------------------------------------------------------------------------------------
# Parameter creation


def _normal(shape: tuple[int, ...], std: float, dtype, device, generator) -> Tensor:
    values = torch.randn(shape, generator=generator, dtype=dtype or torch.get_default_dtype())
    return (values * std).to(device)


def create_empty_parameters_from_shape_dict(
    parameter_shapes: Any,
    num_nodes: int,
    std: float = 1e-2,
    root: bool = True,
    device: torch.device | str | None = "cpu",
    dtype: torch.dtype | None = None,
    generator: torch.Generator | None = None,
) -> GrafxParameterDict | nn.Parameter:
    r"""Random :math:`\mathcal{N}(0, \mathrm{std}^2)` parameters for ``num_nodes`` nodes.

    Args:
        parameter_shapes: a ``parameter_size()`` result: ``{key: int | tuple | dict}``, or a
            bare ``int``/``tuple``.
        num_nodes: leading dimension of every tensor.
        std: standard deviation.
        root: ``True`` at the top level; a bare shape there becomes ``{"parameter": ...}``.
        device, dtype: of the tensors (default dtype: ``torch.get_default_dtype()``).
        generator: optional CPU generator, for reproducible values.

    Returns:
        A (nested) :class:`GrafxParameterDict`; leaves are ``nn.Parameter`` of shape
        ``(num_nodes, *shape)``.

    Difference from the original (bug fixed): a bare-shape ``parameter_size()`` gives a
    registered, trainable ``nn.Parameter`` under the key ``"parameter"`` (the original returned
    an unregistered plain tensor in a plain dict, which ``.to()`` and optimisers missed).
    """
    if isinstance(parameter_shapes, int):
        parameter_shapes = (parameter_shapes,)
    if isinstance(parameter_shapes, (tuple, list, torch.Size)):
        if not all(isinstance(s, int) and s >= 0 for s in parameter_shapes):
            raise ParameterError(f"invalid parameter shape {parameter_shapes!r}")
        shape = (num_nodes, *parameter_shapes)
        parameter = nn.Parameter(_normal(shape, std, dtype, device, generator))
        if root:
            return GrafxParameterDict({BARE_PARAMETER_KEY: parameter})
        return parameter
    if isinstance(parameter_shapes, Mapping):
        tree = GrafxParameterDict()
        for key in sorted(parameter_shapes):
            tree[key] = create_empty_parameters_from_shape_dict(
                parameter_shapes[key], num_nodes, std, False, device, dtype, generator
            )
        return tree
    raise ParameterError(
        f"parameter shape(s) of type {type(parameter_shapes).__name__} are not supported; "
        "use an int, a tuple of ints or a dict of them"
    )


def _split_graph_and_processors(first: Any, second: Any) -> tuple[Any, Any]:
    def is_processors(value: Any) -> bool:
        return isinstance(value, (Mapping, nn.ModuleDict))

    if _is_graph(first) and is_processors(second):
        return first, second
    if _is_graph(second) and is_processors(first):
        return second, first
    raise ParameterError(
        "create_empty_parameters takes a graph (GRAFX or GRAFXTensor) and a dict of processors, "
        f"in either order; got {type(first).__name__} and {type(second).__name__}"
    )


def create_empty_parameters(
    G_or_processors: Any,
    processors_or_G: Any,
    std: float = 1e-2,
    *,
    device: torch.device | str | None = "cpu",
    dtype: torch.dtype | None = None,
    generator: torch.Generator | None = None,
) -> nn.ModuleDict:
    r"""Random parameters for every processor type of a graph.

    Both call forms work: the documented ``create_empty_parameters(G_t, processors)`` and the
    original implementation's ``create_empty_parameters(processors, G)``; the graph may be a
    :class:`~grafx.data.graph.GRAFX` or a :class:`~grafx.data.tensor.GRAFXTensor`.

    Args:
        G_or_processors, processors_or_G: the graph and ``{node_type: processor}``.
        std: standard deviation of the :math:`\mathcal{N}(0, \mathrm{std}^2)` values.
        device, dtype, generator: see :func:`create_empty_parameters_from_shape_dict`.

    Returns:
        ``nn.ModuleDict`` with one parameter dict per processor type (in the processors' order,
        keys sorted inside), each tensor ``(|V_t|, *shape)`` with :math:`|V_t|` the number of
        nodes of that type (0 when the graph has none).

    Example:
        >>> from grafx.data import GRAFX, NodeConfigs
        >>> from grafx.processors import StereoGain
        >>> G = GRAFX(config=NodeConfigs(["gain"]))
        >>> _ = G.add_serial_chain(["in", "gain", "gain", "out"])
        >>> print(create_empty_parameters(G, {"gain": StereoGain()}))
        ModuleDict(
          (gain): ParameterDict(
            (log_gain): Parameter containing: [torch.FloatTensor of size 2x2]
          )
        )
    """
    G, processors = _split_graph_and_processors(G_or_processors, processors_or_G)
    counts = count_nodes_per_type(G, list(processors.keys()))
    parameters = nn.ModuleDict()
    for node_type, processor in processors.items():
        if not hasattr(processor, "parameter_size"):
            raise ParameterError(
                f"processor for type {node_type!r} ({type(processor).__name__}) has no "
                "parameter_size() method"
            )
        tree = create_empty_parameters_from_shape_dict(
            processor.parameter_size(),
            counts[node_type],
            std,
            device=device,
            dtype=dtype,
            generator=generator,
        )
        assert isinstance(tree, GrafxParameterDict)  # the root is always a dict
        parameters[node_type] = tree
    return parameters


# ----------------------------------------------------------------------------------------------
# One node's parameters


def _slice_tree(value: Any, row: int, keepdim: bool, path: str) -> Any:
    if isinstance(value, Tensor):
        if value.ndim == 0 or row >= value.shape[0]:
            raise ParameterError(
                f"parameter {path!r} has shape {tuple(value.shape)}; it has no row {row}"
            )
        return value[row : row + 1] if keepdim else value[row]
    if hasattr(value, "items"):
        return {k: _slice_tree(v, row, keepdim, f"{path}/{k}") for k, v in value.items()}
    raise ParameterError(f"parameter {path!r} is a {type(value).__name__}, not a tensor or a dict")


def node_parameters(
    parameters: Mapping | nn.ModuleDict,
    G: Any,
    node_id: int,
    graph_id: int | None = None,
    keepdim: bool = False,
) -> Any:
    """The parameters of one node: its row of every tensor of its type (views, not copies).

    Args:
        parameters: ``{node_type: tensor or (nested) dict of tensors}``.
        G: the graph whose row layout ``parameters`` follows: a :class:`~grafx.data.graph.GRAFX`
            (rows in ascending node id) or a :class:`~grafx.data.tensor.GRAFXTensor` (rows in its
            order, found through its ``node_ids``, so a reordered tensor works).
        node_id: the node's id in the source graph.
        graph_id: which graph of a batched GRAFXTensor.
        keepdim: keep a leading dimension of 1 (ready to pass to a processor).

    Returns:
        A dict (nested like ``parameters[t]``) of tensors of the per-node shapes.
    """
    node_type, row = parameter_row(G, node_id, graph_id)
    if node_type not in parameters:
        raise ParameterError(f"node {node_id} has type {node_type!r}, which has no parameters")
    return _slice_tree(parameters[node_type], row, keepdim, node_type)


def _assign_tree(target: Any, values: Any, row: int, path: str) -> None:
    if isinstance(target, Tensor):
        value = torch.as_tensor(values, dtype=target.dtype, device=target.device)
        if value.shape != target.shape[1:]:
            if value.numel() != target[0].numel():
                raise ParameterError(
                    f"parameter {path!r}: value of shape {tuple(value.shape)} does not fit the "
                    f"per-node shape {tuple(target.shape[1:])}"
                )
            value = value.reshape(target.shape[1:])
        with torch.no_grad():
            target[row] = value
        return
    if not hasattr(values, "items"):
        if BARE_PARAMETER_KEY in target and len(target) == 1:
            _assign_tree(target[BARE_PARAMETER_KEY], values, row, path)
            return
        raise ParameterError(f"parameter {path!r}: expected a dict of values")
    for key, value in values.items():
        if key not in target:
            raise ParameterError(
                f"parameter {path}/{key!r} is unknown; expected one of {sorted(target.keys())}"
            )
        _assign_tree(target[key], value, row, f"{path}/{key}")


def set_node_parameters(
    parameters: Mapping | nn.ModuleDict,
    G: Any,
    node_id: int,
    values: Any,
    graph_id: int | None = None,
) -> None:
    """Write one node's values into its rows of ``parameters`` (in place, without autograd).

    Args:
        parameters: as in :func:`node_parameters`.
        G: the graph whose row layout ``parameters`` follows.
        node_id: the node's id.
        values: a (nested) dict of per-node values (tensors, arrays, lists or numbers); keys that
            are left out keep their values. A bare value is accepted for a bare-shape parameter.
        graph_id: which graph of a batched GRAFXTensor.
    """
    node_type, row = parameter_row(G, node_id, graph_id)
    if node_type not in parameters:
        raise ParameterError(f"node {node_id} has type {node_type!r}, which has no parameters")
    _assign_tree(parameters[node_type], values, row, f"node {node_id} ({node_type})")


def fill_parameters_from_graph(parameters: Mapping | nn.ModuleDict, G: Any, G_t: Any = None) -> int:
    """Copy the per-node values stored on a graph (node attribute ``parameters``) into tensors.

    Args:
        parameters: per-type parameters (e.g. from :func:`create_empty_parameters`).
        G: a :class:`~grafx.data.graph.GRAFX` whose nodes may carry ``parameters`` dicts.
        G_t: the :class:`~grafx.data.tensor.GRAFXTensor` whose row layout ``parameters`` follows
            (e.g. after reordering); by default the layout of ``G`` itself.

    Returns:
        The number of nodes whose values were copied.
    """
    if not isinstance(G, GRAFX):
        raise GraphError(
            f"fill_parameters_from_graph needs a GRAFX (its nodes hold the values), got "
            f"{type(G).__name__}"
        )
    filled = 0
    for node_id in sorted(G.nodes):
        attrs = G.nodes[node_id]
        values = attrs.get("parameters")
        if values is None:
            continue
        if G_t is None:
            set_node_parameters(parameters, G, node_id, values)
        elif G_t.graph_ids is not None:
            set_node_parameters(
                parameters,
                G_t,
                attrs.get("original_id", node_id),
                values,
                graph_id=attrs.get("graph_id", 0),
            )
        else:
            set_node_parameters(parameters, G_t, node_id, values)
        filled += 1
    return filled


def create_parameters_from_graph(
    G: Any, processors: Mapping | nn.ModuleDict, std: float = 1e-2, G_t: Any = None, **kwargs: Any
) -> nn.ModuleDict:
    """:func:`create_empty_parameters` for ``G``, then :func:`fill_parameters_from_graph`.

    Nodes without stored values keep random :math:`\\mathcal{N}(0, \\mathrm{std}^2)` values.
    ``kwargs`` go to :func:`create_empty_parameters` (``device``, ``dtype``, ``generator``).
    """
    parameters = create_empty_parameters(G, processors, std, **kwargs)
    fill_parameters_from_graph(parameters, G, G_t)
    return parameters
