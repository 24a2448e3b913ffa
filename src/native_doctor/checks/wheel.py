"""Wheel checks (ND1xx): platform tags against binaries, architectures, purity, RECORD, size."""

from __future__ import annotations

import functools
import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from native_doctor.binary.model import BinaryFormat, BinaryInfo, FileKind
from native_doctor.checks.registry import Finding, Severity, register
from native_doctor.model import ArtifactKind, NativeFile
from native_doctor.platforms import linux, macos, windows

if TYPE_CHECKING:
    from native_doctor.analysis import Inspection

#: PyPI's default upload limit per file (warehouse ``MAX_FILESIZE``: 100 MiB).
PYPI_FILE_LIMIT: Final = 100 * 1024 * 1024
#: Kinds of file a Python process maps into itself: extension modules and the libraries they load.
_LOADABLE: Final = frozenset({FileKind.SHARED_LIBRARY, FileKind.BUNDLE})
#: Architectures a multi-architecture macOS tag names (``packaging.tags._mac_binary_formats``).
_MAC_TAG_ARCHS: Final[dict[str, frozenset[str]]] = {
    "universal2": frozenset({"x86_64", "arm64"}),
    "intel": frozenset({"i386", "x86_64"}),
    "fat": frozenset({"i386", "ppc"}),
    "fat64": frozenset({"x86_64", "ppc64"}),
    "fat32": frozenset({"x86_64", "i386", "ppc"}),
    "fat3": frozenset({"x86_64", "i386", "ppc"}),
}
_ARM: Final = frozenset({"arm64", "arm64e"})
#: Linux tag architectures an ELF header cannot tell apart (EM_ARM covers ARMv6 and ARMv7).
_LINUX_ARCH_ALIASES: Final[dict[str, frozenset[str]]] = {
    "armv6l": frozenset({"armv6l", "armv7l"}),
    "armv7l": frozenset({"armv6l", "armv7l"}),
}

_LINUX_REFS = (
    "https://peps.python.org/pep-0600/",
    "https://peps.python.org/pep-0656/",
    "https://github.com/pypa/auditwheel",
)
_BDF = "https://packaging.python.org/en/latest/specifications/binary-distribution-format/"
_RECORD_REFS = (
    _BDF,
    "https://packaging.python.org/en/latest/specifications/recording-installed-packages/#the-record-file",
    "https://github.com/pypa/installer/issues/100",
)


def _wheel_tags(inspection: Inspection) -> list[tuple[str, str, str]]:
    """The claimed tags as (interpreter, abi, platform)."""
    tags = []
    for tag in inspection.artifact.claimed_tags:
        parts = tag.split("-")
        if len(parts) == 3:
            tags.append((parts[0], parts[1], parts[2]))
    return tags


def _readable(inspection: Inspection, fmt: BinaryFormat) -> Iterator[tuple[NativeFile, BinaryInfo]]:
    for binary in inspection.binaries:
        info = binary.native.info
        if info is not None and info.format is fmt:
            yield binary.native, info


def _slices(info: BinaryInfo) -> tuple[BinaryInfo, ...]:
    return info.slices or (info,)


def _dotted(version: tuple[int, ...] | None) -> str:
    return ".".join(map(str, version)) if version else "?"


# --- ND101 ---------------------------------------------------------------------------------------


