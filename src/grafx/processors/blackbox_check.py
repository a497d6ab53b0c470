"""The earlier module path of :mod:`grafx.testing.blackbox` (a testing helper, not a processor).

Its names are loaded on first access, so listing the processors does not import it.
"""

import importlib
from typing import Any

# Defined by grafx.testing.blackbox and loaded by __getattr__ below.
__all__ = [  # noqa: F822
    "processor_as_callable",
    "wrap_processor",
    "gradient_cosine",
    "reference_cases",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("grafx.testing.blackbox"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return list(__all__)
