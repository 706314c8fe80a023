"""Facts of the machine a model runs on: which numeric precision to use.

Upstream of the teacher, the features and the trainer alike, so none of
them has to reach into another for it.
"""

from __future__ import annotations

from pathlib import Path

from .errors import InputError

__all__ = ["DTYPES", "cpu_supports_bf16", "resolve_dtype"]

DTYPES = ("auto", "fp32", "bf16")


def cpu_supports_bf16() -> bool:
    """True when this CPU has native bf16 matmuls (AVX512-BF16 or AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:  # pragma: no cover - non-Linux
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_dtype(dtype: str) -> str:
    """``"fp32"`` or ``"bf16"``: ``auto`` picks bf16 only where the CPU computes it natively.

    Examples
    --------
    >>> resolve_dtype("fp32")
    'fp32'
    >>> resolve_dtype("auto") in ("fp32", "bf16")
    True
    """
    if dtype not in DTYPES:
        raise InputError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    if dtype == "auto":
        return "bf16" if cpu_supports_bf16() else "fp32"
    return dtype
