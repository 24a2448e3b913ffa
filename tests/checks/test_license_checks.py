"""ND130 runtime-license-missing as a wheel check: `check` reads the license files and flags a
vendored GCC runtime that none names, over synthetic wheels and the real corpus wheels."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from _corpus import CorpusWheel, ensure, wheels
from _wheels import make_wheel
from native_doctor.analysis import Inspection, inspect_artifact
from native_doctor.checks.registry import run_checks
from native_doctor.cli import main
from native_doctor.model import Artifact, ArtifactKind, NativeFile
from native_doctor.sources.wheel import read_wheel

_WHEEL = "demo-1.0-cp311-cp311-linux_x86_64.whl"
_GFORTRAN = "demo.libs/libgfortran-040039e1.so.5.0.0"
_EXCEPTION = b"GCC RUNTIME LIBRARY EXCEPTION\nVersion 3.1, 31 March 2009\n"


def _inspection(license_texts: tuple[tuple[str, str], ...]) -> Inspection:
    native = (NativeFile(_GFORTRAN, _GFORTRAN, 100, None, None),)
    artifact = Artifact(
        ArtifactKind.WHEEL, _WHEEL, "demo", "1.0", (), (_GFORTRAN,), native, license_texts=license_texts
    )
    return inspect_artifact(artifact)


#: For tests/checks/test_registry.py: (an inspection that triggers the check, a clean one).
CASES: dict[str, tuple[Callable[[], Inspection], Callable[[], Inspection]]] = {
    "ND130": (
        lambda: _inspection((("LICENSE", "MIT License"),)),
        lambda: _inspection((("LICENSE", "libgfortran: " + _EXCEPTION.decode()),)),
    ),
}


def _nd130(path: Path, *, deep: bool = True) -> list[str]:
    findings = run_checks(inspect_artifact(read_wheel(path, deep=deep)), {"ND130"})
    return [location for f in findings for location in f.all_locations]


@pytest.mark.parametrize(
    ("extra", "top_level", "flagged"),
    [
        pytest.param(None, {}, [_GFORTRAN], id="no-license-file"),
        pytest.param({"licenses/LICENSE": b"MIT License"}, {}, [_GFORTRAN], id="only-own-license"),
        pytest.param(
            {"licenses/LICENSE.txt": b"libgfortran:\n" + _EXCEPTION}, {}, [], id="dist-info-licenses"
        ),
        pytest.param(
            None, {"demo/COPYING": b"Bundled: libgfortran (GPL-3.0 with exception)"}, [], id="COPYING"
        ),
        pytest.param(None, {"NOTICE": b"GCC Runtime Library Exception applies"}, [], id="NOTICE-exception"),
    ],
)
def test_check_flags_a_runtime_without_license(
    tmp_path: Path, extra: dict[str, bytes] | None, top_level: dict[str, bytes], flagged: list[str]
) -> None:
    members = {_GFORTRAN: b"\x7fELF" + b"\x00" * 80, **top_level}
    wheel = make_wheel(tmp_path, _WHEEL, members, extra_dist_info=extra)
    assert _nd130(wheel) == flagged


def test_shallow_read_says_nothing(tmp_path: Path) -> None:
    """Without the license texts (a shallow read) the check cannot know, so it stays silent."""
    wheel = make_wheel(tmp_path, _WHEEL, {_GFORTRAN: b"\x7fELF" + b"\x00" * 80})
    assert read_wheel(wheel).license_texts is None
    assert _nd130(wheel, deep=False) == []


def test_check_command_reports_nd130(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wheel = make_wheel(tmp_path, _WHEEL, {_GFORTRAN: b"\x7fELF" + b"\x00" * 80})
    assert main(["check", str(wheel), "--select", "ND130", "--fail-on", "warning"]) == 1
    assert "ND130 runtime-license-missing: " + _GFORTRAN in capsys.readouterr().out


_REAL = [
    # (project, a part of the file name, the runtime flagged or None)
    ("jiter", "musllinux", "libgcc_s"),
    ("rpds-py", "musllinux", "libgcc_s"),
    ("numpy", "cp312-cp312-manylinux", None),
    ("numpy", "musllinux", None),
    ("scipy", "musllinux", None),
]


@pytest.mark.parametrize(
    ("entry", "runtime"),
    [
        pytest.param(w, runtime, id=w.filename, marks=pytest.mark.corpus)
        for name, part, runtime in _REAL
        for w in wheels(name=name)
        if part in w.filename
    ],
)
def test_real_wheels(entry: CorpusWheel, runtime: str | None) -> None:
    """The sbom work's verdicts, now from `check`: jiter and rpds-py's musllinux wheels vendor
    libgcc_s with no GCC text; NumPy and SciPy append the runtime licenses to theirs."""
    flagged = _nd130(ensure(entry))
    if runtime is None:
        assert flagged == []
    else:
        assert flagged
        assert all(runtime in path for path in flagged)
