r"""The mixing console: graph builder, processors and parameters in physical units.

Each track runs a channel strip (by default EQ, compressor, noise gate, stereo imager,
gain/pan, multitap delay and reverb, in that order), tracks feed optional subgroup buses that
run the same strip, and the buses (or the tracks, with no buses) are summed into an optional
master strip (e.g. EQ, bus compression and a limiter, nodes ``master/{type}``) that feeds
``out``.
Every processor sits behind a learnable dry/wet weight, :math:`w f(u) + (1 - w) u`, as in the
mixing-graphs paper: a node gate (:mod:`grafx.gates`), the per-node parameter
``drywet_weight`` that the render engine applies, set by the setting ``mix``. For the wet-only
delay and reverb it is the effect level (10% and 15%); the others start at 0.99 (nearly all
wet, so physical settings mean what they say, yet inside (0, 1) so that the gate learns), and
:mod:`grafx.prune` reads the gates to find the processors a mix does not need.

Parameters are unconstrained tensors inside the graph; the processor classes convert the
physical settings a user thinks in (``gain_db``, ``pan``, ``width``, ``threshold_db``,
``ratio``, ``eq_gains_db``) to and from them; the gate's ``mix`` (also ``delay_mix`` and
``reverb_mix`` for those types) is the console's
(``settings_to_parameters`` / ``parameters_to_settings``), and this module adds the console's
defaults and the node lookup.

Example:
    >>> G, type_sequence = build_mixing_console(num_tracks=4, num_buses=2)
    >>> type_sequence[:3], type_sequence[-2:]
    (['in', 'eq', 'compressor'], ['reverb', 'out'])
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from grafx.data.configs import UTILITY_TYPES, NodeConfigs
from grafx.data.graph import GRAFX
from grafx.data.parameters import create_empty_parameters
from grafx.data.rows import node_rows
from grafx.errors import ConfigError, GraphError, ParameterError
from grafx.gates import DEFAULT_MIX, add_node_gates
from grafx.processors.base import has_settings
from grafx.processors.core.drywet import DRYWET_KEY, drywet_weight_from_mix, mix_from_drywet_weight
from grafx.processors.functional.stereo import gain_pan_from_log_gain, stereo_log_gain

__all__ = [
    "DEFAULT_CHAIN",
    "MASTER_CHAIN",
    "CONSOLE_PRESETS",
    "COMPRESSOR_TIMES_MS",
    "check_preset",
    "CONSOLE_TYPES",
    "check_master_chain",
    "build_mixing_console",
    "console_processors",
    "console_parameters",
    "set_node_settings",
    "get_node_settings",
    "node_settings_to_parameters",
    "node_rows",
    "stereo_log_gain",
    "gain_pan_from_log_gain",
]

DEFAULT_CHAIN = ("eq", "compressor", "noisegate", "imager", "gain_pan", "delay", "reverb")

#: Centre frequencies (Hz) of the console EQ: low shelf, two peaks, high shelf.
EQ_FREQUENCIES_HZ = (120.0, 700.0, 3000.0, 8000.0)


def _rate(sample_rate: float | None) -> dict:
    # the default rate is left out of the spec, so default consoles keep their files
    return {} if sample_rate is None else {"sample_rate": float(sample_rate)}


def _eq(sample_rate: float | None = None):
    from grafx.processors.eq import ParametricEqualizer

    return ParametricEqualizer(num_filters=len(EQ_FREQUENCIES_HZ), **_rate(sample_rate))


def _compressor(sample_rate: float | None = None):
    from grafx.processors.dynamics import Compressor

    return Compressor(iir_len=4096, **_rate(sample_rate))


def _peak_compressor(sample_rate: float | None = None):
    from grafx.processors.dynamics import Compressor

    return Compressor(
        energy_smoother="ballistics",
        knee="hard",
        detector="peak",
        linked=False,
        **_rate(sample_rate),
    )


def _noisegate(sample_rate: float | None = None):
    from grafx.processors.dynamics import NoiseGate

    return NoiseGate(iir_len=4096, **_rate(sample_rate))


def _imager(sample_rate: float | None = None):
    from grafx.processors.stereo import SideGainImager

    return SideGainImager()


def _gain_pan(sample_rate: float | None = None):
    from grafx.processors.stereo import StereoGain

    return StereoGain()


def _delay(sample_rate: float | None = None):
    from grafx.processors.delay import MultitapDelay

    return MultitapDelay(
        segment_len=2000, num_segments=8, processor_channel="stereo", **_rate(sample_rate)
    )


def _limiter(sample_rate: float | None = None):
    from grafx.processors.limiter import Limiter

    return Limiter(lookahead_len=256, compensate_latency=True, **_rate(sample_rate))


def _reverb(sample_rate: float | None = None):
    from grafx.processors.reverb import STFTMaskedNoiseReverb

    return STFTMaskedNoiseReverb(ir_len=2**14, **_rate(sample_rate))


#: Processor factory per console type name, ``factory(sample_rate=None)``: the processors are
#: built for ``sample_rate`` (default 44.1 kHz), at which their parameters and sample counts are
#: defined; :func:`grafx.processors.core.rate.processors_at_sample_rate` rebuilds them for
#: another rate with the same sound.
CONSOLE_TYPES = {
    "eq": _eq,
    "compressor": _compressor,
    "noisegate": _noisegate,
    "imager": _imager,
    "gain_pan": _gain_pan,
    "delay": _delay,
    "reverb": _reverb,
    "limiter": _limiter,
}

#: Named consoles: for each, the processor factories it uses in place of :data:`CONSOLE_TYPES`.
#: ``"paper"``: the mixing-graphs paper's strip (a stereo-linked compressor on the smoothed
#: energy with a one-pole smoother and a quadratic knee). ``"peak"``: the same strip but a
#: compressor as plugin compressors build it (JUCE's ``dsp::Compressor``, which pedalboard
#: runs): each channel's peak envelope through attack/release ballistics, a hard knee; it starts
#: at :data:`COMPRESSOR_TIMES_MS`. See the benchmarks README, "Console compressor".
CONSOLE_PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    "peak": {"compressor": _peak_compressor},
}

#: Starting attack and release (1/e times, ms) of a console compressor with ballistics: JUCE's
#: 10 ms and 150 ms settings (JUCE's times are :math:`2\pi` times the 1/e times).
COMPRESSOR_TIMES_MS = {"attack_ms": 10.0 / (2 * math.pi), "release_ms": 150.0 / (2 * math.pi)}


def check_preset(preset: str) -> str:
    """``preset`` if it names a console of :data:`CONSOLE_PRESETS`.

    Raises:
        ConfigError: an unknown name, naming the known ones.
    """
    if preset not in CONSOLE_PRESETS:
        raise ConfigError(f"unknown console {preset!r}; the consoles are {sorted(CONSOLE_PRESETS)}")
    return preset


#: The master strip a console gets with ``master_chain=MASTER_CHAIN``: EQ, bus compression and
#: a brick-wall limiter (the console's default has no master strip).
MASTER_CHAIN = ("eq", "compressor", "limiter")


def _check_chain(chain: Sequence[str], what: str = "console chain") -> list[str]:
    if isinstance(chain, str):
        raise ConfigError(f"{what} must be a sequence of type names, got the string {chain!r}")
    chain = list(chain)
    if not chain and what == "console chain":
        raise ConfigError("console chain is empty; give at least one processor type")
    if len(set(chain)) != len(chain):
        raise ConfigError(f"{what} {chain} repeats a type; each type may appear once")
    reserved = set(UTILITY_TYPES) & set(chain)
    if reserved:
        raise ConfigError(f"{what} {chain} uses the reserved type(s) {sorted(reserved)}")
    return chain


def check_master_chain(master_chain: Sequence[str]) -> list[str]:
    """The master strip's types as a list, checked: distinct built-in console types.

    Raises:
        ConfigError: a repeated, reserved or unknown type, naming it and the known ones.
    """
    master = _check_chain(master_chain, "master chain")
    unknown = [t for t in master if t not in CONSOLE_TYPES]
    if unknown:
        raise ConfigError(
            f"master chain: unknown processor type(s) {unknown}; the console's types are "
            f"{sorted(CONSOLE_TYPES)}"
        )
    return master


def build_mixing_console(
    num_tracks: int,
    num_buses: int = 0,
    chain: Sequence[str] = DEFAULT_CHAIN,
    track_to_bus: Sequence[int] | None = None,
    track_names: Sequence[str] | None = None,
    bus_names: Sequence[str] | None = None,
    master_chain: Sequence[str] = (),
) -> tuple[GRAFX, list[str]]:
    """Build the mixing-console graph.

    Node ids: the ``out`` node first, then the master strip (if any), then each bus strip, then
    each track's ``in`` node and strip. Node names: ``"track{t}/{type}"`` (or
    ``"{track_names[t]}/{type}"``), ``"bus{b}/{type}"``, ``"master/{type}"``, ``"track{t}/in"``
    and ``"out"``, so :meth:`GRAFX.find_node` finds any processor.

    Args:
        num_tracks: number of tracks (``in`` nodes), at least 1.
        num_buses: number of subgroup buses; 0 sends the tracks straight to ``out``.
        chain: the strip's processor types, in signal order (all distinct).
        track_to_bus: bus index of each track; default spreads tracks evenly in order
            (track ``t`` to bus ``t * num_buses // num_tracks``).
        track_names: optional names used in the node names.
        bus_names: optional bus names used in the node names (``"{bus_names[b]}/{type}"``),
            e.g. the groups of :func:`grafx.io.groups.read_groups`.
        master_chain: the master strip's types, in signal order (all distinct, from
            :data:`CONSOLE_TYPES`, e.g. :data:`MASTER_CHAIN`): one node per type between the
            summed buses (or tracks) and ``out``. A type also in ``chain`` shares its processor
            with the strips (the parameters are per node). Empty (the default): no master strip,
            the mixing-graphs paper's console.

    Returns:
        ``(G, type_sequence)``: the graph and the type sequence that renders it in the fewest
        steps (every track's strip in one pass, then every bus's, then the master's), for
        ``compute_render_order(G, method="fixed", fixed_order=type_sequence)``.

    Raises:
        ConfigError: a bad count, chain, bus map or name list.
    """
    chain = _check_chain(chain)
    master = check_master_chain(master_chain)
    if not isinstance(num_tracks, int) or num_tracks < 1:
        raise ConfigError(f"num_tracks must be a positive integer, got {num_tracks!r}")
    if not isinstance(num_buses, int) or num_buses < 0:
        raise ConfigError(f"num_buses must be a non-negative integer, got {num_buses!r}")
    if track_to_bus is None:
        track_to_bus = [t * num_buses // num_tracks for t in range(num_tracks)] if num_buses else []
    track_to_bus = list(track_to_bus)
    if num_buses and (
        len(track_to_bus) != num_tracks or any(not 0 <= b < num_buses for b in track_to_bus)
    ):
        raise ConfigError(
            f"track_to_bus must give a bus in 0..{num_buses - 1} for each of the {num_tracks} "
            f"tracks, got {track_to_bus}"
        )
    if not num_buses and track_to_bus:
        raise ConfigError("track_to_bus given but num_buses is 0")
    names = [f"track{t}" for t in range(num_tracks)] if track_names is None else list(track_names)
    if len(names) != num_tracks or len(set(names)) != num_tracks:
        raise ConfigError(f"track_names must be {num_tracks} distinct names, got {names}")
    buses = [f"bus{b}" for b in range(num_buses)] if bus_names is None else list(bus_names)
    if len(buses) != num_buses or len(set(buses) | set(names)) != num_buses + num_tracks:
        raise ConfigError(
            f"bus_names must be {num_buses} distinct names, none a track name, got {buses}"
        )

    G = GRAFX(config=NodeConfigs([*chain, *(t for t in master if t not in chain)]))
    out = G.add("out", name="out")
    assert out is not None  # every config has "out"
    if master:
        master_head, master_tail = G.add_serial_chain(
            [{"node_type": t, "name": f"master/{t}"} for t in master]
        )
        G.connect(master_tail, out)
        out = master_head  # the strips feed the master strip
    bus_heads = []
    for b in range(num_buses):
        head, tail = G.add_serial_chain(
            [{"node_type": t, "name": f"{buses[b]}/{t}"} for t in chain]
        )
        G.connect(tail, out)
        bus_heads.append(head)
    for t, name in enumerate(names):
        items = [{"node_type": "in", "name": f"{name}/in"}]
        items += [{"node_type": k, "name": f"{name}/{k}"} for k in chain]
        _, tail = G.add_serial_chain(items)
        G.connect(tail, bus_heads[track_to_bus[t]] if num_buses else out)
    type_sequence = ["in", *chain, *(chain if num_buses else []), *master, "out"]
    return G, type_sequence


def console_processors(
    chain: Sequence[str] = DEFAULT_CHAIN,
    sample_rate: float | None = None,
    master_chain: Sequence[str] = (),
    preset: str = "paper",
    **overrides: nn.Module,
) -> dict:
    """Processors for the console types: ``{type: nn.Module}``.

    Args:
        chain: the types to build (each must be in :data:`CONSOLE_TYPES` or in ``overrides``).
        master_chain: the master strip's types (as :func:`build_mixing_console`); those not in
            ``chain`` are built too.
        preset: the console, a name in :data:`CONSOLE_PRESETS`: ``"paper"`` (the
            mixing-graphs paper's processors) or ``"peak"`` (a peak-envelope compressor per
            channel, as JUCE's and pedalboard's).
        sample_rate: the rate of the audio in Hz (``None``: the processors' default, 44.1 kHz);
            the rate-dependent processors are built for it and record it in their spec.
        **overrides: processors to use instead of the defaults, by type name.
    """
    factories = {**CONSOLE_TYPES, **CONSOLE_PRESETS[check_preset(preset)]}
    processors = {}
    types = _check_chain(chain)
    types += [t for t in check_master_chain(master_chain) if t not in types]
    for node_type in types:
        if node_type in overrides:
            processors[node_type] = overrides[node_type]
        elif node_type in factories:
            processors[node_type] = factories[node_type](sample_rate)
        else:
            raise ConfigError(
                f"no built-in processor for type {node_type!r}; built-in types are "
                f"{sorted(CONSOLE_TYPES)} (or pass it as a keyword)"
            )
    return processors


# ------------------------------------------------------------------------- physical units
# The conversions live on the processor classes (``settings_to_parameters`` and
# ``parameters_to_settings``, see grafx.processors.base); the console adds its defaults.

#: Initial dry/wet (wet proportion) of the console types whose default is not
#: :data:`grafx.gates.DEFAULT_MIX`.
_CONSOLE_MIX = {"delay": 0.1, "reverb": 0.15}


def _with_console_defaults(node_type: str, processor: Any, settings: Mapping[str, Any]) -> dict:
    s = dict(settings)
    num_filters = getattr(processor, "num_filters", None)
    if node_type == "eq" and "eq_freqs_hz" not in s and num_filters == len(EQ_FREQUENCIES_HZ):
        sample_rate = float(s.get("sample_rate", getattr(processor, "reference_rate", 44100.0)))
        s["eq_freqs_hz"] = [min(f, 0.4 * sample_rate) for f in EQ_FREQUENCIES_HZ]  # < fs/2
    if node_type == "compressor" and getattr(processor, "energy_smoother", None) == "ballistics":
        for key, value in COMPRESSOR_TIMES_MS.items():
            s.setdefault(key, value)
    if node_type in _CONSOLE_MIX and "mix" not in s and DRYWET_KEY in processor.parameter_size():
        s.setdefault(f"{node_type}_mix", _CONSOLE_MIX[node_type])  # a DryWet-wrapped effect
    return s


def _gate_values(node_type: str, processor: Any, gated: bool, settings: dict) -> dict:
    """The gate's parameter from (and popped out of) ``settings``: ``mix`` or ``{type}_mix``."""
    if DRYWET_KEY in processor.parameter_size():
        return {}  # the processor owns its dry/wet (DryWet(..., external_param=False))
    legacy = f"{node_type}_mix"
    key = legacy if legacy in settings else "mix"
    mix = settings.pop(key, None)
    settings.pop("mix" if key == legacy else legacy, None)
    if not gated:
        if mix is not None:
            raise ParameterError(
                f"{node_type}: setting {key!r} needs a gate; gate it first "
                "(grafx.gates.add_node_gates)"
            )
        return {}
    mix = float(_CONSOLE_MIX.get(node_type, DEFAULT_MIX) if mix is None else mix)
    if not 0 < mix < 1:
        raise ParameterError(f"{node_type}: {key} must be in (0, 1), got {mix}")
    return {DRYWET_KEY: drywet_weight_from_mix(torch.tensor([mix], dtype=torch.float64))}


def node_settings_to_parameters(
    node_type: str, processor: Any, settings: Mapping[str, Any]
) -> dict:
    """Parameter values (float64 tensors without the node dim) for one node's settings."""
    if not has_settings(processor):
        if settings:
            raise ParameterError(f"{node_type}: unknown setting(s) {sorted(settings)}")
        return {}
    settings = _with_console_defaults(node_type, processor, settings)
    return processor.settings_to_parameters(settings, name=node_type)


def set_node_settings(
    parameters: Mapping, G: GRAFX, node: int | str, processors: Mapping, **settings: Any
) -> None:
    """Write physical settings into one node's rows of ``parameters`` (in place, no grad).

    Args:
        parameters: ``{type: {key: tensor (N_t, ...)}}`` in ``G``'s node order.
        G: the console graph.
        node: node id or node name (e.g. ``"track0/gain_pan"``).
        processors: the processors, for parameter shapes.
        **settings: for ``gain_pan``: ``gain_db``, ``pan``; ``imager``: ``width``;
            ``eq``: ``eq_gains_db`` (one or K values), ``eq_freqs_hz``, ``eq_q``,
            ``sample_rate``; ``compressor``/``noisegate``: ``threshold_db``, ``ratio``,
            ``knee_db``; ``limiter``: ``threshold_db`` (the ceiling, dBFS); any gated node: ``mix``, its dry/wet in (0, 1) (``delay_mix`` and
            ``reverb_mix`` name the delay's and reverb's). Unspecified settings get their
            neutral default.
    """
    node = G.find_node(node) if isinstance(node, str) else node
    if node not in G:
        raise GraphError(f"no node {node} in the graph")
    node_type = G.nodes[node]["node_type"]
    if node_type not in parameters:
        raise ParameterError(f"node {node} ({node_type!r}): no parameters of that type")
    row = node_rows(G)[node]
    processor, settings = processors[node_type], dict(settings)
    gated = DRYWET_KEY in parameters[node_type]
    values = _gate_values(node_type, processor, gated, settings)
    values.update(node_settings_to_parameters(node_type, processor, settings))
    for key, value in values.items():
        target = parameters[node_type].get(key)
        if target is None:
            raise ParameterError(f"node {node} ({node_type!r}): no parameter {key!r}")
        with torch.no_grad():
            target[row] = value.to(target.dtype).reshape(target.shape[1:])


def get_node_settings(
    parameters: Mapping,
    G: GRAFX,
    node: int | str,
    processors: Mapping[str, nn.Module] | None = None,
    sample_rate: float | None = None,
    effective: bool = False,
) -> dict[str, Any]:
    """Read back the physical settings of one node (the inverse of :func:`set_node_settings`).

    A gated node's settings include ``mix``, the wet proportion :math:`w` of its gate.

    Args:
        parameters, G, node: as :func:`set_node_settings`.
        processors: the processors; by default the console's own for the console types (built
            for 44.1 kHz). Pass the graph's (``grafx.io.load(path).processors``): their rate is
            what the parameters' frequencies are defined at.
        sample_rate: the rate the parameters' normalised frequencies are defined at (the EQ's
            ``eq_freqs_hz``); ``None``: the processor's own (its ``reference_rate``), which is
            right for processors loaded from a graph file that records its rate. Give it only
            for files that do not (format version 2 or older): the rate they were fitted at.
        effective: fold the gate into the settings of the linear ``StereoGain`` and
            ``SideGainImager``, giving what the node does as a whole: gains (left, right, or
            the side gain) :math:`w g + 1 - w`. ``False`` returns the processor's own settings,
            as :func:`set_node_settings` writes them.
    """
    node = G.find_node(node) if isinstance(node, str) else node
    node_type = G.nodes[node]["node_type"]
    row = node_rows(G)[node]
    processor: Any = (processors or {}).get(node_type)  # a module with the settings methods
    if processor is None and node_type in CONSOLE_TYPES:
        processor = CONSOLE_TYPES[node_type]()
    values = {k: v[row] for k, v in parameters[node_type].items() if isinstance(v, Tensor)}
    mix = None
    # an engine gate, not a DryWet processor's own weight:
    if processor is not None and DRYWET_KEY in values and _gate_is_engines(processor):
        mix = mix_from_drywet_weight(values.pop(DRYWET_KEY).detach().double()).reshape(())
    if effective and mix is not None and _is_linear_gain(processor):
        values["log_gain"] = torch.log(mix * torch.exp(values["log_gain"].double()) + 1 - mix)
    settings = {"mix": float(mix)} if mix is not None else {}
    if processor is None or not (has_settings(processor) or settings):
        raise ParameterError(f"node {node} ({node_type!r}): no physical read-back for this type")
    if has_settings(processor):
        settings = {
            **processor.parameters_to_settings(values, name=node_type, sample_rate=sample_rate),
            **settings,
        }
    return settings


def _gate_is_engines(processor: Any) -> bool:
    return DRYWET_KEY not in processor.parameter_size()


def _is_linear_gain(processor: Any) -> bool:
    from grafx.processors.stereo import SideGainImager, StereoGain

    return isinstance(processor, (StereoGain, SideGainImager))


def console_parameters(
    G: GRAFX,
    processors: Mapping[str, nn.Module],
    sample_rate: float | None = None,
    settings: (
        Mapping[int, Mapping[str, Any]]
        | Mapping[str, Mapping[str, Any]]
        | Mapping[int | str, Mapping[str, Any]]
        | None
    ) = None,
    dtype: torch.dtype = torch.float32,
) -> dict[str, Any]:
    """Neutral console parameters, with optional per-node physical settings.

    Every node starts from the neutral default of its type (0 dB, centre, width 1, flat EQ,
    a gentle 2:1 compressor at -20 dB, a gate at -60 dB, a limiter at 0 dBFS) behind a dry/wet gate
    (:mod:`grafx.gates`) of 10% for the delay, 15% for the reverb and 99% for the others;
    ``settings`` maps node ids or names to :func:`set_node_settings` keywords; ``sample_rate``
    is the EQ's ``sample_rate`` setting (``None``: each processor's own reference rate).

    Returns:
        ``{type: nested dict of tensors (N_t, ...)}`` in ``G``'s node order (plain tensors,
        no grad; ``[t]["drywet_weight"]`` ``(N_t, 1)`` the gates), ready for
        :func:`grafx.fit.fit_parameters` or ``save_graph``.
    """
    parameters = _to_plain(create_empty_parameters(processors, G, std=0.0), dtype)
    used = {d["node_type"] for _, d in G.nodes(data=True)}
    parameters = add_node_gates(parameters, G, types=[t for t in processors if t in used])
    for node in sorted(G.nodes):
        node_type = G.nodes[node]["node_type"]
        if node_type not in parameters or node_type not in processors:
            continue
        rate = node_type == "eq" and sample_rate is not None
        extra = {"sample_rate": sample_rate} if rate else {}
        set_node_settings(parameters, G, node, processors, **extra)
    for node, values in (settings or {}).items():
        node_id = G.find_node(node) if isinstance(node, str) else node
        rate = G.nodes[node_id]["node_type"] == "eq" and sample_rate is not None
        extra = {"sample_rate": sample_rate} if rate else {}
        set_node_settings(parameters, G, node_id, processors, **{**extra, **values})
    return parameters


def _to_plain(tree: Any, dtype: torch.dtype) -> Any:
    if isinstance(tree, Tensor):
        return tree.detach().to(dtype).clone()
    return {key: _to_plain(value, dtype) for key, value in tree.items()}
