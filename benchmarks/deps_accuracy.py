"""Accuracy of ``deps`` inference against Debian's Build-Depends (issue 13).

Run from the repository root::

    python benchmarks/deps_accuracy.py --setup-apt          # first time: fetch Debian's Sources
    python benchmarks/deps_accuracy.py --markdown docs/deps-accuracy.md --json out.json
    python benchmarks/deps_accuracy.py --only lxml,h5py     # a few projects

The oracle
    For each project, ``apt-cache showsrc`` of its Debian package gives the Build-Depends of the
    version Debian ships. apt is pointed at a private state directory under the cache
    (``<cache>/apt``: its own sources list with a ``deb`` and a ``deb-src`` line for the mirror
    and suite the host's apt already uses, its own lists), so the host's apt configuration is
    never changed. ``--setup-apt`` (or ``CI=true``) runs ``apt-get update`` for that private
    state; otherwise, when the lists are missing, the script prints that command and stops.

The sdist
    The PyPI sdist of the upstream version Debian ships (epoch, ``+dfsg``/``+ds`` suffixes and
    the Debian revision stripped), else the nearest older one, else the nearest newer one; read
    through the simple API (PEP 691) and cached in ``<cache>/sdists``, outside the repository.

The comparison rule (also stated in docs/deps-accuracy.md)
    * Oracle: the Build-Depends entries that are **libraries**: a package whose name ends in
      ``-dev``, excluding ``python3*``/``python*``/``libpython*`` packages, Rust crates
      (``librust-*``), entries restricted to build profiles (``<!nocheck>``, ``<!nodoc>``...)
      and entries for architectures that exclude amd64. Build tools (debhelper, dh-*,
      cython3, pybuild-plugin-*, pkg-config, meson, cmake, swig, compilers) are not
      libraries by this rule. An entry with alternatives (``a | b``) is one group.
    * Prediction ("what a distribution builds with by default", the headline rule since the
      third round): native-doctor's inference on the sdist (``build_report(...,
      force_infer=True, ecosystem="debian", target="linux")``), every ``host`` proposal that is
      not vendored and whose platform marker (if any) holds on Linux: the required ones and
      the optional ones a default build uses when it finds them (``default: on-if-found``;
      Debian installs what it builds against), not those that are off unless the user asks
      (``default: off``: ``--vendor-raqm``, ``JPEG_DIR``), mapped through the Debian mapping;
      the same library rule applies to the names. The earlier rule (every optional proposal
      counts, off ones too) is computed in the same run and reported beside it. Libraries
      whose sources the sdist bundles and builds by default are reported as bundled, not as
      host requirements; Debian's policy is to build against the system's copy instead, so
      they count as predicted too (``--host-only`` leaves them out; docs/deps-accuracy.md
      gives both figures).
    * A predicted name matches an oracle group when it equals one of the group's alternatives,
      one provides the other, or both provide the same virtual package (``Provides:`` in
      Debian's binary package lists: ``libjpeg-dev`` is provided by ``libjpeg62-turbo-dev``;
      ``libcurl4-openssl-dev`` and ``libcurl4-gnutls-dev`` both provide ``libcurl-dev``).
    * Debian's BLAS/LAPACK policy: ``libblas-dev`` and ``liblapack-dev`` are matched by
      ``libopenblas-dev`` (and BLIS, ATLAS), which provide the same libraries through
      update-alternatives rather than apt's Provides.
    * Also reported, the **installation rule**: a predicted name also matches when one of the
      two packages depends on the other (one level of ``Depends:``), i.e. installing Debian's
      Build-Depends puts the predicted library on the machine (gmpy2: ``libmpfr-dev`` pulls in
      ``libgmp-dev``), or installing the prediction puts the oracle's entry there
      (mysqlclient: ``default-libmysqlclient-dev`` pulls in ``zlib1g-dev``).
    * Precision = matched predicted names / predicted names; recall = matched oracle groups /
      oracle groups; both summed over all projects (micro average).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name, parse_sdist_filename
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from native_doctor.deps import mapping  # noqa: E402
from native_doctor.deps.depurl import parse_depurl  # noqa: E402
from native_doctor.deps.report import build_report  # noqa: E402

# PyPI name -> a Debian package (binary or source) whose source package builds it.
PROJECTS: dict[str, str] = {
    "lxml": "python3-lxml",
    "h5py": "python3-h5py",
    "pillow": "python3-pil",
    "psycopg2": "python3-psycopg2",
    "pyzmq": "python3-zmq",
    "shapely": "python3-shapely",
    "pyproj": "python3-pyproj",
    "cryptography": "python3-cryptography",
    "scipy": "python3-scipy",
    "numpy": "python3-numpy",
    "netcdf4": "python3-netcdf4",
    "cffi": "python3-cffi",
    "pycurl": "python3-pycurl",
    "python-ldap": "python3-ldap",
    "mysqlclient": "python3-mysqldb",
    "pyodbc": "python3-pyodbc",
    "gssapi": "python3-gssapi",
    "dbus-python": "python3-dbus",
    "pygobject": "python3-gi",
    "pycairo": "python3-cairo",
    "pycups": "python3-cups",
    "pysmbc": "python3-smbc",
    "xmlsec": "python3-xmlsec",
    "pygraphviz": "python3-pygraphviz",
    "systemd-python": "python3-systemd",
    "blosc": "python3-blosc",
    "tables": "python3-tables",
    "fiona": "python3-fiona",
    "rasterio": "python3-rasterio",
    "pyyaml": "python3-yaml",
    "pynacl": "python3-nacl",
    "argon2-cffi-bindings": "python3-argon2",
    "pyaudio": "python3-pyaudio",
    "pyfuse3": "python3-pyfuse3",
    "pylibacl": "python3-pylibacl",
    "gmpy2": "python3-gmpy2",
    "lz4": "python3-lz4",
    "zstandard": "python3-zstandard",
    "python-snappy": "python3-snappy",
    "uvloop": "python3-uvloop",
    "pycares": "python3-pycares",
    "pikepdf": "python3-pikepdf",
    "pysam": "python3-pysam",
    "pygit2": "python3-pygit2",
    "libvirt-python": "python3-libvirt",
    "pyalsaaudio": "python3-alsaaudio",
    "pyfftw": "python3-pyfftw",
    "mpi4py": "python3-mpi4py",
    "pyerfa": "python3-erfa",
    "python-lzo": "python3-lzo",
    "jq": "python3-jq",
    "yara-python": "python3-yara",
    "pylibmc": "python3-pylibmc",
    "pymssql": "python3-pymssql",
    "confluent-kafka": "python3-confluent-kafka",
    "hiredis": "python3-hiredis",
    "pyscard": "python3-pyscard",
    "m2crypto": "python3-m2crypto",
    "matplotlib": "python3-matplotlib",
    "pyxattr": "python3-pyxattr",
}

_PROFILE = re.compile(r"<[^>]*>")
_ARCH = re.compile(r"\[([^\]]*)\]")
_VERSION = re.compile(r"\([^)]*\)")


def cache_dir() -> Path:
    base = os.environ.get("NATIVE_DOCTOR_CACHE")
    path = (Path(base) if base else Path("~/.cache/native-doctor").expanduser()) / "deps-accuracy"
    path.mkdir(parents=True, exist_ok=True)
    return path


# --------------------------------------------------------------------------- apt (the oracle)


def host_mirror() -> tuple[str, str]:
    """(URI, suite) of the host's first Debian ``deb`` source (deb822 or one-line format)."""
    texts = []
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        if path.is_file() and not path.name.endswith((".disabled", ".save")) and "disabled" not in path.name:
            texts.append(path.read_text(encoding="utf-8", errors="replace"))
    for text in texts:
        uri = re.search(r"^URIs:\s*(\S+)", text, re.MULTILINE)
        suite = re.search(r"^Suites:\s*(\S+)", text, re.MULTILINE)
        if uri and suite and "debian" in uri.group(1):
            return uri.group(1), suite.group(1)
        line = re.search(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", text, re.MULTILINE)
        if line and "debian" in line.group(1):
            return line.group(1), line.group(2)
    return "http://deb.debian.org/debian", "bookworm"


class Apt:
    """apt-get/apt-cache with a private sources list and lists directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "lists" / "partial").mkdir(parents=True, exist_ok=True)
        # an empty dpkg status of its own (not /dev/null, which apt at times failed to parse here)
        self.status = root / "status"
        if not self.status.is_file():
            self.status.write_text("", encoding="utf-8")
        self.sources = root / "sources.list"
        uri, suite = host_mirror()
        keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
        lines = "".join(f"{kind} [signed-by={keyring}] {uri} {suite} main\n" for kind in ("deb", "deb-src"))
        # rewritten only when it changes: a concurrent run reading a truncated file sees nothing
        if not self.sources.is_file() or self.sources.read_text(encoding="utf-8") != lines:
            self.sources.write_text(lines, encoding="utf-8")
        self.options = [
            "-o",
            f"Dir::Etc::SourceList={self.sources}",
            "-o",
            "Dir::Etc::SourceParts=/nonexistent",
            "-o",
            f"Dir::State::Lists={root / 'lists'}",
            "-o",
            "Dir::Cache::pkgcache=",
            "-o",
            "Dir::Cache::srcpkgcache=",
            "-o",
            f"Dir::State::Status={self.status}",
        ]
        self.suite = f"{uri} {suite}"

    def update_command(self) -> list[str]:
        return ["apt-get", "update", *self.options, "-o", "APT::Get::List-Cleanup=0"]

    def ready(self) -> bool:
        return any((self.root / "lists").glob("*Sources*")) and any((self.root / "lists").glob("*Packages*"))

    def update(self) -> None:
        subprocess.run(self.update_command(), check=True, capture_output=True)

    def _apt_cache(self, *args: str) -> str:
        """apt-cache's output; an apt error ("E: ...") is retried twice, then raised."""
        for _ in range(3):
            proc = subprocess.run(
                ["apt-cache", *self.options, *args], capture_output=True, text=True, check=False
            )
            if not any(line.startswith("E:") for line in proc.stderr.splitlines()):
                return proc.stdout
        raise RuntimeError(f"apt-cache {' '.join(args)}: {proc.stderr.strip()}")

    def showsrc(self, package: str) -> dict[str, str]:
        """The fields of the newest source record for ``package``."""
        stdout = self._apt_cache("showsrc", package)
        records = [_fields(block) for block in stdout.split("\n\n") if block.strip()]
        records = [r for r in records if "Build-Depends" in r]
        if not records:
            return {}
        return max(records, key=lambda r: _debian_version_key(r.get("Version", "")))

    def depends(self, package: str) -> set[str]:
        """The ``-dev`` packages ``package`` depends on (first alternative of each entry)."""
        stdout = self._apt_cache("show", "--no-all-versions", package)
        out = set()
        for line in stdout.splitlines():
            if line.startswith(("Depends:", "Pre-Depends:")):
                for entry in line.split(":", 1)[1].split(","):
                    name = _VERSION.sub("", entry.split("|")[0]).strip().split(":")[0]
                    if name.endswith("-dev"):
                        out.add(name)
        return out

    def provides(self, package: str) -> set[str]:
        stdout = self._apt_cache("show", "--no-all-versions", package)
        out = set()
        for line in stdout.splitlines():
            if line.startswith("Provides:"):
                out |= {_VERSION.sub("", p).strip() for p in line[9:].split(",")}
        return out


def _fields(block: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    key = None
    for line in block.splitlines():
        if line[:1].isspace() and key:
            fields[key] += " " + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def _debian_version_key(version: str) -> tuple[int, Version]:
    try:
        return 0, Version(upstream_version(version))
    except InvalidVersion:
        return -1, Version("0")


def upstream_version(debian: str) -> str:
    """``1:4.9.2+dfsg-1`` -> ``4.9.2``."""
    version = debian.split(":", 1)[-1].rsplit("-", 1)[0]
    return re.split(r"[+~]", version, maxsplit=1)[0]


def library_groups(build_depends: str) -> list[list[str]]:
    """The library entries of a Build-Depends field, one list of alternatives per entry."""
    groups = []
    for entry in build_depends.split(","):
        if _PROFILE.search(entry):
            continue
        arch = _ARCH.search(entry)
        if arch:
            archs = arch.group(1).split()
            if any(a.startswith("!") for a in archs) and "!amd64" in archs:
                continue
            if not any(a.startswith("!") for a in archs) and "amd64" not in archs and "any" not in archs:
                continue
        names = [_VERSION.sub("", _ARCH.sub("", alt)).strip().split(":")[0] for alt in entry.split("|")]
        names = [n for n in names if is_library(n)]
        if names:
            groups.append(names)
    return groups


#: ``-dev`` packages that are tools or the C library itself, not libraries a project links.
NOT_LIBRARIES = frozenset({"dpkg-dev", "linux-libc-dev", "libc6-dev", "libc-dev"})


def is_library(name: str) -> bool:
    return (
        name.endswith("-dev")
        and not name.startswith(("python", "libpython", "librust-"))
        and name not in NOT_LIBRARIES
    )


# --------------------------------------------------------------------------- PyPI


def _index() -> str:
    return (os.environ.get("NATIVE_DOCTOR_SDIST_INDEX") or "https://pypi.org/simple").rstrip("/")


def choose_sdist(project: str, wanted: str) -> tuple[str, str, str]:
    """(filename, url, version) of the sdist nearest to ``wanted`` (same, else older, else newer)."""
    page = f"{_index()}/{canonicalize_name(project)}/"
    request = urllib.request.Request(page, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        listing = json.load(response)
    target = Version(wanted)
    candidates = []
    for f in listing.get("files", ()):
        name = f.get("filename", "")
        if not name.endswith((".tar.gz", ".zip", ".tar.bz2")) or f.get("yanked"):
            continue
        try:
            _, version = parse_sdist_filename(name)
        except ValueError:
            continue
        if version.is_prerelease:
            continue
        candidates.append((version, name, f["url"]))
    if not candidates:
        raise LookupError(f"{project}: no sdist on {page}")
    same = [c for c in candidates if c[0] == target]
    older = sorted(c for c in candidates if c[0] < target)
    newer = sorted(c for c in candidates if c[0] > target)
    version, name, url = (same or older[-1:] or newer[:1])[0]
    return name, url, str(version)


def fetch(url: str, filename: str) -> Path:
    target = cache_dir() / "sdists" / filename
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with urllib.request.urlopen(url, timeout=300) as response:
        data = response.read()
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{filename}.")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    Path(tmp).replace(target)
    return target


# --------------------------------------------------------------------------- comparison


@dataclass
class Result:
    project: str
    debian_package: str
    debian_source: str = ""
    debian_version: str = ""
    read_on: str = ""
    sdist: str = ""
    oracle: list[list[str]] = field(default_factory=list)
    predicted: list[str] = field(default_factory=list)
    #: names of libraries the sdist bundles (part of ``predicted`` when bundled ones count)
    bundled: list[str] = field(default_factory=list)
    #: names only in optional proposals that are off unless the user asks (predicted only
    #: under the earlier rule)
    off: list[str] = field(default_factory=list)
    #: the earlier rule (off proposals count): matched names and found groups, both rules
    all_matched_predicted: list[str] = field(default_factory=list)
    all_found: list[bool] = field(default_factory=list)
    all_matched_installed: list[str] = field(default_factory=list)
    all_found_installed: list[bool] = field(default_factory=list)
    matched_predicted: list[str] = field(default_factory=list)
    #: per oracle group, whether a predicted name matched it
    found: list[bool] = field(default_factory=list)
    #: the same under the installation rule (one level of Depends either way)
    found_installed: list[bool] = field(default_factory=list)
    matched_installed: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def matched_groups(self) -> int:
        return sum(self.found)

    @property
    def missed(self) -> list[list[str]]:
        return [g for g, hit in zip(self.oracle, self.found, strict=True) if not hit]

    @property
    def extra(self) -> list[str]:
        return [p for p in self.predicted if p not in self.matched_predicted]


def predicted_names(sdist: Path) -> tuple[list[str], list[str], list[str]]:
    """(host requirement names a default build uses, names of the libraries the sdist bundles,
    names only in optional proposals that are off by default), Debian names."""
    report = build_report(sdist, ecosystem="debian", force_infer=True, target="linux")
    names: list[str] = []
    off: list[str] = []
    for row in report.inferred_rows:
        if row.category != "host" or not row.packages or not row.applies:
            continue
        if row.optional and row.default == "off":
            off += [n for n in row.packages if is_library(n) and n not in off]
            continue
        names += [n for n in row.packages if is_library(n) and n not in names]
    off = [n for n in off if n not in names]
    bundled: list[str] = []
    assert report.inference is not None
    for proposal in report.inference.proposals:
        if proposal.bundled and proposal.category == "host":
            packages = mapping.packages_for(parse_depurl(proposal.url), "debian", "host") or ()
            bundled += [n for n in packages if is_library(n) and n not in names + bundled]
    return names, bundled, [n for n in off if n not in bundled]


#: Debian's BLAS/LAPACK policy: packages build against the reference ``libblas-dev`` and
#: ``liblapack-dev``; the optimized implementations register as alternatives for the same
#: ``libblas.so``/``liblapack.so`` (update-alternatives, not apt's Provides).
DEBIAN_ALTERNATIVES: dict[str, frozenset[str]] = {
    "libblas-dev": frozenset({"libopenblas-dev", "libblis-dev", "libatlas-base-dev"}),
    "liblapack-dev": frozenset({"libopenblas-dev", "libatlas-base-dev"}),
}
#: Whether the libraries an sdist bundles count as predicted (``--host-only`` turns it off).
COUNT_BUNDLED = True


def compare(result: Result, apt: Apt) -> None:
    """Fill ``found`` and ``matched_predicted`` by the rule in the module docstring."""
    provides: dict[str, set[str]] = {}

    def provided(name: str) -> set[str]:
        if name not in provides:
            provides[name] = apt.provides(name)
        return provides[name]

    def same(predicted: str, oracle: str) -> bool:
        return (
            predicted == oracle
            or predicted in DEBIAN_ALTERNATIVES.get(oracle, ())
            or oracle in provided(predicted)
            or predicted in provided(oracle)
            or bool(provided(predicted) & provided(oracle))
        )

    depends: dict[str, set[str]] = {}

    def pulled(name: str) -> set[str]:
        if name not in depends:
            depends[name] = apt.depends(name)
        return depends[name]

    def installed(predicted: str, oracle: str) -> bool:
        """Installing one puts the other on the machine (one level of Depends)."""
        return same(predicted, oracle) or oracle in pulled(predicted) or predicted in pulled(oracle)

    for rule, found, matched_list in (
        (same, result.found, result.matched_predicted),
        (installed, result.found_installed, result.matched_installed),
    ):
        matched: set[str] = set()
        found.clear()
        for group in result.oracle:
            hits = {name for name in result.predicted if any(rule(name, alt) for alt in group)}
            matched |= hits
            found.append(bool(hits))
        matched_list[:] = [n for n in result.predicted if n in matched]


def run_one(project: str, package: str, apt: Apt) -> Result:
    result = Result(project, package)
    record = apt.showsrc(package)
    result.read_on = dt.date.today().isoformat()
    if not record:
        result.error = f"apt-cache showsrc {package}: no source record"
        return result
    result.debian_source = record.get("Package", "")
    result.debian_version = record.get("Version", "")
    depends = ", ".join(v for k, v in record.items() if k in {"Build-Depends", "Build-Depends-Arch"})
    result.oracle = library_groups(depends)
    try:
        filename, url, _ = choose_sdist(project, upstream_version(result.debian_version))
        result.sdist = filename
        host, bundled, off = predicted_names(fetch(url, filename))
        result.predicted = host + (bundled if COUNT_BUNDLED else [])
        result.bundled = bundled
        result.off = off
    except Exception as exc:  # reported per project, the run goes on
        result.error = f"{type(exc).__name__}: {exc}"
        return result
    compare(result, apt)
    earlier = Result(project, package, oracle=result.oracle, predicted=result.predicted + result.off)
    compare(earlier, apt)
    result.all_matched_predicted = earlier.matched_predicted
    result.all_found = earlier.found
    result.all_matched_installed = earlier.matched_installed
    result.all_found_installed = earlier.found_installed
    return result


def totals(results: list[Result]) -> dict[str, Any]:
    scored = [r for r in results if not r.error]
    predicted = sum(len(r.predicted) for r in scored)
    matched = sum(len(r.matched_predicted) for r in scored)
    groups = sum(len(r.oracle) for r in scored)
    found = sum(r.matched_groups for r in scored)
    matched_installed = sum(len(r.matched_installed) for r in scored)
    found_installed = sum(sum(r.found_installed) for r in scored)
    all_predicted = predicted + sum(len(r.off) for r in scored)
    all_matched = sum(len(r.all_matched_predicted) for r in scored)
    all_found = sum(sum(r.all_found) for r in scored)
    all_matched_installed = sum(len(r.all_matched_installed) for r in scored)
    all_found_installed = sum(sum(r.all_found_installed) for r in scored)
    earlier = {
        "predicted": all_predicted,
        "matched_predicted": all_matched,
        "matched_groups": all_found,
        "precision": all_matched / all_predicted if all_predicted else 0.0,
        "recall": all_found / groups if groups else 0.0,
        "installed_matched_predicted": all_matched_installed,
        "installed_matched_groups": all_found_installed,
        "installed_precision": all_matched_installed / all_predicted if all_predicted else 0.0,
        "installed_recall": all_found_installed / groups if groups else 0.0,
        "projects_with_no_correct_library": sum(1 for r in scored if r.oracle and not any(r.all_found)),
    }
    return {
        "earlier_rule": earlier,
        "installed_precision": matched_installed / predicted if predicted else 0.0,
        "installed_recall": found_installed / groups if groups else 0.0,
        "installed_matched_predicted": matched_installed,
        "installed_matched_groups": found_installed,
        "projects": len(scored),
        "predicted": predicted,
        "matched_predicted": matched,
        "oracle_groups": groups,
        "matched_groups": found,
        "precision": matched / predicted if predicted else 0.0,
        "recall": found / groups if groups else 0.0,
        "projects_with_no_correct_library": sum(1 for r in scored if r.oracle and not r.matched_groups),
    }


def _groups(groups: list[list[str]]) -> str:
    return ", ".join(" \\| ".join(g) for g in groups) or "—"


def markdown(results: list[Result], summary: dict[str, Any], suite: str) -> str:
    earlier = summary["earlier_rule"]
    out = [
        "| project | Debian source, version (read on) | sdist | Build-Depends libraries "
        "| inferred (Debian names; `(off)`: off unless asked) | missed | extra |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        debian = f"{r.debian_source} {r.debian_version} ({r.read_on})"
        if r.error:
            out.append(f"| {r.project} | {debian} | {r.sdist} | error: {r.error} | | | |")
            continue
        oracle = _groups(r.oracle)
        missed = _groups(r.missed)
        shown = [n + (" (bundled)" if n in r.bundled else "") for n in r.predicted]
        shown += [f"{n} (off)" for n in r.off]
        predicted = ", ".join(shown) or "—"
        extra = ", ".join(r.extra) or "—"
        out.append(f"| {r.project} | {debian} | {r.sdist} | {oracle} | {predicted} | {missed} | {extra} |")
    head = [
        f"Oracle: `apt-cache showsrc` against `{suite}` (deb-src); {summary['projects']} projects scored.",
        "",
        f"**Precision {summary['precision']:.2f}** ({summary['matched_predicted']}/{summary['predicted']} "
        f"inferred library names are in Build-Depends), **recall {summary['recall']:.2f}** "
        f"({summary['matched_groups']}/{summary['oracle_groups']} Build-Depends library entries inferred); "
        f"{summary['projects_with_no_correct_library']} project(s) with libraries in Build-Depends got "
        "none of them right.",
        "",
        f"Installation rule (one level of `Depends:` either way): precision "
        f"{summary['installed_precision']:.2f} "
        f"({summary['installed_matched_predicted']}/{summary['predicted']}), "
        f"recall {summary['installed_recall']:.2f} "
        f"({summary['installed_matched_groups']}/{summary['oracle_groups']}).",
        "",
        f"Earlier rule (optional proposals that are off unless asked count too, `(off)` below): "
        f"precision {earlier['precision']:.2f} ({earlier['matched_predicted']}/{earlier['predicted']}), "
        f"recall {earlier['recall']:.2f} ({earlier['matched_groups']}/{summary['oracle_groups']}); "
        f"installation rule {earlier['installed_precision']:.2f} "
        f"({earlier['installed_matched_predicted']}/{earlier['predicted']}) and "
        f"{earlier['installed_recall']:.2f} "
        f"({earlier['installed_matched_groups']}/{summary['oracle_groups']}).",
        "",
    ]
    return "\n".join(head + out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--setup-apt", action="store_true", help="run apt-get update for the private apt state"
    )
    parser.add_argument("--only", help="comma-separated PyPI names")
    parser.add_argument(
        "--host-only", action="store_true", help="do not count the libraries an sdist bundles"
    )
    parser.add_argument("--json", type=Path, help="write every result here")
    parser.add_argument("--markdown", type=Path, help="write the results table (between markers) here")
    options = parser.parse_args(argv)
    global COUNT_BUNDLED  # noqa: PLW0603 - a run-wide switch of the comparison rule
    COUNT_BUNDLED = not options.host_only
    apt = Apt(cache_dir() / "apt")
    if options.setup_apt or os.environ.get("CI") == "true":
        apt.update()
    elif not apt.ready():
        print("The Debian source lists are not there yet. Run:", file=sys.stderr)
        print("  python benchmarks/deps_accuracy.py --setup-apt", file=sys.stderr)
        print(f"which runs: {' '.join(apt.update_command())}", file=sys.stderr)
        return 2
    wanted = set(options.only.split(",")) if options.only else None
    results = []
    for project, package in PROJECTS.items():
        if wanted is not None and project not in wanted:
            continue
        result = run_one(project, package, apt)
        results.append(result)
        status = result.error or (
            f"{len(result.matched_predicted)}/{len(result.predicted)} predicted ok, "
            f"{result.matched_groups}/{len(result.oracle)} found; "
            f"missed {result.missed}, extra {result.extra}, off {result.off}"
        )
        print(f"{project:<22} {result.debian_version:<22} {result.sdist:<36} {status}", flush=True)
    summary = totals(results)
    print(json.dumps(summary, indent=2))
    if options.json:
        rows = [{**asdict(r), "missed": r.missed, "extra": r.extra} for r in results]
        data: dict[str, Any] = {"summary": summary, "results": rows}
        options.json.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    if options.markdown:
        begin, end = "<!-- results: begin -->", "<!-- results: end -->"
        path = options.markdown
        text = path.read_text(encoding="utf-8") if path.exists() else f"{begin}\n{end}\n"
        before, _, rest = text.partition(begin)
        _, _, after = rest.partition(end)
        options.markdown.write_text(
            before + begin + "\n" + markdown(results, summary, apt.suite) + end + after, encoding="utf-8"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