@register(
    "ND101",
    "platform-tag-too-old",
    Severity.ERROR,
    summary="A platform tag promises an older platform than the binaries need.",
    what=(
        "Every claimed platform tag against what the binaries require. manylinux: the newest symbol "
        "version each ELF file needs from the governed namespaces (GLIBC, GLIBCXX, CXXABI, GCC, ...) "
        "decides the oldest policy it fits; a claimed manylinux_2_X (or legacy alias) older than that is "
        "flagged, once per claimed tag, naming the file and the version that forces it. macOS: the "
        "minimum OS version (LC_BUILD_VERSION / LC_VERSION_MIN_MACOSX) of every slice of the tag's "
        "architectures; arm64 slices count only above 11.0, since every arm64 Mac runs 11.0 or newer."
    ),
    why=(
        "pip installs the wheel on the older system the tag names, and the import then fails: "
        '"ImportError: /lib64/libc.so.6: version `GLIBC_2.28\' not found (required by .../_ext.so)" '
        '(Linux) or "Symbol not found: _foo ... (which was built for Mac OS X 10.13)" / "dlopen(...): '
        'Library not loaded ... built for macOS 10.13 which is newer than running OS" (macOS). Users on '
        "the oldest claimed platform get a broken install instead of a source build or a clear "
        '"no matching distribution" error.'
    ),
    fix=(
        "Let the repair tool choose the tag instead of naming it by hand: `auditwheel repair` without "
        "`--plat` (or `--plat` with the version auditwheel reports), `delocate-wheel` (which raises the "
        "tag to the highest minimum of the libraries it vendors; `--require-target-macos-version` makes "
        "it fail instead). Or build for the tag: the matching manylinux image (cibuildwheel "
        '`manylinux-x86_64-image = "manylinux_2_28"`), `MACOSX_DEPLOYMENT_TARGET` set for the extension '
        "AND every vendored library (Homebrew bottles target the build machine's macOS). Per backend: "
        "setuptools - do not force `--plat-name`/`--py-limited-api` tags in setup.cfg; scikit-build-core "
        "and meson-python - the tag comes from the running interpreter, so fix it in the repair step; "
        "maturin - `--compatibility manylinux_2_28` (or `--manylinux`) and `MACOSX_DEPLOYMENT_TARGET`, "
        "which maturin and Rust's cc crate both read."
    ),
    page="platform-tags-and-manylinux",
    references=(
        *_LINUX_REFS,
        "https://github.com/matthew-brett/delocate",
        "https://cibuildwheel.pypa.io/en/stable/platforms/#macos-version-compatibility",
    ),
)
def platform_tag_too_old(inspection: Inspection) -> Iterator[Finding]:
    """One finding per claimed platform tag older than its binaries need."""
    for platform in inspection.platform.claimed_platforms:
        linux_tag = linux.parse_linux_platform_tag(platform)
        if linux_tag is not None:
            yield from _linux_too_old(inspection, platform, *linux_tag)
            continue
        mac_tag = macos.parse_macos_platform_tag(platform)
        if mac_tag is not None:
            yield from _macos_too_old(inspection, platform, *mac_tag)


@dataclass(frozen=True, slots=True, order=True)
class _Need:
    """What one binary needs: the oldest policy version allowing one of its symbol versions."""

    #: (2, 28); (999, 0) when no known policy allows the version.
    version: tuple[int, int]
    member: str
    symbol_version: str
    library: str


_BEYOND: Final = (999, 0)


def _linux_too_old(
    inspection: Inspection, tag: str, libc: linux.Libc, claimed: tuple[int, int], arch: str
) -> Iterator[Finding]:
    loaders = linux.loader_names(libc)
    needs: list[_Need] = []
    for native, info in _readable(inspection, BinaryFormat.ELF):
        if info.arch not in _LINUX_ARCH_ALIASES.get(arch, frozenset({arch})):
            continue
        worst: _Need | None = None
        for library, versions in info.required_symbol_versions.items():
            if library in loaders:
                continue  # ld.so is always there; its versions are not policy-governed
            for version in versions:
                needed = _oldest_policy_version(libc, arch, version)
                if needed is not None and needed > claimed:
                    need = _Need(needed, native.path, version, library)
                    worst = need if worst is None else max(worst, need)
        if worst is not None:
            needs.append(worst)
    if not needs:
        return
    worst = max(needs)
    family = "manylinux" if libc == "glibc" else "musllinux"
    if worst.version == _BEYOND:
        where = f"no known {family} policy allows it"
    else:
        where = f"it needs {family}_{worst.version[0]}_{worst.version[1]}_{arch} or newer"
    others = len(needs) - 1
    more = f"; {others} more file(s) also need a newer {libc}" if others else ""
    yield platform_tag_too_old.finding(
        f"{tag} promises {libc} {_dotted(claimed)}, but {worst.member} needs {worst.symbol_version} "
        f"from {worst.library}: {where}{more}",
        inspection.artifact.path,
        worst.member,
        worst.symbol_version,
    )


