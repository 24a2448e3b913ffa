"""Generate ``src/native_doctor/platforms/data/windows.json``: the DLLs Windows provides.

Two independent sources, each name recording which of them gave it (``dll_sources``):

``mingw-w64``
    The MinGW-w64 import libraries shipped by Debian (``mingw-w64-x86-64-dev`` and, if
    installed, ``mingw-w64-i686-dev``): ``/usr/{x86_64,i686}-w64-mingw32/lib/lib*.a``. Each
    import library names the DLL it binds to; this script reads that name straight out of the
    ``ar`` archive, from the ``.idata$7`` section of the COFF members (GNU long-format import
    libraries) or from short import objects (MSVC format), without running any tool.
``wine``
    The Windows modules Wine implements, as Debian's ``libwine`` package ships them
    (``usr/lib/x86_64-linux-gnu/wine/{x86_64,i386}-windows/*.{dll,drv,ocx,cpl}``), listed with
    ``dpkg-deb -c`` from the package file (``--wine-deb``; by default ``apt-get download libwine``
    into ``~/.cache/native-doctor/debs``; nothing is installed).

From the union of names it removes what is not part of Windows itself (see ``EXCLUDED``: the
MinGW runtime, Wine's own modules, Visual C++/MFC redistributables, debug CRTs, DirectX SDK
redistributables, kernel-mode modules, third-party and separately installed products, modules
outside System32 and ones gone from 64-bit Windows), lower-cases the rest and writes the JSON
file with the API-set patterns (``api-ms-win-*``, ``ext-ms-*``) that the loader resolves itself.
tests/platforms/test_windows_dll_sources.py compares the result with delvewheel's lists.

Usage::

    python scripts/gen_windows_dlls.py [--out PATH] [--date YYYY-MM-DD] [--wine-deb DEB] [LIBDIR ...]

Run ``apt-get install mingw-w64-x86-64-dev mingw-w64-i686-dev`` first on Debian/Ubuntu.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

DEFAULT_LIBDIRS = (Path("/usr/x86_64-w64-mingw32/lib"), Path("/usr/i686-w64-mingw32/lib"))
PACKAGES = ("mingw-w64-x86-64-dev", "mingw-w64-i686-dev")
WINE_PACKAGE = "libwine"
WINE_DIRS = re.compile(
    r"^\./usr/lib/[^/]+/wine/(?:x86_64|i386)-windows/([^/]+\.(?:dll|drv|ocx|cpl))$", re.IGNORECASE
)
DEB_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "native-doctor" / "debs"
SOURCES = {
    "mingw-w64": "MinGW-w64 import libraries (Debian mingw-w64-*-dev): the DLL each lib*.a binds to",
    "wine": "Windows modules Wine implements (Debian libwine: wine/{x86_64,i386}-windows/*.dll|drv|ocx|cpl)",
    "added": "added by hand with a reason ('added')",
}
OUT = Path(__file__).resolve().parent.parent / "src/native_doctor/platforms/data/windows.json"

_AR_MAGIC = b"!<arch>\n"
_AR_HEADER = 60
_COFF_HEADER = 20
_SECTION_HEADER = 40
_DLL_NAME = re.compile(rb"[A-Za-z0-9_.+-]+\.(?:dll|drv|sys|exe|ocx|cpl)", re.IGNORECASE)

#: Reason -> regular expressions (full match, case-insensitive) of names that are not Windows'.
EXCLUDED: dict[str, tuple[str, ...]] = {
    "MinGW-w64 runtime, shipped with the toolchain, not with Windows": (r"libwinpthread-\d+\.dll",),
    "Wine's own modules (drivers and back ends with no Windows counterpart)": (
        r"wine[a-z0-9_]*\.(?:dll|drv)",
    ),
    "Visual C++ / MFC runtime redistributables (and legacy CRT variants) an installer must ship": (
        r"msvcr\d+.*\.dll",
        r"msvcp\d+.*\.dll",
        r"vcruntime\d+.*\.dll",
        r"msvcirt\.dll",
        r"crtdll\.dll",
        r"mfc\d+u?\.dll",
        r"atl\d+\.dll",
        r"vcomp\d*\.dll",
        r"concrt\d+\.dll",
        r"msvcm\d+\.dll",
        r"msvcrtd\.dll",
    ),
    "DirectX SDK redistributables (d3dx, old D3DCompiler, X3DAudio, XAPOFX, XInput 1.1-1.3)": (
        r"d3dx(?:8|9|10|11).*\.dll",
        r"d3dcompiler(?:_(?!47\b)\d+)?\.dll",
        r"d3dcsxd?_\d+\.dll",
        r"x3daudiod?\d.*\.dll",
        r"xapofxd?\d.*\.dll",
        r"xinput1_[123]\.dll",
        r"xaudio2_[0-7]\.dll",
        r"xactengine\d_\d\.dll",
    ),
    "kernel-mode modules: a user-mode extension cannot import them": (
        r".*\.sys",
        r"ntoskrnl\.exe",
        r"hal\.dll",
        r"kdcom\.dll",
        r"kd1394\.dll",
        r"bootvid\.dll",
    ),
    "third-party or separately installed products": (
        r"msoledbsql\.dll",
        r"hgfs\.dll",
        r"vmx_mode\.dll",
        r"opencl\.dll",
        r"vulkan-1\.dll",
        r"wpcap\.dll",
        r"wnaspi32\.dll",
        r"ctapi32\.dll",
        r"capi2032\.dll",
        r"wintab32\.dll",
        r"unicows\.dll",
        r"msxml4\.dll",
    ),
    ".NET Framework modules: installed in the framework's directory, not System32": (
        r"mscorwks\.dll",
        r"fusion\.dll",
        r"diasymreader\.dll",
    ),
    "modules Windows keeps outside System32 (Windows directory, wbem, Speech, Common Files, spool)": (
        r"twain_32\.dll",
        r"wbemdisp\.dll",
        r"wbemprox\.dll",
        r"wmiutils\.dll",
        r"sapi\.dll",
        r"msdaps\.dll",
        r"msdasql\.dll",
        r"winprint\.dll",
    ),
    "16-bit or Windows 9x/XP-era modules absent from supported 64-bit Windows": (
        r"wing32\.dll",
        r"winnls32\.dll",
        r"vga\.dll",
        r"msnet32\.dll",
        r"drmclien\.dll",
        r"dx8vb\.dll",
        r"strmdll\.dll",
        r"msxml2?\.dll",
        r"dhtmled\.ocx",
        r"msisys\.ocx",
        r"dplay\.dll",
        r"dmusic32\.dll",
        r"rsabase\.dll",
        r"updspapi\.dll",
        r"npmshtml\.dll",
        r"ia2comproxy\.dll",
    ),
}

PATTERNS = ("api-ms-win-*", "ext-ms-*")


#: System DLLs that the MinGW-w64 import libraries do not name, each with why it is there.
ADDED: dict[str, str] = {
    "bcryptprimitives.dll": (
        "in System32 since Windows 7 (the CNG primitives behind bcrypt.dll); Rust's standard "
        "library imports ProcessPrng from it directly since Rust 1.78, so every Rust extension does"
    ),
    "audioses.dll": (
        "in System32 since Windows Vista (WASAPI audio sessions behind mmdevapi.dll); neither MinGW-w64 "
        "nor Wine ships it, delvewheel's lists have it (tests/platforms/test_windows_dll_sources.py)"
    ),
    "cryptbase.dll": (
        "in System32 since Windows 7 (base cryptographic API; SystemFunction036 / RtlGenRandom); "
        "neither MinGW-w64 nor Wine ships it, delvewheel's lists have it "
        "(tests/platforms/test_windows_dll_sources.py)"
    ),
}


def members(archive: bytes) -> Iterator[tuple[str, bytes]]:
    """Yield (name, data) for each member of a System V / GNU ``ar`` archive."""
    if not archive.startswith(_AR_MAGIC):
        return
    offset = len(_AR_MAGIC)
    while offset + _AR_HEADER <= len(archive):
        header = archive[offset : offset + _AR_HEADER]
        name = header[:16].decode("ascii", "replace").strip()
        size = int(header[48:58].decode("ascii").strip() or 0)
        start = offset + _AR_HEADER
        yield name, archive[start : start + size]
        offset = start + size + (size & 1)


def short_import_dll(data: bytes) -> str | None:
    """The DLL name of an MSVC short import object, or None if ``data`` is not one."""
    if len(data) < _COFF_HEADER or data[:4] != b"\x00\x00\xff\xff":
        return None
    strings = data[_COFF_HEADER:].split(b"\x00")
    return strings[1].decode("ascii") if len(strings) > 1 and strings[1] else None


def idata7_dll(data: bytes) -> str | None:
    """The DLL name in the ``.idata$7`` section of a COFF object, or None."""
    if len(data) < _COFF_HEADER:
        return None
    _machine, sections = struct.unpack_from("<HH", data, 0)
    optional = struct.unpack_from("<H", data, 16)[0]
    table = _COFF_HEADER + optional
    for index in range(sections):
        at = table + index * _SECTION_HEADER
        if at + _SECTION_HEADER > len(data):
            return None
        name = data[at : at + 8].rstrip(b"\x00")
        size, pointer = struct.unpack_from("<II", data, at + 16)
        if name == b".idata$7":
            match = _DLL_NAME.fullmatch(data[pointer : pointer + size].split(b"\x00")[0])
            if match:
                return match.group(0).decode("ascii")
    return None


def dlls_of(path: Path) -> set[str]:
    """Every DLL name an import library ``path`` binds to."""
    found: set[str] = set()
    for name, data in members(path.read_bytes()):
        if name in {"/", "//", "/SYM64/"}:
            continue
        dll = short_import_dll(data) or idata7_dll(data)
        if dll:
            found.add(dll)
    return found


def wine_names(listing: str) -> set[str]:
    """The module names in a ``dpkg-deb -c`` listing of Debian's libwine package."""
    names = set()
    for line in listing.splitlines():
        path = line.rsplit(" ", 1)[-1]
        match = WINE_DIRS.match(path)
        if match:
            names.add(match.group(1).lower())
    return names


