"""dyld process simulation (``platforms.process_macos``) on synthetic trees.

Each case is an in-memory file system (path -> hand-made Mach-O ``BinaryInfo``), the extensions
imported in order, and what the report must say. ``/py/bin/python3`` is the interpreter, ``/sp``
site-packages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pytest

from _process_checks import ErrorContains, Noted, Resolved
from native_doctor.binary.model import BinaryFormat, BinaryInfo, FileKind
from native_doctor.platforms.process_macos import (
    DyldConfig,
    ProcessReport,
    simulate,
)

PY = "/py/bin/python3"
LIBSYSTEM = "/usr/lib/libSystem.B.dylib"


def macho(
    *needed: str,
    install_name: str | None = None,
    rpath: Sequence[str] = (),
    weak: Sequence[str] = (),
    arch: str = "arm64",
    min_os: str | None = None,
    kind: FileKind = FileKind.SHARED_LIBRARY,
) -> BinaryInfo:
    return BinaryInfo(
        format=BinaryFormat.MACHO,
        arch=arch,
        bits=64,
        byteorder="little",
        kind=kind,
        needed=(*needed, *weak),
        install_name=install_name,
        rpath=tuple(rpath),
        weak_needed=tuple(weak),
        min_os=min_os,
    )


def ext(*needed: str, **kwargs: object) -> BinaryInfo:
    return macho(*needed, kind=FileKind.BUNDLE, **kwargs)  # type: ignore[arg-type]


def fat(*slices: BinaryInfo) -> BinaryInfo:
    return BinaryInfo(
        format=BinaryFormat.MACHO,
        arch="+".join(sorted(s.arch for s in slices)),
        bits=64,
        byteorder="little",
        kind=slices[0].kind,
        needed=tuple(dict.fromkeys(n for s in slices for n in s.needed)),
        slices=slices,
    )


PYTHON = macho(LIBSYSTEM, kind=FileKind.EXECUTABLE)


class FakeFS:
    """Paths to Mach-O headers; ``links`` are symlinks (path -> target)."""

    def __init__(self, files: Mapping[str, BinaryInfo | None], links: Mapping[str, str]) -> None:
        self.files = {PY: PYTHON, **files}
        self.links = dict(links)

    def exists(self, path: str) -> bool:
        return path in self.files or path in self.links

    def realpath(self, path: str) -> str:
        return self.links.get(path, path)

    def binary(self, path: str) -> BinaryInfo | None:
        return self.files.get(self.realpath(path))


# --- expectations -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Weak:
    """``name`` is a weak import that was not found, without failing."""

    name: str

    def check(self, report: ProcessReport) -> None:
        res = report.resolution(self.name)
        assert res is not None and res.weak and res.path is None
        assert report.ok


@dataclass(frozen=True)
class Error:
    """The import of ``extension`` failed with exactly ``message``."""

    extension: str
    message: str

    def check(self, report: ProcessReport) -> None:
        result = next(r for r in report.imports if r.extension == self.extension)
        assert result.error == self.message
        assert result.loaded == ()
        assert any(f.image == self.extension and f.message == self.message for f in report.failures)


@dataclass(frozen=True)
class Loaded:
    """The process holds exactly these images, in this order."""

    paths: tuple[str, ...]

    def check(self, report: ProcessReport) -> None:
        assert report.loaded == self.paths


@dataclass(frozen=True)
class NotNoted:
    kind: str

    def check(self, report: ProcessReport) -> None:
        assert all(n.kind != self.kind for n in report.notes), report.notes


Check = Resolved | Weak | Error | ErrorContains | Loaded | Noted | NotNoted


@dataclass(frozen=True)
class Case:
    id: str
    files: Mapping[str, BinaryInfo | None]
    extensions: tuple[str, ...]
    checks: tuple[Check, ...]
    config: DyldConfig = field(default_factory=DyldConfig)
    links: Mapping[str, str] = field(default_factory=dict)
    executable: BinaryInfo | None = None


A, B = "/sp/a/_a.so", "/sp/b/_b.so"
OMP_A, OMP_B = "/sp/a/.dylibs/libomp.dylib", "/sp/b/.dylibs/libomp.dylib"
NO_FALLBACK = DyldConfig(fallback_library_path=())

CASES = [
    # --- @loader_path / @executable_path / absolute -----------------------------------------------
    Case(
        "loader-path",
        {A: ext("@loader_path/libs/libx.dylib"), "/sp/a/libs/libx.dylib": macho()},
        (A,),
        (Resolved("@loader_path/libs/libx.dylib", A, "/sp/a/libs/libx.dylib", "@loader_path"),),
    ),
    Case(
        "loader-path-of-a-dependency-is-its-own-directory",
        {
            A: ext("@loader_path/libs/libx.dylib"),
            "/sp/a/libs/libx.dylib": macho("@loader_path/liby.dylib"),
            "/sp/a/libs/liby.dylib": macho(),
        },
        (A,),
        (
            Resolved(
                "@loader_path/liby.dylib", "/sp/a/libs/libx.dylib", "/sp/a/libs/liby.dylib", "@loader_path"
            ),
        ),
    ),
    Case(
        "executable-path-is-pythons-directory",
        {A: ext("@executable_path/../lib/libpython3.12.dylib"), "/py/lib/libpython3.12.dylib": macho()},
        (A,),
        (
            Resolved(
                "@executable_path/../lib/libpython3.12.dylib",
                A,
                "/py/lib/libpython3.12.dylib",
                "@executable_path",
            ),
        ),
    ),
    Case(
        "absolute-install-name",
        {A: ext("/opt/homebrew/lib/libomp.dylib"), "/opt/homebrew/lib/libomp.dylib": macho()},
        (A,),
        (Resolved("/opt/homebrew/lib/libomp.dylib", A, "/opt/homebrew/lib/libomp.dylib", "absolute path"),),
    ),
    Case(
        "absolute-install-name-missing-homebrew",
        {A: ext("/opt/homebrew/opt/libomp/lib/libomp.dylib")},
        (A,),
        (
            Error(
                A,
                f"dlopen({A}, 0x0002): Library not loaded: /opt/homebrew/opt/libomp/lib/libomp.dylib\n"
                f"  Referenced from: {A}\n"
                "  Reason: tried: '/opt/homebrew/opt/libomp/lib/libomp.dylib' (no such file), "
                "'/usr/local/lib/libomp.dylib' (no such file), "
                "'/usr/lib/libomp.dylib' (no such file, not in dyld cache)",
            ),
        ),
    ),
    # --- @rpath -----------------------------------------------------------------------------------
    Case(
        "rpath-own-lc-rpath",
        {
            A: ext("@rpath/libfoo.dylib", rpath=["@loader_path/.dylibs"]),
            "/sp/a/.dylibs/libfoo.dylib": macho(),
        },
        (A,),
        (Resolved("@rpath/libfoo.dylib", A, "/sp/a/.dylibs/libfoo.dylib", f"@rpath via LC_RPATH of {A}"),),
    ),
    Case(
        "rpath-of-the-loader-up-the-chain",
        {
            A: ext("@rpath/libouter.dylib", rpath=["@loader_path/lib"]),
            "/sp/a/lib/libouter.dylib": macho("@rpath/libinner.dylib"),
            "/sp/a/lib/libinner.dylib": macho(),
        },
        (A,),
        (
            Resolved(
                "@rpath/libinner.dylib",
                "/sp/a/lib/libouter.dylib",
                "/sp/a/lib/libinner.dylib",
                f"@rpath via LC_RPATH of {A}",
            ),
        ),
    ),
    Case(
        "rpath-entry-loader-path-is-relative-to-its-owner",
        {
            A: ext("@rpath/libouter.dylib", rpath=["@loader_path/lib"]),
            "/sp/a/lib/libouter.dylib": macho("@rpath/libinner.dylib", rpath=["@loader_path/../inner"]),
            "/sp/a/inner/libinner.dylib": macho(),
        },
        (A,),
        (
            Resolved(
                "@rpath/libinner.dylib",
                "/sp/a/lib/libouter.dylib",
                "/sp/a/inner/libinner.dylib",
                "@rpath via LC_RPATH of /sp/a/lib/libouter.dylib",
            ),
        ),
    ),
    Case(
        "rpath-of-the-executable",
        {A: ext("@rpath/libpython3.12.dylib"), "/py/lib/libpython3.12.dylib": macho()},
        (A,),
        (
            Resolved(
                "@rpath/libpython3.12.dylib",
                A,
                "/py/lib/libpython3.12.dylib",
                f"@rpath via LC_RPATH of {PY}",
            ),
        ),
        executable=macho(LIBSYSTEM, rpath=["@executable_path/../lib"], kind=FileKind.EXECUTABLE),
    ),
    Case(
        "rpath-own-entry-before-the-executables",
        {
            A: ext("@rpath/libz.dylib", rpath=["@loader_path/.dylibs"]),
            "/sp/a/.dylibs/libz.dylib": macho(),
            "/py/lib/libz.dylib": macho(),
        },
        (A,),
        (Resolved("@rpath/libz.dylib", A, "/sp/a/.dylibs/libz.dylib", f"@rpath via LC_RPATH of {A}"),),
        executable=macho(LIBSYSTEM, rpath=["@executable_path/../lib"], kind=FileKind.EXECUTABLE),
    ),
    Case(
        "rpath-absolute-entry",
        {A: ext("@rpath/libfoo.dylib", rpath=["/opt/foo/lib"]), "/opt/foo/lib/libfoo.dylib": macho()},
        (A,),
        (Resolved("@rpath/libfoo.dylib", A, "/opt/foo/lib/libfoo.dylib", f"@rpath via LC_RPATH of {A}"),),
    ),
    Case(
        "rpath-missing-lists-what-was-tried",
        {A: ext("@rpath/libfoo.dylib", rpath=["@loader_path/.dylibs"])},
        (A,),
        (
            Error(
                A,
                f"dlopen({A}, 0x0002): Library not loaded: @rpath/libfoo.dylib\n"
                f"  Referenced from: {A}\n"
                "  Reason: tried: '/sp/a/.dylibs/libfoo.dylib' (no such file), "
                "'/usr/local/lib/libfoo.dylib' (no such file), "
                "'/usr/lib/libfoo.dylib' (no such file, not in dyld cache)",
            ),
            Resolved("@rpath/libfoo.dylib", A, None, "not found"),
        ),
    ),
    Case(
        "rpath-without-any-lc-rpath",
        {A: ext("@rpath/libfoo.dylib")},
        (A,),
        (ErrorContains("Reason: no LC_RPATH's found"),),
        config=NO_FALLBACK,
    ),
    # --- DYLD_* variables -------------------------------------------------------------------------
    Case(
        "dyld-library-path-before-install-name",
        {
            A: ext("/opt/homebrew/lib/libomp.dylib"),
            "/opt/homebrew/lib/libomp.dylib": macho(),
            "/custom/libomp.dylib": macho(),
        },
        (A,),
        (Resolved("/opt/homebrew/lib/libomp.dylib", A, "/custom/libomp.dylib", "DYLD_LIBRARY_PATH"),),
        config=DyldConfig.from_environ({"DYLD_LIBRARY_PATH": "/nowhere:/custom"}),
    ),
    Case(
        "dyld-library-path-applies-to-rpath-names",
        {
            A: ext("@rpath/libfoo.dylib", rpath=["@loader_path/.dylibs"]),
            "/sp/a/.dylibs/libfoo.dylib": macho(),
            "/custom/libfoo.dylib": macho(),
        },
        (A,),
        (Resolved("@rpath/libfoo.dylib", A, "/custom/libfoo.dylib", "DYLD_LIBRARY_PATH"),),
        config=DyldConfig(library_path=("/custom",)),
    ),
    Case(
        "default-fallback-usr-local-lib",
        {A: ext("/opt/homebrew/opt/libomp/lib/libomp.dylib"), "/usr/local/lib/libomp.dylib": macho()},
        (A,),
        (
            Resolved(
                "/opt/homebrew/opt/libomp/lib/libomp.dylib",
                A,
                "/usr/local/lib/libomp.dylib",
                "DYLD_FALLBACK_LIBRARY_PATH",
            ),
        ),
    ),
    Case(
        "fallback-variable-replaces-the-default",
        {A: ext("@rpath/libfoo.dylib"), "/usr/local/lib/libfoo.dylib": macho(), "/fb/libfoo.dylib": macho()},
        (A,),
        (Resolved("@rpath/libfoo.dylib", A, "/fb/libfoo.dylib", "DYLD_FALLBACK_LIBRARY_PATH"),),
        config=DyldConfig.from_environ({"DYLD_FALLBACK_LIBRARY_PATH": "/fb"}),
    ),
    Case(
        "fallback-empty-means-none",
        {A: ext("@rpath/libfoo.dylib", rpath=["@loader_path"]), "/usr/local/lib/libfoo.dylib": macho()},
        (A,),
        (ErrorContains("Reason: tried: '/sp/a/libfoo.dylib' (no such file)"),),
        config=NO_FALLBACK,
    ),
    Case(
        "dyld-framework-path",
        {
            A: ext("/Library/Frameworks/Foo.framework/Versions/A/Foo"),
            "/fw/Foo.framework/Versions/A/Foo": macho(),
        },
        (A,),
        (
            Resolved(
                "/Library/Frameworks/Foo.framework/Versions/A/Foo",
                A,
                "/fw/Foo.framework/Versions/A/Foo",
                "DYLD_FRAMEWORK_PATH",
            ),
        ),
        config=DyldConfig.from_environ({"DYLD_FRAMEWORK_PATH": "/fw"}),
    ),
    # --- system libraries, weak imports -----------------------------------------------------------
    Case(
        "system-library-in-the-shared-cache",
        {A: ext("/usr/lib/libc++.1.dylib")},
        (A,),
        (
            Resolved("/usr/lib/libc++.1.dylib", A, "/usr/lib/libc++.1.dylib", "system (dyld shared cache)"),
            Loaded((PY, LIBSYSTEM, A, "/usr/lib/libc++.1.dylib")),
        ),
    ),
    Case(
        "system-framework-in-the-shared-cache",
        {A: ext("/System/Library/Frameworks/Accelerate.framework/Versions/A/Accelerate")},
        (A,),
        (
            Resolved(
                "/System/Library/Frameworks/Accelerate.framework/Versions/A/Accelerate",
                A,
                "/System/Library/Frameworks/Accelerate.framework/Versions/A/Accelerate",
                "system (dyld shared cache)",
            ),
        ),
    ),
    Case(
        "fallback-leaf-under-usr-lib-is-not-the-cache",
        {A: ext("@rpath/libfoo.dylib", rpath=["@loader_path"])},
        (A,),
        (ErrorContains("'/usr/lib/libfoo.dylib' (no such file, not in dyld cache)"),),
    ),
    Case(
        "known-shared-cache-listing",
        {A: ext("/usr/lib/libc++.1.dylib", "/usr/lib/libgone.dylib")},
        (A,),
        (
            Resolved("/usr/lib/libc++.1.dylib", A, "/usr/lib/libc++.1.dylib", "system (dyld shared cache)"),
            ErrorContains("'/usr/lib/libgone.dylib' (no such file, not in dyld cache)"),
        ),
        config=DyldConfig(shared_cache=frozenset({LIBSYSTEM, "/usr/lib/libc++.1.dylib"})),
    ),
    Case(
        "libstdcxx-is-not-in-the-cache",
        {A: ext("/usr/lib/libstdc++.6.dylib")},
        (A,),
        (ErrorContains("'/usr/lib/libstdc++.6.dylib' (no such file, not in dyld cache)"),),
    ),
    Case(
        "weak-dylib-missing-is-not-fatal",
        {A: ext(weak=["@rpath/libopt.dylib"], rpath=["@loader_path"])},
        (A,),
        (Weak("@rpath/libopt.dylib"), Loaded((PY, LIBSYSTEM, A))),
    ),
    # --- architecture, minimum OS -----------------------------------------------------------------
    Case(
        "extension-of-the-wrong-architecture",
        {A: ext(arch="x86_64")},
        (A,),
        (
            Error(
                A,
                f"dlopen({A}, 0x0002): tried: '{A}' "
                "(mach-o file, but is an incompatible architecture (have 'x86_64', need 'arm64'))",
            ),
        ),
    ),
    Case(
        "dependency-of-the-wrong-architecture",
        {A: ext("@loader_path/libx.dylib"), "/sp/a/libx.dylib": macho(arch="x86_64")},
        (A,),
        (
            ErrorContains(
                "Reason: tried: '/sp/a/libx.dylib' "
                "(mach-o file, but is an incompatible architecture (have 'x86_64', need 'arm64'))"
            ),
        ),
    ),
    Case(
        "wrong-architecture-copy-is-skipped-and-the-search-goes-on",
        {
            A: ext("@rpath/libx.dylib", rpath=["@loader_path/x86", "@loader_path/arm"]),
            "/sp/a/x86/libx.dylib": macho(arch="x86_64"),
            "/sp/a/arm/libx.dylib": macho(),
        },
        (A,),
        (Resolved("@rpath/libx.dylib", A, "/sp/a/arm/libx.dylib", f"@rpath via LC_RPATH of {A}"),),
    ),
    Case(
        "x86_64-process-under-rosetta",
        {A: ext(arch="x86_64")},
        (A,),
        (Loaded((PY, LIBSYSTEM, A)),),
        config=DyldConfig(arch="x86_64"),
        executable=macho(LIBSYSTEM, arch="x86_64", kind=FileKind.EXECUTABLE),
    ),
    Case(
        "universal2-uses-the-process-slice",
        {
            A: fat(ext("@loader_path/libintel.dylib", arch="x86_64"), ext("@loader_path/libarm.dylib")),
            "/sp/a/libarm.dylib": macho(),
        },
        (A,),
        (Loaded((PY, LIBSYSTEM, A, "/sp/a/libarm.dylib")),),
    ),
    Case(
        "fat-file-without-the-process-slice",
        {A: fat(ext(arch="x86_64"), ext(arch="i386"))},
        (A,),
        (ErrorContains("fat file, but missing compatible architecture (have 'x86_64,i386', need 'arm64')"),),
    ),
    Case(
        "minimum-os-above-the-host-is-noted",
        {A: ext(min_os="14.0")},
        (A,),
        (Noted("newer_min_os", (A,)), Loaded((PY, LIBSYSTEM, A))),
        config=DyldConfig(os_version="13.4"),
    ),
    Case(
        "minimum-os-at-the-host-is-fine",
        {A: ext(min_os="13.0")},
        (A,),
        (NotNoted("newer_min_os"),),
        config=DyldConfig(os_version="13.4"),
    ),
    Case(
        "minimum-os-above-the-host-in-a-load-error",
        {A: ext("@rpath/libfoo.dylib", min_os="14.0")},
        (A,),
        (ErrorContains(f"Referenced from: {A} (built for macOS 14.0 which is newer than running OS)"),),
        config=DyldConfig(os_version="13.4"),
    ),
    # --- the process: already loaded, by path, import order ---------------------------------------
    Case(
        "two-libomp-at-different-paths-both-load",
        {
            A: ext("@loader_path/.dylibs/libomp.dylib"),
            B: ext("@loader_path/.dylibs/libomp.dylib"),
            OMP_A: macho(install_name="/DLC/a/.dylibs/libomp.dylib"),
            OMP_B: macho(install_name="/DLC/b/.dylibs/libomp.dylib"),
        },
        (A, B),
        (
            Loaded((PY, LIBSYSTEM, A, OMP_A, B, OMP_B)),
            Noted("duplicate_library", (OMP_A, OMP_B)),
        ),
    ),
    Case(
        "same-install-name-at-different-paths-both-load",
        {
            A: ext("@loader_path/.dylibs/libomp.dylib"),
            B: ext("@loader_path/.dylibs/libomp.dylib"),
            OMP_A: macho(install_name="@rpath/libomp.dylib"),
            OMP_B: macho(install_name="@rpath/libomp.dylib"),
        },
        (A, B),
        (
            Resolved("@loader_path/.dylibs/libomp.dylib", B, OMP_B, "@loader_path"),
            Noted("duplicate_library", (OMP_A, OMP_B)),
        ),
    ),
    Case(
        "rpath-name-reuses-a-loaded-install-name",
        {
            A: ext("@rpath/libomp.dylib", rpath=["@loader_path/.dylibs"]),
            B: ext("@rpath/libomp.dylib", rpath=["@loader_path/.dylibs"]),
            OMP_A: macho(install_name="@rpath/libomp.dylib"),
            OMP_B: macho(install_name="@rpath/libomp.dylib"),
        },
        (A, B),
        (
            Resolved("@rpath/libomp.dylib", B, OMP_A, "already loaded (install name @rpath/libomp.dylib)"),
            Loaded((PY, LIBSYSTEM, A, OMP_A, B)),
            Noted("rpath_reuse", (OMP_A, OMP_B)),
            NotNoted("duplicate_library"),
        ),
    ),
    Case(
        "same-path-loads-once",
        {
            A: ext("@loader_path/libx.dylib"),
            "/sp/a/_a2.so": ext("@loader_path/libx.dylib"),
            "/sp/a/libx.dylib": macho(),
        },
        (A, "/sp/a/_a2.so"),
        (
            Resolved("@loader_path/libx.dylib", "/sp/a/_a2.so", "/sp/a/libx.dylib", "already loaded"),
            Loaded((PY, LIBSYSTEM, A, "/sp/a/libx.dylib", "/sp/a/_a2.so")),
        ),
    ),
    Case(
        "symlink-to-a-loaded-file-is-the-same-image",
        {
            A: ext("@loader_path/libx.1.dylib", "@loader_path/libx.dylib"),
            "/sp/a/libx.1.dylib": macho(),
        },
        (A,),
        (
            Resolved("@loader_path/libx.dylib", A, "/sp/a/libx.1.dylib", "already loaded (same file)"),
            Loaded((PY, LIBSYSTEM, A, "/sp/a/libx.1.dylib")),
        ),
        links={"/sp/a/libx.dylib": "/sp/a/libx.1.dylib"},
    ),
    Case(
        "absolute-name-matches-a-loaded-install-name",
        {
            A: ext("@loader_path/libz.dylib"),
            B: ext("/usr/local/opt/zlib/lib/libz.1.dylib"),
            "/sp/a/libz.dylib": macho(install_name="/usr/local/opt/zlib/lib/libz.1.dylib"),
        },
        (A, B),
        (Resolved("/usr/local/opt/zlib/lib/libz.1.dylib", B, "/sp/a/libz.dylib", "already loaded"),),
    ),
    Case(
        "failed-dlopen-unloads-what-it-loaded",
        {
            A: ext("@loader_path/libx.dylib", "@loader_path/libmissing.dylib"),
            "/sp/a/libx.dylib": macho(),
            B: ext(),
        },
        (A, B),
        (Loaded((PY, LIBSYSTEM, B)), ErrorContains("Library not loaded: @loader_path/libmissing.dylib")),
    ),
    Case(
        "transitive-failure-names-the-dependency",
        {
            A: ext("@loader_path/libx.dylib"),
            "/sp/a/libx.dylib": macho("@loader_path/liby.dylib"),
        },
        (A,),
        (
            ErrorContains(
                f"dlopen({A}, 0x0002): Library not loaded: @loader_path/liby.dylib\n"
                "  Referenced from: /sp/a/libx.dylib\n"
                "  Reason: tried: '/sp/a/liby.dylib' (no such file)"
            ),
        ),
    ),
    Case(
        "missing-dependency-of-the-executable",
        {},
        (A,),
        (ErrorContains("dyld: Library not loaded: @rpath/libpython3.12.dylib"), Loaded(())),
        executable=macho("@rpath/libpython3.12.dylib", kind=FileKind.EXECUTABLE),
        config=NO_FALLBACK,
    ),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_dyld(case: Case) -> None:
    files = dict(case.files)
    if case.executable is not None:
        files[PY] = case.executable
    report = simulate(PY, case.extensions, FakeFS(files, case.links), case.config)
    for check in case.checks:
        check.check(report)


def test_report_shape() -> None:
    fs = FakeFS({A: ext("@loader_path/libx.dylib"), "/sp/a/libx.dylib": macho()}, {})
    report = simulate(PY, [A], fs)
    assert report.ok
    assert report.executable == PY
    assert [r.extension for r in report.imports] == [A]
    assert report.imports[0].loaded == (A, "/sp/a/libx.dylib")
    assert report.imports[0].error is None
    assert report.resolution(A) is not None


def test_from_environ_unset_fallback_uses_the_default() -> None:
    config = DyldConfig.from_environ({}, arch="x86_64", os_version="12.0")
    assert config.fallbacks == ("/usr/local/lib", "/usr/lib")
    assert (config.arch, config.os_version) == ("x86_64", "12.0")
    assert DyldConfig.from_environ({"DYLD_FALLBACK_LIBRARY_PATH": ""}).fallbacks == ()
