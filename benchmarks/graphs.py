"""Benchmark graphs, built only through the documented graph API.

This module imports nothing but ``grafx.data`` and numpy, so the very same code builds the
graphs for grafx and, in its own virtual environment, for the original library.
"""

from __future__ import annotations

import numpy as np

from grafx.data import GRAFX, NodeConfigs

STRIP = ["eq", "compressor", "noisegate", "imager", "gain_pan", "delay", "reverb"]
RANDOM_TYPES = ["eq", "compressor", "noisegate", "imager", "gain_pan", "distortion"]
CHAIN_TYPES = ["eq", "compressor", "imager", "gain_pan", "distortion"]


def doc3() -> GRAFX:
    """The documentation's example: 3 sources, each ``in -> eq -> compressor -> reverb -> out``."""
    G = GRAFX(config=NodeConfigs(["eq", "compressor", "reverb"]))
    out_id = G.add("out")
    for _ in range(3):
        _, end_id = G.add_serial_chain(["in", "eq", "compressor", "reverb"])
        G.connect(end_id, out_id)
    return G


def console(num_tracks: int, num_buses: int) -> GRAFX:
    """Mixing console: tracks run the strip, feed buses (``mix`` + strip), buses feed ``out``."""
    G = GRAFX(config=NodeConfigs(STRIP))
    out_id = G.add("out")
    bus_inputs = []
    for _ in range(num_buses):
        bus_in, bus_out = G.add_serial_chain(["mix", *STRIP])
        G.connect(bus_out, out_id)
        bus_inputs.append(bus_in)
    for track in range(num_tracks):
        _, end_id = G.add_serial_chain(["in", *STRIP])
        G.connect(end_id, bus_inputs[track % num_buses] if num_buses else out_id)
    return G


def chain(num_processors: int = 50) -> GRAFX:
    """A serial chain of processors of mixed types."""
    G = GRAFX(config=NodeConfigs(CHAIN_TYPES))
    types = [CHAIN_TYPES[i % len(CHAIN_TYPES)] for i in range(num_processors)]
    G.add_serial_chain(["in", *types, "out"])
    return G


def random_dag(num_nodes: int = 300, num_inputs: int = 10, seed: int = 0) -> GRAFX:
    """A random DAG: ``num_inputs`` sources, processors with one or two earlier inputs, one out."""
    rng = np.random.default_rng(seed)
    G = GRAFX(config=NodeConfigs(RANDOM_TYPES))
    ids = [G.add("in") for _ in range(num_inputs)]
    has_child = set()
    for _ in range(num_nodes - num_inputs - 1):
        node = G.add(RANDOM_TYPES[int(rng.integers(len(RANDOM_TYPES)))])
        # Prefer recent nodes so the graph is deep as well as wide.
        window = ids[-40:]
        parents = rng.choice(
            len(window), size=min(len(window), int(rng.integers(1, 3))), replace=False
        )
        for p in parents:
            G.connect(window[int(p)], node)
            has_child.add(window[int(p)])
        ids.append(node)
    out_id = G.add("out")
    for node in ids:
        if node not in has_child:
            G.connect(node, out_id)
    return G


GRAPHS = {
    "doc3": doc3,
    "console8": lambda: console(8, 2),
    "console32": lambda: console(32, 4),
    "chain50": chain,
    "random300": random_dag,
}
