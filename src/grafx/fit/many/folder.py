"""The output folder of a fit-many run.

``DIR/<song>/`` holds a finished song, exactly as ``grafx fit`` writes it; it appears in one
``os.replace`` from ``DIR/.fit-many/work/<song>/`` (where the song is fitted and checkpointed),
so a song folder is always complete. Beside it, ``DIR/.fit-many/`` keeps ``run.json`` (the
manifest's songs and shared fit options, to refuse a folder of another manifest), ``records/<song>.json``
(the result or the error of each song, written atomically), ``running/<song>.json`` (the process
fitting it) with ``running/<song>.lock``, locked (``fcntl.flock``) by that process for as long as
it fits the song, so that the lock dies with it, and ``DIR/summary.csv`` and ``DIR/fit-many.log`` are rewritten / appended as songs
finish.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from grafx.fit.fingerprint import first_difference
from grafx.fit.many.manifest import ManifestError, Song
from grafx.io.atomic import atomic_write

STATE = ".fit-many"
SUMMARY_COLUMNS = ["song", "status", "steps", "seconds", "loss_before", "loss_after", "error"]


class RunFolder:
    """Paths and records of a fit-many output folder."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.state = self.root / STATE

    def song_dir(self, song_id: str) -> Path:
        return self.root / song_id

    def work_dir(self, song_id: str) -> Path:
        return self.state / "work" / song_id

    def record_path(self, song_id: str) -> Path:
        return self.state / "records" / f"{song_id}.json"

    def running_path(self, song_id: str) -> Path:
        return self.state / "running" / f"{song_id}.json"

    @property
    def log_path(self) -> Path:
        return self.root / "fit-many.log"

    def open(self, manifest: str | os.PathLike, songs: Sequence[Song], fit_options: Any) -> None:
        """Create the folder, or check that it holds this manifest's run (never another's):
        the same songs' files and the same shared fit options ``fit_options`` (a JSON value,
        e.g. :meth:`FitOptions.as_record <grafx.fit.options.FitOptions.as_record>`'s)."""
        identity = {
            "format": "grafx-fit-many",
            "version": 1,
            "songs": {s.song_id: s.as_json() for s in songs},
            "fit_options": json.loads(json.dumps(fit_options)),
        }
        run_file = self.state / "run.json"
        if run_file.exists():
            try:
                before = json.loads(run_file.read_text())
            except (OSError, ValueError) as error:
                raise ManifestError(f"{run_file}: unreadable run file: {error}") from None
            self._check_same(manifest, songs, before, identity)
        elif self.root.exists() and any((self.root / s.song_id).exists() for s in songs):
            taken = next(s for s in songs if (self.root / s.song_id).exists())
            raise ManifestError(
                f"{self.root}: holds a folder {taken.song_id!r} that no fit-many run of "
                f"{manifest} wrote (line {taken.line}); choose another --out"
            )
        for sub in ("work", "records", "running"):
            (self.state / sub).mkdir(parents=True, exist_ok=True)
        if not run_file.exists():
            _write_json(run_file, identity)

    def _check_same(self, manifest, songs, before: dict, identity: dict) -> None:
        where = f"{self.root}: holds the results of another manifest"
        old = before.get("songs", {})
        for song in songs:
            if song.song_id in old and old[song.song_id] != song.as_json():
                raise ManifestError(
                    f"{where}: song {song.song_id!r} (line {song.line} of {manifest}) was fitted "
                    f"from other files ({old[song.song_id]}); choose another --out"
                )
        extra = sorted(set(old) - {s.song_id for s in songs})
        if extra:
            raise ManifestError(
                f"{where} (songs {extra} are not in {manifest}); choose another --out"
            )
        recorded = before.get("fit_options", before.get("fit_args"))  # older: the --fit words
        if recorded != identity["fit_options"]:
            now = identity["fit_options"]
            if isinstance(recorded, dict) and isinstance(now, dict):
                what = f"other fit options ({first_difference(recorded, now)})"
            else:
                what = f"fit options {recorded}, not {now}"
            raise ManifestError(f"{where}: it was fitted with {what}; choose another --out")
        new = [s.song_id for s in songs if s.song_id not in old]
        if new:
            before["songs"].update({s.song_id: s.as_json() for s in songs if s.song_id in new})
            _write_json(self.state / "run.json", before)

    def is_finished(self, song_id: str) -> bool:
        return self.song_dir(song_id).is_dir() and self.record_path(song_id).exists()

    def record(self, song_id: str) -> dict | None:
        try:
            return json.loads(self.record_path(song_id).read_text())
        except (OSError, ValueError):
            return None

    def write_record(self, song_id: str, record: dict) -> None:
        _write_json(self.record_path(song_id), {"song": song_id, **record})

    def publish(self, song_id: str) -> None:
        """Move a fitted song from its work folder to ``DIR/<song>`` in one rename."""
        work = self.work_dir(song_id)
        final = self.song_dir(song_id)
        if final.exists():  # a run killed between publishing and recording: same song, same fit
            shutil.rmtree(final)
        os.replace(work, final)

    def lock_path(self, song_id: str) -> Path:
        return self.state / "running" / f"{song_id}.lock"

    def mark_running(self, song_id: str, attempt: int) -> None:
        """Lock the song for this process (until :meth:`clear_running` or its exit).

        Raises:
            SongBusy: another live process holds the song.
        """
        path = self.lock_path(song_id)
        if path not in _HELD:
            fd = _try_lock(path)
            if fd is None:
                raise SongBusy(self._busy_message(song_id))
            _HELD[path] = fd
        doc = {"pid": os.getpid(), "host": os.uname().nodename, "attempt": attempt}
        _write_json(self.running_path(song_id), doc)

    def clear_running(self, song_id: str) -> None:
        self.running_path(song_id).unlink(missing_ok=True)
        fd = _HELD.pop(self.lock_path(song_id), None)
        if fd is not None:
            os.close(fd)  # releases the lock

    def check_idle(self, song_id: str, wait: float = 10.0) -> None:
        """Raise :class:`SongBusy` if a live process (of an earlier run, say) fits the song,
        after waiting up to ``wait`` seconds for it to end (a killed one takes a moment)."""
        path = self.lock_path(song_id)
        if path in _HELD:
            return
        deadline = time.monotonic() + wait
        while (fd := _try_lock(path)) is None:
            if time.monotonic() >= deadline:
                raise SongBusy(self._busy_message(song_id))
            time.sleep(0.1)
        os.close(fd)

    def _busy_message(self, song_id: str) -> str:
        pid = (self.record_json(self.running_path(song_id)) or {}).get("pid", "?")
        return (
            f"{self.root}: song {song_id!r} is being fitted by process {pid} (of an earlier "
            "run whose parent was killed?); wait for it to end or stop it, then run again"
        )

    @staticmethod
    def record_json(path: Path) -> dict | None:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def log(self, song_id: str, message: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        line = f"{stamp} {song_id}: {message}\n".encode()
        fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def write_summary(self, songs: Sequence[Song]) -> Path:
        """Rewrite ``summary.csv`` from the records: finished and failed songs, manifest order."""
        rows = []
        for song in songs:
            record = self.record(song.song_id)
            if record is None:
                continue
            if record.get("status") == "done" and not self.song_dir(song.song_id).is_dir():
                continue
            rows.append(_flat(record))
        metrics = sorted({k for row in rows for k in row} - set(SUMMARY_COLUMNS))
        metrics = [k for k in metrics if k.startswith(("fitted.", "initial."))]
        buffer = io.StringIO()
        columns = SUMMARY_COLUMNS + metrics
        writer = csv.DictWriter(buffer, columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: _cell(row.get(c)) for c in columns})
        path = self.root / "summary.csv"
        with atomic_write(path) as file:
            file.write(buffer.getvalue().encode())
        return path


class SongBusy(ManifestError):
    """A song that another live process is fitting."""


#: Lock files this process holds, by path: the open descriptor that holds each lock.
_HELD: dict[Path, int] = {}


def _try_lock(path: Path) -> int | None:
    """An open descriptor holding an exclusive ``flock`` on ``path``, or ``None`` if another
    process holds it. The lock ends when the descriptor is closed or the process dies."""
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def _flat(record: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in record.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _cell(value):
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else value


def _write_json(path: Path, document: dict) -> None:
    with atomic_write(path) as file:
        file.write(json.dumps(document, indent=1).encode())
