"""Host checks: a fake probe for the rules, the real host for the probes, apt for before/after."""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
import types
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePath
from typing import Any

import pytest

import native_doctor.deps
from _toolchain import SYSTEM_PACKAGES, require, require_opt_in, unavailable
from native_doctor.deps.depurl import parse_specifier
from native_doctor.deps.host import (
    HostCheck,
    Probe,
    _parse_probe_data,
    check_host,
    load_probes,
    probe_for,
)
from native_doctor.errors import PolicyDataError
from native_doctor.sources.ldcache import CacheEntry

X86_64 = 0x0303


class FakeProbe(Probe):
    """Canned answers: executables, pkg-config modules, files, ld.so cache entries, OS packages."""

    def __init__(
        self,
        *,
        executables: dict[str, str] | None = None,
        modules: dict[str, str] | None = None,
        files: Sequence[str] = (),
        cache: Sequence[CacheEntry] = (),
        packages: dict[str, bool] | None = None,
        env: dict[str, str] | None = None,
        pkg_config: bool = True,
        include_dirs: Sequence[str] = ("/usr/local/include", "/usr/include/x86_64-linux-gnu", "/usr/include"),
        library_dirs: Sequence[str] = ("/usr/lib/x86_64-linux-gnu",),
    ) -> None:
        super().__init__()
        self.executables = dict(executables or {})
        if pkg_config:
            self.executables.setdefault("pkg-config", "/usr/bin/pkg-config")
        self.modules = modules or {}
        self.files = set(files)
        self.cache = list(cache)
        self.packages = packages
        self.env = env or {}
        self.includes = list(include_dirs)
        self.libdirs = list(library_dirs)
        self.calls: list[str] = []

    def environ(self, name: str) -> str | None:
        return self.env.get(name)

    def machine(self) -> str:
        return "x86_64"

    def which(self, name: str) -> str | None:
        return self.executables.get(name)

    def pkg_config_version(self, module: str) -> str | None:
        self.calls.append(f"pkg-config {module}")
        return self.modules.get(module) if self.pkg_config_command() else None

    def glob(self, pattern: str) -> list[str]:
        return sorted(f for f in self.files if fnmatch.fnmatchcase(f, pattern))

    def include_dirs(self) -> list[str]:
        return self.includes

    def library_dirs(self) -> list[str]:
        return self.libdirs

    def list_dir(self, directory: str) -> tuple[str, ...]:
        return tuple(sorted(PurePath(f).name for f in self.files if str(PurePath(f).parent) == directory))

    def ld_cache(self) -> list[CacheEntry]:
        return self.cache

    def package_manager(self) -> str | None:
        return None if self.packages is None else "dpkg"

    def package_installed(self, name: str) -> bool | None:
        return None if self.packages is None else self.packages.get(name, False)


def lib(name: str, arch: str | None = "x86_64") -> CacheEntry:
    return CacheEntry(name, f"/lib/x86_64-linux-gnu/{name}", X86_64 if arch else 0x0003, arch)


def check(spec: str, category: str, probe: Probe) -> HostCheck:
    [result] = check_host([(parse_specifier(spec), category)], probe=probe)
    return result


