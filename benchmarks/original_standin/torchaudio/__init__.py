"""Stand-in so that the original library imports; its lfilter backend is never benchmarked."""

__version__ = "2.13.0"
from . import functional  # noqa: E402,F401