@functools.cache
def _oldest_policy_version(libc: linux.Libc, arch: str, version: str) -> tuple[int, int] | None:
    """The libc version of the oldest policy allowing ``version`` on ``arch``.

    None when no policy governs the version's namespace or the version names no number
    (``GLIBC_PRIVATE``: another check's business); ``_BEYOND`` when numbered but above every
    policy's ceiling.
    """
    namespace = version.partition("_")[0]
    known = [p for p in linux.policies(libc) if p.supports_arch(arch)]
    if not known or all(namespace not in p.governed for p in known):
        return None
    key, numbers = linux.parse_symbol_version(version)
    if not numbers:
        return None
    for policy in known:
        if policy.allows_version(arch, version):
            parsed = linux.parse_linux_platform_tag(policy.tag(arch))
            return parsed[1] if parsed else None
    if any(p.ceiling(arch, key) for p in known):
        return _BEYOND
    return None


def _macos_too_old(
    inspection: Inspection, tag: str, claimed: tuple[int, int], tag_arch: str
) -> Iterator[Finding]:
    archs = _MAC_TAG_ARCHS.get(tag_arch, frozenset({tag_arch}))
    needs: list[tuple[tuple[int, int], str, str, str]] = []
    for native, info in _readable(inspection, BinaryFormat.MACHO):
        worst: tuple[tuple[int, int], str, str, str] | None = None
        for piece in _slices(info):
            if tag_arch != "universal" and piece.arch not in archs:
                continue
            if piece.min_os is None or piece.os_platform not in (None, "macos"):
                continue
            try:
                needed = macos.parse_macos_version(piece.min_os)
            except ValueError:
                continue
            # An arm64 slice runs only on macOS 11+, so only a minimum above 11.0 raises the tag.
            ceiling = max(claimed, (11, 0)) if piece.arch in _ARM else claimed
            if _tag_grid(needed) > _tag_grid(ceiling):
                need = (needed, native.path, piece.arch, piece.min_os)
                worst = need if worst is None else max(worst, need)
        if worst is not None:
            needs.append(worst)
    if not needs:
        return
    needed, member, arch, min_os = max(needs)
    grid = _tag_grid(max(needed, (11, 0)) if arch in _ARM else needed)
    others = len(needs) - 1
    more = f"; {others} more file(s) also need a newer macOS" if others else ""
    yield platform_tag_too_old.finding(
        f"{tag} promises macOS {_dotted(claimed)}, but the {arch} slice of {member} requires macOS "
        f"{min_os} (its minimum OS version): the tag should be at least "
        f"macosx_{grid[0]}_{grid[1]}_{tag_arch}{more}",
        inspection.artifact.path,
        member,
        min_os,
    )


def _tag_grid(version: tuple[int, int]) -> tuple[int, int]:
    """pip's tag versions: 10.x keeps its minor, 11+ is major only (macosx_12_0 covers 12.3)."""
    return version if version[0] < 11 else (version[0], 0)


# --- ND102 ---------------------------------------------------------------------------------------


