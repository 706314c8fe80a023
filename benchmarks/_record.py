"""What the benchmark scripts share: where their output goes and how it names teachers and data.

A saved output is committed, so it names nothing of the machine that wrote
it: a teacher by its folder name and fingerprint, data by a path relative to
the project (``../shared/data/...``) or by its bare file name, never by an
absolute home, temp or cache path.
"""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ROOT / "reports" / "benchmarks"
SHARED_DATA = ROOT.parent / "shared" / "data"


def display_path(path: str | os.PathLike) -> str:
    """``path`` relative to the project when it is inside it or in ``../shared``, else its bare name.

    Examples
    --------
    >>> display_path(ROOT / "reports" / "x.txt")
    'reports/x.txt'
    >>> display_path("/opt/models/demo-teacher-0123")
    'demo-teacher-0123'
    """
    p = Path(os.path.abspath(path))
    for base in (ROOT, ROOT.parent / "shared"):
        if p == base or base in p.parents:
            return Path(os.path.relpath(p, ROOT)).as_posix()
    return p.name


def demo_teacher_dir() -> Path:
    """The folder of the teacher that ``bert2sk demo`` fine-tunes once and caches."""
    from bert2sk.demo import DemoSettings, cache_dir

    return cache_dir() / f"demo-teacher-{DemoSettings().teacher_key()}"


def resolve_teacher(arg: str | None) -> str | None:
    """A ``--teacher`` value as a folder: ``demo`` is the demo's cached teacher; ``None`` stays ``None``."""
    if arg != "demo":
        return arg
    path = demo_teacher_dir()
    if not (path / "config.json").exists() or not (path / "bert2sk_training.json").exists():
        raise SystemExit(f"--teacher demo: no finished demo teacher at {path}; run `make demo` once to fine-tune "
                         "it, or pass --teacher DIR")
    return str(path)


def teacher_label(path: str | os.PathLike, teacher) -> str:
    """How a saved output names a teacher loaded from ``path``: folder name and fingerprint."""
    return f"{Path(path).name} (fingerprint {teacher.fingerprint[:12]})"


def _clean_arg(arg: str) -> str:
    if arg.startswith("--") and "=" in arg:
        flag, value = arg.split("=", 1)
        return f"{flag}={_clean_arg(value)}"
    return display_path(arg) if os.path.isabs(arg) else arg


def command_line(script: str, argv: list[str] | None = None) -> str:
    """The command that ran ``script``, with absolute paths shortened by :func:`display_path`."""
    args = sys.argv[1:] if argv is None else argv
    return shlex.join(["python", f"benchmarks/{Path(script).name}", *(_clean_arg(a) for a in args)])


def machine_line() -> str:
    """Date, CPU model and CPU count: what a reader needs to compare two saved outputs."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:  # pragma: no cover - non-Linux
        pass
    return f"# {datetime.date.today().isoformat()}, {model}, {os.cpu_count()} CPUs"


class Output:
    """Lines of a benchmark's result: each printed as it comes, all saved at the end.

    Parameters
    ----------
    script : str
        The benchmark's ``__file__``; names the default output file.
    argv : list of str or None
        Its arguments (default ``sys.argv[1:]``), recorded in the file's first line.
    """

    def __init__(self, script: str, argv: list[str] | None = None) -> None:
        self.name = Path(script).stem
        self.lines = [f"$ {command_line(script, argv)}", machine_line()]

    def say(self, *lines: str) -> None:
        """Print ``lines`` and keep them for the saved output."""
        for line in lines:
            print(line, flush=True)
            self.lines.append(line)

    def save(self, path: str | os.PathLike | None = None) -> Path:
        """Write the lines to ``path`` (default ``reports/benchmarks/NAME.txt``) in one step.

        The file is written beside its target and renamed over it, so an
        interrupted run leaves the previous output whole.
        """
        target = Path(path) if path is not None else REPORTS / f"{self.name}.txt"
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.part")
        tmp.write_text("\n".join(self.lines) + "\n", encoding="utf-8")
        os.replace(tmp, target)
        print(f"saved: {target}", flush=True)
        return target

    def finish(self, out: str | None, quick: bool) -> None:
        """Save to ``out``, or to the default file unless this was a ``--quick`` smoke test."""
        if out is None and quick:
            print("quick run (a smoke test, not a measurement): not saved; pass --out FILE to save it", flush=True)
            return
        self.save(out)


def add_output_args(ap) -> None:
    """``--quick`` and ``--out``, the same in every benchmark."""
    ap.add_argument("--quick", action="store_true", help="a small smoke test (minutes at most), not saved by default")
    ap.add_argument("--out", default=None, help="where to save the output (default: reports/benchmarks/NAME.txt; "
                                                "nothing for --quick)")
