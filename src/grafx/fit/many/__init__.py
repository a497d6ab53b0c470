"""Fit every song of a manifest: packing on one device, a local or Ray executor, resumable.

The pieces: :func:`read_manifest` (CSV or JSON lines), :func:`fit_many` (the run), the output
folder layout in :mod:`grafx.fit.many.folder`, :func:`fit_packed` (several songs in one batched
graph with independent parameters), and :func:`write_demo_songs` (synthetic songs to try it on).
"""

from grafx.fit.many.demo import write_demo_songs
from grafx.fit.many.manifest import ManifestError, Song, read_manifest
from grafx.fit.many.pack import fit_packed
from grafx.fit.many.run import fit_many

__all__ = ["ManifestError", "Song", "fit_many", "fit_packed", "read_manifest", "write_demo_songs"]