@register(
    "ND102",
    "architecture-mismatch",
    Severity.ERROR,
    summary="A binary's architecture is not the one the platform tag names.",
    what=(
        "For each claimed platform tag, that every extension module and shared library of the tag's "
        "format (ELF for manylinux/musllinux/linux, Mach-O for macosx, PE for win*) is built for the "
        "tag's architecture: x86_64 vs aarch64 vs i686, win32 (x86) vs win_amd64 (x86_64) vs win_arm64, "
        "and for macOS that every file carries a slice of each architecture the tag names (universal2 "
        "needs both arm64 and x86_64). Executables are not judged: WOW64, Rosetta 2 and Windows on Arm "
        "emulation run some foreign executables."
    ),
    why=(
        'The loader refuses a library of another architecture: "ImportError: .../_ext.so: cannot open '
        'shared object file: No such file or directory" or "wrong ELF class: ELFCLASS64" (Linux), '
        "\"mach-o file, but is an incompatible architecture (have 'x86_64', need 'arm64')\" (macOS), "
        '"ImportError: DLL load failed while importing _ext: %1 is not a valid Win32 application" '
        "(Windows). pip installs the wheel because its tag matches, so every user on that platform gets "
        "a broken install."
    ),
    fix=(
        "Build on (or cross-compile for) the architecture the tag names, and never rename a wheel's "
        'platform tag by hand. macOS universal2: set `ARCHFLAGS="-arch arm64 -arch x86_64"` '
        '(setuptools), `CMAKE_OSX_ARCHITECTURES="arm64;x86_64"` (scikit-build-core), a cross file or '
        "`-arch` flags for both (meson-python), `maturin build --target universal2-apple-darwin`; vendored "
        "libraries must be fat too (`delocate-merge` two thin wheels, or `delocate-wheel --require-archs "
        "universal2` to catch it). Windows: use the matching MSVC environment (`vcvarsall x64`/`x86`/"
        "`arm64`), or `cibuildwheel --archs`. Linux: build in the matching manylinux image, or with "
        "`maturin --target`/zig; `auditwheel repair` rejects a wheel whose binaries disagree with --plat."
    ),
    page="platform-tags-and-manylinux",
    references=(
        _BDF,
        "https://packaging.python.org/en/latest/specifications/platform-compatibility-tags/",
        "https://cibuildwheel.pypa.io/en/stable/faq/#universal2",
    ),
)
def architecture_mismatch(inspection: Inspection) -> Iterator[Finding]:
    """One finding per loadable binary that lacks an architecture some claimed tag names."""
    expectations = [e for e in map(_expected_archs, inspection.platform.claimed_platforms) if e]
    if not expectations:
        return
    for binary in inspection.binaries:
        native, info = binary.native, binary.native.info
        if info is None or info.kind not in _LOADABLE:
            continue
        have = set(info.archs)
        wrong: dict[str, list[str]] = {}
        for tag, fmt, needed in expectations:
            if fmt is not info.format:
                continue
            if info.format is BinaryFormat.MACHO:
                missing = sorted(needed - have)
            else:
                missing = [] if have & needed else sorted(needed)
            for arch in missing:
                wrong.setdefault(arch, []).append(tag)
        if wrong:
            yield architecture_mismatch.finding(
                f"{native.path} is {'+'.join(sorted(have))} but "
                + "; ".join(
                    f"{', '.join(tags)} {'needs' if len(tags) == 1 else 'need'} {arch}"
                    for arch, tags in sorted(wrong.items())
                ),
                inspection.artifact.path,
                native.path,
                "+".join(sorted(have)),
            )


def _expected_archs(platform: str) -> tuple[str, BinaryFormat, frozenset[str]] | None:
    """(tag, format, architectures every binary must carry (macOS) / one of (others))."""
    parsed = linux.parse_linux_platform_tag(platform)
    if parsed is not None:
        arch = parsed[2]
        return platform, BinaryFormat.ELF, _LINUX_ARCH_ALIASES.get(arch, frozenset({arch}))
    if platform.startswith("linux_"):
        arch = platform[len("linux_") :]
        return platform, BinaryFormat.ELF, _LINUX_ARCH_ALIASES.get(arch, frozenset({arch}))
    mac = macos.parse_macos_platform_tag(platform)
    if mac is not None:
        arch = mac[1]
        if arch == "universal":
            return None  # "any set of architectures"
        return platform, BinaryFormat.MACHO, _MAC_TAG_ARCHS.get(arch, frozenset({arch}))
    win = windows.parse_windows_platform_tag(platform)
    if win is not None:
        return platform, BinaryFormat.PE, frozenset({win})
    return None


# --- ND103 / ND104 -------------------------------------------------------------------------------


