"""Rules shared by every source: which files may be native, and where wheel members install."""

from __future__ import annotations

import posixpath
import re

__all__ = ["REPAIR_MARKERS", "install_path", "may_be_native"]

#: Files repair tools leave in ``.dist-info`` (delvewheel's record, auditwheel's SBOM).
REPAIR_MARKERS = ("DELVEWHEEL", "sboms/auditwheel.cdx.json")

#: Suffixes of files that are never native binaries; everything else is sniffed (a native file
#: may have any name: ``libfoo.so.1.2``, an executable without suffix, a ``.pyd``).
_NOT_NATIVE = frozenset(
    [
        ".py",
        ".pyc",
        ".pyo",
        ".pyi",
        ".pyx",
        ".pxd",
        ".pxi",
        ".pth",
        ".h",
        ".hh",
        ".hpp",
        ".hxx",
        ".c",
        ".cc",
        ".cpp",
        ".cxx",
        ".f",
        ".f90",
        ".cu",
        ".cuh",
        ".inc",
        ".inl",
        ".txt",
        ".md",
        ".rst",
        ".json",
        ".toml",
        ".cfg",
        ".ini",
        ".yaml",
        ".yml",
        ".xml",
        ".html",
        ".htm",
        ".css",
        ".js",
        ".map",
        ".csv",
        ".tsv",
        ".sql",
        ".typed",
        ".png",
        ".jpg",
        ".jpeg",
        ".gif",
        ".svg",
        ".ico",
        ".bmp",
        ".webp",
        ".pdf",
        ".ttf",
        ".otf",
        ".woff",
        ".woff2",
        ".mo",
        ".po",
        ".pc",
        ".cmake",
        ".in",
        ".sh",
        ".bat",
        ".ps1",
        ".license",
        ".LICENSE",
        ".npy",
        ".npz",
        ".pkl",
        ".pickle",
        ".parquet",
        ".feather",
        ".arrow",
        ".zip",
        ".gz",
        ".bz2",
        ".xz",
        ".tar",
        ".whl",
        ".pem",
        ".crt",
        ".mat",
        ".nc",
        ".hdf5",
        ".h5",
        ".wav",
        ".mp3",
        ".onnx",
        ".pb",
        ".pt",
        ".bin",
        ".ptx",
        ".cubin",
        ".fatbin",
        ".lib",
        ".a",
        ".def",
        ".exp",
        ".pdb",
    ]
)
_DIST_INFO_FILES = frozenset({"RECORD", "WHEEL", "METADATA", "INSTALLER", "REQUESTED", "direct_url.json"})
_DATA_DIR = re.compile(r"^[^/]+\.data/([^/]+)/(.*)$")


#: The commonest suffixes of :data:`_NOT_NATIVE` in site-packages, tested first (an environment
#: lists tens of thousands of files).
_COMMON_NOT_NATIVE = (".py", ".pyc", ".pyi", ".h", ".txt", ".json")


def may_be_native(path: str) -> bool:
    """False for files whose name says they cannot be ELF/Mach-O/PE (saves reading them)."""
    if path.endswith(_COMMON_NOT_NATIVE):
        dot = path.rfind(".")
        if dot > 0 and path[dot - 1] not in "/.":
            return False  # what the general rule below says, without splitting the name
    name = posixpath.basename(path)
    if not name or name in _DIST_INFO_FILES or name.startswith("LICENSE"):
        return False
    suffix = posixpath.splitext(name)[1]
    return suffix.lower() not in _NOT_NATIVE and suffix not in _NOT_NATIVE


def install_path(member: str) -> str:
    """Where a wheel member lands relative to site-packages.

    ``foo-1.0.data/platlib/x`` and ``.../purelib/x`` install to ``x``; the other schemes
    (``scripts``, ``headers``, ``data``) land outside site-packages, shown as ``<scheme>/x``.
    """
    match = _DATA_DIR.match(member)
    if match is None:
        return member
    scheme, rest = match.groups()
    return rest if scheme in {"platlib", "purelib"} else f"<{scheme}>/{rest}"
