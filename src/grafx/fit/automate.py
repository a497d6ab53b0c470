"""Which node types a fit automates, checked against its graph before anything slow runs, and
the fit's starting curves.

Besides node types, a fit may automate ``edge_gate``: every edge of the graph gets a gate
(:func:`grafx.gates.add_edge_gates`, at :data:`~grafx.gates.DEFAULT_MIX` unless the graph has
edge gates already) whose level is a curve, so the sends from each strip to its bus or the mix
(and every other path) can swell and fade.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from grafx.automation import Timeline, automatable_types, automate_parameters
from grafx.errors import ConfigError
from grafx.gates import EDGE_GATE_KEY, add_edge_gates
from grafx.presets import console_parameters

__all__ = ["automate_fit_parameters", "check_automate"]


def check_automate(
    types: Sequence[str],
    G: Any,
    processors: Mapping,
    parameters: Mapping | None,
    timeline: Any,
    graph: str | None = None,
) -> list[str]:
    """The node types of ``types`` (``--automate``) as a list, each one automatable in ``G``.

    Args:
        types: the node types asked for (empty: a static fit).
        G, processors, parameters: the graph, its processors and its initial parameters
            (``None``: the console's neutral ones).
        timeline: the timeline of a graph file that is automated already (``None``: none).
        graph: the graph file's name, for the messages.

    Raises:
        ConfigError: a graph that has curves already, or a type that cannot be automated in it
            (the message lists those that can).
    """
    types = [t.strip() for t in types if t.strip()]
    if not types:
        return []
    text = ",".join(types)
    if timeline is not None:
        raise ConfigError(
            f"--automate: {graph} is automated already (it has curves); fit it without --automate"
        )
    used = {d["node_type"] for _, d in G.nodes(data=True)}
    present = {t: p for t, p in processors.items() if t in used}
    if parameters is None:
        parameters = console_parameters(G, present)
    allowed = automatable_types(present, parameters)
    if EDGE_GATE_KEY not in allowed:
        allowed.append(EDGE_GATE_KEY)  # the fit adds the edge gates (automate_fit_parameters)
    bad = [t for t in types if t not in allowed]
    if bad:
        raise ConfigError(
            f"--automate {text}: {', '.join(map(repr, bad))} cannot be automated "
            f"in this graph; automatable types: {','.join(allowed)}"
        )
    return types


def automate_fit_parameters(
    G: Any,
    parameters: Mapping,
    processors: Mapping,
    types: Sequence[str],
    timeline: Timeline,
) -> dict[str, Any]:
    """The parameters of an automated fit: ``types`` as flat curves over ``timeline``
    (:func:`~grafx.automation.automate_parameters`), edge gates added first when ``types``
    holds ``edge_gate`` and the parameters have none."""
    if EDGE_GATE_KEY in types and EDGE_GATE_KEY not in parameters:
        parameters = add_edge_gates(parameters, G)
    return automate_parameters(parameters, processors, types, timeline)
