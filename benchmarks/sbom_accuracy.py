"""SBOM version accuracy against the libraries themselves (not part of the default test run).

For each pinned Linux x86_64 CPython 3.11 wheel: download it (cache outside the repository),
install it with ``pip install --no-deps --target`` into its own directory, and ask each vendored
library its version at run time, through the package (``PIL.features.version``,
``lxml.etree.LIBXML_VERSION``, ``psycopg2.extensions.libpq_version()``, cryptography's OpenSSL
text, threadpoolctl, ``zmq.zmq_version()``, ``h5py.version.hdf5_version``) or, where the package
has no such API, through the vendored library's own version function loaded with ctypes. Then
compare with the version native-doctor's SBOM of the same wheel file gives that library.

    python benchmarks/sbom_accuracy.py [--markdown]

Needs Linux x86_64 and Python 3.11 (the wheels are imported). Cache:
``~/.cache/native-doctor/sbom-oracle`` (``NATIVE_DOCTOR_SBOM_ORACLE`` overrides).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

from native_doctor.sbom.collect import wheels_sbom

CACHE = Path(os.environ.get("NATIVE_DOCTOR_SBOM_ORACLE", Path.home() / ".cache/native-doctor/sbom-oracle"))

#: Child-process helpers: ``lib(regex)`` loads a vendored file of the installed wheel with ctypes.
_PRELUDE = r"""
import ctypes, json, pathlib, re, sys
ROOT = pathlib.Path(sys.argv[1])
def lib(pattern):
    for path in sorted(ROOT.rglob("*")):
        if re.search(pattern, str(path.relative_to(ROOT))):
            return ctypes.CDLL(str(path))
    raise LookupError(pattern)
def text(function):
    function.restype = ctypes.c_char_p
    return function().decode()
def number(v):
    return re.search(r"\d+(?:\.\d+)+[a-z]?", str(v)).group(0)
results = {}
def probe(name, fn):
    try:
        results[name] = fn()
    except Exception as exc:
        results[name] = "error: " + repr(exc)
