"""Linux checks (ND3xx): RPATH leaks, executable stacks, text relocations, debug info, interposition."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from native_doctor.binary.model import BinaryFormat, BinaryInfo, FileKind
from native_doctor.checks.registry import Finding, Severity, Status, register
from native_doctor.platforms import linux, loader

if TYPE_CHECKING:
    from native_doctor.analysis import BinaryReport, Inspection

__all__ = ["debug_size", "leaving_rpath_entries", "searches_its_path", "vendored_cxx_exports"]

#: ``$ORIGIN`` / ``${ORIGIN}`` at the start of an entry (``$ORIGIN_x`` is no token: see ld.so).
#: Other dynamic string tokens: replaced by one path component for the "stays inside" test.
_TOKEN = re.compile(r"\$(?:\{(?:PLATFORM|LIB)\}|(?:PLATFORM|LIB)(?![A-Za-z0-9_]))")
#: Absolute prefixes that name a build machine rather than anything a user has.
_BUILD_PREFIXES = (
    ("/home/", "a home directory (a build checkout)"),
    ("/Users/", "a home directory (a build checkout)"),
    ("/github/", "a GitHub Actions container path"),
    ("/__w/", "a GitHub Actions container path"),
    ("/project/", "the cibuildwheel container's project directory"),
    ("/io/", "the manylinux docker convention's project directory"),
    ("/tmp/", "a temporary build directory"),
    ("/var/tmp/", "a temporary build directory"),
    ("/root/", "the build container's home directory"),
    ("/builds/", "a GitLab CI checkout"),
    ("/opt/conda", "a conda prefix"),
    ("/opt/miniconda", "a conda prefix"),
    ("/opt/anaconda", "a conda prefix"),
    ("/opt/_internal/", "the manylinux image's Python installations"),
    ("/opt/python/", "the manylinux image's Python installations"),
    ("/opt/rh/", "the manylinux image's devtoolset"),
    ("/usr/local/", "a locally installed library prefix"),
    ("/opt/", "an add-on software prefix"),
)


def _describe_absolute(entry: str) -> str:
    for prefix, what in _BUILD_PREFIXES:
        if entry.startswith(prefix) or entry == prefix.rstrip("/"):
            return what
    if "/envs/" in entry:
        return "a conda environment"
    return "an absolute path outside the wheel"


def leaving_rpath_entries(install_path: str, info: BinaryInfo) -> list[tuple[str, str, str]]:
    """(DT_RPATH or DT_RUNPATH, entry, what it is) for each entry that leaves site-packages.

    An entry leaves when it is absolute, relative to the working directory (empty entries
    included: ld.so reads them as ``.``), or ``$ORIGIN``-relative but climbing above the
    site-packages directory the file is installed into. ``$ORIGIN/../../nvidia/cublas/lib``
    from ``pkg/sub/_ext.so`` stays inside site-packages (another distribution's files): no leak.
    """
    origin = posixpath.dirname(install_path)
    leaks: list[tuple[str, str, str]] = []
    for kind, entries in (("RPATH", info.rpath), ("RUNPATH", info.runpath)):
        for entry in entries:
            what = _leak(entry, origin)
            if what is not None:
                leaks.append((kind, entry, what))
    return leaks


def _leak(entry: str, origin: str) -> str | None:
    if entry == "":
        return "an empty entry, which ld.so reads as the current working directory"
    match = loader.ORIGIN_TOKEN.match(entry)
    if match is None:
        if entry.startswith("/"):
            return _describe_absolute(entry)
        return "a path relative to the current working directory"
    if loader.join_install_path(origin, _TOKEN.sub("x", entry[match.end() :])) is not None:
        return None  # stays inside site-packages (the loader substitutes the token as text)
    # The entry's directory relative to site-packages, leading ".." where it climbs above it.
    relative = [p for p in origin.split("/") if p]
    for part in _TOKEN.sub("x", entry[match.end() :]).split("/"):
        if part == "..":
            if relative and relative[-1] != "..":
                relative.pop()
            else:
                relative.append("..")
        elif part not in ("", "."):
            relative.append(part)
    if not relative or relative[0] != "..":
        return None
    # <prefix>/lib/pythonX.Y/site-packages/../.. is <prefix>/lib, where wheels such as mkl,
    # intel-openmp and tbb install their libraries through the data scheme: a deliberate layout.
    if relative[:2] == ["..", ".."] and relative[2:3] != [".."]:
        return None
    if relative[:4] == ["..", "..", "..", "lib"]:
        return None
    levels = relative.count("..")
    return (
        f"an $ORIGIN-relative path that climbs {levels} level{'s' if levels > 1 else ''} above "
        "site-packages, where no installation has libraries"
    )


def _elf_binaries(inspection: Inspection) -> Iterator[tuple[BinaryReport, BinaryInfo]]:
    for binary in inspection.binaries:
        info = binary.native.info
        if info is not None and info.format is BinaryFormat.ELF:
            yield binary, info


def _installed_in_site_packages(install_path: str) -> bool:
    """Files of other ``.data`` schemes (``<scripts>/``, ``<data>/``) land outside site-packages."""
    return not install_path.startswith("<")


@register(
    "ND301",
    "rpath-leaves-wheel",
    Severity.WARNING,
    summary="An ELF RPATH/RUNPATH entry points outside the installed wheel (often a build-machine path).",
    what=(
        "Every DT_RPATH and DT_RUNPATH entry of every ELF file: absolute entries (`/home/runner/work/...`, "
        "`/usr/local/lib`, `/opt/...`), entries relative to the working directory (including the empty "
        "entry a stray `::` or trailing `:` creates), and `$ORIGIN`-relative entries that climb above "
        "site-packages. `$ORIGIN`-relative entries that stay inside site-packages - the wheel's own "
        "`.libs` directory or another distribution's (`$ORIGIN/../../nvidia/cublas/lib`) - are fine, and "
        "so are entries reaching the environment's `lib` directory (`<prefix>/lib`, two levels above "
        "site-packages), where mkl, intel-openmp or tbb wheels install libraries as data files. Reported "
        "at info severity when no dependency of the file can use the entry: a shared library or extension "
        "module that needs nothing but libc and the dynamic loader (which the Python process has loaded "
        "before it; musl answers its reserved names without a search), or nothing at all. Only a "
        "`dlopen()` from the file's own code would search it then."
    ),
    why=(
        "Such an entry does nothing on a user's machine - until that directory exists there. Then ld.so "
        "searches it before the bundled copy and may load a different, incompatible build of a library "
        "(a crash or `undefined symbol` error that only some users see), and a directory writable by "
        "others (`/tmp/...`, the working directory) lets anyone plant a library that runs inside the "
        "importing process. It also leaks the build machine's paths, and usually means the build linked "
        "against a library the repair step was supposed to bundle."
    ),
    fix=(
        "Do not bake build directories into the binaries. setuptools: drop `runtime_library_dirs` / "
        "`-Wl,-rpath` with absolute paths; scikit-build-core / CMake: CMake's build RPATH is replaced at "
        "install, so set `CMAKE_INSTALL_RPATH` to `$ORIGIN`-relative entries only and leave "
        "`CMAKE_INSTALL_RPATH_USE_LINK_PATH` off; meson-python: meson strips build RPATHs on install, so "
        "check `install_rpath:` and `link_args` for absolute paths; maturin: check `-C link-arg=-Wl,-rpath` "
        "in RUSTFLAGS and build scripts. `auditwheel repair` replaces the RPATH of files it modifies but "
        "keeps entries of files it does not; `patchelf --remove-rpath` or `--set-rpath '$ORIGIN/...'` "
        "cleans a finished binary."
    ),
    page="native-dependencies",
    list_entries=True,  # one RUNPATH shared by many files, leaking several entries: one finding
    references=(
        "https://man7.org/linux/man-pages/man8/ld.so.8.html",
        "https://cmake.org/cmake/help/latest/prop_tgt/INSTALL_RPATH.html",
        "https://github.com/pypa/auditwheel",
    ),
)
def rpath_leaves_wheel(inspection: Inspection) -> Iterator[Finding]:
    """One finding per ELF file and leaking entry (info when nothing the file needs is searched)."""
    libc: linux.Libc = "musl" if inspection.platform.libc == "musl" else "glibc"
    for binary, info in _elf_binaries(inspection):
        if not _installed_in_site_packages(binary.native.install_path):
            continue
        unused = not searches_its_path(info, libc)
        for kind, entry, what in leaving_rpath_entries(binary.native.install_path, info):
            shown = entry if entry else "(empty)"
            effect = (
                "; no dependency of it can use the entry (it needs only libc, already loaded)"
                if unused
                else ""
            )
            yield rpath_leaves_wheel.finding(
                f"{binary.native.path} has {kind} entry {shown!r} pointing outside the wheel: {what}{effect}",
                inspection.artifact.path,
                binary.native.path,
                entry,
                severity=Severity.INFO if unused else None,
            )


#: Loaded into every Python process before any extension module: ld.so finds them by SONAME
#: among the loaded objects and searches no path for them.
_ALWAYS_LOADED = frozenset({"libc.so.6"})


def searches_its_path(info: BinaryInfo, libc: linux.Libc) -> bool:
    """Whether loading the file makes the dynamic loader search its RPATH/RUNPATH for something.

    An executable's libc is searched for at start-up; a library or extension module loaded into
    Python finds libc and the loader already loaded, and musl's reserved names are never searched.
    """
    if info.kind not in (FileKind.SHARED_LIBRARY, FileKind.BUNDLE):
        return bool(info.needed)
    loaders = linux.loader_names("glibc") | linux.loader_names("musl")
    return any(
        name not in _ALWAYS_LOADED and name not in loaders and not linux.is_reserved_name(name, libc)
        for name in info.needed
    )


#: glibc's DEFAULT_STACK_PERMS include PF_X on these: no PT_GNU_STACK means "executable stack".
_EXEC_STACK_BY_DEFAULT = frozenset({"x86_64", "i686", "i386"})


@register(
    "ND302",
    "executable-stack",
    Severity.ERROR,
    summary="A shared library asks for an executable stack, which glibc 2.41+ refuses to dlopen.",
    what=(
        "ELF shared libraries (extension modules and the libraries they load) whose PT_GNU_STACK program "
        "header has the execute flag, or that lack PT_GNU_STACK on x86 (where glibc's default is then an "
        "executable stack)."
    ),
    why=(
        "Since glibc 2.41 (Debian 13, Fedora 42, Arch, Ubuntu 25.04) `dlopen` no longer makes the stack "
        'executable for such a library; the import fails with "ImportError: libfoo.so: cannot enable '
        'executable stack as shared object requires: Invalid argument". Older glibc silently made the '
        "whole process's stack executable, disabling a basic exploit mitigation; SELinux-enforcing "
        "systems refuse it too (`execstack` denials). The flag is almost always an accident: one assembly "
        "file without a `.note.GNU-stack` section, which makes the linker mark the whole library."
    ),
    fix=(
        'Mark the stack non-executable: add `.section .note.GNU-stack,"",@progbits` to hand-written '
        "assembly (or assemble with `-Wa,--noexecstack`), and link with `-Wl,-z,noexecstack`. setuptools: "
        "`extra_link_args=['-Wl,-z,noexecstack']`; scikit-build-core / CMake: "
        "`add_link_options(-Wl,-z,noexecstack)`; meson-python: `link_args: ['-Wl,-z,noexecstack']`; "
        "maturin: `RUSTFLAGS='-C link-arg=-Wl,-z,noexecstack'`. For a vendored prebuilt library, "
        "`patchelf --clear-execstack` (patchelf >= 0.18) or `execstack -c` clears the flag before "
        "`auditwheel repair`. Code that really executes on the stack (GCC nested-function trampolines) "
        "must be rewritten."
    ),
    page="platform-tags-and-manylinux",
    references=(
        "https://sourceware.org/bugzilla/show_bug.cgi?id=32653",
        "https://lists.gnu.org/archive/html/info-gnu/2025-01/msg00014.html",
        "https://www.gnu.org/software/libc/manual/html_node/Dynamic-Linking-Tunables.html",
    ),
)
def executable_stack(inspection: Inspection) -> Iterator[Finding]:
    """One finding per shared library that requests (or defaults to) an executable stack."""
    for binary, info in _elf_binaries(inspection):
        if info.kind is not FileKind.SHARED_LIBRARY:
            continue  # executables may have one; only dlopen refuses
        if info.executable_stack:
            how = "its PT_GNU_STACK program header is marked executable (RWE)"
        elif info.executable_stack is None and info.arch in _EXEC_STACK_BY_DEFAULT:
            how = f"it has no PT_GNU_STACK program header, and the {info.arch} default is an executable stack"
        else:
            continue
        yield executable_stack.finding(
            f"{binary.native.path} requires an executable stack: {how}; glibc >= 2.41 refuses to load it",
            inspection.artifact.path,
            binary.native.path,
            "PT_GNU_STACK",
        )


@register(
    "ND303",
    "text-relocations",
    Severity.WARNING,
    summary="A shared library has text relocations (code that is not position independent).",
    what="ELF files with a DT_TEXTREL entry or the DF_TEXTREL flag in DT_FLAGS.",
    why=(
        "The loader must make the library's code pages writable to patch them at load time. SELinux in "
        'enforcing mode (Fedora, RHEL, Android) denies this: "ImportError: libfoo.so: cannot restore '
        'segment prot after reloc: Permission denied". Elsewhere it costs memory (the patched pages '
        "cannot be shared between processes) and weakens W^X protection. It comes from objects compiled "
        "without `-fPIC` (often a static library or hand-written assembly linked into the module)."
    ),
    fix=(
        "Compile every object that goes into the shared library with `-fPIC` - in particular static "
        "libraries built by a vendored dependency's own build (CMake: "
        "`CMAKE_POSITION_INDEPENDENT_CODE=ON`; autotools: `--with-pic`; meson: `b_staticpic=true`, the "
        "default). Fix assembly to use PC-relative / GOT addressing. Linking with `-Wl,-z,text` turns "
        "any remaining text relocation into a link error, so it cannot come back unnoticed. setuptools, "
        "scikit-build-core, meson-python and maturin all build extension modules themselves with PIC: "
        "the culprit is what they link in."
    ),
    page="platform-tags-and-manylinux",
    references=(
        "https://flameeyes.blog/2016/01/16/textrels-text-relocations-and-their-impact-on-hardening-techniques/",
        "https://man7.org/linux/man-pages/man1/ld.1.html",
    ),
)
def text_relocations(inspection: Inspection) -> Iterator[Finding]:
    """One finding per ELF file with text relocations."""
    for binary, info in _elf_binaries(inspection):
        if info.text_relocations:
            yield text_relocations.finding(
                f"{binary.native.path} has text relocations (DT_TEXTREL): its code was not compiled as "
                "position independent",
                inspection.artifact.path,
                binary.native.path,
                "DT_TEXTREL",
            )


#: Debug information smaller than this is left alone (GDB script sections, a few line tables).
DEBUG_THRESHOLD = 64 * 1024


def debug_size(info: BinaryInfo) -> int:
    """Bytes of debug information the file carries (0 when unknown or not read deeply)."""
    return (info.debug_bytes or 0) if info.deep else 0


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 100_000 else f"{size / 1000:.0f} kB"


@register(
    "ND304",
    "debug-info",
    Severity.INFO,
    summary="Binaries ship with debug information, which makes the wheel larger than it needs to be.",
    what=(
        "With deep reading, the bytes of debug information in each binary: ELF `.debug_*`/`.zdebug_*` "
        f"sections, the Mach-O `__DWARF` segment, PE `.debug*` sections and COFF symbol tables. Files "
        f"with less than {DEBUG_THRESHOLD // 1024} KiB are not reported."
    ),
    why=(
        "Debug information is never used at import time, but every user downloads, unpacks and stores it: "
        "it is often most of a wheel's size (10x is common for C++), slowing installs, inflating Docker "
        "images and counting against PyPI's size limits. Nothing fails - this is a hint."
    ),
    fix=(
        "Build without it or strip it. setuptools: `CFLAGS=-g0` and/or `LDFLAGS=-Wl,-s` (or `-Wl,-S` "
        "to keep symbols); scikit-build-core: `install.strip = true` (the default) and a Release "
        "`cmake.build-type`; meson-python: `-Csetup-args=-Dstrip=true` (and `-Dbuildtype=release`); "
        "maturin: release builds strip by default (`[profile.release] strip = true`/`debug = false`); "
        "MinGW: link with `-s`. Repair tools: `auditwheel repair --strip`; for delocate and delvewheel, "
        "strip before repairing (`strip -S`, `x86_64-w64-mingw32-strip`). Publish debug files "
        "separately (`objcopy --only-keep-debug`, dSYM bundles, PDBs) if you need them."
    ),
    page="wheel-contents",
    references=(
        "https://scikit-build-core.readthedocs.io/en/latest/configuration/index.html",
        "https://mesonbuild.com/Builtin-options.html",
        "https://github.com/pypa/auditwheel",
    ),
)
def debug_info(inspection: Inspection) -> Iterator[Finding]:
    """One finding per binary carrying at least DEBUG_THRESHOLD bytes of debug information."""
    native_total = sum(b.native.size for b in inspection.binaries)
    wheel_total = sum(debug_size(b.native.info) for b in inspection.binaries if b.native.info is not None)
    for binary in inspection.binaries:
        info = binary.native.info
        size = debug_size(info) if info is not None else 0
        if size < DEBUG_THRESHOLD:
            continue
        share_file = f"{_percent(size, binary.native.size)} of the file" if binary.native.size else ""
        share_wheel = (
            f"{_percent(wheel_total, native_total)} of the wheel's {_megabytes(native_total)} of "
            f"binaries is debug information"
            if native_total
            else ""
        )
        yield debug_info.finding(
            f"{binary.native.path} carries {_megabytes(size)} of debug information ({share_file}); "
            f"{share_wheel}",
            inspection.artifact.path,
            binary.native.path,
            str(size),
        )


#: Mangled-name prefixes of C++ libraries that are commonly vendored by more than one wheel.
CXX_LIBRARIES: tuple[tuple[str, str], ...] = (
    ("_ZN6google8protobuf", "protobuf"),
    ("_ZN4absl", "abseil"),
    ("_ZN3fmt", "fmt"),
    ("_ZN6spdlog", "spdlog"),
    ("_ZN5boost", "boost"),
    ("_ZN4grpc", "gRPC"),
    ("_ZN5arrow", "Arrow"),
    ("_ZN2cv", "OpenCV"),
    ("_ZN3tbb", "TBB"),
    ("_ZN2re2", "RE2"),
    ("_ZN4YAML", "yaml-cpp"),
    ("_ZN8nlohmann", "nlohmann-json"),
    ("_ZN5Eigen", "Eigen"),
    ("_ZNSt", "the C++ standard library (libstdc++)"),
)


def vendored_cxx_exports(info: BinaryInfo) -> dict[str, int]:
    """Library -> number of its mangled symbols ``info`` exports (deep reading only).

    ``std::`` symbols count only for a vendored libstdc++ itself (``GLIBCXX_*`` version
    definitions): every C++ library exports a few weak ``std::`` template instantiations.
    """
    if not info.deep:
        return {}
    own_stdlib = any(v.startswith("GLIBCXX_") for v in info.version_definitions)
    counts: dict[str, int] = {}
    for symbol in info.exported_symbols:
        for prefix, library in CXX_LIBRARIES:
            if symbol.startswith(prefix):
                if prefix != "_ZNSt" or own_stdlib:
                    counts[library] = counts.get(library, 0) + 1
                break
    return counts


def _is_vendored(path: str, inspection: Inspection) -> bool:
    parts = path.split("/")
    return path in inspection.repair.vendored or any(p.endswith(".libs") for p in parts[:-1])


@register(
    "ND305",
    "exported-cxx-symbols",
    Severity.WARNING,
    summary="A vendored library exports a popular C++ library's symbols, which can interpose across wheels.",
    what=(
        "With deep reading, the dynamic symbols that vendored ELF libraries (in a `<dist>.libs` or `.libs` "
        "directory) export globally, matched against the mangled names of C++ libraries that many wheels "
        "vendor: protobuf, abseil, fmt, spdlog, Boost, gRPC, Arrow, OpenCV, TBB, RE2, yaml-cpp, Eigen, "
        "and libstdc++ itself."
    ),
    why=(
        "Exported C++ symbols take part in ELF symbol interposition: when two wheels vendor different "
        "versions of, say, protobuf, and one of them is loaded with RTLD_GLOBAL (as several frameworks "
        "do) or preloaded, the other's code binds to the first one's functions. The result is a crash "
        "or silent corruption in whichever package is imported second, e.g. protobuf's \"File already "
        'exists in database" abort, or a segfault deep inside absl - only with a particular import order.'
    ),
    fix=(
        "Hide the vendored library's symbols: link it statically into the extension with "
        "`-Wl,--exclude-libs,ALL`, build it with `-fvisibility=hidden -fvisibility-inlines-hidden`, or "
        "give the shared build a version script that exports only what the extension needs. CMake "
        "(scikit-build-core): `CMAKE_CXX_VISIBILITY_PRESET=hidden`, `CMAKE_VISIBILITY_INLINES_HIDDEN=ON`; "
        "meson-python: `gnu_symbol_visibility: 'inlineshidden'`; setuptools: add the flags to "
        "`extra_compile_args`/`extra_link_args`. Better still, depend on the distribution that provides "
        "the library (e.g. `protobuf`) instead of vendoring a private copy."
    ),
    page="cpp-dependencies",
    references=(
        "https://gcc.gnu.org/wiki/Visibility",
        "https://pypackaging-native.github.io/key-issues/native-dependencies/cpp_deps/",
    ),
    status=Status.PREVIEW,
)
def exported_cxx_symbols(inspection: Inspection) -> Iterator[Finding]:
    """One finding per vendored ELF library exporting symbols of known C++ libraries."""
    for binary, info in _elf_binaries(inspection):
        if not _is_vendored(binary.native.path, inspection):
            continue
        counts = vendored_cxx_exports(info)
        if not counts:
            continue
        listed = ", ".join(f"{lib} ({n} symbols)" for lib, n in sorted(counts.items()))
        yield exported_cxx_symbols.finding(
            f"vendored {binary.native.path} exports C++ symbols of {listed}: another wheel vendoring a "
            "different version can interpose on them",
            inspection.artifact.path,
            binary.native.path,
            ", ".join(sorted(counts)),
        )


def _percent(part: int, whole: int) -> str:
    """``"75%"``, ``"0.3%"``, ``"<0.1%"``: never a misleading ``0%`` for a non-zero share."""
    share = 100 * part / whole
    if share >= 10:
        return f"{share:.0f}%"
    return f"{share:.1f}%" if share >= 0.1 else "<0.1%"
