"""Install-path arithmetic of the loader rules: $ORIGIN and @loader_path substitute text."""

from __future__ import annotations

import pytest

from native_doctor.binary.model import BinaryFormat, BinaryInfo, FileKind
from native_doctor.model import NativeFile, Resolution
from native_doctor.platforms.loader import FileIndex, LinuxContext, join_install_path, resolve_all


@pytest.mark.parametrize(
    ("directory", "rest", "expected"),
    [
        pytest.param("", "/cffi.libs", "cffi.libs", id="top-level-module"),
        pytest.param("mypkg", ".libs", "mypkg.libs", id="textual-suffix"),
        pytest.param("", "", "", id="site-packages-itself"),
        pytest.param("a/b", "/../../x", "x", id="climb-inside"),
        pytest.param("a", "/../../x", None, id="climb-out"),
        pytest.param("", ".libs", None, id="suffix-on-site-packages-leaves-it"),
        pytest.param("a", "/x/", "a/x", id="trailing-slash"),
    ],
)
def test_join_install_path(directory: str, rest: str, expected: str | None) -> None:
    assert join_install_path(directory, rest) == expected


def _native(path: str, info: BinaryInfo) -> NativeFile:
    return NativeFile(path, path, 1, None, info)


@pytest.mark.parametrize(
    ("fmt", "needed", "rpath"),
    [
        pytest.param(BinaryFormat.ELF, "libfoo.so.1", ("$ORIGIN/top.libs",), id="elf-origin-at-top-level"),
        pytest.param(
            BinaryFormat.MACHO, "@loader_path/top.libs/libfoo.so.1", (), id="macho-loader-path-top-level"
        ),
        pytest.param(
            BinaryFormat.MACHO, "@rpath/libfoo.so.1", ("@loader_path/top.libs",), id="macho-rpath-top-level"
        ),
    ],
)
def test_binaries_at_the_top_of_site_packages(fmt: BinaryFormat, needed: str, rpath: tuple[str, ...]) -> None:
    """auditwheel gives a top-level module RUNPATH ``$ORIGIN/<dist>.libs`` (cffi's _cffi_backend)."""
    ext = _native(
        "_top.so",
        BinaryInfo(fmt, "x86_64", 64, "little", FileKind.SHARED_LIBRARY, needed=(needed,), rpath=rpath),
    )
    lib = _native("top.libs/libfoo.so.1", BinaryInfo(fmt, "x86_64", 64, "little", FileKind.SHARED_LIBRARY))
    [dep] = resolve_all([ext, lib], FileIndex([ext, lib]))["_top.so"]
    assert (dep.resolution, dep.member) == (Resolution.BUNDLED, "top.libs/libfoo.so.1")


@pytest.mark.parametrize(
    ("libc", "at_least", "expected"),
    [
        pytest.param("musl", None, "musllinux_1_1", id="musl-most-compatible"),
        pytest.param("musl", (1, 2), "musllinux_1_2", id="musl-never-below-the-claim"),
        pytest.param("glibc", (2, 28), "manylinux_2_28", id="glibc-floor"),
    ],
)
def test_best_policy_floor(libc: str, at_least: tuple[int, int] | None, expected: str) -> None:
    from native_doctor.platforms import linux

    policy = linux.best_policy("x86_64", libc, external=(), versions=(), at_least=at_least)  # type: ignore[arg-type]
    assert policy is not None and policy.name == expected
    assert policy.libc_version == tuple(int(p) for p in expected.rsplit("_", 2)[-2:])


@pytest.mark.parametrize(
    ("libc", "expected"),
    [
        pytest.param("musl", Resolution.SYSTEM, id="musl-answers-reserved-names-itself"),
        pytest.param("glibc", Resolution.BUNDLED, id="glibc-searches-the-rpath"),
    ],
)
def test_musl_reserved_names_are_never_searched(libc: str, expected: Resolution) -> None:
    """musl's load_library returns itself for ``libc.``/``libm.``/... names before any search, so
    even a copy bundled on the RPATH is never opened; glibc searches as usual."""
    elf = BinaryInfo(
        BinaryFormat.ELF,
        "x86_64",
        64,
        "little",
        FileKind.SHARED_LIBRARY,
        needed=("libm.so.6",),
        rpath=("$ORIGIN",),
    )
    ext = _native("pkg/_ext.so", elf)
    copy = _native(
        "pkg/libm.so.6", BinaryInfo(BinaryFormat.ELF, "x86_64", 64, "little", FileKind.SHARED_LIBRARY)
    )
    context = LinuxContext(libc="musl" if libc == "musl" else "glibc")
    [dep] = resolve_all([ext, copy], FileIndex([ext, copy]), context)["pkg/_ext.so"]
    assert dep.resolution is expected
    assert (dep.member is None) == (libc == "musl")