@pytest.fixture
def no_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hide any real deps.mapping, so OS package names come only from the test."""
    monkeypatch.setattr(native_doctor.deps, "mapping", types.ModuleType("mapping"), raising=False)
    monkeypatch.setitem(sys.modules, "native_doctor.deps.mapping", native_doctor.deps.mapping)  # type: ignore[attr-defined]


@pytest.fixture
def fake_mapping(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str, str]]]:
    """A deps.mapping whose packages_for knows zlib on Debian; records its calls."""
    calls: list[tuple[str, str, str]] = []
    table = {
        ("dep:generic/zlib", "host"): ["zlib1g zlib1g-dev"],
        ("dep:generic/zlib", "run"): ["zlib1g"],
        ("dep:generic/frobnicate", "host"): ["libfrob-dev"],
    }

    def packages_for(dep: object, ecosystem: str, category: str) -> list[str]:
        key = getattr(dep, "id", str(dep))
        calls.append((key, ecosystem, category))
        if ecosystem != "debian":
            raise LookupError(ecosystem)
        return table.get((key, category), [])

    module = types.ModuleType("mapping")
    module.packages_for = packages_for  # type: ignore[attr-defined]
    monkeypatch.setattr(native_doctor.deps, "mapping", module, raising=False)
    monkeypatch.setitem(sys.modules, "native_doctor.deps.mapping", module)
    yield calls


# --- the rules, table-driven ---------------------------------------------------------------------

ZLIB_H = "/usr/include/zlib.h"
CASES: list[tuple[str, str, str, FakeProbe, bool | None, tuple[str, ...], tuple[str, ...] | None]] = [
    # (id, specifier, category, probe, present, found, missing)
    (
        "cc",
        "dep:virtual/compiler/c",
        "build",
        FakeProbe(executables={"gcc": "/usr/bin/gcc"}),
        True,
        ("/usr/bin/gcc",),
        (),
    ),
    (
        "cc-from-CC",
        "dep:virtual/compiler/c",
        "build",
        FakeProbe(
            executables={"gcc": "/usr/bin/gcc", "ccache": "/usr/bin/ccache"}, env={"CC": "ccache clang"}
        ),
        True,
        ("/usr/bin/ccache",),
        (),
    ),
    (
        "no-fortran",
        "dep:virtual/compiler/fortran",
        "build",
        FakeProbe(),
        False,
        (),
        ("executable (gfortran, flang-new, flang, ifx, ifort or f95)",),
    ),
    (
        "cpp-alias",
        "dep:virtual/compiler/cpp",
        "build",
        FakeProbe(executables={"g++": "/usr/bin/g++"}),
        True,
        ("/usr/bin/g++",),
        (),
    ),
    (
        "cmake-alias-any-case",
        "dep:github/kitware/cmake",
        "build",
        FakeProbe(executables={"cmake": "/usr/bin/cmake"}),
        True,
        ("/usr/bin/cmake",),
        (),
    ),
    (
        "pkgconf",
        "dep:generic/pkg-config",
        "build",
        FakeProbe(executables={"pkgconf": "/usr/bin/pkgconf"}, pkg_config=False),
        True,
        ("/usr/bin/pkgconf",),
        (),
    ),
    (
        "zlib-host-runtime-only",
        "dep:generic/zlib",
        "host",
        FakeProbe(cache=[lib("libz.so.1")]),
        False,
        ("libz.so.1 in ld.so.cache",),
        ("headers (zlib.h)", "pkg-config module (zlib)"),
    ),
    ("zlib-host-header", "dep:generic/zlib", "host-requires", FakeProbe(files=[ZLIB_H]), True, (ZLIB_H,), ()),
    (
        "zlib-host-pkg-config",
        "dep:generic/zlib",
        "host",
        FakeProbe(modules={"zlib": "1.3.1"}),
        True,
        ("pkg-config zlib 1.3.1",),
        (),
    ),
    (
        "zlib-run",
        "dep:generic/zlib",
        "run",
        FakeProbe(cache=[lib("libz.so.1")]),
        True,
        ("libz.so.1 in ld.so.cache",),
        (),
    ),
    (
        "zlib-run-32-bit-only",
        "dep:generic/zlib",
        "dependencies",
        FakeProbe(cache=[lib("libz.so.1", None)]),
        False,
        (),
        ("shared library (libz.so*)",),
    ),
    (
        "zlib-run-libdir",
        "dep:generic/zlib",
        "run",
        FakeProbe(files=["/usr/lib/x86_64-linux-gnu/libz.so.1.3"]),
        True,
        ("/usr/lib/x86_64-linux-gnu/libz.so.1.3",),
        (),
    ),
    (
        "ffi-multiarch-header",
        "dep:generic/libffi",
        "host",
        FakeProbe(files=["/usr/include/x86_64-linux-gnu/ffi.h"]),
        True,
        ("/usr/include/x86_64-linux-gnu/ffi.h",),
        (),
    ),
    (
        "libxml2-config-script",
        "dep:generic/libxml2",
        "host",
        FakeProbe(executables={"xml2-config": "/usr/bin/xml2-config"}),
        True,
        ("/usr/bin/xml2-config",),
        (),
    ),
    (
        "openmp-gcc-private-dir",
        "dep:virtual/interface/openmp",
        "host",
        FakeProbe(
            files=[
                "/usr/lib/gcc/x86_64-linux-gnu/12/include/omp.h",
                "/usr/lib/gcc/i686-w64-mingw32/12-posix/include/omp.h",
            ]
        ),
        True,
        ("/usr/lib/gcc/x86_64-linux-gnu/12/include/omp.h",),
        (),
    ),
    (
        "openmp-cross-compiler-only",
        "dep:virtual/interface/openmp",
        "host",
        FakeProbe(files=["/usr/lib/gcc/i686-w64-mingw32/12-posix/include/omp.h"]),
        False,
        (),
        None,
    ),
    (
        "eigen-run-is-header-only",
        "dep:generic/eigen",
        "run",
        FakeProbe(files=["/usr/include/eigen3/Eigen/Core"]),
        True,
        ("/usr/include/eigen3/Eigen/Core",),
        (),
    ),
    (
        "unknown-guessed-pkg-config",
        "dep:generic/frobnicate",
        "host",
        FakeProbe(modules={"libfrobnicate": "2.0"}),
        True,
        ("pkg-config libfrobnicate 2.0",),
        (),
    ),
    ("unknown-nothing", "dep:generic/frobnicate", "host", FakeProbe(), None, (), ()),
    ("unknown-virtual", "dep:virtual/interface/quantum", "host", FakeProbe(), None, (), ()),
    (
        "no-pkg-config-no-include-dirs",
        "dep:generic/zlib",
        "host",
        FakeProbe(pkg_config=False, include_dirs=()),
        None,
        (),
        ("headers (zlib.h)", "pkg-config (to ask for zlib)"),
    ),
]


@pytest.mark.usefixtures("no_mapping")
@pytest.mark.parametrize(
    ("spec", "category", "probe", "present", "found", "missing"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_rules(
    spec: str,
    category: str,
    probe: FakeProbe,
    present: bool | None,
    found: tuple[str, ...],
    missing: tuple[str, ...] | None,
) -> None:
    result = check(spec, category, probe)
    assert result.present is present
    assert result.found == found
    if missing is not None:
        assert result.missing == missing
    assert result.category in {"build", "host", "run"}


@pytest.mark.usefixtures("no_mapping")
@pytest.mark.parametrize(
    ("spec", "version", "satisfies"),
    [
        ("dep:generic/zlib", "1.3.1", None),
        ("dep:generic/zlib@>=1.2", "1.3.1", True),
        ("dep:generic/zlib@>=1.2,<1.3", "1.3.1", False),
        ("dep:generic/zlib@==1.3.1", "1.3.1", True),
        ("dep:generic/zlib@>=1.2.13", "1.2.13.1-motley", True),  # not PEP 440: leading numbers
        ("dep:generic/zlib@>=1", "unknown", None),
        ("dep:generic/zlib@>=2", None, None),
    ],
)
def test_version_constraints(spec: str, version: str | None, satisfies: bool | None) -> None:
    probe = FakeProbe(modules={"zlib": version} if version else {}, files=[ZLIB_H])
    result = check(spec, "host", probe)
    assert result.present is True
    assert result.version == version
    assert result.satisfies_version is satisfies
    if satisfies is False:
        assert result.missing == (f"version >=1.2,<1.3 (found {version})",)


def test_package_manager_via_mapping(fake_mapping: list[tuple[str, str, str]]) -> None:
    runtime_only = FakeProbe(cache=[lib("libz.so.1")], packages={"zlib1g": True})
    result = check("dep:generic/zlib", "host", runtime_only)
    assert result.present is False
    assert "dpkg: zlib1g installed" in result.found
    assert "dpkg: zlib1g-dev not installed" in result.missing
    assert fake_mapping == [("dep:generic/zlib", "debian", "host")]

    dev = FakeProbe(packages={"zlib1g": True, "zlib1g-dev": True}, include_dirs=(), pkg_config=False)
    result = check("dep:generic/zlib", "host", dev)
    assert result.present is True
    assert result.found == ("dpkg: zlib1g installed", "dpkg: zlib1g-dev installed")

    # an unknown DepURL the mapping knows: the package query is conclusive
    result = check("dep:generic/frobnicate", "host", FakeProbe(packages={}))
    assert (result.present, result.missing) == (False, ("dpkg: libfrob-dev not installed",))

    # an ecosystem the mapping does not know: the query is skipped
    result = check_host([(parse_specifier("dep:generic/zlib"), "host")], probe=dev, ecosystem="nowhere")[0]
    assert result.present is None


def test_without_a_mapping_module_the_package_query_is_skipped(no_mapping: None) -> None:
    probe = FakeProbe(packages={"zlib1g-dev": True}, include_dirs=(), pkg_config=False)
    assert check("dep:generic/zlib", "host", probe).present is None


def test_bad_category() -> None:
    with pytest.raises(ValueError, match="category"):
        check("dep:generic/zlib", "compile", FakeProbe())


def test_each_check_asks_pkg_config_for_the_first_module(no_mapping: None) -> None:
    probe = FakeProbe(files=[ZLIB_H])
    dep = parse_specifier("dep:generic/zlib")
    check_host([(dep, "host"), (dep, "run")], probe=probe)
    assert probe.calls == ["pkg-config zlib", "pkg-config zlib"]  # the real Probe caches; the fake counts


# --- the data ------------------------------------------------------------------------------------

REQUIRED = [
    "dep:virtual/compiler/c", "dep:virtual/compiler/cxx", "dep:virtual/compiler/fortran",
    "dep:virtual/compiler/rust", "dep:virtual/compiler/cuda", "dep:generic/pkg-config", "dep:generic/ninja",
    "dep:generic/cmake", "dep:generic/meson", "dep:generic/zlib", "dep:generic/bzip2", "dep:generic/xz",
    "dep:generic/zstd", "dep:generic/lz4", "dep:generic/openssl", "dep:generic/libffi", "dep:generic/libxml2",
    "dep:generic/libxslt", "dep:generic/libjpeg", "dep:generic/libpng", "dep:generic/libtiff",
    "dep:generic/libwebp", "dep:generic/freetype", "dep:generic/lcms2", "dep:generic/openjpeg",
    "dep:generic/hdf5", "dep:generic/netcdf", "dep:generic/gdal", "dep:generic/proj", "dep:generic/geos",
    "dep:generic/fftw", "dep:generic/openblas", "dep:virtual/interface/lapack", "dep:generic/lapack",
    "dep:virtual/interface/blas", "dep:generic/blas", "dep:virtual/interface/openmp", "dep:generic/openmpi",
    "dep:generic/mpich", "dep:virtual/interface/mpi", "dep:generic/boost", "dep:generic/eigen",
    "dep:generic/sqlite", "dep:generic/libpq", "dep:generic/libzmq", "dep:generic/libsodium",
    "dep:generic/gmp",
    "dep:generic/mpfr", "dep:generic/libcurl", "dep:generic/libyaml", "dep:github/Reference-LAPACK/lapack",
]  # fmt: skip


@pytest.mark.parametrize("depurl", REQUIRED)
def test_probes_cover_the_common_dependencies(depurl: str) -> None:
    spec = probe_for(parse_specifier(depurl).url)
    assert spec is not None
    if spec.kind == "library":
        assert spec.headers or spec.pkg_config
    else:
        assert spec.executables


def test_probe_data_is_consistent() -> None:
    probes = load_probes()
    assert len(probes) >= 50
    for key, spec in probes.items():
        assert parse_specifier(key).url.id == key
        assert spec.id == key
        if spec.kind == "library":
            assert spec.headers, key  # build/host presence must be decidable without pkg-config


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "schema_version"),
        ({"schema_version": 2, "probes": {}}, "schema_version"),
        ({"schema_version": 1, "probes": []}, "must be objects"),
        ({"schema_version": 1, "probes": {"dep:generic/x": {"kind": "gadget"}}}, "kind"),
        ({"schema_version": 1, "probes": {"dep:generic/x": {"kind": "tool", "exe": []}}}, "unknown fields"),
        ({"schema_version": 1, "probes": {"dep:generic/x": {"kind": "tool", "headers": "x.h"}}}, "list"),
        ({"schema_version": 1, "probes": {}, "aliases": {"dep:generic/y": "dep:generic/x"}}, "no probe"),
    ],
)
def test_malformed_probe_data(document: object, message: str) -> None:
    with pytest.raises(PolicyDataError, match=message):
        _parse_probe_data(document)


# --- the real host -------------------------------------------------------------------------------


def test_real_probe_answers() -> None:
    probe = Probe()
    gcc = require("gcc")
    assert probe.which("gcc") == gcc
    assert probe.which(gcc) == gcc
    assert probe.which("/nonexistent/cc") is None
    if probe.pkg_config_command() is not None:
        assert probe.pkg_config_version("native-doctor-no-such-module") is None
    if sys.platform.startswith("linux"):
        assert probe.library_dirs()
        assert probe.include_dirs()


def test_c_compiler_is_present_on_this_host() -> None:
    require("gcc")
    [result] = check_host([(parse_specifier("dep:virtual/compiler/c"), "build")])
    assert result.present is True
    assert result.found


def _dpkg_installed(package: str) -> bool:
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False, timeout=30
    )
    return proc.returncode == 0 and proc.stdout.endswith(" installed")


def test_zlib_is_present_on_this_host() -> None:
    require("dpkg-query")
    require("pkg-config", "pkgconf")
    if not _dpkg_installed("zlib1g-dev"):
        unavailable("zlib1g-dev is not installed")
    host, run = check_host([(parse_specifier("dep:generic/zlib@>=1.2"), c) for c in ("host", "run")])
    assert host.present is True
    assert host.version is not None
    assert host.satisfies_version is True
    assert any(f.startswith("pkg-config zlib ") for f in host.found)
    assert any(f.endswith("/zlib.h") for f in host.found)
    assert run.present is True
    assert any(f.startswith("libz.so") for f in run.found)


# One small -dev package with a pkg-config file that this image does not ship.
APT_PACKAGE = "libsodium-dev"
APT_DEP = "dep:generic/libsodium@>=1.0"


def _apt(*args: str) -> None:
    proc = subprocess.run(
        ["apt-get", "-o", "DPkg::Lock::Timeout=300", "-y", "-q", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    if proc.returncode != 0:
        raise AssertionError(f"apt-get {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")


def _would_install(package: str) -> set[str]:
    """The packages ``apt-get install package`` would add (a simulation: ``Inst name ...`` lines)."""
    proc = subprocess.run(
        ["apt-get", "-s", "-q", "install", "--no-install-recommends", package],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    if proc.returncode != 0:
        unavailable(f"apt-get cannot install {package} here: {proc.stderr.strip()[-300:]}")
    return {line.split()[1] for line in proc.stdout.splitlines() if line.startswith("Inst ")}


def _installed_packages() -> set[str]:
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package}:${Architecture} ${Status}\n"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return {line.split()[0] for line in proc.stdout.splitlines() if line.endswith(" installed")}


def _libsodium() -> HostCheck:
    [result] = check_host([(parse_specifier(APT_DEP), "host")], probe=Probe())  # a fresh probe: no cache
    return result


def _deps_check(project: Path) -> tuple[int, dict[str, Any]]:
    """``native-doctor deps --check --format json`` on ``project``, as a user runs it."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "native_doctor",
            "deps",
            str(project),
            "--check",
            "--manager",
            "debian",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    report: dict[str, Any] = json.loads(proc.stdout)["external"]
    return proc.returncode, report


