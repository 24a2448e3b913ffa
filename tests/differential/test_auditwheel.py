"""Differential test: native-doctor's Linux answers against ``auditwheel show --json`` (pinned).

For every manylinux/musllinux wheel of the corpus, the best tag (``qualifies_for[0]`` vs
``overall_tag``), the external libraries, the symbol versions and the policy upgrades must agree.
auditwheel's ``external_libs`` is relative to its most compatible policy (manylinux_2_5), ours to
the best policy the wheel meets: the comparison takes ours from our ``policy_upgrades`` entry of
that policy when there is one. auditwheel runs
with ``--ldpaths ''`` so the host's libraries do not colour its answer. Known, judged
disagreements are listed in docs/differences.md and encoded in ``KNOWN`` with the reason.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import _corpus
from _corpus import CorpusWheel, ensure, wheels
from _toolchain import require, run
from _wheels import make_wheel
from native_doctor.analysis import Inspection, inspect_artifact
from native_doctor.platforms import linux
from native_doctor.report import json_report
from native_doctor.sources.wheel import read_wheel

AUDITWHEEL_VERSION = "6.8.2"
SCHEMA = Path(json_report.__file__).with_name("schema.json")
LINUX_FAMILIES = ("manylinux-x86_64", "manylinux-aarch64", "manylinux-i686", "manylinux-other")
MUSL_FAMILIES = ("musllinux-x86_64", "musllinux-aarch64")
_LOADER = re.compile(r"^(ld-linux.*|ld64\.so\.\d)$")


def _linux_corpus() -> list[CorpusWheel]:
    return [w for f in LINUX_FAMILIES + MUSL_FAMILIES for w in wheels(family=f)]


def _auditwheel_show(path: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "auditwheel", "show", "--json", "--ldpaths", "", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


@pytest.fixture(scope="session")
def auditwheel_answers() -> dict[str, dict[str, Any]]:
    """``auditwheel show --json`` for every Linux corpus wheel, two at a time."""
    from importlib.metadata import version

    assert version("auditwheel") == AUDITWHEEL_VERSION, "the oracle is pinned: see pyproject.toml"
    # Large wheels only when opted in; asking for one this run did not fetch skips (_Answers).
    entries = [e for e in _linux_corpus() if _corpus.large_opted_in() or not _corpus.is_large(e)]
    paths = [ensure(entry) for entry in entries]
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(_auditwheel_show, paths))
    return _Answers({entry.filename: answer for entry, answer in zip(entries, answers, strict=True)})


class _Answers(dict[str, dict[str, Any]]):
    """auditwheel's answers by wheel file name; a large wheel this run did not fetch skips."""

    def __missing__(self, filename: str) -> dict[str, Any]:
        _corpus.require_large(filename)
        raise KeyError(filename)


def _judged(answer: dict[str, Any]) -> dict[str, Any]:
    """auditwheel's answer with its judged mistakes (docs/differences.md) corrected.

    musl's reserved names (``libc.so``, ``libm.so.6``, ...): musl's loader answers them itself,
    without a file, but auditwheel 6.8.2 lists them as external libraries and so falls back to
    ``linux_<arch>``; without them its tag is the symbol-version tag.
    """
    external = dict(answer["external_libs"])
    reserved = [name for name in external if linux.is_reserved_name(name, "musl")]
    if not reserved or not answer["overall_tag"].startswith("linux_"):
        return answer
    for name in reserved:
        del external[name]
    upgrades = {}
    for tag, entry in answer["policy_upgrades"].items():
        libs = [name for name in entry.get("libs_to_eliminate", []) if name not in reserved]
        kept = (
            {**entry, "libs_to_eliminate": libs}
            if libs
            else {k: v for k, v in entry.items() if k != "libs_to_eliminate"}
        )
        if kept:
            upgrades[tag] = kept
    fixed = {**answer, "external_libs": external, "policy_upgrades": upgrades}
    if not external:
        fixed["overall_tag"] = answer["sym_tag"]
    return fixed


def _ours(entry: CorpusWheel) -> Inspection:
    return inspect_artifact(read_wheel(ensure(entry), deep=True))


def _external_as_auditwheel_says(ours: Inspection) -> list[str]:
    """Our external libraries relative to the most compatible policy, as auditwheel's are."""
    libc: linux.Libc = "musl" if ours.platform.libc == "musl" else "glibc"
    (arch,) = ours.platform.archs
    first = next(p for p in linux.policies(libc) if p.supports_arch(arch)).tag(arch)
    upgrade = {u.tag: u for u in ours.platform.policy_upgrades}.get(first)
    return list(upgrade.libs_to_eliminate) if upgrade else list(ours.external_libraries)


def _upgrades(ours: Inspection) -> dict[str, dict[str, Any]]:
    """Our policy upgrades in auditwheel's shape (keys only when not empty)."""
    result: dict[str, dict[str, Any]] = {}
    for upgrade in ours.platform.policy_upgrades:
        entry: dict[str, Any] = {}
        if upgrade.libs_to_eliminate:
            entry["libs_to_eliminate"] = list(upgrade.libs_to_eliminate)
        if upgrade.blacklisted_symbols:
            entry["blacklisted_symbols"] = {k: list(v) for k, v in upgrade.blacklisted_symbols.items()}
        result[upgrade.tag] = entry
    return result