@register(
    "ND103",
    "native-code-in-pure-wheel",
    Severity.ERROR,
    summary="A wheel tagged for any platform, or installed into purelib, carries native code.",
    what=(
        "Extension modules and shared libraries (and native executables installed as scripts) in a wheel "
        "whose platform tag is `any` (such as py3-none-any), and extension modules and shared libraries "
        "outside `.data/platlib/` in a wheel whose WHEEL file says `Root-Is-Purelib: true`. "
        ".NET assemblies (PE files importing "
        "only mscoree.dll) and executables kept as package data (launcher templates) are not native "
        "code for this purpose."
    ),
    why=(
        "pip installs an `any` wheel on every platform and Python, so everywhere but the build machine "
        'the import fails ("ImportError: .../_ext.so: invalid ELF header", "cannot open shared object '
        'file", "%1 is not a valid Win32 application") and no source build is attempted. With '
        "`Root-Is-Purelib: true` the binaries install into purelib, which differs from platlib on "
        "distributions with lib64 layouts (Fedora, RHEL, openSUSE), and tools that rely on the "
        "distinction (system packagers, `--prefix` installs) put the extension where it is not found."
    ),
    fix=(
        "Make the build backend produce a platform wheel. setuptools: declare the extension with "
        "`ext_modules` (or override `Distribution.has_ext_modules` to return True when binaries are "
        "prebuilt and copied in as package data). scikit-build-core and meson-python tag platform wheels "
        "automatically when anything is installed to platlib; do not set `wheel.py-api`/pure options "
        "for native projects. maturin always builds platform wheels - a hand-renamed wheel is the usual "
        "cause. Hatchling: a build hook (`[tool.hatch.build.targets.wheel.hooks.custom]`) setting "
        "`build_data['pure_python'] = "
        "False` and `infer_tag = True`. Then repair it (auditwheel, delocate, delvewheel)."
    ),
    page="wheel-contents",
    references=(
        _BDF,
        "https://packaging.python.org/en/latest/specifications/platform-compatibility-tags/",
    ),
)
def native_code_in_pure_wheel(inspection: Inspection) -> Iterator[Finding]:
    """At most one finding per reason: an `any` tag, or Root-Is-Purelib with native files at the root."""
    artifact = inspection.artifact
    readable = [n for n in artifact.native if n.info is not None]
    if any(p == "any" for p in inspection.platform.claimed_platforms):
        native = [n for n in readable if _is_platform_code(n)]
        if native:
            yield native_code_in_pure_wheel.finding(
                f"the wheel is tagged for any platform ({_any_tags(inspection)}) but carries native code "
                f"for {_describe(native)}: {_list(n.path for n in native)}",
                artifact.path,
                native[0].path,
                "any",
            )
            return
    purelib = bool(artifact.root_is_purelib)
    in_purelib = [n for n in readable if _in_purelib(n, purelib) and _is_platform_code(n)]
    if in_purelib:
        reason = "WHEEL says Root-Is-Purelib: true, so" if purelib else "under .data/purelib/,"
        yield native_code_in_pure_wheel.finding(
            f"{reason} native files install into purelib: {_list(n.path for n in in_purelib)}",
            artifact.path,
            in_purelib[0].path,
            "Root-Is-Purelib" if purelib else "purelib",
        )


def _is_platform_code(native: NativeFile) -> bool:
    info = native.info
    if info is None or _is_managed(info):
        return False
    if info.kind in _LOADABLE:
        return True
    return info.kind is FileKind.EXECUTABLE and native.install_path.startswith("<scripts>/")


def _is_managed(info: BinaryInfo | None) -> bool:
    """A .NET assembly: a PE file whose only import is mscoree.dll (_CorDllMain/_CorExeMain)."""
    return (
        info is not None
        and info.format is BinaryFormat.PE
        and bool(info.needed)
        and {n.lower() for n in info.all_needed} == {"mscoree.dll"}
    )


def _in_purelib(native: NativeFile, root_is_purelib: bool) -> bool:
    """Whether the file installs into purelib: under ``<dist>.data/purelib/``, or at the root of a
    ``Root-Is-Purelib: true`` wheel."""
    first, _, rest = native.path.partition("/")
    if first.endswith(".data"):
        return rest.startswith("purelib/")
    return root_is_purelib


def _any_tags(inspection: Inspection) -> str:
    return ", ".join(t for t in inspection.artifact.claimed_tags if t.endswith("-any")) or "any"


def _describe(files: Iterable[NativeFile]) -> str:
    archs = sorted({f"{n.info.format.value} {n.info.arch}" for n in files if n.info is not None})
    return ", ".join(archs)


def _list(paths: Iterable[str], limit: int = 5) -> str:
    items = list(paths)
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


