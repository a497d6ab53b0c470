"""Times graph renders for one library, driven over stdin/stdout by ``compare_original.py``.

Runs inside whichever environment starts it: grafx's own ``.venv`` or the original library's
separate environment. It only uses the documented API shared by both (graph building,
``convert_to_tensor``, ``reorder_for_fast_render``, ``prepare_render``,
``create_empty_parameters(processors, G)`` and ``render_grafx(processors, source, ...)``).

Protocol: one JSON request per line, e.g. ``{"graph": "console8", "mode": "forward"}``; one JSON
reply per line, ``{"seconds": ...}``. ``{"mode": "memory", ...}`` renders forward+backward once
and replies with the peak resident-set growth in MiB (use a fresh worker for it).
"""

from __future__ import annotations

import resource
import sys
import time
import warnings

import torch

warnings.filterwarnings("ignore")

from graphs import GRAPHS  # noqa: E402
from workers import serve  # noqa: E402

from grafx.data import convert_to_tensor  # noqa: E402
from grafx.render import prepare_render, render_grafx, reorder_for_fast_render  # noqa: E402
from grafx.utils import create_empty_parameters  # noqa: E402


def make_processors() -> dict:
    from grafx.processors import (
        Compressor,
        MultitapDelay,
        NoiseGate,
        SideGainImager,
        StereoGain,
        STFTMaskedNoiseReverb,
        TanhDistortion,
        ZeroPhaseFIREqualizer,
    )

    return {
        "eq": ZeroPhaseFIREqualizer(),
        "compressor": Compressor(
            energy_smoother="iir", gain_smoother=None, knee="quadratic", flashfftconv=False
        ),
        "noisegate": NoiseGate(
            energy_smoother="iir", gain_smoother=None, knee="quadratic", flashfftconv=False
        ),
        "imager": SideGainImager(),
        "gain_pan": StereoGain(),
        "delay": MultitapDelay(flashfftconv=False),
        "reverb": STFTMaskedNoiseReverb(flashfftconv=False),
        "distortion": TanhDistortion(),
    }


_SETUPS: dict = {}


def setup(name: str, method: str, length: int):
    key = (name, method, length)
    if key not in _SETUPS:
        G = GRAPHS[name]()
        G_t = reorder_for_fast_render(convert_to_tensor(G), method=method)
        render_data = prepare_render(G_t)
        processors = make_processors()
        used = {t for t in G_t.type_sequence if t not in ("in", "out", "mix")}
        processors = {k: v for k, v in processors.items() if k in used}
        parameters = create_empty_parameters(processors, G)
        num_sources = int((G_t.node_types == 0).sum())
        source = torch.randn(num_sources, 2, length, generator=torch.Generator().manual_seed(0))
        _SETUPS[key] = (processors, source, parameters, render_data)
    return _SETUPS[key]


def run(request: dict) -> dict:
    processors, source, parameters, render_data = setup(
        request["graph"], request.get("method", "beam"), request.get("length", 2**17)
    )
    mode = request["mode"]
    if mode == "memory":
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    if mode == "forward":
        with torch.no_grad():
            output = render_grafx(processors, source, parameters, render_data)[0]
    else:
        output = render_grafx(processors, source, parameters, render_data)[0]
        output.square().mean().backward()
    seconds = time.perf_counter() - start
    if mode == "memory":
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return {"peak_mib": (after - before) / 1024, "seconds": seconds}
    return {"seconds": seconds}


def main() -> None:
    serve(run, int(sys.argv[1]) if len(sys.argv) > 1 else 2)


if __name__ == "__main__":
    main()