"""


@dataclass(frozen=True)
class Pair:
    library: str
    #: Regex on the wheel member path of the component that carries the library.
    member: str
    #: Python expression evaluated in the child (after the wheel's imports).
    probe: str


def _brotli() -> str:
    return (
        "(lambda v: f'{v >> 24}.{(v >> 12) & 0xFFF}.{v & 0xFFF}')"
        "(lib(r'libs/libbrotlidec').BrotliDecoderVersion())"
    )


def _sasl() -> str:
    return (
        "(lambda l, s: (l.sasl_version_info(None, ctypes.byref(s), None, None, None, None),"
        " s.value.decode())[1])"
        "(lib(r'libs/libsasl2'), ctypes.c_char_p())"
    )


_PILLOW = [
    Pair("libjpeg-turbo", r"libs/libjpeg-", "features.version('libjpeg_turbo')"),
    Pair("openjpeg", r"libs/libopenjp2", "features.version('jpg_2000')"),
    Pair("libtiff", r"libs/libtiff", "features.version('libtiff')"),
    Pair("freetype", r"libs/libfreetype", "features.version('freetype2')"),
    Pair("lcms2", r"libs/liblcms2", "features.version('littlecms2')"),
    Pair("libwebp", r"libs/libwebp-", "features.version('webp')"),
    Pair("harfbuzz", r"libs/libharfbuzz", "features.version('harfbuzz')"),
    Pair("libavif", r"libs/libavif", "features.version('avif')"),
    Pair(
        "libpng",
        r"libs/libpng",
        "(lambda v: f'{v // 10000}.{v // 100 % 100}.{v % 100}')"
        "(lib(r'libs/libpng').png_access_version_number())",
    ),
    Pair("zstd", r"libs/libzstd", "text(lib(r'libs/libzstd').ZSTD_versionString)"),
    Pair("xz", r"libs/liblzma", "text(lib(r'libs/liblzma').lzma_version_string)"),
    Pair("brotli", r"libs/libbrotlidec", _brotli()),
]
_PSYCOPG2 = [
    Pair(
        "libpq", r"libs/libpq", "(lambda v: f'{v // 10000}.{v % 10000}')(psycopg2.extensions.libpq_version())"
    ),
    Pair(
        "openssl",
        r"libs/libcrypto",
        "number((lambda f: (setattr(f, 'restype', ctypes.c_char_p), "
        "f(0).decode())[1])(lib(r'libs/libcrypto').OpenSSL_version))",
    ),
    Pair("cyrus-sasl", r"libs/libsasl2", _sasl()),
]
_CRYPTOGRAPHY = [
    Pair("openssl", r"_rust", "number(backend.openssl_version_text())"),
]
_PYZMQ = [
    Pair("libzmq", r"libs/libzmq", "zmq.zmq_version()"),
    Pair("libsodium", r"libs/libsodium", "text(lib(r'libs/libsodium').sodium_version_string)"),
]
_H5PY = [Pair("hdf5", r"libs/libhdf5-", "h5py.version.hdf5_version")]
#: scipy-openblas builds call themselves 0.3.31.188.0: upstream OpenBLAS 0.3.31, build 188.0
_OPENBLAS = (
    "'.'.join(next(i['version'] for i in threadpoolctl.threadpool_info()"
    " if '{dir}' in i['filepath']).split('.')[:3])"
)
_LXML = [
    Pair("libxml2", r"lxml/etree", "'.'.join(map(str, etree.LIBXML_VERSION))"),
    Pair("libxslt", r"lxml/etree", "'.'.join(map(str, etree.LIBXSLT_VERSION))"),
]

#: (requirement, import statement, pairs)
WHEELS: list[tuple[str, str, list[Pair]]] = [
    ("pillow==13.0.0", "from PIL import features", _PILLOW),
    ("pillow==11.0.0", "from PIL import features", _PILLOW),
    ("psycopg2-binary==2.9.13", "import psycopg2.extensions", _PSYCOPG2),
    ("psycopg2-binary==2.9.10", "import psycopg2.extensions", _PSYCOPG2),
    ("cryptography==51.0.1", "from cryptography.hazmat.backends.openssl import backend", _CRYPTOGRAPHY),
    ("cryptography==44.0.0", "from cryptography.hazmat.backends.openssl import backend", _CRYPTOGRAPHY),
    ("pyzmq==27.3.0", "import zmq", _PYZMQ),
    ("pyzmq==26.2.0", "import zmq", _PYZMQ),
    ("h5py==3.16.0", "import h5py", _H5PY),
    ("h5py==3.12.1", "import h5py", _H5PY),
    (
        "numpy==2.4.6",
        "import numpy, threadpoolctl",
        [Pair("openblas", r"openblas", _OPENBLAS.format(dir="numpy.libs"))],
    ),
    (
        "numpy==2.1.3",
        "import numpy, threadpoolctl",
        [Pair("openblas", r"openblas", _OPENBLAS.format(dir="numpy.libs"))],
    ),
    (
        "scipy==1.17.1",
        "import scipy.linalg, threadpoolctl",
        [Pair("openblas", r"openblas", _OPENBLAS.format(dir="scipy.libs"))],
    ),
    (
        "scipy==1.14.1",
        "import scipy.linalg, threadpoolctl",
        [Pair("openblas", r"openblas", _OPENBLAS.format(dir="scipy.libs"))],
    ),
    ("lxml==6.2.0", "from lxml import etree", _LXML),
    ("lxml==5.3.0", "from lxml import etree", _LXML),
]


def _python() -> Path:
    """A venv with numpy, threadpoolctl and cffi (the wheel under test comes first on PYTHONPATH)."""
    home = CACHE / "probe-venv"
    python = home / "bin" / "python"
    if not python.exists():
        venv.create(home, with_pip=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "numpy", "threadpoolctl", "cffi"], check=True)
    return python


def _wheel(requirement: str) -> Path:
    directory = CACHE / "wheels-pinned"
    directory.mkdir(parents=True, exist_ok=True)
    name, version = requirement.split("==")
    stem = re.sub(r"[-_.]+", "_", name).lower() + "-" + version + "-"
    found = [p for p in directory.glob("*.whl") if p.name.lower().startswith(stem)]
    if not found:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d",
             str(directory), requirement],
            check=True,
        )  # fmt: skip
        found = [p for p in directory.glob("*.whl") if p.name.lower().startswith(stem)]
    return found[0]


def _installed(wheel: Path) -> Path:
    target = CACHE / "targets" / wheel.stem
    if not target.exists():
        partial = target.with_name(target.name + ".partial")
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(partial), str(wheel)],
            check=True,
        )
        partial.rename(target)
    return target


def _oracle(python: Path, target: Path, imports: str, pairs: list[Pair]) -> dict[str, str]:
    lines = [_PRELUDE, imports]
    lines += [f"probe({p.library!r}, lambda: str({p.probe}))" for p in pairs]
    lines.append("print(json.dumps(results))")
    env = {**os.environ, "PYTHONPATH": str(target)}
    done = subprocess.run(
        [python, "-c", "\n".join(lines), str(target)], capture_output=True, text=True, env=env, check=True
    )
    result: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    options = parser.parse_args()
    python = _python()
    rows = []
    for requirement, imports, pairs in WHEELS:
        wheel = _wheel(requirement)
        target = _installed(wheel)
        oracle = _oracle(python, target, imports, pairs)
        sbom = wheels_sbom([wheel])
        members = {Path(n).as_posix() for n in (p.relative_to(target).as_posix() for p in target.rglob("*"))}
        for pair in pairs:
            if not any(re.search(pair.member, m) for m in members):
                continue  # this version of the wheel does not vendor the library
            truth = oracle.get(pair.library, "")
            component = next(
                (
                    c
                    for c in sbom.components
                    if c.name == pair.library and re.search(pair.member, c.path or "")
                ),
                None,
            )
            ours = component.version if component is not None else None
            source = next(
                (v for k, v in (component.properties if component else ()) if k.endswith("version-source")),
                "",
            )
            rows.append((wheel.name, pair.library, truth, ours or "-", source, ours == truth))
    exact = sum(1 for row in rows if row[5])
    if options.markdown:
        print("| wheel | library | the library says | SBOM says | evidence | exact |")
        print("|---|---|---|---|---|---|")
        for row in rows:
            print(
                f"| {row[0]} | {row[1]} | {row[2]} | {row[3]} | {row[4]} | {'yes' if row[5] else '**no**'} |"
            )
        print(f"\n{exact} of {len(rows)} (library, wheel) pairs exact ({100 * exact / len(rows):.1f}%).")
    else:
        for row in rows:
            verdict = "ok " if row[5] else "BAD"
            print(f"{verdict} {row[1]:<14} oracle={row[2]:<12} sbom={row[3]:<12} {row[4]:<9} {row[0]}")
        print(f"{exact}/{len(rows)} exact ({100 * exact / len(rows):.1f}%)")
    return 0 if rows and exact / len(rows) >= 0.95 else 1


if __name__ == "__main__":
    raise SystemExit(main())