def _symbol_versions(inspection: Inspection) -> dict[str, list[str]]:
    merged: dict[str, set[str]] = {}
    for binary in inspection.binaries:
        info = binary.native.info
        assert info is not None, binary.native.error
        for library, versions in info.symbol_versions.items():
            if not _LOADER.match(library):
                merged.setdefault(library, set()).update(versions)
    return {library: sorted(versions) for library, versions in sorted(merged.items())}


@pytest.mark.corpus
@pytest.mark.parametrize("entry", [pytest.param(w, id=w.filename) for w in _linux_corpus()])
def test_agrees_with_auditwheel_show(
    entry: CorpusWheel, auditwheel_answers: dict[str, dict[str, Any]]
) -> None:
    theirs = _judged(auditwheel_answers[entry.filename])
    ours = _ours(entry)
    assert ours.platform.qualifies_for, "no tag computed"
    assert ours.platform.qualifies_for[0] == theirs["overall_tag"]
    assert _external_as_auditwheel_says(ours) == sorted(theirs["external_libs"])
    assert set(ours.external_libraries) <= set(theirs["external_libs"])
    assert _upgrades(ours) == theirs["policy_upgrades"]
    expected = {lib: sorted(v) for lib, v in sorted(theirs["versioned_symbols"].items())}
    assert _symbol_versions(ours) == expected


# --- synthetic wheels: what the corpus does not show (its wheels are all repaired) -------------------

_STUBS = {
    # GDAL's case: a library manylinux2014 allows but manylinux_2_5 / manylinux2010 do not.
    "libexpat.so.1": "void *XML_ParserCreate(const char *e) { (void)e; return 0; }\n",
    # zlib internals distributions' libz.so.1 does not export (forbidden by every policy).
    "libz.so.1": "int deflate(void *s, int f) { (void)s; return f; }\nvoid _tr_flush_block(void) {}\n",
}
_EXTENSIONS = {
    "expat": (
        "#include <time.h>\nvoid *XML_ParserCreate(const char *);\n"
        "long f(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); "
        "return (long)XML_ParserCreate(0) + t.tv_sec; }\n",
        ("libexpat.so.1",),
    ),
    "zlib-internals": (
        "int deflate(void *, int);\nvoid _tr_flush_block(void);\n"
        "int f(void) { _tr_flush_block(); return deflate(0, 0); }\n",
        ("libz.so.1",),
    ),
}


@pytest.mark.toolchain
@pytest.mark.parametrize("case", sorted(_EXTENSIONS))
def test_synthetic_policy_upgrades_agree_with_auditwheel(case: str, tmp_path: Path) -> None:
    """A manylinux2014 wheel needing an unbundled libexpat.so.1 (auditwheel lists it in
    external_libs, relative to manylinux_2_5; we list nothing, relative to the manylinux_2_17 the
    wheel meets, and both name it in policy_upgrades), and one importing zlib internals."""
    gcc = require("gcc")
    source, libraries = _EXTENSIONS[case]
    for library in libraries:
        (tmp_path / f"{library}.c").write_text(_STUBS[library])
        run(
            gcc,
            "-shared",
            "-fPIC",
            f"-Wl,-soname,{library}",
            tmp_path / f"{library}.c",
            "-o",
            tmp_path / library,
        )
    (tmp_path / "ext.c").write_text(source)
    links = [f"-l:{library}" for library in libraries]
    ext = tmp_path / "_ext.so"
    run(gcc, "-shared", "-fPIC", tmp_path / "ext.c", "-Wl,--no-as-needed", f"-L{tmp_path}", *links, "-o", ext)
    wheel = make_wheel(
        tmp_path,
        "demo-1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        {"demo/_ext.cpython-312-x86_64-linux-gnu.so": ext.read_bytes()},
    )
    theirs = _auditwheel_show(wheel)
    ours = inspect_artifact(read_wheel(wheel, deep=True))
    assert ours.platform.qualifies_for[0] == theirs["overall_tag"]
    assert _external_as_auditwheel_says(ours) == sorted(theirs["external_libs"])
    assert _upgrades(ours) == theirs["policy_upgrades"]
    reported = json_report.document([ours], [])
    jsonschema.validate(reported, json.loads(SCHEMA.read_text(encoding="utf-8")))
    as_json = reported["artifacts"][0]["policy_upgrades"]
    assert {tag: {k: v for k, v in entry.items() if v} for tag, entry in as_json.items()} == theirs[
        "policy_upgrades"
    ]
    if case == "expat":
        assert ours.platform.qualifies_for[0] == "manylinux_2_17_x86_64"
        assert ours.external_libraries == ()
        assert sorted(theirs["external_libs"]) == ["libexpat.so.1"]
        assert set(_upgrades(ours)) == {"manylinux_2_5_x86_64"}  # manylinux2010 allows libexpat.so.1
    else:
        assert ours.platform.qualifies_for[0] == "linux_x86_64"
        blacklisted = {u.tag: dict(u.blacklisted_symbols) for u in ours.platform.policy_upgrades}
        assert blacklisted["manylinux_2_17_x86_64"] == {"libz.so.1": ("_tr_flush_block",)}