@register(
    "ND104",
    "platform-wheel-without-native-code",
    Severity.INFO,
    summary="A wheel has a platform-specific tag but contains no native file at all.",
    what=(
        "Whether a wheel whose platform tag is not `any` (manylinux, macosx, win, ...) contains at least "
        "one ELF, Mach-O or PE file. Wheels that are platform-specific on purpose without binaries "
        "(platform-dependent pure Python, or data for one OS) exist, hence info severity."
    ),
    why=(
        'A platform tag restricts who can install the wheel: users on other platforms get "ERROR: '
        'Could not find a version that satisfies the requirement ..." or fall back to building the '
        "sdist, although the code would run anywhere. Usually a build backend was told the project has "
        "extensions (or a build ran with `--plat-name`) when nothing native was built - sometimes "
        "because a compiler step silently produced nothing."
    ),
    fix=(
        "If the project is pure Python, build a py3-none-any wheel: setuptools - drop `ext_modules`, "
        '`--plat-name` and `has_ext_modules` overrides; scikit-build-core - `wheel.py-api = "py3"` '
        "with no platlib install; meson-python - do not install anything to platlib; maturin - "
        '`bindings = "bin"`/pure layouts still produce platform wheels, so use a pure backend for pure '
        "code. If an extension should be there, check the build log: the compiler step was skipped."
    ),
    page="wheel-contents",
    references=("https://packaging.python.org/en/latest/specifications/platform-compatibility-tags/",),
)
def platform_wheel_without_native_code(inspection: Inspection) -> Iterator[Finding]:
    """One finding when a platform-tagged wheel has no native file."""
    platforms = [p for p in inspection.platform.claimed_platforms if p != "any"]
    if platforms and not inspection.artifact.native:
        yield platform_wheel_without_native_code.finding(
            f"the wheel is tagged {', '.join(platforms)} but contains no ELF, Mach-O or PE file",
            inspection.artifact.path,
            None,
            platforms[0],
        )


# --- ND110 - ND112 -------------------------------------------------------------------------------

_RECORD_FIX = (
    "Build wheels with a PEP 517 backend and never edit them afterwards with `zip`: a tool that changes "
    "a wheel must rewrite RECORD. Repair tools do (auditwheel, delocate, delvewheel); for other "
    "post-processing use `wheel unpack` / `wheel pack` (which regenerates RECORD) or "
    "`python -m wheel tags`. Hand-rolled build scripts should write RECORD last, with a sha256 and size "
    "for every file."
)


@register(
    "ND110",
    "record-missing",
    Severity.ERROR,
    summary="The wheel has no .dist-info/RECORD file.",
    what="That the wheel's .dist-info directory contains RECORD, the list of its files with hashes.",
    why=(
        'pip cannot install it: "ERROR: Could not install packages due to an OSError: RECORD" (pip '
        "23); installers that verify wheels (installer, pdm, poetry) reject it too, and without RECORD "
        "an installed distribution cannot be uninstalled cleanly."
    ),
    fix=_RECORD_FIX,
    page="wheel-contents",
    references=_RECORD_REFS,
)
def record_missing(inspection: Inspection) -> Iterator[Finding]:
    """One finding when RECORD is absent."""
    record = inspection.artifact.record
    if record is not None and not record.present:
        yield record_missing.finding(
            "the wheel has no .dist-info/RECORD", inspection.artifact.path, None, "RECORD"
        )


@register(
    "ND111",
    "record-mismatch",
    Severity.ERROR,
    summary="A file's sha256 hash or size disagrees with RECORD.",
    what="For every file RECORD lists with a hash, that the member's sha256 digest and size match it.",
    why=(
        "A mismatch means the wheel was modified after it was built (or RECORD was written before a "
        "step that changed the file, such as strip or a repair). Verifying installers refuse it: "
        '"In demo-1.0-...whl, hash / size of demo/_ext.so didn\'t match RECORD" (installer, used by '
        "pdm and poetry); pip does not verify hashes yet, so the same wheel installs there - and the "
        "installed RECORD is then wrong for `pip uninstall` and integrity checks."
    ),
    fix=_RECORD_FIX,
    page="wheel-contents",
    references=(*_RECORD_REFS, "https://github.com/pypa/pip/issues/4705"),
)
def record_mismatch(inspection: Inspection) -> Iterator[Finding]:
    """One finding per member whose hash or size differs from RECORD."""
    record = inspection.artifact.record
    if record is None:
        return
    for path, what in record.mismatched:
        yield record_mismatch.finding(
            f"{path} does not match RECORD: {what}", inspection.artifact.path, path, what
        )


