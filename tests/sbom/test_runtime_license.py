"""ND130 runtime-license-missing: vendored GCC runtimes need their license text in the wheel."""

from __future__ import annotations

from pathlib import Path

import pytest

from _wheels import make_wheel
from native_doctor.checks.licenses import missing_runtime_licenses
from native_doctor.cli import main
from native_doctor.model import Artifact, ArtifactKind, NativeFile
from native_doctor.sources.contents import is_license_file

_GFORTRAN = "demo.libs/libgfortran-040039e1.so.5.0.0"
_EXCEPTION = "GCC RUNTIME LIBRARY EXCEPTION\nVersion 3.1, 31 March 2009\n"


def _artifact(*paths: str) -> Artifact:
    native = tuple(NativeFile(p, p, 100, None, None) for p in paths)
    return Artifact(
        ArtifactKind.WHEEL, "demo-1.0-cp311-cp311-linux_x86_64.whl", "demo", "1.0", (), paths, native
    )


@pytest.mark.parametrize(
    ("paths", "texts", "flagged"),
    [
        pytest.param((_GFORTRAN,), {}, [_GFORTRAN], id="no-license-file"),
        pytest.param(
            (_GFORTRAN,), {"demo-1.0.dist-info/LICENSE": "MIT License"}, [_GFORTRAN], id="only-own-license"
        ),
        pytest.param((_GFORTRAN,), {"LICENSE.txt": "... libgfortran is under the GPL ..."}, [], id="named"),
        pytest.param(
            (_GFORTRAN, "demo.libs/libgcc_s-0cd532bd.so.1"),
            {"LICENSE.txt": "libgfortran\n" + _EXCEPTION},
            [],
            id="exception-text-covers-libgcc_s",
        ),
        pytest.param(
            ("demo.libs/libquadmath-96973f99.so.0.0.0",),
            {"LICENSE.txt": _EXCEPTION},
            ["demo.libs/libquadmath-96973f99.so.0.0.0"],
            id="lgpl-runtime-needs-lgpl-text",
        ),
        pytest.param(("demo.libs/libz-a147dcb0.so.1.3.1",), {}, [], id="not-a-gpl-runtime"),
    ],
)
def test_missing_runtime_licenses(paths: tuple[str, ...], texts: dict[str, str], flagged: list[str]) -> None:
    findings = missing_runtime_licenses(_artifact(*paths), texts)
    assert [f.member for f in findings] == flagged
    assert all(f.code == "ND130" for f in findings)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("demo-1.0.dist-info/licenses/anything/NOTES.md", True),
        ("demo-1.0.dist-info/LICENSE.txt", True),
        ("scipy/spatial/qhull_src/COPYING_QHULL.txt", True),
        ("numpy/_core/src/multiarray/dragon4_LICENSE.txt", True),
        ("demo/licensing.py", False),
        ("demo/_ext.so", False),
    ],
)
def test_is_license_file(path: str, expected: bool) -> None:
    assert is_license_file(path) is expected


@pytest.mark.parametrize(("license_text", "code"), [(None, 1), ("libgfortran: " + _EXCEPTION, 0)])
def test_sbom_command_reports_nd130(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], license_text: str | None, code: int
) -> None:
    members = {_GFORTRAN: b"\x7fELF" + b"\x00" * 80}
    extra = {"licenses/LICENSE.txt": license_text.encode()} if license_text else None
    wheel = make_wheel(tmp_path, "demo-1.0-cp311-cp311-linux_x86_64.whl", members, extra_dist_info=extra)
    assert main(["sbom", str(wheel), "-o", str(tmp_path / "out.json")]) == code
    assert ("ND130 runtime-license-missing" in capsys.readouterr().err) is (code == 1)
