import json

import pytest

from grafx.fit.many import ManifestError, Song, read_manifest
from grafx.fit.many.folder import RunFolder


@pytest.fixture
def files(tmp_path):
    for name in ("a.wav", "b.wav", "mix.wav"):
        (tmp_path / name).write_bytes(b"")
    return tmp_path


def write(path, text):
    path.write_text(text)
    return path


def test_csv_and_json_lines_read_the_same_songs(files):
    csv_file = write(files / "m.csv", "song,stems,target\n# a comment\n\ns1,a.wav;b.wav,mix.wav\n")
    row = {"song": "s1", "stems": ["a.wav", "b.wav"], "target": "mix.wav"}
    jsonl = write(files / "m.jsonl", json.dumps(row) + "\n")
    expected = [
        Song("s1", (str(files / "a.wav"), str(files / "b.wav")), str(files / "mix.wav"), None, 4)
    ]
    assert read_manifest(csv_file) == expected
    assert [(s.song_id, s.stems, s.target) for s in read_manifest(jsonl)] == [
        (s.song_id, s.stems, s.target) for s in expected
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "song,stems,target\ns1,a.wav,missing.wav\n",
            r"m.csv:2: song 's1': target file .*missing.wav does not exist",
        ),
        (
            "song,stems,target\ns1,nope.wav,mix.wav\n",
            r"m.csv:2: song 's1': stem file .*nope.wav does not exist",
        ),
        (
            "song,stems,target\ns1,a.wav,mix.wav\ns1,b.wav,mix.wav\n",
            r"m.csv:3: duplicate song id 's1' \(first on line 2\)",
        ),
        ("song,stems,target\ns1,a.wav\n", r"m.csv:2: unreadable line: 2 field\(s\) for 3 column"),
        ('song,stems,target\ns1,"a.wav,mix.wav\n', r"m.csv:2: unreadable line"),
        ("song,stems,target\n", r"m.csv: the manifest lists no songs"),
        ("", r"m.csv: the manifest lists no songs"),
        ("song,target\ns1,mix.wav\n", r"m.csv:1: the header lacks column\(s\) \['stems'\]"),
        (
            "song,stems,target\n../x,a.wav,mix.wav\n",
            r"m.csv:2: song id '../x' must be a folder name",
        ),
        ("song,stems,target\ns1,,mix.wav\n", r"m.csv:2: song 's1': stems must be a non-empty list"),
    ],
)
def test_bad_csv_manifests_name_the_line_and_song(files, text, message):
    with pytest.raises(ManifestError, match=message):
        read_manifest(write(files / "m.csv", text))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"song": "s1", "stems": ["a.wav"], "target": "mix.wav"}\n{"song": "s2", \n',
            r"m.jsonl:2: unreadable line",
        ),
        ("[1, 2]\n", r"m.jsonl:1: unreadable line: not a JSON object"),
        (
            '{"song": "s1", "stems": "a.wav", "target": "mix.wav"}\n',
            r"m.jsonl:1: song 's1': stems must be",
        ),
        (
            '{"song": "s1", "stems": ["a.wav"], "target": 3}\n',
            r"m.jsonl:1: song 's1': target must be",
        ),
    ],
)
def test_bad_json_lines_name_the_line_and_song(files, text, message):
    with pytest.raises(ManifestError, match=message):
        read_manifest(write(files / "m.jsonl", text))


def test_unreadable_manifest_file(tmp_path):
    with pytest.raises(ManifestError, match="absent.csv: cannot read the manifest"):
        read_manifest(tmp_path / "absent.csv")


def test_an_output_folder_of_another_manifest_is_refused(files):
    songs = read_manifest(write(files / "m.csv", "song,stems,target\ns1,a.wav,mix.wav\n"))
    out = files / "out"
    RunFolder(out).open("m.csv", songs, ["--steps", "3"])
    RunFolder(out).open("m.csv", songs, ["--steps", "3"])  # the same run: accepted
    other = read_manifest(write(files / "o.csv", "song,stems,target\ns1,b.wav,mix.wav\n"))
    with pytest.raises(ManifestError, match=r"another manifest: song 's1' \(line 2 of o.csv\)"):
        RunFolder(out).open("o.csv", other, ["--steps", "3"])
    with pytest.raises(ManifestError, match=r"fitted with fit options \['--steps', '3'\]"):
        RunFolder(out).open("m.csv", songs, ["--steps", "4"])
    fewer = read_manifest(write(files / "f.csv", "song,stems,target\ns2,a.wav,mix.wav\n"))
    with pytest.raises(ManifestError, match=r"songs \['s1'\] are not in f.csv"):
        RunFolder(out).open("f.csv", fewer, ["--steps", "3"])
    foreign = files / "foreign"
    (foreign / "s1").mkdir(parents=True)
    with pytest.raises(ManifestError, match=r"holds a folder 's1' that no fit-many run"):
        RunFolder(foreign).open("m.csv", songs, [])