@register(
    "ND112",
    "record-unlisted-file",
    Severity.WARNING,
    summary="A file is missing from RECORD, RECORD lists a file the wheel lacks, or a line is unusable.",
    what=(
        "Members RECORD does not list (RECORD itself and its signatures excepted), RECORD lines "
        "naming files the wheel does not contain, and lines without a usable hash (none, md5, sha1) "
        "or that cannot be parsed."
    ),
    why=(
        'The wheel spec requires every file to be listed. Verifying installers fail: "In '
        'demo-1.0-...whl, demo/libfoo.so is not mentioned in RECORD" (installer; poetry warns '
        '"Validation of the RECORD file of ... failed"). pip installs the file but does not record it, '
        "so `pip uninstall` leaves it behind; a listed but absent file points at a build step that "
        "deleted or renamed something after RECORD was written."
    ),
    fix=_RECORD_FIX,
    page="wheel-contents",
    references=_RECORD_REFS,
)
def record_unlisted_file(inspection: Inspection) -> Iterator[Finding]:
    """One finding per unlisted member and per RECORD line naming an absent file."""
    record = inspection.artifact.record
    if record is None:
        return
    for path in record.unlisted:
        yield record_unlisted_file.finding(
            f"{path} is in the wheel but not listed in RECORD", inspection.artifact.path, path, "unlisted"
        )
    for path in record.missing:
        yield record_unlisted_file.finding(
            f"RECORD lists {path}, which the wheel does not contain",
            inspection.artifact.path,
            path,
            "missing",
        )
    for line in record.malformed:
        message = (
            line
            if line.startswith("RECORD is not")
            else f"RECORD line {line!r} has no usable sha256-family hash and size (or cannot be parsed), "
            "so the file it names cannot be verified"
        )
        yield record_unlisted_file.finding(
            message,
            inspection.artifact.path,
            None,
            "malformed",
        )


# --- ND120 ---------------------------------------------------------------------------------------


@register(
    "ND120",
    "wheel-too-large",
    Severity.WARNING,
    summary="The wheel is larger than PyPI's default per-file upload limit (100 MiB).",
    what="The size of the wheel file against PyPI's default limit of 100 MiB per uploaded file.",
    why=(
        'The upload is refused unless the project was granted a higher limit: "HTTPError: 400 Bad '
        "Request from <the upload URL> File too large. Limit for project 'demo' is 100 "
        'MB." Large wheels also slow every install and CI run, and often carry debug information or '
        "duplicated libraries."
    ),
    fix=(
        "Strip debug information (`strip --strip-debug`, or build with `-g0`; setuptools: "
        '`CFLAGS=-g0`; scikit-build-core: `cmake.build-type = "Release"` and `install.strip = true`; '
        "meson-python: `-Csetup-args=-Dstrip=true` / `-Dbuildtype=release`; maturin: `--strip` or "
        "`[profile.release] strip = true`), vendor each library once, and move large data or optional "
        "GPU kernels into separate distributions. If the size is unavoidable, request a file size limit "
        "increase from PyPI."
    ),
    page="wheel-contents",
    references=(
        "PyPI documentation: Project management, Storage limits (and requesting a file size limit increase)",
    ),
)
def wheel_too_large(inspection: Inspection) -> Iterator[Finding]:
    """One finding when the wheel file exceeds 100 MiB."""
    artifact = inspection.artifact
    if artifact.kind is ArtifactKind.WHEEL and artifact.size > PYPI_FILE_LIMIT:
        yield wheel_too_large.finding(
            f"{posixpath.basename(artifact.path.replace(chr(92), '/'))} is {artifact.size / 2**20:.1f} MiB "
            f"({artifact.size:,} bytes), above PyPI's default limit of 100 MiB per file",
            artifact.path,
            None,
            str(artifact.size),
        )
