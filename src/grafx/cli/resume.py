"""Resuming ``grafx fit``: the library's :mod:`grafx.fit.resume`, under its former path."""

from __future__ import annotations

from grafx.fit.resume import FIT_FILES, FIT_OPTIONS, check_resume, options_fingerprint

__all__ = ["FIT_FILES", "FIT_OPTIONS", "check_resume", "fit_fingerprint_of_args"]

#: :func:`grafx.fit.resume.options_fingerprint` (it takes :class:`~grafx.fit.options.FitOptions`).
fit_fingerprint_of_args = options_fingerprint
