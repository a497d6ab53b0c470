"""Which node types a fit automates, checked against its graph before anything slow runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from grafx.automation import automatable_types
from grafx.errors import ConfigError
from grafx.presets import console_parameters

__all__ = ["check_automate"]


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
    bad = [t for t in types if t not in allowed]
    if bad:
        raise ConfigError(
            f"--automate {text}: {', '.join(map(repr, bad))} cannot be automated "
            f"in this graph; automatable types: {','.join(allowed)}"
        )
    return types
