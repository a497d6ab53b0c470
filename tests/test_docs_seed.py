"""Every code block of the reference page seed-processors.rst runs unchanged and prints its shapes.

The blocks are copied from the page (CI may not have it). ``G_t`` is the graph built on the
previous documentation page (docs-graph.rst), made here with that page's code. The printed
``ModuleDict`` is compared with the page's text with all whitespace removed: the page indents by
four spaces where torch's ``repr`` uses two.
"""

import contextlib
import io
import re
import textwrap
import warnings

import torch

# docs-graph.rst: the graph the seed page calls G_t (three in -> eq -> compressor -> reverb chains).
DOCS_GRAPH = """
from grafx.data import NodeConfigs
config = NodeConfigs(["eq", "compressor", "reverb"])
from grafx.data import GRAFX
G = GRAFX(config=config)
out_id = G.add("out")
number_of_sources = 3
for _ in range(number_of_sources):
    chain = ["in", "eq", "compressor", "reverb"]
    start_id, end_id = G.add_serial_chain(chain)
    G.connect(end_id, out_id)
from grafx.data import convert_to_tensor
G_t = convert_to_tensor(G)
"""

# The seed page's code blocks, in order, exactly as written there.
STEREO_GAIN_BLOCK = """
import torch
import torch.nn as nn

class StereoGain(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, input_signals, log_gain):
        gain = torch.exp(log_gain)[..., None]
        output_signals = input_signals * gain 
        return output_signals

    def parameter_size(self):
        return {'log_gain': 2}
"""

PROCESSORS_BLOCK = """
from grafx.processors import (
    ZeroPhaseFIREqualizer,
    ApproxCompressor,
    MidSideFilteredNoiseReverb
)

processors = {
    "eq": ZeroPhaseFIREqualizer(),
    "compressor": ApproxCompressor(),
    "reverb": MidSideFilteredNoiseReverb()
} 
"""

PARAMETERS_BLOCK = """
from grafx.utils import create_empty_parameters 
parameters = create_empty_parameters(G_t, processors)
"""

PRINTED = """
ModuleDict(
    (eq): ParameterDict(  
        (log_magnitude): Parameter containing: [torch.FloatTensor of size 3x1024]
    )
    (compressor): ParameterDict(
        (log_knee): Parameter containing: [torch.FloatTensor of size 3x1]
        (log_ratio): Parameter containing: [torch.FloatTensor of size 3x1]
        (log_threshold): Parameter containing: [torch.FloatTensor of size 3x1]
        (z_alpha): Parameter containing: [torch.FloatTensor of size 3x1]
    )
    (reverb): ParameterDict(
        (delta_log_magnitude): Parameter containing: [torch.FloatTensor of size 3x2x193]
        (init_log_magnitude): Parameter containing: [torch.FloatTensor of size 3x2x193]
    )
)
"""


def run(code, namespace):
    exec(compile(textwrap.dedent(code), "<seed-processors.rst>", "exec"), namespace)


def no_whitespace(text):
    return re.sub(r"\s+", "", text)


def test_stereo_gain_block_defines_a_working_processor():
    namespace = {}
    run(STEREO_GAIN_BLOCK, namespace)
    gain = namespace["StereoGain"]()
    x = torch.randn(4, 2, 32)
    log_gain = torch.randn(4, 2)
    torch.testing.assert_close(gain(x, log_gain), x * torch.exp(log_gain)[..., None])
    assert gain.parameter_size() == {"log_gain": 2}


def test_seed_page_blocks_run_and_print_the_documented_parameters():
    namespace = {}
    run(DOCS_GRAPH, namespace)
    with warnings.catch_warnings():
        # The seed uses the 0.5-era names; they warn (DeprecationWarning) and keep working.
        warnings.simplefilter("ignore", DeprecationWarning)
        run(PROCESSORS_BLOCK, namespace)
    run(PARAMETERS_BLOCK, namespace)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        run("print(parameters)", namespace)
    assert no_whitespace(out.getvalue()) == no_whitespace(PRINTED)


def test_seed_parameters_render_through_the_seed_processors():
    namespace = {}
    run(DOCS_GRAPH, namespace)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        run(PROCESSORS_BLOCK, namespace)
    run(PARAMETERS_BLOCK, namespace)
    processors, parameters = namespace["processors"], namespace["parameters"]
    x = torch.randn(3, 2, 4096)
    for name in ("eq", "compressor", "reverb"):
        y = processors[name](x, **dict(parameters[name].items()))
        y = y[0] if isinstance(y, tuple) else y
        assert y.shape == (3, 2, 4096) and torch.isfinite(y).all()
