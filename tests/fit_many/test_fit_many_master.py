"""``grafx fit-many --fit "--master ..."``: every song's console gets the master strip, packed or
not, and a packed fit equals the songs fitted one by one."""

import pytest
import torch

from grafx.cli import main
from grafx.fit.many import write_demo_songs
from grafx.io import load_graph

FIT = "--steps 3 --crop 0.25 --warmup 0.05 --sample-rate 8000 --master eq,limiter"


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    return write_demo_songs(tmp_path_factory.mktemp("songs"), 2, sample_rate=8000, duration=0.5)


def fit_many(manifest, out, *extra):
    argv = ["fit-many", str(manifest), "--out", str(out), "--fit", FIT, "--quiet"]
    assert main([*argv, "--threads", "1", *extra]) == 0


def test_every_song_gets_the_master_strip_packed_or_not(manifest, tmp_path):
    fit_many(manifest, tmp_path / "one", "--pack", "1")
    fit_many(manifest, tmp_path / "packed", "--pack", "2")
    for song in ("song000", "song001"):
        G, one = load_graph(tmp_path / "one" / song / "graph.json")
        types = {G.nodes[n]["node_type"] for n in G.nodes}
        assert {"eq", "limiter"} <= types
        names = {G.nodes[n].get("name") for n in G.nodes}
        assert {"master/eq", "master/limiter"} <= names
        _, packed = load_graph(tmp_path / "packed" / song / "graph.json")
        for node_type, settings in one.items():
            for key, value in settings.items():
                torch.testing.assert_close(packed[node_type][key], value, rtol=1e-4, atol=1e-5)
