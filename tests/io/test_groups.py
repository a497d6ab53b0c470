import pytest

from grafx.errors import ConfigError
from grafx.io.groups import parse_groups, read_groups
from grafx.presets import build_mixing_console

STEMS = ["kick", "snare", "bass", "vox"]


def test_groups_become_buses_in_order_of_first_appearance(tmp_path):
    path = tmp_path / "groups.json"
    path.write_text('{"vox": "vocals", "bass": "music", "kick": "drums", "snare": "drums"}')
    groups, track_to_bus = read_groups(path, STEMS)
    assert groups == ["drums", "music", "vocals"] and track_to_bus == [0, 0, 1, 2]
    G, type_sequence = build_mixing_console(
        4,
        3,
        chain=("eq", "gain_pan"),
        track_to_bus=track_to_bus,
        track_names=STEMS,
        bus_names=groups,
    )
    # kick -> drums bus -> out; vox -> vocals bus.
    kick, drums_eq = G.find_node("kick/gain_pan"), G.find_node("drums/eq")
    assert list(G.successors(kick)) == [drums_eq]
    assert list(G.successors(G.find_node("vox/gain_pan"))) == [G.find_node("vocals/eq")]
    assert type_sequence == ["in", "eq", "gain_pan", "eq", "gain_pan", "out"]


def test_bad_groups_name_the_file_and_stem(tmp_path):
    with pytest.raises(ConfigError, match=r"g.json: stem\(s\) \['hat'\] are not among the stems"):
        parse_groups({**dict.fromkeys(STEMS, "a"), "hat": "drums"}, STEMS, "g.json")
    with pytest.raises(ConfigError, match=r"stem\(s\) \['vox'\] have no group"):
        parse_groups(dict.fromkeys(STEMS[:3], "a"), STEMS)
    with pytest.raises(ConfigError, match="group names must be non-empty strings"):
        parse_groups({**dict.fromkeys(STEMS, "a"), "vox": 3}, STEMS)
    with pytest.raises(ConfigError, match="expected a JSON object"):
        parse_groups(["kick"], STEMS)
    bad = tmp_path / "bad.json"
    bad.write_text("{kick: drums")
    with pytest.raises(ConfigError, match="bad.json: not a JSON groups file"):
        read_groups(bad, STEMS)
    with pytest.raises(ConfigError, match="missing.json: cannot read groups file"):
        read_groups(tmp_path / "missing.json", STEMS)
    with pytest.raises(ConfigError, match="bus_names must be 1 distinct names, none a track"):
        build_mixing_console(2, 1, track_names=["a", "b"], bus_names=["a"])
