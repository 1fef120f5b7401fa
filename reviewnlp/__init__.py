"""reviewnlp: triage of Chinese/English shop and food-delivery reviews.

Public API::

    import reviewnlp
    model = reviewnlp.load()                 # the shipped default model
    pred = model.classify("快递三天都没到，客服也不回")
    pred.causes, pred.severity, pred.flags

Nothing heavy is imported until it is used.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.3.0"

__all__ = ["load", "Prediction", "RoutingDecision", "Review", "__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from .types import Prediction, Review, RoutingDecision


def load(path: Any = None, **kwargs: Any):
    """Load the shipped default model, or the one at ``path``; see :func:`reviewnlp.model.load`."""
    from .model import load as _load

    return _load(path, **kwargs)


def __getattr__(name: str) -> Any:
    if name in ("Prediction", "RoutingDecision", "Review"):
        from . import types

        return getattr(types, name)
    raise AttributeError(f"module 'reviewnlp' has no attribute {name!r}")
