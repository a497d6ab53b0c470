"""The encoder, features, predictor files and training through the renderer."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from grafx.data import batch_grafx, convert_to_tensor
from grafx.errors import ConfigError, GraphFileError, ParameterError
from grafx.fit.checkpoint import load_checkpoint
from grafx.losses import MixLoss
from grafx.nn.encoder import GraphEncoder, upstream_sources
from grafx.nn.features import NUM_BANDS, mix_features
from grafx.nn.predictor import MixPredictor, load_predictor, save_predictor
from grafx.nn.train import (
    TrainConfig,
    draw_song,
    export_checkpoint,
    render_songs,
    stem_bank,
    train_predictor,
)
from grafx.presets import build_mixing_console, console_parameters, console_processors
from grafx.render.renderer import render_mix

RATE = 8000
CHAIN = ["eq", "gain_pan"]


@pytest.fixture(scope="module")
def bank():
    return stem_bank(RATE, num_loops=1, seconds=1.0)


def _songs(bank, counts=(2, 3), buses=(0, 1)):
    rng = np.random.default_rng(0)
    processors = console_processors(CHAIN)
    return processors, [
        draw_song(rng, processors, RATE, 0.25, k, b, CHAIN, bank)
        for k, b in zip(counts, buses, strict=True)
    ]


def test_upstream_sources_of_a_console_with_buses():
    G, _ = build_mixing_console(3, 2, chain=["gain_pan"])  # tracks 0, 1 -> bus 0; track 2 -> bus 1
    G_t = convert_to_tensor(G)
    types = [G.nodes[n]["node_type"] for n in sorted(G.nodes)]
    in_rows = torch.tensor([i for i, t in enumerate(types) if t == "in"])
    reach = upstream_sources(G_t.edge_indices, in_rows, len(types))
    bus0, bus1 = G.find_node("bus0/gain_pan"), G.find_node("bus1/gain_pan")
    assert reach[bus0].tolist() == [1.0, 1.0, 0.0]
    assert reach[bus1].tolist() == [0.0, 0.0, 1.0]
    assert reach[G.find_node("out")].tolist() == [1.0, 1.0, 1.0]


def test_encoder_checks_feature_sizes():
    encoder = GraphEncoder(3, 4, 2, hidden=8)
    types, edges = torch.tensor([0, 1, 2]), torch.tensor([[0, 1], [1, 2]])
    with pytest.raises(ParameterError, match=r"source features must be \(1, 4\)"):
        encoder(types, edges, torch.randn(1, 5), torch.randn(1, 2))
    with pytest.raises(ParameterError, match=r"target features must be \(1, 2\)"):
        encoder(types, edges, torch.randn(1, 4), torch.randn(2, 2))


def test_pyg_export_gives_the_same_shapes():
    pytest.importorskip(
        "torch_geometric", reason="the 'geometric' extra (torch_geometric) is not installed"
    )
    G, _ = build_mixing_console(2, 1, chain=CHAIN)
    G_t = convert_to_tensor(G)
    data = G_t.to_pyg()
    model = MixPredictor.for_console(CHAIN, hidden=8)
    types = model.type_indices(G)
    args = (torch.randn(2, model.encoder.source_dim), torch.randn(1, model.encoder.target_dim))
    plain = model.encoder(types, G_t.edge_indices, *args)
    pyg = model.encoder(types, data.edge_index, *args)
    assert pyg.shape == plain.shape == (data.num_nodes, 8)
    torch.testing.assert_close(pyg, plain)


def test_band_and_broadband_gains_of_a_scaled_stem():
    """A target that is one stem at half amplitude: every gain feature is -6.02 dB (/ 20)."""
    noise = torch.randn(1, 2, 8000, generator=torch.Generator().manual_seed(0))
    stem_f, _ = mix_features(noise, 0.5 * noise[0], 16000)
    expected = 20 * math.log10(0.5) / 20
    band_gains = stem_f[0, 2 * NUM_BANDS : 3 * NUM_BANDS]
    torch.testing.assert_close(band_gains, torch.full_like(band_gains, expected), atol=1e-4, rtol=0)
    torch.testing.assert_close(stem_f[0, -4:-2], torch.full((2,), expected), atol=1e-4, rtol=0)


def test_a_batch_of_songs_renders_like_each_song(bank):
    processors, songs = _songs(bank)
    true = {}
    from grafx.nn.train import _batched_tree

    true = _batched_tree([s.parameters for s in songs])
    mixes = render_songs(songs, processors, true)
    for mix, song in zip(mixes, songs, strict=True):
        alone = render_mix(song.G, processors, song.parameters, song.stems, song.type_sequence)
        torch.testing.assert_close(mix, alone, atol=1e-5, rtol=1e-4)


def test_gradients_reach_the_network_through_a_render(bank):
    """Songs of 2 and 3 tracks (one with a bus) in one batched graph: the audio loss of the
    rendered prediction gives every weight of the head and the encoder a finite gradient."""
    processors, songs = _songs(bank)
    model = MixPredictor.for_console(CHAIN, hidden=8)
    for linear in model.head.linears.values():  # away from the zero start, so all paths carry
        torch.nn.init.normal_(linear.weight, std=0.01)
    features = [mix_features(s.stems, s.target, RATE) for s in songs]
    G = batch_grafx([s.G for s in songs])
    from grafx.nn.train import _batched_tree

    base = _batched_tree([console_parameters(s.G, processors, RATE) for s in songs])
    predicted = model(
        G, torch.cat([f[0] for f in features]), torch.stack([f[1] for f in features]), base=base
    )
    assert predicted["gain_pan"]["log_gain"].shape == (5 + 1, 2)  # 5 tracks and one bus
    mixes = render_songs(songs, processors, predicted)
    loss = sum(MixLoss(RATE)(m, s.target) for m, s in zip(mixes, songs, strict=True))
    loss.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all(), name
    for linear in model.head.linears.values():
        assert float(linear.weight.grad.abs().sum()) > 0
    assert float(model.encoder.source_in.weight.grad.abs().sum()) > 0


def test_training_of_mixed_sizes_checkpoints_and_resumes(tmp_path):
    config = {
        "batch_size": 2,
        "seconds": 0.25,
        "sample_rate": RATE,
        "min_tracks": 1,
        "max_tracks": 3,
        "chain": ("gain_pan",),
        "hidden": 8,
        "rounds": 1,
        "num_loops": 1,
        "log_every": 1,
        "final_lr": 1.0,
    }  # a constant rate: the schedule of a 2-step run differs from a 3-step run's
    whole = train_predictor(TrainConfig(steps=3, **config))
    assert len(whole.history) == 3 and all(math.isfinite(x) for x in whole.history)
    checkpoint = str(tmp_path / "ckpt")
    first = train_predictor(TrainConfig(steps=2, checkpoint=checkpoint, **config))
    assert first.history == pytest.approx(whole.history[:2], rel=1e-5)
    resumed = train_predictor(TrainConfig(steps=3, checkpoint=checkpoint, **config))
    assert resumed.steps == 3
    assert resumed.history == pytest.approx(whole.history, rel=1e-4)
    assert load_checkpoint(checkpoint)["step"] == 3
    export_checkpoint(checkpoint, tmp_path / "exported")
    exported = load_predictor(tmp_path / "exported")
    for name, value in resumed.model.state_dict().items():
        torch.testing.assert_close(exported.state_dict()[name], value)
    assert exported.info["steps"] == 3


def test_model_files_round_trip_and_refuse_foreign_files(tmp_path, bank):
    processors, songs = _songs(bank, counts=(2,), buses=(0,))
    song = songs[0]
    model = MixPredictor.for_console(CHAIN, hidden=8)
    torch.nn.init.normal_(model.head.linears["gain_pan"].weight, std=0.1)
    path = tmp_path / "m"
    save_predictor(model, path)
    loaded = load_predictor(tmp_path / "m.json")
    a = model.predict(song.G, processors, song.stems, song.target, RATE)
    b = loaded.predict(song.G, processors, song.stems, song.target, RATE)
    torch.testing.assert_close(a["gain_pan"]["log_gain"], b["gain_pan"]["log_gain"])
    bounded = loaded.predict(song.G, processors, song.stems, song.target, RATE, bounded=True)
    assert bounded["gain_pan"]["log_gain"].shape == (2, 2)

    (tmp_path / "text.json").write_text('{"format": "grafx-graph", "version": 1}')
    with pytest.raises(GraphFileError, match="not a grafx predictor"):
        load_predictor(tmp_path / "text")
    (tmp_path / "bytes.json").write_bytes(b"\x80\x04\x95 pickled")
    with pytest.raises(GraphFileError, match="cannot read a grafx predictor"):
        load_predictor(tmp_path / "bytes.json")
    with pytest.raises(GraphFileError, match="no such model file"):
        load_predictor(tmp_path / "missing")
    other = MixPredictor.for_console(["gain_pan"], hidden=8)
    save_predictor(other, tmp_path / "other")
    (tmp_path / "other.safetensors").write_bytes((tmp_path / "m.safetensors").read_bytes())
    with pytest.raises(GraphFileError, match="weights do not fit"):
        load_predictor(tmp_path / "other")
    huge = json.loads((tmp_path / "m.json").read_text())
    huge["config"]["hidden"] = 10**9
    (tmp_path / "huge.json").write_text(json.dumps(huge))
    with pytest.raises(GraphFileError, match="sizes out of range"):
        load_predictor(tmp_path / "huge")


def test_a_model_for_another_console_is_refused(bank):
    processors, songs = _songs(bank, counts=(2,), buses=(0,))
    song = songs[0]
    small = MixPredictor.for_console(["gain_pan"], hidden=8)
    with pytest.raises(ConfigError, match="no head for type 'eq'"):
        small.predict(song.G, processors, song.stems, song.target, RATE)
    with pytest.raises(ConfigError, match=r"made for the node types \['gain_pan'\]"):
        small.type_indices(song.G)
    from grafx.processors.eq import ParametricEqualizer

    bigger_eq = {**processors, "eq": ParametricEqualizer(num_filters=6)}
    model = MixPredictor.for_console(CHAIN, hidden=8)
    with pytest.raises(ConfigError, match=r"type 'eq' parameter 'log_gain' has shape \[1, 6\]"):
        model.check_processors(bigger_eq)


def test_the_shipped_model_serves_the_console():
    model = load_predictor("console")
    model.check_processors(console_processors())
    G, _ = build_mixing_console(5, 2)
    assert model.type_indices(G).shape == (G.number_of_nodes(),)


def test_predict_as_a_fit_start_is_neutral_where_untrained(bank):
    """``start=True``: the trained settings as predicted (in range), the rest and the gates
    neutral."""
    from grafx.nn.bounds import parameter_bounds

    processors = console_processors()
    torch.manual_seed(0)
    model = MixPredictor.for_console(hidden=8)
    for linear in model.head.linears.values():
        torch.nn.init.normal_(linear.weight, std=0.05)
    G, _ = build_mixing_console(2)
    stems = bank[:2, :, : RATE // 2]
    predicted = model.predict(G, processors, stems, stems.sum(0), RATE)
    start = model.predict(G, processors, stems, stems.sum(0), RATE, start=True)
    neutral = console_parameters(G, processors, RATE)
    for node_type, key in (
        ("eq", "w0"),
        ("compressor", "log_knee"),
        ("reverb", "init_log_magnitude"),
    ):
        assert not torch.equal(predicted[node_type][key], neutral[node_type][key]), key
        torch.testing.assert_close(start[node_type][key], neutral[node_type][key])
    low, high, _ = parameter_bounds(processors, model.layout, RATE)["gain_pan"]
    layout = model.layout
    flat = layout.join("gain_pan", predicted["gain_pan"]).double()
    expected = torch.minimum(torch.maximum(flat, low), high).float()
    gate = [x for x in layout.leaves["gain_pan"] if x.path == ("drywet_weight",)][0]
    assert gate.size == 1
    expected[:, gate.offset] = neutral["gain_pan"]["drywet_weight"][:, 0]  # gates start neutral
    torch.testing.assert_close(layout.join("gain_pan", start["gain_pan"]), expected)
    for node_type in ("compressor", "reverb"):
        assert not torch.equal(
            predicted[node_type]["drywet_weight"], start[node_type]["drywet_weight"]
        )
        torch.testing.assert_close(
            start[node_type]["drywet_weight"], neutral[node_type]["drywet_weight"]
        )
    assert not torch.equal(start["gain_pan"]["log_gain"], neutral["gain_pan"]["log_gain"])
