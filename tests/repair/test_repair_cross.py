"""Wheels for other architectures (aarch64, i686) built with Debian's cross compilers and repaired
on this host: checked with readelf, with the loader simulation of the repaired wheel, and by the
target's own ld.so under qemu-user (Debian's cross sysroot), which loads the repaired extension
and calls it with the build folder gone."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from _repair_build import build_library
from _toolchain import require, run
from _wheels import make_wheel
from native_doctor.analysis import inspect_artifact
from native_doctor.cli import main
from native_doctor.model import Resolution
from native_doctor.sources.wheel import read_wheel

pytestmark = pytest.mark.toolchain

_EXT = "int chain_value(void);\nint PyInit__ext(void) { return chain_value(); }\n"
_VER_MAP = "VER_2.0 { global: base_value; local: *; };\n"


_LOADER = r"""#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv) {
    void *h = dlopen(argv[1], RTLD_NOW);
    if (!h) { printf("dlopen: %s\n", dlerror()); return 1; }
    int (*init)(void) = (int (*)(void))dlsym(h, "PyInit__ext");
    printf("%d\n", init());
    return 0;
}
"""
_TARGETS = [
    pytest.param("aarch64-linux-gnu-gcc", "aarch64", "manylinux_2_17", "qemu-aarch64", id="aarch64"),
    pytest.param("i686-linux-gnu-gcc", "i686", "manylinux_2_5", "qemu-i386", id="i686"),
]


@pytest.mark.parametrize(("compiler", "arch", "policy", "qemu"), _TARGETS)
def test_cross_built_wheel_is_repaired_on_this_host(
    compiler: str, arch: str, policy: str, qemu: str, tmp_path: Path
) -> None:
    cc = require(compiler)
    readelf = require("readelf")
    libs = tmp_path / "libs"
    libs.mkdir()
    (libs / "ver.map").write_text(_VER_MAP)
    base_src = libs / "base.c"
    base_src.write_text("int base_value(void) { return 40; }\n")
    run(cc, "-shared", "-fPIC", "-Wl,-soname,libbase.so.1", "-Wl,--version-script=ver.map", "-o",
        libs / "libbase.so.1", base_src, cwd=libs)  # fmt: skip
    build_library(
        libs, "libchain.so.2", "int base_value(void);\nint chain_value(void) { return base_value() + 2; }\n",
        needed=("libbase.so.1",), cc=cc,
    )  # fmt: skip
    (tmp_path / "ext.c").write_text(_EXT)
    ext = tmp_path / "_ext.so"
    run(cc, "-shared", "-fPIC", "-o", ext, tmp_path / "ext.c", f"-L{libs}", "-l:libchain.so.2")
    wheel = make_wheel(tmp_path, f"demo-1.0-cp311-cp311-linux_{arch}.whl", {"demo/_ext.so": ext.read_bytes()})
    out = tmp_path / "out"
    assert main(["repair", "-w", str(out), "--lib-path", str(libs), str(wheel)]) == 0
    (repaired,) = out.glob("*.whl")
    assert repaired.name.endswith(f"{policy}_{arch}.whl") or f"{policy}_{arch}." in repaired.name

    inspection = inspect_artifact(read_wheel(repaired))
    for binary in inspection.binaries:
        for dep in binary.dependencies:
            assert dep.resolution is not Resolution.EXTERNAL, (binary.native.path, dep)
    assert inspection.platform.qualifies_for[0] == f"{policy}_{arch}"

    with zipfile.ZipFile(repaired) as archive:
        archive.extractall(tmp_path / "x")
    (chain,) = (tmp_path / "x" / "demo.libs").glob("libchain-*.so.2")
    (base,) = (tmp_path / "x" / "demo.libs").glob("libbase-*.so.1")
    dyn = run(readelf, "-d", "-V", "-W", chain)
    assert f"Shared library: [{base.name}]" in dyn
    assert f"Library soname: [{chain.name}]" in dyn
    assert f"File: {base.name}" in dyn  # VER_2.0 is needed from the renamed file
    assert "VER_2.0" in dyn
    assert "Library runpath: [$ORIGIN]" in dyn
    ext_dyn = run(readelf, "-d", "-W", tmp_path / "x" / "demo" / "_ext.so")
    assert f"Shared library: [{chain.name}]" in ext_dyn
    assert "Library runpath: [$ORIGIN/../demo.libs]" in ext_dyn
    assert run(readelf, "-h", chain).count("Machine:") == 1

    # The target's own ld.so (under qemu-user, with Debian's cross sysroot) loads the repaired
    # extension with the build folder gone: only RUNPATH $ORIGIN/../demo.libs can find the graft.
    emulator = require(qemu)
    (tmp_path / "loader.c").write_text(_LOADER)
    loader = tmp_path / "loader"
    run(cc, "-o", loader, tmp_path / "loader.c", "-ldl")
    libs.rename(tmp_path / "libs-gone")
    sysroot = Path(cc).name.removesuffix("-gcc")
    output = run(emulator, "-L", f"/usr/{sysroot}", loader, tmp_path / "x" / "demo" / "_ext.so")
    assert output.strip() == "42"
