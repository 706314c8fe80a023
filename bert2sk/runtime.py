"""Facts of the machine a model runs on: which numeric precision to use, and how to show progress.

Upstream of the teacher, the features and the trainer alike, so none of
them has to reach into another for it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .errors import InputError

__all__ = ["DTYPES", "DTYPE_ENV", "LOG_REDRAW_SECONDS", "cpu_supports_bf16", "progress_bar", "resolve_dtype"]

DTYPES = ("auto", "fp32", "bf16")
#: Environment variable that decides what ``dtype="auto"`` means (``fp32`` or ``bf16``) on this machine.
DTYPE_ENV = "BERT2SK_DTYPE"
#: Seconds between redraws of a progress bar written to a file rather than a terminal.
LOG_REDRAW_SECONDS = 30.0
# a log line needs no bar drawing: count, share, elapsed < left, rate
_LOG_FORMAT = "{desc}: {n_fmt}/{total_fmt} ({percentage:.0f}%) [{elapsed}<{remaining}, {rate_fmt}{postfix}]"
_LOG_FORMAT_OPEN = "{desc}: {n_fmt} [{elapsed}, {rate_fmt}{postfix}]"  # no total known: no share, no time left


def cpu_supports_bf16() -> bool:
    """True when this CPU has native bf16 matmuls (AVX512-BF16 or AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:  # pragma: no cover - non-Linux
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_dtype(dtype: str) -> str:
    """``"fp32"`` or ``"bf16"``: ``auto`` picks bf16 only where the CPU computes it natively.

    ``$BERT2SK_DTYPE`` (``fp32`` or ``bf16``), when set, is what ``auto``
    means: a user whose CPU reports bf16 but runs it slowly, or who wants
    fp32 results everywhere, sets it once instead of passing ``dtype`` to
    every command. An explicit ``fp32`` or ``bf16`` is never overridden.

    Examples
    --------
    >>> resolve_dtype("fp32")
    'fp32'
    >>> resolve_dtype("auto") in ("fp32", "bf16")
    True
    """
    if dtype not in DTYPES:
        raise InputError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    if dtype != "auto":
        return dtype
    forced = os.environ.get(DTYPE_ENV, "").strip().lower()
    if forced in ("fp32", "bf16"):
        return forced
    if forced not in ("", "auto"):
        raise InputError(f"${DTYPE_ENV} must be fp32, bf16 or auto, got {forced!r}; fix or unset it")
    return "bf16" if cpu_supports_bf16() else "fp32"


def _log_bar_class():
    """A tqdm bar that writes whole lines (no carriage returns) and always ends with a summary line."""
    from tqdm.std import tqdm

    class LogLineBar(tqdm):
        @staticmethod
        def status_printer(file):
            def print_line(line: str) -> None:
                if line.strip():  # tqdm "clears" a bar by drawing an empty one: nothing to clear in a file
                    file.write(line.rstrip() + "\n")
                    file.flush()

            return print_line

        def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
            # tqdm appends ": " to a new description; the log line format puts it there itself
            self.desc = desc or ""
            if refresh:
                self.refresh()

        def display(self, msg: str | None = None, pos: int | None = None) -> bool:
            self.shown_n = self.n  # what the last line said, so the summary is not the same line again
            return super().display(msg, pos)

        def clear(self, nolock: bool = False) -> None:
            """Nothing to clear: a line written to a file stays (tqdm would write a carriage return)."""

        def close(self) -> None:
            if self.disable:
                return
            # the final line is the phase's summary: whole-run rate, not the smoothed recent one
            self._ema_dt = lambda: None
            if getattr(self, "shown_n", None) != self.n:
                self.display()
            self.disable = True
            self._decr_instances(self)

    return LogLineBar


def progress_bar(total: int | None, desc: str, enabled: bool = True, *, leave: bool = True, unit: str = "doc"):
    """A tqdm bar that redraws freely on a terminal and writes few whole lines into a log file.

    Redirected to a file, a redrawn bar is one more line of output per
    update (hundreds for a long run). There the bar writes one line after
    :data:`LOG_REDRAW_SECONDS` and then at most one per that many seconds,
    and always a final summary line (count, elapsed time, overall rate),
    whatever ``leave`` says; a phase shorter than that writes only the
    summary. Notebook widgets redraw in place and are left as they are.

    Parameters
    ----------
    total : int or None
        Expected count (``None``: unknown, no ETA).
    desc : str
        Label in front of the bar.
    enabled : bool
        ``False`` gives a silent bar (same methods, no output).
    leave : bool
        Keep the bar on a terminal once closed.
    unit : str
        What is counted.

    Returns
    -------
    tqdm.tqdm
        Use as a context manager, or call ``close()``.
    """
    from tqdm.auto import tqdm

    widget = any(cls.__module__ == "tqdm.notebook" for cls in tqdm.__mro__)
    if widget or bool(getattr(sys.stderr, "isatty", lambda: False)()):
        return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, leave=leave, mininterval=0.1,
                    dynamic_ncols=True)
    # miniters=1: every update checks the clock, and tqdm's monitor thread (which redraws a bar whose
    # miniters grew) stays out of it
    return _log_bar_class()(total=total, desc=desc, unit=unit, disable=not enabled, leave=True,
                            mininterval=LOG_REDRAW_SECONDS, delay=LOG_REDRAW_SECONDS, miniters=1,
                            bar_format=_LOG_FORMAT if total else _LOG_FORMAT_OPEN)
