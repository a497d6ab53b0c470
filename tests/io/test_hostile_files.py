"""Graph files and processor specs that ask for unbounded sizes are refused, quickly and clearly."""

import json
import time

import pytest

from grafx.data import GRAFX
from grafx.errors import ConfigError, GraphFileError
from grafx.io import load, load_graph, save_graph
from grafx.processors.spec import build_processor
from grafx.processors.spec_limits import MAX_SPEC_COUNT, MAX_SPEC_LENGTH


def _chain_file(tmp_path, processor=None):
    G = GRAFX()
    i, x, o = G.add("in"), G.add("x"), G.add("out")
    G.connect(i, x)
    G.connect(x, o)
    path = tmp_path / "g.json"
    save_graph(G, path, None)
    document = json.loads(path.read_text())
    if processor is not None:
        document["processors"] = {"x": processor}
    path.write_text(json.dumps(document))
    return path, document


@pytest.mark.parametrize("counter", [100_000_000, 2 * 10**15])
def test_huge_counter_loads_at_once(tmp_path, counter):
    path, document = _chain_file(tmp_path)
    path.write_text(json.dumps({**document, "counter": counter}))
    began = time.perf_counter()
    G, _ = load_graph(path)
    assert time.perf_counter() - began < 2.0
    assert G.counter == counter and G.consecutive_ids is False


def test_huge_node_id_loads_at_once(tmp_path):
    path, document = _chain_file(tmp_path)
    document.pop("counter")
    for node in document["nodes"]:
        node["id"] = node["id"] + (10**9 if node["id"] == 2 else 0)
    for edge in document["edges"]:
        for end in ("source", "dest"):
            edge[end] += 10**9 if edge[end] == 2 else 0
    path.write_text(json.dumps(document))
    G, _ = load_graph(path)
    assert G.counter == 10**9 + 3 and G.consecutive_ids is False


def test_consecutive_ids_still_detected(tmp_path):
    path, _ = _chain_file(tmp_path)
    G, _ = load_graph(path)
    assert G.consecutive_ids is True and G.counter == 3


@pytest.mark.parametrize(
    "spec, key",
    [
        (
            {"processor": "FilteredNoiseShapingReverb", "args": {"num_bands": 1_000_000}},
            "num_bands",
        ),
        ({"processor": "MultitapDelay", "args": {"segment_len": 10**9}}, "segment_len"),
        ({"processor": "MultitapDelay", "args": {"segment_len": -3}}, "segment_len"),
        ({"processor": "FDNReverb", "args": {"sample_rate": 0}}, "sample_rate"),
        ({"processor": "GraphicEqualizer", "args": {"sr": 0}}, "sr"),
        ({"processor": "Compressor", "args": {"iir_len": -1}}, "iir_len"),
        ({"processor": "FDNReverb", "args": {"delays": [10**9]}}, "delays"),
        ({"processor": "Chorus", "args": {"max_depth_ms": 1e30}}, "max_depth_ms"),
        ({"processor": "Phaser", "args": {"center_hz": -5.0}}, "center_hz"),
    ],
)
def test_spec_arguments_out_of_range_are_refused(spec, key):
    with pytest.raises(ConfigError, match=rf"x\.args\.{key}: .*out of range"):
        build_processor(spec, "x")


def test_spec_element_product_is_bounded():
    spec = {"processor": "MultitapDelay", "args": {"segment_len": 2**20, "num_segments": 1000}}
    with pytest.raises(ConfigError, match="elements per node, over the limit"):
        build_processor(spec, "x")


def test_spec_limits_leave_ordinary_processors_alone():
    delay = build_processor(
        {"processor": "MultitapDelay", "args": {"segment_len": 2000, "num_segments": 8}}
    )
    assert delay.segment_len == 2000
    assert MAX_SPEC_COUNT >= 64 and MAX_SPEC_LENGTH >= 2**17


def test_blackbox_worker_count_from_a_file_is_bounded():
    spec = {
        "processor": "BlackBox",
        "args": {"fn": "f", "settings": {}, "executor": "process", "num_workers": 10**6},
    }
    with pytest.raises(ConfigError, match=r"num_workers: .*workers \(the CPUs"):
        build_processor(spec, "x")


@pytest.mark.parametrize("inner", ["string", 7])
def test_drywet_inner_processor_must_be_a_spec(tmp_path, inner):
    path, _ = _chain_file(tmp_path, {"processor": "DryWet", "args": {"processor": inner}})
    with pytest.raises(GraphFileError, match=r"args\.processor: DryWet takes a processor spec"):
        load(path)


def test_atomic_write_errors_name_the_file_not_its_temporary(tmp_path):
    from grafx.io.atomic import atomic_write

    target = tmp_path / "out.json"
    with pytest.raises(OSError) as info, atomic_write(target) as file:
        file.write(b"x")
        raise OSError(28, "No space left on device")
    assert info.value.filename == str(target)
    assert not list(tmp_path.iterdir())  # no temporary left behind


def test_atomic_write_honours_the_umask_and_keeps_a_replaced_files_mode(tmp_path):
    import os
    import stat

    from grafx.io.atomic import atomic_write, remove_stale_temporaries

    old = os.umask(0o027)
    try:
        with atomic_write(tmp_path / "a") as file:
            file.write(b"a")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o640
    (tmp_path / "a").chmod(0o604)
    with atomic_write(tmp_path / "a") as file:
        file.write(b"b")
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o604
    stale = tmp_path / ".a.x1y2.tmp"
    stale.write_bytes(b"partial")
    other = tmp_path / ".b.x1y2.tmp"
    other.write_bytes(b"someone else's")
    assert remove_stale_temporaries(tmp_path, ["a"]) == [stale]
    assert other.exists()


def test_read_bounded_refuses_what_is_over_the_limit(tmp_path):
    from grafx.io.files import read_bounded

    path = tmp_path / "big"
    path.write_bytes(b"x" * 100)
    assert read_bounded(path, 100) == b"x" * 100
    with pytest.raises(GraphFileError, match="100 bytes is over the 99-byte limit"):
        read_bounded(path, 99)


def test_a_lone_surrogate_in_a_type_name_is_refused(tmp_path):
    path, document = _chain_file(tmp_path)
    document["nodes"][1]["type"] = "\udc80"
    path.write_text(json.dumps(document))  # ensure_ascii: written as the escape \udc80
    with pytest.raises(GraphFileError, match="a string holds a lone surrogate"):
        load_graph(path)


def test_a_short_wav_write_is_a_clear_error(tmp_path, monkeypatch):
    import soundfile
    import torch

    from grafx.errors import AudioError
    from grafx.io.audio import write_audio

    def full_disk(*args, **kwargs):
        raise AssertionError  # what soundfile raises when fewer frames were written

    monkeypatch.setattr(soundfile, "write", full_disk)
    with pytest.raises(
        AudioError, match=r"out\.wav: cannot write: a short write \(is the disk full"
    ):
        write_audio(tmp_path / "out.wav", torch.zeros(2, 10), 8000)
    assert not list(tmp_path.iterdir())
