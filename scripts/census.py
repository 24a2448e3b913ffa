"""The census: `native-doctor check` over the current release wheels of popular native projects.

    python scripts/census.py [--refresh] [--size-cap-mb 60] [--jobs 2] [--out docs/census.md]

1. Selection.  For every project in :data:`PROJECTS` the current release is read from PyPI's JSON
   API (the index pip uses); per platform family in :data:`FAMILIES` one wheel is chosen (see
   :func:`choose`).  The selection is stored in the cache (``selection.json``) so that reruns check
   the same files; ``--refresh`` reads PyPI again.
2. Download.  Each chosen wheel is downloaded once into the cache and its sha256 verified against
   the index.  Wheels larger than the size cap are skipped and listed in the report.
3. Check.  ``native-doctor check --format json`` runs on every wheel (at most ``--jobs`` processes
   at a time); its JSON report is cached per commit of this repository.
4. Report.  Every error and warning is matched against the hand-written judgements in
   ``scripts/census_verdicts.json`` (true / defensible / false, with the evidence: a reference
   tool's output) and ``docs/census.md`` is written.  Findings no judgement covers are listed as
   *unjudged*: judge them by reading the wheel, then add a judgement and rerun.

The cache is ``$NATIVE_DOCTOR_CENSUS_CACHE``, else ``~/.cache/native-doctor/census``.
This script is not part of the test run.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from packaging.tags import Tag
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from _corpus import FAMILIES as CORPUS_FAMILIES  # noqa: E402
from _corpus import family_for_platforms  # noqa: E402

#: Chosen on this date from PyPI's download rankings (30-day downloads; projects that ship
#: compiled code in their wheels, taken from the top of the ranking down, plus the projects
#: issue 8 names).  Pure-Python projects and projects whose every wheel is above the size cap
#: (torch, tensorflow, jaxlib, xgboost) are not listed.
LIST_DATE = "2026-12-06"
PROJECTS: tuple[str, ...] = (
    "numpy",
    "cryptography",
    "pydantic-core",
    "charset-normalizer",
    "pyyaml",
    "markupsafe",
    "cffi",
    "grpcio",
    "protobuf",
    "pandas",
    "wrapt",
    "frozenlist",
    "multidict",
    "yarl",
    "aiohttp",
    "psutil",
    "pyarrow",
    "regex",
    "propcache",
    "rpds-py",
    "greenlet",
    "sqlalchemy",
    "lxml",
    "pillow",
    "scipy",
    "orjson",
    "jiter",
    "tokenizers",
    "psycopg2-binary",
    "matplotlib",
    "kiwisolver",
    "contourpy",
    "scikit-learn",
    "bcrypt",
    "pynacl",
    "zstandard",
    "msgpack",
    "ujson",
    "websockets",
    "httptools",
    "uvloop",
    "watchfiles",
    "pyzmq",
    "h5py",
    "netcdf4",
    "shapely",
    "pyproj",
    "opencv-python-headless",
    "onnxruntime",
    "llvmlite",
    "numba",
    "google-crc32c",
    "xxhash",
    "lz4",
    "brotli",
    "ruamel-yaml-clib",
    "coverage",
    "tiktoken",
    "safetensors",
    "pymongo",
    "psycopg-binary",
    "asyncpg",
    "duckdb",
    "fastavro",
    "pycryptodome",
    "av",
    "pyodbc",
    "simplejson",
    "gevent",
    "zope-interface",
    "statsmodels",
    "scikit-image",
    "tornado",
    "pycurl",
    "setproctitle",
    "rapidfuzz",
)

#: The platform families censused, one wheel each per project: the corpus's families (in its order)
#: but the catch-alls and the ones few projects publish.
FAMILIES: tuple[str, ...] = tuple(
    f for f in CORPUS_FAMILIES if f not in {"manylinux-i686", "manylinux-other", "pure"}
)

#: The CPython version whose wheel is preferred (then abi3, then py3, then the newest other).
PREFERRED_PYTHON = "cp312"
JSON_API = "https://pypi.org/pypi/{name}/json"
VERDICTS_PATH = Path(__file__).resolve().parent / "census_verdicts.json"
VERDICTS = ("true", "defensible", "false")


def cache_dir() -> Path:
    """``$NATIVE_DOCTOR_CENSUS_CACHE`` or ``~/.cache/native-doctor/census`` (created)."""
    explicit = os.environ.get("NATIVE_DOCTOR_CENSUS_CACHE")
    path = Path(explicit).expanduser() if explicit else Path.home() / ".cache" / "native-doctor" / "census"
    path.mkdir(parents=True, exist_ok=True)
    return path


# --------------------------------------------------------------------------- selection


@dataclass(frozen=True, slots=True)
class Chosen:
    """One wheel of the census."""

    project: str
    version: str
    family: str
    filename: str
    url: str
    sha256: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "version": self.version,
            "family": self.family,
            "filename": self.filename,
            "url": self.url,
            "sha256": self.sha256,
            "size": self.size,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Chosen:
        return cls(
            **{k: data[k] for k in ("project", "version", "family", "filename", "url", "sha256")},
            size=int(data["size"]),
        )


def _python_rank(tags: frozenset[Tag]) -> tuple[int, int] | None:
    """How much a wheel's Python tags are preferred (higher is better); None: not for CPython 3."""
    ranks: list[tuple[int, int]] = []
    for tag in tags:
        if tag.abi.endswith("t") or not tag.interpreter.startswith(("cp3", "py3")):
            continue  # free-threaded builds and PyPy are not censused
        if tag.interpreter == PREFERRED_PYTHON and tag.abi != "abi3":
            ranks.append((3, 0))
        elif tag.abi == "abi3" and tag.interpreter.startswith("cp3"):
            minor = int(tag.interpreter[3:] or 0)
            if minor <= int(PREFERRED_PYTHON[3:]):  # a cp315-abi3 wheel does not install on 3.12
                ranks.append((2, minor))
        elif tag.interpreter.startswith("py3"):
            ranks.append((1, 0))
        else:
            ranks.append((0, int(tag.interpreter[3:] or 0)))
    return max(ranks) if ranks else None


