import errno
import os

import pytest

from grafx.errors import GraphFileError
from grafx.io.files import check_header, write_file


def test_write_file_replaces_the_file_and_returns_its_path(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"old")
    assert write_file(path, b"new") == path
    assert path.read_bytes() == b"new" and os.listdir(tmp_path) == ["a.bin"]


def test_a_failed_write_names_the_file_and_its_kind_and_keeps_the_old_one(tmp_path, monkeypatch):
    path = tmp_path / "state.json"
    path.write_bytes(b"old")

    def full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(GraphFileError, match=r"state\.json: cannot write checkpoint: No space"):
        write_file(path, b"new", "checkpoint")
    with pytest.raises(GraphFileError, match=r"state\.json: cannot write: No space"):
        write_file(path, b"new")
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["state.json"]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([1, 2], r"f\.json: not a grafx preset \(format 'grafx-preset' expected\)"),
        ({"format": "grafx-graph", "version": 1}, "not a grafx preset"),
        ({"format": "grafx-preset", "version": 2}, "unsupported preset version 2; this grafx"),
        ({"format": "grafx-preset"}, "unsupported preset version None; this grafx reads version 1"),
    ],
)
def test_check_header_refuses_other_kinds_and_versions(document, message):
    with pytest.raises(GraphFileError, match=message):
        check_header(document, "f.json", "grafx-preset", 1, "preset")


def test_check_header_returns_a_good_document():
    document = {"format": "grafx-preset", "version": 1, "settings": {}}
    assert check_header(document, "f.json", "grafx-preset", 1, "preset") is document
