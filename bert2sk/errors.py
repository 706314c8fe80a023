"""The exceptions bert2sk raises on bad input.

Every message names the problem *and* the fix, so a user never has to read a
traceback from deep inside a library to understand what went wrong.
"""

from __future__ import annotations

__all__ = ["Bert2skError", "InputError", "ModelFileError", "MissingDependencyError"]


class Bert2skError(Exception):
    """Base class of every error bert2sk raises on purpose."""


class InputError(Bert2skError, ValueError):
    """Texts, labels, columns or arguments that cannot be used as given."""


class ModelFileError(Bert2skError, ValueError):
    """A model file or directory that is missing, corrupt or not bert2sk's."""


class MissingDependencyError(Bert2skError, ImportError):
    """An optional dependency is not installed."""


def require(module: str, extra: str | None = None):
    """Import ``module`` or raise an error that says how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        hint = f"pip install 'bert2sk[{extra}]'" if extra else f"pip install {module}"
        raise MissingDependencyError(
            f"bert2sk needs the optional package {module!r} for this; install it with: {hint}"
        ) from exc