def _platform_rank(tags: frozenset[Tag]) -> tuple[int, ...]:
    """The newest platform version among the tags (pip on a current system prefers it)."""
    best: tuple[int, ...] = ()
    for tag in tags:
        parts = tag.platform.split("_")
        numbers = tuple(int(p) for p in parts[1:3] if p.isdigit())
        if tag.platform.startswith("manylinux") and parts[0] != "manylinux":
            numbers = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}.get(
                parts[0], numbers
            )
        best = max(best, numbers)
    return best


def choose(project: str, version: str, files: list[dict[str, Any]]) -> dict[str, Chosen]:
    """Per family, the wheel a user of CPython 3.12 on a current system of that family gets.

    Among the release's wheels of one family: the cp312 build, else the newest abi3, else a
    py3 wheel, else the newest CPython build; among equals, the newest platform tag.
    """
    best: dict[str, tuple[tuple[Any, ...], Chosen]] = {}
    for entry in files:
        filename = str(entry["filename"])
        if not filename.endswith(".whl") or entry.get("yanked"):
            continue
        try:
            _, _, _, tags = parse_wheel_filename(filename)
        except ValueError:
            continue
        family = family_for_platforms(t.platform for t in tags)
        python = _python_rank(tags)
        if family not in FAMILIES or python is None:
            continue
        key = (python, _platform_rank(tags), filename)
        chosen = Chosen(
            project=project,
            version=version,
            family=family,
            filename=filename,
            url=urllib.parse.urljoin(JSON_API.format(name=canonicalize_name(project)), str(entry["url"])),
            sha256=str(entry["digests"]["sha256"]),
            size=int(entry["size"]),
        )
        if family not in best or key > best[family][0]:
            best[family] = (key, chosen)
    return {family: chosen for family, (_, chosen) in best.items()}


def _get_json(url: str) -> dict[str, Any]:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        data: dict[str, Any] = json.load(response)
    return data


def select(refresh: bool) -> tuple[str, list[Chosen]]:
    """The census's wheels: from the cached selection, or read again from PyPI."""
    path = cache_dir() / "selection.json"
    if path.is_file() and not refresh:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("projects") == list(PROJECTS):
            return str(data["read_at"]), [Chosen.from_json(w) for w in data["wheels"]]
    import datetime

    read_at = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    chosen: list[Chosen] = []
    for project in PROJECTS:
        meta = _get_json(JSON_API.format(name=canonicalize_name(project)))
        version = str(meta["info"]["version"])
        try:
            Version(version)
        except InvalidVersion:
            print(f"{project}: odd version {version!r}", file=sys.stderr)
        picked = choose(str(meta["info"]["name"]), version, list(meta["urls"]))
        chosen += [picked[f] for f in FAMILIES if f in picked]
        print(f"{project} {version}: {len(picked)} families", file=sys.stderr)
    _write_atomic(
        path,
        json.dumps(
            {"read_at": read_at, "projects": list(PROJECTS), "wheels": [c.to_json() for c in chosen]},
            indent=1,
        ),
    )
    return read_at, chosen


