"""Differential test: native-doctor's Linux answers against ``auditwheel show --json`` (pinned).

For every manylinux/musllinux wheel of the corpus, the best tag (``qualifies_for[0]`` vs
``overall_tag``), the external libraries and the symbol versions must agree. auditwheel runs
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

import pytest

from _corpus import CorpusWheel, ensure, wheels
from native_doctor.analysis import Inspection, inspect_artifact
from native_doctor.platforms import linux
from native_doctor.sources.wheel import read_wheel

AUDITWHEEL_VERSION = "6.8.2"
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
    entries = _linux_corpus()
    paths = [ensure(entry) for entry in entries]
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(_auditwheel_show, paths))
    return {entry.filename: answer for entry, answer in zip(entries, answers, strict=True)}


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
    fixed = {**answer, "external_libs": external}
    if not external:
        fixed["overall_tag"] = answer["sym_tag"]
    return fixed


def _ours(entry: CorpusWheel) -> Inspection:
    return inspect_artifact(read_wheel(ensure(entry)))


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
    assert list(ours.external_libraries) == sorted(theirs["external_libs"])
    expected = {lib: sorted(v) for lib, v in sorted(theirs["versioned_symbols"].items())}
    assert _symbol_versions(ours) == expected