def wine_deb(explicit: Path | None) -> Path | None:
    """The libwine package file: ``explicit``, a cached download, or ``apt-get download`` now."""
    if explicit is not None:
        return explicit
    cached = sorted(DEB_CACHE.glob(f"{WINE_PACKAGE}_*.deb"))
    if cached:
        return cached[-1]
    DEB_CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=DEB_CACHE) as scratch:
        result = subprocess.run(
            ["apt-get", "download", WINE_PACKAGE], cwd=scratch, capture_output=True, text=True, check=False
        )
        downloaded = sorted(Path(scratch).glob(f"{WINE_PACKAGE}_*.deb"))
        if result.returncode != 0 or not downloaded:
            print(f"apt-get download {WINE_PACKAGE} failed: {result.stderr.strip()}", file=sys.stderr)
            return None
        target = DEB_CACHE / downloaded[0].name
        downloaded[0].replace(target)  # atomic within one file system
    return target


def read_wine(deb: Path) -> tuple[set[str], str]:
    """(module names, ``libwine <version>``) of a libwine package file."""
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    version = subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return wine_names(listing), f"{WINE_PACKAGE} {version}"


def exclusion_reason(dll: str) -> str | None:
    """Why ``dll`` is not a Windows system DLL, or None if it is."""
    for reason, patterns in EXCLUDED.items():
        if any(re.fullmatch(pattern, dll, re.IGNORECASE) for pattern in patterns):
            return reason
    return None