# --------------------------------------------------------------------------- download


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    Path(tmp).replace(path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def download(wheel: Chosen) -> Path:
    """The verified cached copy of one wheel (downloaded if missing); raises on a hash mismatch."""
    directory = cache_dir() / "wheels"
    directory.mkdir(exist_ok=True)
    target = directory / wheel.filename
    if target.is_file() and target.stat().st_size == wheel.size:
        return target
    fd, tmp = tempfile.mkstemp(prefix=f".{wheel.filename}.", dir=directory)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(wheel.url, timeout=300) as response:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != wheel.sha256:
            raise RuntimeError(f"{wheel.filename}: sha256 {digest.hexdigest()} != index {wheel.sha256}")
        Path(tmp).replace(target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target


# --------------------------------------------------------------------------- check


def _commit() -> str:
    """HEAD of this repository, plus a hash of uncommitted changes to src/ if there are any."""
    head = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    return head + _dirty()


def _results_key() -> str:
    """What the check results depend on: the tree of src/ (plus uncommitted changes to it)."""
    tree = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD:src"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    return f"src-{tree}{_dirty()}"


def _dirty() -> str:
    diff = subprocess.run(
        ["git", "diff", "HEAD", "--", "src"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    return f"-dirty-{hashlib.sha256(diff).hexdigest()[:8]}" if diff else ""


def check(path: Path, results: Path) -> dict[str, Any]:
    """``native-doctor check --format json`` on one wheel, cached in ``results``."""
    out = results / (path.name + ".json")
    if out.is_file() and not out.name.startswith("."):
        cached: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
        return cached
    proc = subprocess.run(
        [sys.executable, "-m", "native_doctor", "check", "--format", "json", "--exit-zero", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        report: dict[str, Any] = {"exit": proc.returncode, "stderr": proc.stderr[-2000:], "findings": []}
    else:
        report = json.loads(proc.stdout)
        report["exit"] = 0
    # keep the cache small: the findings, and per artifact what auditwheel can be compared with
    report["artifacts"] = [
        {k: a.get(k) for k in ("platform", "external_libraries", "policy_upgrades")}
        for a in report.get("artifacts", [])
    ]
    _write_atomic(out, json.dumps(report))
    return report


# --------------------------------------------------------------------------- judgement


@dataclass(slots=True)
class Verdict:
    """A hand-written judgement of one cause: which findings it covers, its verdict and evidence."""

    cause: str
    code: str
    verdict: str
    evidence: str
    projects: tuple[str, ...] = ("*",)
    detail: str = "*"
    families: tuple[str, ...] = ("*",)
    fixed_by: str = ""
    matched: list[Observed] = field(default_factory=list)

    def covers(self, found: Observed) -> bool:
        return (
            found.code == self.code
            and any(fnmatch.fnmatchcase(canonicalize_name(found.project), p) for p in self.projects)
            and fnmatch.fnmatchcase(found.detail, self.detail)
            and any(fnmatch.fnmatchcase(found.family, f) for f in self.families)
        )


@dataclass(frozen=True, slots=True)
class Observed:
    """One finding of the census."""

    project: str
    family: str
    filename: str
    code: str
    name: str
    severity: str
    detail: str
    message: str
    members: tuple[str, ...]
    #: Reference-tool confirmation: the tool's command, and on how many of the members it showed
    #: the fact the finding states (see :func:`confirm`).
    oracle: str = ""
    confirmed: int = 0
    examined: int = 0


def load_verdicts(path: Path = VERDICTS_PATH) -> list[Verdict]:
    """The judgements, in file order (the first that covers a finding judges it)."""
    if not path.is_file():
        return []
    verdicts = []
    for data in json.loads(path.read_text(encoding="utf-8"))["verdicts"]:
        if data["verdict"] not in VERDICTS:
            raise ValueError(f"{data['cause']}: verdict must be one of {VERDICTS}")
        verdicts.append(
            Verdict(
                cause=data["cause"],
                code=data["code"],
                verdict=data["verdict"],
                evidence=data["evidence"],
                projects=tuple(canonicalize_name(p) if p != "*" else p for p in data.get("projects", ["*"])),
                detail=data.get("detail", "*"),
                families=tuple(data.get("families", ["*"])),
                fixed_by=data.get("fixed_by", ""),
            )
        )
    return verdicts


def observed(wheel: Chosen, report: dict[str, Any]) -> list[Observed]:
    found = []
    for f in report.get("findings", []):
        # ``locations``: every member one finding covers (a string each; older reports: absent)
        members = [str(loc) for loc in f.get("locations") or []] or [str(f.get("member") or "")]
        found.append(
            Observed(
                project=wheel.project,
                family=wheel.family,
                filename=wheel.filename,
                code=str(f["code"]),
                name=str(f["name"]),
                severity=str(f["severity"]),
                detail=str(f.get("detail") or ""),
                message=str(f["message"]),
                members=tuple(members),
            )
        )
    return found


# --------------------------------------------------------------------------- reference tools


def _which(*names: str) -> str | None:
    return next((found for name in names if (found := shutil.which(name))), None)


def _run(argv: list[str], data: bytes) -> str:
    with tempfile.NamedTemporaryFile(suffix=".bin") as tmp:
        tmp.write(data)
        tmp.flush()
        proc = subprocess.run([*argv, tmp.name], capture_output=True, text=True, check=False)
    return proc.stdout


def _format(data: bytes) -> str:
    if data[:4] == b"\x7fELF":
        return "elf"
    if data[:2] == b"MZ":
        return "pe"
    return "macho"


#: (finding code, binary format) -> (tool names, arguments, the line that confirms it; {d} = detail)
_ORACLES: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...], str]] = {
    ("ND201", "elf"): (("readelf",), ("-d",), "[{d}]"),
    ("ND201", "pe"): (("llvm-readobj",), ("--coff-imports",), "name: {d}"),
    ("ND201", "macho"): (("llvm-otool", "llvm-otool-14"), ("-L",), "{d} "),
    ("ND401", "macho"): (("llvm-otool", "llvm-otool-14"), ("-L",), "{d} "),
    ("ND402", "macho"): (("llvm-otool", "llvm-otool-14"), ("-L",), "{d} "),
    ("ND503", "pe"): (("llvm-readobj",), ("--coff-imports",), "name: {d}"),
    ("ND501", "pe"): (("llvm-readobj",), ("--coff-imports",), "name: {d}"),
    ("ND101", "macho"): (("llvm-objdump",), ("--macho", "--private-headers"), "minos {d}"),
    ("ND301", "elf"): (("readelf",), ("-d",), "{d}"),
    ("ND403", "macho"): (("llvm-otool", "llvm-otool-14"), ("-l",), "path {d} "),
    ("ND604", "elf"): (("readelf",), ("--dyn-syms", "-W"), "UND"),
}


def confirm(found: Observed, archive: zipfile.ZipFile) -> Observed:
    """Ask a reference tool (readelf, llvm-readobj, llvm-otool, llvm-objdump) whether each member of
    the finding shows what the finding states (the needed name, the import, the RUNPATH entry...).

    ND204 is confirmed from the archive itself: every copy it names is a member. Codes with no
    oracle (ND504: the DLL's VERSIONINFO) are left unexamined.
    """
    names = set(archive.namelist())
    if found.code == "ND204":
        copies = [n for n in names if n in found.message]
        return replace(found, oracle="the wheel's listing", confirmed=int(len(copies) >= 2), examined=1)
    confirmed = examined = 0
    command = ""
    for member in found.members:
        if member not in names:
            continue
        data = archive.read(member)
        spec = _ORACLES.get((found.code, _format(data)))
        tool = _which(*spec[0]) if spec else None
        if spec is None or tool is None:
            continue
        command = " ".join([Path(tool).name, *spec[1]])
        output = _run([tool, *spec[1]], data).lower()
        examined += 1
        confirmed += spec[2].format(d=found.detail).lower() in output
    return replace(found, oracle=command, confirmed=confirmed, examined=examined)


# --------------------------------------------------------------------------- auditwheel


def auditwheel_show(path: Path) -> dict[str, Any] | None:
    """``auditwheel show --json`` of one manylinux wheel, cached; None when auditwheel is absent."""
    tool = shutil.which("auditwheel")
    if tool is None:
        return None
    directory = cache_dir() / "auditwheel"
    directory.mkdir(exist_ok=True)
    out = directory / f"{path.name}.json"
    if not out.is_file():
        proc = subprocess.run(
            [tool, "show", "--json", str(path)], capture_output=True, text=True, check=False
        )
        result: dict[str, Any] = (
            json.loads(proc.stdout) if proc.returncode == 0 and proc.stdout.strip() else {}
        )
        result.setdefault("error", proc.stderr.strip().splitlines()[-1:] if proc.returncode else None)
        _write_atomic(out, json.dumps(result))
    cached: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return cached


_LEGACY = {
    "manylinux1": "manylinux_2_5",
    "manylinux2010": "manylinux_2_12",
    "manylinux2014": "manylinux_2_17",
}


def _normal_tag(tag: str) -> str:
    head, _, arch = tag.partition("_")
    return f"{_LEGACY[head]}_{arch}" if head in _LEGACY else tag


def _auditwheel_notes(path: Path = VERDICTS_PATH) -> dict[str, str]:
    """Judgements of the differences from auditwheel: wheel file name pattern -> explanation."""
    if not path.is_file():
        return {}
    notes: dict[str, str] = json.loads(path.read_text(encoding="utf-8")).get("auditwheel_notes", {})
    return notes


def _auditwheel_section(pairs: list[tuple[Chosen, dict[str, Any], dict[str, Any]]]) -> list[str]:
    """Our best platform tag and external libraries next to auditwheel's, per manylinux wheel."""
    notes = _auditwheel_notes()
    same_tag = 0
    rows = []
    for wheel, ours, theirs in pairs:
        platform = (ours.get("artifacts") or [{}])[0].get("platform") or {}
        our_tag = _normal_tag((platform.get("qualifies_for") or ["-"])[0])
        their_tag = _normal_tag(str(theirs.get("overall_tag") or "-"))
        our_ext = sorted((ours.get("artifacts") or [{}])[0].get("external_libraries") or [])
        their_ext = sorted(theirs.get("external_libs") or {})
        if our_tag == their_tag:
            same_tag += 1
        if our_tag != their_tag or our_ext != their_ext:
            error = theirs.get("error")
            note = next(
                (n for pattern, n in notes.items() if fnmatch.fnmatchcase(wheel.filename, pattern)), ""
            )
            rows.append(
                [
                    f"`{wheel.filename}`",
                    our_tag,
                    str(error or their_tag),
                    ", ".join(our_ext) or "-",
                    ", ".join(their_ext) or "-",
                    note or "**unjudged**",
                ]
            )
    lines = [
        "## Next to auditwheel (manylinux wheels)",
        "",
        f"`auditwheel show --json` on the {len(pairs)} manylinux wheels: the best platform tag agrees on "
        f"{same_tag}. Wheels where the tag or the external libraries differ (auditwheel's `external_libs` "
        "is relative to its most compatible policy, ours to the best policy the wheel meets; see "
        "docs/differences.md):",
        "",
    ]
    header = [
        "wheel",
        "native-doctor tag",
        "auditwheel tag",
        "native-doctor external",
        "auditwheel external_libs",
        "judged",
    ]
    return [*lines, *_table(header, rows), ""] if rows else [*lines[:-2], ""]


def abi3audit_report(path: Path) -> dict[str, Any] | None:
    """``abi3audit -R`` of one abi3 wheel, cached; None when abi3audit is absent."""
    tool = shutil.which("abi3audit")
    if tool is None:
        return None
    directory = cache_dir() / "abi3audit"
    directory.mkdir(exist_ok=True)
    out = directory / f"{path.name}.json"
    if not out.is_file():
        proc = subprocess.run([tool, "-R", str(path)], capture_output=True, text=True, check=False)
        _write_atomic(out, proc.stdout if proc.stdout.strip().startswith("{") else json.dumps({"specs": {}}))
    cached: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return cached


def _abi3_violations(report: dict[str, Any]) -> list[str]:
    """Extension files abi3audit faults: non-abi3 symbols, or symbols newer than the tag's baseline."""
    bad = []
    for spec in report.get("specs", {}).values():
        for item in spec.get("wheel", []):
            result = item.get("result", {})
            if result.get("non_abi3_symbols") or not result.get("is_abi3_baseline_compatible", True):
                bad.append(str(item.get("name")))
    return bad


def _abi3audit_section(pairs: list[tuple[Chosen, list[Observed], dict[str, Any]]]) -> list[str]:
    """abi3audit's verdict next to ND601/ND602 per abi3 wheel."""
    files = sum(len(spec.get("wheel", [])) for _, _, r in pairs for spec in r.get("specs", {}).values())
    rows = []
    for wheel, found, report in pairs:
        theirs = _abi3_violations(report)
        ours = sorted({m for f in found if f.code in ("ND601", "ND602") for m in f.members})
        if bool(theirs) != bool(ours):
            rows.append([f"`{wheel.filename}`", ", ".join(ours) or "-", ", ".join(theirs) or "-"])
    faulted = sum(1 for _, _, r in pairs if _abi3_violations(r))
    flagged = sum(1 for _, found, _ in pairs if any(f.code in ("ND601", "ND602") for f in found))
    lines = [
        "## Next to abi3audit (abi3 wheels)",
        "",
        f"`abi3audit -R` on the {len(pairs)} wheels with an abi3 tag ({files} extension files): it faults "
        f"{faulted} wheels; native-doctor's ND601/ND602 flag {flagged}. "
        f"Wheels where they disagree: {len(rows)}.",
        "",
    ]
    if rows:
        lines += [*_table(["wheel", "native-doctor ND601/ND602", "abi3audit"], rows), ""]
    return lines


# --------------------------------------------------------------------------- report


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def _judge(found: list[Observed], verdicts: list[Verdict]) -> list[Observed]:
    """Attach every error and warning to the first judgement covering it; return the rest."""
    unjudged = []
    for f in found:
        if f.severity not in ("error", "warning"):
            continue
        verdict = next((v for v in verdicts if v.covers(f)), None)
        if verdict is None:
            unjudged.append(f)
        else:
            verdict.matched.append(f)
    return unjudged


def _summary(found: list[Observed], verdicts: list[Verdict], wheels: list[Chosen]) -> list[str]:
    by_sev = Counter(f.severity for f in found)
    rows = []
    for severity in ("error", "warning"):
        c = Counter(v.verdict for v in verdicts for f in v.matched if f.severity == severity)
        total = by_sev[severity]
        share = f"{100 * c['false'] / total:.1f} %" if total else "-"
        row = [severity, str(total), c["true"], c["defensible"], c["false"], total - sum(c.values()), share]
        rows.append([str(x) for x in row])
    header = ["severity", "findings", "true", "defensible", "false", "unjudged", "false share"]
    failing = {f.filename for f in found if f.severity == "error"}
    false_failing = {
        f.filename for v in verdicts for f in v.matched if f.severity == "error" and v.verdict == "false"
    } - {f.filename for v in verdicts for f in v.matched if f.severity == "error" and v.verdict != "false"}
    return [
        "## Verdicts",
        "",
        *_table(header, rows),
        "",
        f"Info findings: {by_sev['info']} (counted below, not judged one by one).",
        "",
        f"Wheels on which `check` exits 1 (an error finding): {len(failing)} of {len(wheels)}; "
        f"{len(false_failing)} of them only because of false errors.",
        "",
    ]


def _per_code(found: list[Observed], wheels: list[Chosen]) -> list[str]:
    rows = []
    for code, name, severity in sorted({(f.code, f.name, f.severity) for f in found}):
        counts = Counter(f.family for f in found if f.code == code)
        cells = [str(counts[fam] or "") for fam in FAMILIES]
        rows.append([f"{code} {name}", severity, *cells, str(sum(counts.values()))])
    per_family = Counter(w.family for w in wheels)
    rows.append(["wheels checked", "", *(str(per_family[fam]) for fam in FAMILIES), str(len(wheels))])
    return [
        "## Findings per code and platform family",
        "",
        *_table(["code", "severity", *FAMILIES, "total"], rows),
        "",
    ]


def _cause(verdict: Verdict, severity: str) -> list[str]:
    """One judged cause: title, evidence and the wheels it covers (empty if it has no finding)."""
    hits = [f for f in verdict.matched if f.severity == severity]
    if not hits:
        return []
    title = f"{hits[0].code} {hits[0].name} ({severity}): {verdict.cause}"
    lines = [f"### {title} — **{verdict.verdict}**", ""]
    if verdict.fixed_by:
        lines += [f"Fixed by: {verdict.fixed_by}", ""]
    lines += [verdict.evidence.rstrip(), ""]
    examined = sum(f.examined for f in hits)
    if examined:
        tools = ", ".join(sorted({f"`{f.oracle}`" for f in hits if f.oracle}))
        lines += [
            f"Reference tools ({tools}) show the fact the finding rests on (the needed name, import,"
            f" load command or path) at {sum(f.confirmed for f in hits)} of {examined} locations examined.",
            "",
        ]
    by_wheel: dict[str, list[str]] = defaultdict(list)
    for f in hits:
        by_wheel[f.filename].append(f.detail or f.message)
    lines += [f"{len(hits)} findings on {len(by_wheel)} wheels:", ""]
    lines += [f"- `{name}`: {', '.join(sorted(set(details)))}" for name, details in sorted(by_wheel.items())]
    return [*lines, ""]


def _judged(verdicts: list[Verdict], unjudged: list[Observed]) -> list[str]:
    lines = [
        "## Every error and warning, judged",
        "",
        "One entry per cause; the wheels it covers are listed. *true*: a real problem a user would",
        "want to know about. *defensible*: what the finding says is so, but a careful reviewer might",
        "not call it a problem. *false*: the finding is wrong.",
        "",
    ]
    for severity in ("error", "warning"):
        for verdict in verdicts:
            lines += _cause(verdict, severity)
    if unjudged:
        lines += ["## Unjudged", ""]
        lines += [f"- `{f.filename}` **{f.code}** ({f.severity}) `{f.detail}`: {f.message}" for f in unjudged]
        lines.append("")
    return lines


def _before(commit: str, found: list[Observed], wheels: list[Chosen]) -> list[str]:
    """The same wheels checked by an earlier commit: its verdict counts and its false alarms."""
    verdicts = load_verdicts()
    unjudged = _judge(found, verdicts)
    summary = _summary(found, verdicts, wheels)[2:]  # without the section title
    lines = [
        f"## Before the fixes: the same wheels on commit `{commit}`",
        "",
        "The census's first run, judged with the same judgements. Every cause judged false below was",
        "fixed at its root (each with a regression test; the wheels are in tests/corpus/manifest.json",
        "with the tag `census-false-alarm`, used by tests/test_census_false_alarms.py).",
        "",
        *summary,
    ]
    for severity in ("error", "warning"):
        for verdict in verdicts:
            if verdict.verdict == "false":
                lines += _cause(verdict, severity)
    if unjudged:
        lines += [f"Unjudged then: {len(unjudged)} findings.", ""]
    return lines


def _inventory(
    found: list[Observed],
    wheels: list[Chosen],
    skipped: list[Chosen],
    failed: list[tuple[Chosen, str]],
    cap: int,
) -> list[str]:
    info: dict[tuple[str, str], list[Observed]] = defaultdict(list)
    for f in found:
        if f.severity == "info":
            info[(f.code, f.name)].append(f)
    rows = []
    for (code, name), hits in sorted(info.items()):
        examples = sorted({f.detail for f in hits if f.detail})
        shown = ", ".join(f"`{d}`" for d in examples[:4]) + (
            f" and {len(examples) - 4} more" if len(examples) > 4 else ""
        )
        rows.append([f"{code} {name}", str(len(hits)), str(len({f.filename for f in hits})), shown])
    lines = [
        "## Info findings",
        "",
        *_table(["code", "findings", "wheels", "details"], rows),
        "",
        "## Wheels",
        "",
    ]
    rows = []
    for project in sorted({w.project for w in wheels}, key=str.lower):
        mine = [w for w in wheels if w.project == project]
        rows.append([project, mine[0].version, str(len(mine)), ", ".join(w.family for w in mine)])
    lines += [*_table(["project", "version", "wheels", "families"], rows), ""]
    if skipped:
        lines += [f"Skipped (over {cap} MB):", ""]
        lines += [*(f"- `{w.filename}` ({w.size / 1e6:.1f} MB)" for w in skipped), ""]
    if failed:
        lines += ["Failed:", "", *(f"- `{w.filename}`: {why}" for w, why in failed), ""]
    absent = sorted(set(PROJECTS) - {canonicalize_name(w.project) for w in wheels + skipped})
    if absent:
        lines += ["Projects with no wheel in the censused families: " + ", ".join(absent), ""]
    return lines


def render(
    *,
    read_at: str,
    commit: str,
    wheels: list[Chosen],
    skipped: list[Chosen],
    failed: list[tuple[Chosen, str]],
    found: list[Observed],
    verdicts: list[Verdict],
    size_cap: int,
    baseline: tuple[str, list[Observed]] | None = None,
    command: str = "python scripts/census.py",
    auditwheel: list[tuple[Chosen, dict[str, Any], dict[str, Any]]] | None = None,
    abi3: list[tuple[Chosen, list[Observed], dict[str, Any]]] | None = None,
) -> str:
    """The whole of docs/census.md."""
    projects = {w.project for w in wheels}
    unjudged = _judge(found, verdicts)
    lines = [
        "# Census: `native-doctor check` on the current wheels of popular native projects",
        "",
        f"Generated by `{command}` (judgements: `scripts/census_verdicts.json`); do not edit by hand.",
        "",
        f"- Run on commit `{commit}`; releases read from PyPI on {read_at}; project list of {LIST_DATE}.",
        f"- {len(wheels)} wheels of {len(projects)} projects checked "
        f"({sum(w.size for w in wheels) / 1e9:.2f} GB), one wheel per platform family each project "
        f"publishes (the CPython {PREFERRED_PYTHON[2]}.{PREFERRED_PYTHON[3:]} build, else abi3, else py3; "
        "the newest platform tag).",
        f"- {len(skipped)} wheels over the {size_cap} MB size cap skipped; {len(failed)} failed.",
        "",
    ]
    lines += _summary(found, verdicts, wheels)
    lines += _per_code(found, wheels)
    lines += _judged(verdicts, unjudged)
    if auditwheel:
        lines += _auditwheel_section(auditwheel)
    if abi3:
        lines += _abi3audit_section(abi3)
    if baseline is not None:
        lines += _before(baseline[0], baseline[1], wheels)
    lines += _inventory(found, wheels, skipped, failed, size_cap)
    return "\n".join(lines)


def _auditwheel_pairs(
    wheels: list[Chosen], reports: dict[str, dict[str, Any]]
) -> list[tuple[Chosen, dict[str, Any], dict[str, Any]]]:
    pairs = []
    for wheel in wheels:
        if wheel.family.startswith("manylinux"):
            theirs = auditwheel_show(cache_dir() / "wheels" / wheel.filename)
            if theirs is not None:
                pairs.append((wheel, reports[wheel.filename], theirs))
    return pairs


def _abi3_pairs(
    wheels: list[Chosen], found: list[Observed]
) -> list[tuple[Chosen, list[Observed], dict[str, Any]]]:
    pairs = []
    for wheel in wheels:
        if "abi3" in {t.abi for t in parse_wheel_filename(wheel.filename)[3]}:
            report = abi3audit_report(cache_dir() / "wheels" / wheel.filename)
            if report is not None:
                pairs.append((wheel, [f for f in found if f.filename == wheel.filename], report))
    return pairs


def _confirmed(found: list[Observed]) -> list[Observed]:
    """Every error and warning confirmed by :func:`confirm`; info findings as they are."""
    out = []
    for f in found:
        if f.severity not in ("error", "warning"):
            out.append(f)
            continue
        with zipfile.ZipFile(cache_dir() / "wheels" / f.filename) as archive:
            out.append(confirm(f, archive))
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the census and write the report; 0 when every error and warning is judged."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--refresh", action="store_true", help="read the current releases from PyPI again")
    parser.add_argument("--size-cap-mb", type=int, default=60, help="skip wheels larger than this (MB)")
    parser.add_argument("--jobs", type=int, default=2, help="check processes at a time (default 2)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "census.md")
    parser.add_argument(
        "--auditwheel", action="store_true", help="compare with `auditwheel show --json` on manylinux wheels"
    )
    parser.add_argument("--abi3audit", action="store_true", help="compare with `abi3audit -R` on abi3 wheels")
    parser.add_argument(
        "--baseline", metavar="COMMIT", help="also report the cached results of an earlier commit (its run)"
    )
    args = parser.parse_args(argv)

    read_at, chosen = select(args.refresh)
    wheels = [w for w in chosen if w.size <= args.size_cap_mb * 1_000_000]
    skipped = [w for w in chosen if w.size > args.size_cap_mb * 1_000_000]
    commit = _commit()
    results = cache_dir() / "results" / _results_key()
    results.mkdir(parents=True, exist_ok=True)

    failed: list[tuple[Chosen, str]] = []
    reports: dict[str, dict[str, Any]] = {}

    def one(wheel: Chosen) -> tuple[Chosen, dict[str, Any] | str]:
        try:
            return wheel, check(download(wheel), results)
        except (OSError, RuntimeError, ValueError) as exc:
            return wheel, f"{type(exc).__name__}: {exc}"

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for i, (wheel, outcome) in enumerate(pool.map(one, wheels), 1):
            if isinstance(outcome, str):
                failed.append((wheel, outcome))
            else:
                reports[wheel.filename] = outcome
                if outcome.get("exit"):
                    failed.append((wheel, f"exit {outcome['exit']}: {outcome.get('stderr', '')[-300:]}"))
            print(f"[{i}/{len(wheels)}] {wheel.filename}", file=sys.stderr)

    checked = [w for w in wheels if w.filename in reports and not reports[w.filename].get("exit")]
    found = [f for w in checked for f in observed(w, reports[w.filename])]
    found = _confirmed(found)
    verdicts = load_verdicts()
    baseline = None
    if args.baseline:
        old = cache_dir() / "results" / args.baseline
        base_reports = {w.filename: json.loads((old / f"{w.filename}.json").read_text()) for w in checked}
        base_found = [f for w in checked for f in observed(w, base_reports[w.filename])]
        baseline = (args.baseline, _confirmed(base_found))
    text = render(
        read_at=read_at,
        commit=commit,
        wheels=checked,
        skipped=skipped,
        failed=failed,
        found=found,
        verdicts=verdicts,
        size_cap=args.size_cap_mb,
        baseline=baseline,
        auditwheel=_auditwheel_pairs(checked, reports) if args.auditwheel else None,
        abi3=_abi3_pairs(checked, found) if args.abi3audit else None,
        command=" ".join(["python scripts/census.py", *(argv if argv is not None else sys.argv[1:])]),
    )
    _write_atomic(args.out, text)
    unjudged = sum(
        1 for f in found if f.severity in ("error", "warning") and not any(v.covers(f) for v in verdicts)
    )
    print(
        f"wrote {args.out}: {len(checked)} wheels, {len(found)} findings, {unjudged} unjudged",
        file=sys.stderr,
    )
    return 0 if unjudged == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
