"""Find the compilers and reference tools the tests use; skip locally, fail in CI when missing.

CI (``CI=true``) installs every tool in ``.ci/run``; a test that would skip there is a broken
CI setup, so :func:`require` turns the skip into a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

__all__ = ["in_ci", "require", "run"]


def in_ci() -> bool:
    """True when running under CI, where no toolchain test may skip."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(*names: str) -> str:
    """Path of the first of ``names`` found on PATH; otherwise skip (locally) or fail (in CI)."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    message = f"needs one of {', '.join(names)} on PATH"
    if in_ci():
        pytest.fail(f"{message} (CI must install it: see .ci/run)")
    pytest.skip(message)


def run(*args: str | Path, cwd: Path | None = None) -> str:
    """Run a command, return its stdout; a failure shows its stderr in the test report."""
    proc = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr}")
    return proc.stdout