def package_versions() -> list[str]:
    """``name version`` of the Debian packages the import libraries came from (if dpkg knows)."""
    versions = []
    for package in PACKAGES:
        result = subprocess.run(
            ["dpkg-query", "-W", "-f=${Package} ${Version}", package],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode == 0 and result.stdout:
            versions.append(result.stdout.strip())
    return versions


def mingw_names(libdirs: list[Path]) -> tuple[set[str], list[str]]:
    """(DLL names, directories used) of the import libraries under ``libdirs``."""
    names: set[str] = set()
    used = []
    for libdir in libdirs:
        libraries = sorted(libdir.glob("lib*.a"))
        if libraries:
            used.append(str(libdir))
        for library in libraries:
            names.update(dll.lower() for dll in dlls_of(library))
    return names, used


def build(
    libdirs: list[Path], date: str, wine: set[str] | None = None, wine_package: str = "libwine"
) -> dict[str, object]:
    """The windows.json document for the import libraries under ``libdirs`` and Wine's ``wine``
    module names (None: the ``wine`` source is left out)."""
    mingw, used = mingw_names(libdirs)
    by_source = {"mingw-w64": mingw, "wine": wine or set(), "added": {"ucrtbase.dll", *ADDED}}
    names = set().union(*by_source.values())
    excluded: dict[str, list[str]] = {reason: [] for reason in EXCLUDED}
    system = []
    for dll in sorted(names):
        reason = exclusion_reason(dll)
        if reason is not None:
            excluded[reason].append(dll)
        elif not dll.startswith(("api-ms-win-", "ext-ms-")):
            system.append(dll)
    sources = {dll: [source for source, found in by_source.items() if dll in found] for dll in system}
    packages = ", ".join(package_versions()) or "unknown package versions"
    wine_part = f" and the Windows modules of Debian {wine_package} (Wine)" if wine else ""
    return {
        "schema_version": 1,
        "source": (
            f"DLL names read from the MinGW-w64 import libraries lib*.a in {' and '.join(used)} "
            f"(Debian {packages}){wine_part} by scripts/gen_windows_dlls.py, minus the 'excluded' groups, "
            "plus ucrtbase.dll, the 'added' DLLs and the API-set patterns; dll_sources names the "
            "source(s) of each DLL. python_provided: the VC++ runtime "
            "DLLs python.org CPython installs next to python.exe (vcruntime140.dll since 3.5, bpo-39930 "
            "for all packages; vcruntime140_1.dll on x64/ARM64 from 3.8, patch level not verified here)"
        ),
        "date": date,
        "patterns": list(PATTERNS),
        "dlls": system,
        "sources": {source: SOURCES[source] for source in by_source if by_source[source]},
        "dll_sources": sources,
        "added": dict(sorted(ADDED.items())),
        "excluded": {reason: dlls for reason, dlls in excluded.items() if dlls},
        "python_provided": {
            "vcruntime140.dll": {"since": "3.5", "architectures": ["x86", "x86_64", "arm64"]},
            "vcruntime140_1.dll": {"since": "3.8", "architectures": ["x86_64", "arm64"]},
        },
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("libdirs", nargs="*", type=Path, default=list(DEFAULT_LIBDIRS))
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--date", default=dt.date.today().isoformat())
    parser.add_argument("--wine-deb", type=Path, help="Debian libwine .deb (default: apt-get download it)")
    args = parser.parse_args(argv)
    if not any(libdir.is_dir() for libdir in args.libdirs):
        print("no import libraries found; apt-get install mingw-w64-x86-64-dev", file=sys.stderr)
        return 1
    deb = wine_deb(args.wine_deb)
    if deb is None:
        return 1
    wine, wine_package = read_wine(deb)
    document = build([d for d in args.libdirs if d.is_dir()], args.date, wine, wine_package)
    args.out.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}: {len(document['dlls'])} DLLs")  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
