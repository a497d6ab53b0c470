"""The code blocks of docs-render.rst run unchanged and print what the page shows.

Each block is embedded verbatim and executed with ``exec`` in a namespace that holds what the
earlier pages built (``G``, ``G_t``, ``processors``, ``parameters``). The seed page's processors
are used where they exist; a simple stand-in replaces one that is not importable yet.
"""

from __future__ import annotations

import textwrap
import warnings

import torch
from torch import nn

from grafx.data import GRAFX, NodeConfigs, convert_to_tensor
from grafx.render import prepare_render
from grafx.utils import create_empty_parameters

BLOCK_ORDER = """
from grafx.render import compute_render_order
type_sequence, render_order = compute_render_order(G_t, method="beam")
"""

BLOCK_REORDER = """
from grafx.render import reorder_for_fast_render
G_t = reorder_for_fast_render(G_t, method="beam")
"""

BLOCK_PREPARE = """
render_data = prepare_render(G_t)
"""

PRINTED_PLAN = """
    Render #0
      - Node type: in
      - Source read: none with []
      - Aggregation: none
      - Parameter read: slice with (0, 3)
      - Dest write: slice with (0, 3)

    Render #1
      - Node type: eq
      - Source read: slice with (0, 3)
      - Aggregation: none
      - Parameter read: slice with (0, 3)
      - Dest write: slice with (3, 6)

    Render #2
      - Node type: compressor
      - Source read: slice with (3, 6)
      - Aggregation: none
      - Parameter read: slice with (0, 3)
      - Dest write: slice with (6, 9)

    Render #3
      - Node type: reverb
      - Source read: slice with (6, 9)
      - Aggregation: none
      - Parameter read: slice with (0, 3)
      - Dest write: slice with (9, 12)

    Render #4
      - Node type: out
      - Source read: slice with (9, 12)
      - Aggregation: sum
      - Parameter read: slice with (0, 1)
      - Dest write: slice with (12, 13)
"""

BLOCK_RENDER = """
import torch
from grafx.render import render_grafx
source = torch.randn(4, 2, 2**17)
output, intermediates = render_grafx(source, processors, parameters, render_data)
"""

BLOCK_SOURCE_LEVEL = """
souurce = torch.randn(16, 4, 2, 10000)
output, intermediates = render_grafx(source, processors, parameters, render_data)
"""

BLOCK_GRAPH_LEVEL = """
from grafx.data import batch_grafx
G_list = [G for _ in range(4)]
G_batch = batch_grafx(G)
"""


class StandInCompressor(nn.Module):
    """A memoryless soft gain, used while the dynamics processors are not importable."""

    def forward(self, x, log_threshold, log_ratio, log_knee, z_alpha):
        scale = 1 + torch.exp(log_ratio) + log_threshold.abs() + log_knee.abs() + z_alpha.abs()
        return x / scale.unsqueeze(-1)

    def parameter_size(self):
        return {"log_knee": 1, "log_ratio": 1, "log_threshold": 1, "z_alpha": 1}


def _seed_processors() -> dict:
    """The seed page's processors (deprecated names), a stand-in for any not built yet."""
    from grafx.processors import MidSideFilteredNoiseReverb, ZeroPhaseFIREqualizer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            from grafx.processors import ApproxCompressor

            compressor = ApproxCompressor()
        except (ImportError, AttributeError):
            compressor = StandInCompressor()
        return {
            "eq": ZeroPhaseFIREqualizer(),
            "compressor": compressor,
            "reverb": MidSideFilteredNoiseReverb(),
        }


def _docs_graph(number_of_sources: int) -> GRAFX:
    config = NodeConfigs(["eq", "compressor", "reverb"])
    G = GRAFX(config=config)
    out_id = G.add("out")
    for _ in range(number_of_sources):
        chain = ["in", "eq", "compressor", "reverb"]
        start_id, end_id = G.add_serial_chain(chain)
        G.connect(end_id, out_id)
    return G


def _page_context(number_of_sources: int) -> dict:
    G = _docs_graph(number_of_sources)
    G_t = convert_to_tensor(G)
    processors = _seed_processors()
    parameters = create_empty_parameters(G_t, processors)
    return {
        "G": G,
        "G_t": G_t,
        "processors": processors,
        "parameters": parameters,
        "prepare_render": prepare_render,
    }


def test_scheduling_reordering_and_plan_print_as_documented():
    namespace = _page_context(3)
    exec(BLOCK_ORDER, namespace)
    assert namespace["type_sequence"] == ["in", "eq", "compressor", "reverb", "out"]
    # Node ids 0 (out), then 1-4, 5-8, 9-12 (in, eq, compressor, reverb) per chain.
    assert namespace["render_order"].tolist() == [4, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3]
    exec(BLOCK_REORDER, namespace)
    exec(BLOCK_PREPARE, namespace)
    assert str(namespace["render_data"]) == textwrap.dedent(PRINTED_PLAN).strip("\n")
    G_t = namespace["G_t"]
    assert G_t.type_sequence == ["in", "eq", "compressor", "reverb", "out"]
    assert G_t.node_ids.tolist() == [1, 5, 9, 2, 6, 10, 3, 7, 11, 4, 8, 12, 0]


def test_render_blocks_run_as_documented():
    # The page renders 4 sources: its graph here has 4 source chains.
    namespace = _page_context(4)
    exec(BLOCK_REORDER, namespace)
    exec(BLOCK_PREPARE, namespace)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        exec(BLOCK_RENDER, namespace)
        output = namespace["output"]
        assert output.shape == (1, 2, 2**17) and output.dtype == torch.float32
        assert torch.isfinite(output).all()
        exec(BLOCK_SOURCE_LEVEL, namespace)  # the page's typo renders `source` again
    torch.testing.assert_close(namespace["output"], output)


def test_graph_level_block_runs_as_documented():
    namespace = _page_context(3)
    exec(BLOCK_GRAPH_LEVEL, namespace)
    G_batch = namespace["G_batch"]
    assert G_batch.number_of_nodes() == 13 and G_batch.batch
