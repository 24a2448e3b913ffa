"""The site directories of an interpreter: where the environment doctor looks for distributions.

Kept apart from :mod:`native_doctor.sources.env` (which imports the binary readers) so that a run
answered from the whole-result cache (:mod:`native_doctor.sources.envresult`) stays light.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import subprocess

__all__ = [
    "FACTS_SCRIPT",
    "INTERPRETER_FACTS",
    "site_directories",
    "site_packages",
    "site_packages_of",
    "start_probe",
]


def site_packages() -> list[Path]:
    """The running interpreter's site directories: purelib and platlib, then every directory on
    ``sys.path`` that holds installed distributions (Debian's ``dist-packages``, the user site,
    folders a ``.pth`` file added), in ``sys.path`` order."""
    paths = sysconfig.get_paths()
    return site_directories([paths["purelib"], paths["platlib"]], sys.path)


def site_directories(schemes: Sequence[str], path: Sequence[str]) -> list[Path]:
    """``schemes`` (existing ones), then each entry of ``path`` that is a directory holding at least
    one ``*.dist-info`` directory; no duplicates (compared after resolving links)."""
    found: list[Path] = []
    seen: set[str] = set()
    for entry in [*schemes, *path]:
        if not entry:
            continue  # the current directory: not a site directory
        directory = Path(entry)
        key = os.path.realpath(directory)
        if key in seen or not directory.is_dir():
            continue
        if entry not in schemes and not _holds_distributions(directory):
            continue
        seen.add(key)
        found.append(directory)
    return found


def _holds_distributions(directory: Path) -> bool:
    try:
        with os.scandir(directory) as entries:
            return any(e.name.endswith(".dist-info") and e.is_dir() for e in entries)
    except OSError:
        return False


#: What an interpreter is asked about itself (a Python expression it evaluates and prints as JSON).
_FACTS = (
    "{'python_version': platform.python_version(), "
    "'python_implementation': platform.python_implementation(), "
    "'abiflags': getattr(sys, 'abiflags', ''), "
    "'free_threaded': bool(sysconfig.get_config_var('Py_GIL_DISABLED')), "
    "'executable': sys.executable, 'prefix': sys.prefix, 'base_prefix': sys.base_prefix}"
)
_IMPORTS = "import json, platform, sys, sysconfig; "
#: The script that prints an interpreter's facts alone.
FACTS_SCRIPT = _IMPORTS + f"print(json.dumps({_FACTS}))"
#: The script that prints its site schemes, ``sys.path`` and facts.
_SITES_SCRIPT = (
    _IMPORTS + "p = sysconfig.get_paths(); "
    f"print(json.dumps([[p['purelib'], p['platlib']], sys.path, {_FACTS}]))"
)


def start_probe(python: str, script: str) -> subprocess.Popen[str]:
    """Start ``python -c script`` from ``/`` (no module of the working directory shadows what the
    script imports), its answer on a text pipe. Raises OSError when it cannot be started."""
    import subprocess

    return subprocess.Popen(
        [python, "-c", script],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd="/",
    )


#: Facts of interpreters :func:`site_packages_of` asked (Python version, prefix, ...), so the
#: doctor need not start the interpreter a second time.
INTERPRETER_FACTS: dict[str, dict[str, object]] = {}


def site_packages_of(python: str, *, meanwhile: Callable[[], object] | None = None) -> list[Path]:
    """The site directories of another interpreter (asked, never guessed): see :func:`site_packages`.

    :param meanwhile: called while the interpreter answers (the caller's own imports, say).
    :raises UsageError: the interpreter cannot be run or does not answer.
    """
    import json
    import subprocess

    from native_doctor.errors import UsageError

    answer = None
    try:
        with start_probe(python, _SITES_SCRIPT) as child:
            try:
                if meanwhile is not None:
                    meanwhile()
                out, _ = child.communicate(timeout=60)
            except BaseException:
                child.kill()
                raise
            answer = json.loads(out) if child.returncode == 0 else None
    except (OSError, subprocess.SubprocessError, ValueError):
        answer = None
    if not (
        isinstance(answer, list)
        and len(answer) == 3
        and isinstance(answer[0], list)
        and isinstance(answer[1], list)
        and isinstance(answer[2], dict)
    ):
        raise UsageError(f"--python {python}: not a Python interpreter that can be run here")
    schemes, path, facts = answer
    INTERPRETER_FACTS[python] = facts
    return site_directories([str(p) for p in schemes], [str(p) for p in path])
