"""musllinux: a wheel whose extension needs a non-policy library, linked against a stand-in musl
libc (there is no musl toolchain here), is repaired on this glibc host without searching it."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from _toolchain import require, run
from _wheels import make_wheel
from native_doctor.analysis import inspect_artifact
from native_doctor.cli import main
from native_doctor.model import Resolution
from native_doctor.sources.wheel import read_wheel

pytestmark = pytest.mark.toolchain


@pytest.mark.parametrize(
    ("claimed", "expected"),
    [
        pytest.param("musllinux_1_2_x86_64", "musllinux_1_2_x86_64", id="claimed-kept"),
        pytest.param("linux_x86_64", "musllinux_1_1_x86_64", id="linux-retagged"),
    ],
)
def test_musl_wheel_is_repaired(claimed: str, expected: str, tmp_path: Path) -> None:
    gcc = require("gcc")
    libs = tmp_path / "libs"
    libs.mkdir()
    libc = libs / "libc.musl-x86_64.so.1"
    (tmp_path / "libc.c").write_text("int musl_value(int x) { return x; }\n")
    run(
        gcc,
        "-shared",
        "-fPIC",
        "-nostdlib",
        "-Wl,-soname,libc.musl-x86_64.so.1",
        tmp_path / "libc.c",
        "-o",
        libc,
    )
    (tmp_path / "dep.c").write_text(
        "extern int musl_value(int);\nint dep_value(void) { return musl_value(3); }\n"
    )
    run(gcc, "-shared", "-fPIC", "-nostdlib", "-Wl,-soname,libdep.so.1", tmp_path / "dep.c", libc,
        "-o", libs / "libdep.so.1")  # fmt: skip
    (tmp_path / "ext.c").write_text(
        "extern int dep_value(void);\nint PyInit__ext(void) { return dep_value(); }\n"
    )
    ext = tmp_path / "_ext.so"
    run(gcc, "-shared", "-fPIC", "-nostdlib", tmp_path / "ext.c", libs / "libdep.so.1", libc, "-o", ext)
    libc.unlink()  # the libc stand-in is the platform's, never grafted
    wheel = make_wheel(tmp_path, f"demo-1.0-cp312-cp312-{claimed}.whl", {"demo/_ext.so": ext.read_bytes()})
    out = tmp_path / "out"
    assert main(["repair", "-w", str(out), "--lib-path", str(libs), str(wheel)]) == 0
    (repaired,) = out.glob("*.whl")
    assert repaired.name == f"demo-1.0-cp312-cp312-{expected}.whl"
    names = zipfile.ZipFile(repaired).namelist()
    assert [n.split("/")[1].split("-")[0] for n in names if n.startswith("demo.libs/")] == ["libdep"]
    inspection = inspect_artifact(read_wheel(repaired))
    assert inspection.platform.libc == "musl"
    for binary in inspection.binaries:
        assert all(d.resolution is not Resolution.EXTERNAL for d in binary.dependencies), binary