def test_apt_install_then_remove_flips_the_answer(tmp_path: Path) -> None:
    """Missing, ``apt-get install`` -> present with a pkg-config version, ``apt-get remove`` -> missing;
    ``native-doctor deps --check`` on a project needing a C compiler, zlib, libffi, OpenSSL and
    libsodium says the same and names the one command that installs what is missing.

    It changes the machine, so it runs only under CI or when opted in (``NATIVE_DOCTOR_SYSTEM_TESTS=1``),
    and its clean-up removes exactly the packages its own install added."""
    require_opt_in(SYSTEM_PACKAGES, f"installs and removes the system package {APT_PACKAGE}")
    if os.name != "posix" or os.geteuid() != 0:
        unavailable("needs root (apt-get install)")
    require("apt-get")
    require("dpkg-query")
    require("pkg-config", "pkgconf")
    if _dpkg_installed(APT_PACKAGE):
        unavailable(f"{APT_PACKAGE} is already installed: this test needs a host without it")
    (tmp_path / "pyproject.toml").write_text(
        '[external]\nbuild-requires = ["dep:virtual/compiler/c"]\n'
        f'host-requires = ["dep:generic/zlib", "dep:generic/libffi", "dep:generic/openssl", "{APT_DEP}"]\n'
    )
    before = _installed_packages()
    planned = _would_install(APT_PACKAGE)
    assert APT_PACKAGE in planned
    result = _libsodium()
    assert result.present is False
    assert "headers (sodium.h)" in result.missing
    code, report = _deps_check(tmp_path)
    assert code == 1
    assert {c["depurl"] for c in report["check"] if c["present"] is False} == {APT_DEP}
    assert [w for cmd in report["install_missing"] for w in cmd if w.endswith("-dev")] == [APT_PACKAGE]
    try:
        _apt("install", "--no-install-recommends", APT_PACKAGE)
        result = _libsodium()
        assert result.present is True
        assert result.version is not None
        assert result.satisfies_version is True
        assert f"pkg-config libsodium {result.version}" in result.found
        assert any(f.endswith("/sodium.h") for f in result.found)
        code, report = _deps_check(tmp_path)
        assert code == 0, report["check"]
        assert report["install_missing"] == []
    finally:
        # Restore the machine: remove only what this install added - packages apt planned for it
        # that were not installed before - never something another process installed meanwhile.
        added = sorted({p.split(":")[0] for p in _installed_packages() - before} & planned)
        if added:
            _apt("remove", *added)
    assert not {p.split(":")[0] for p in _installed_packages() - before} & planned
    result = _libsodium()
    assert result.present is False
    assert result.version is None
