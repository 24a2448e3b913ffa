"""The test suite's one skip rule, and the compilers and reference tools the tests use.

A test whose host precondition does not hold (a compiler, a reference tool, a Python package, an
installed file) skips with the reason locally and fails under CI (``CI=true``; ``.ci/run`` sets
it): CI installs everything (``.ci/apt-packages.txt``, the ``test`` extra), so a skip there is a
broken CI setup. Every skip in the suite goes through :func:`unavailable` (or the helpers built on
it); a test that changes the machine or downloads large files runs only when opted in
(:func:`opted_in`), and CI opts in to all of them.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest

__all__ = [
    "LARGE_CORPUS",
    "SYSTEM_PACKAGES",
    "host_only",
    "in_ci",
    "opted_in",
    "require",
    "require_module",
    "require_opt_in",
    "run",
    "unavailable",
]

#: Opt-in: tests that ``apt-get install`` and ``remove`` a system package (only what they installed).
SYSTEM_PACKAGES = "NATIVE_DOCTOR_SYSTEM_TESTS"
#: Opt-in: tests on the large corpus wheels (torch, CUDA libraries: about 1.5 GB to download).
LARGE_CORPUS = "NATIVE_DOCTOR_LARGE_CORPUS"
_TRUE = {"1", "true", "yes"}


def in_ci() -> bool:
    """True when running under CI, where no test may skip."""
    return os.environ.get("CI", "").lower() in _TRUE


def unavailable(reason: str) -> NoReturn:
    """The one skip rule: ``reason`` names a host precondition that does not hold here.

    Skips locally; fails under CI, which must provide every precondition.
    """
    if in_ci():
        pytest.fail(f"{reason} (CI must provide it: see .ci/run and .ci/apt-packages.txt)")
    pytest.skip(reason, allow_module_level=True)


def opted_in(variable: str) -> bool:
    """True when the opt-in ``variable`` is set (``1``/``true``/``yes``) or under CI."""
    return in_ci() or os.environ.get(variable, "").lower() in _TRUE


def require_opt_in(variable: str, what: str) -> None:
    """Skip unless opted in to ``variable`` (never skips under CI, which opts in to everything)."""
    if not opted_in(variable):
        pytest.skip(f"{what}: runs under CI=true or with {variable}=1", allow_module_level=True)


def require(*names: str) -> str:
    """Path of the first of ``names`` found on PATH; otherwise :func:`unavailable`."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    unavailable(f"needs one of {', '.join(names)} on PATH")


def require_module(name: str) -> ModuleType:
    """The imported module ``name``; otherwise :func:`unavailable` (``pytest.importorskip`` that
    fails under CI)."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        unavailable(f"needs the Python module {name} ({exc})")


def host_only(condition: bool, reason: str) -> pytest.MarkDecorator:
    """``skipif(not condition)`` for a host property known at collection time (Linux only, x86-64
    only); under CI the test always runs, so a CI host without the property fails it."""
    return pytest.mark.skipif(not condition and not in_ci(), reason=reason)


def run(*args: str | Path, cwd: Path | None = None) -> str:
    """Run a command, return its stdout; a failure shows its stderr in the test report."""
    proc = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr}")
    return proc.stdout
