"""Meta-tests over the check registry: well-formed, documented once, each check fires and stays quiet."""

from __future__ import annotations

import dataclasses
import importlib.util
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from native_doctor.analysis import Inspection, inspect_artifact
from native_doctor.binary.model import BinaryFormat, BinaryInfo, FileKind
from native_doctor.checks.registry import (
    Check,
    Finding,
    Severity,
    Status,
    all_checks,
    get,
    group_findings,
    run_checks,
)
from native_doctor.model import Artifact, ArtifactKind, NativeFile

ROOT = Path(__file__).resolve().parents[2]


def _elf(needed: tuple[str, ...] = (), rpath: tuple[str, ...] = ()) -> BinaryInfo:
    return BinaryInfo(
        BinaryFormat.ELF, "x86_64", 64, "little", FileKind.SHARED_LIBRARY, needed=needed, rpath=rpath
    )


def _wheel(
    *files: NativeFile, read_limits: tuple[str, ...] = (), optional: tuple[str, ...] = ()
) -> Inspection:
    artifact = Artifact(
        read_limits=read_limits,
        optional_extensions=optional,
        kind=ArtifactKind.WHEEL,
        path="demo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl",
        name="demo",
        version="1.0",
        claimed_tags=("cp311-cp311-manylinux_2_17_x86_64",),
        files=tuple(f.install_path for f in files),
        native=files,
    )
    return inspect_artifact(artifact)


def _file(path: str, info: BinaryInfo | None, error: str | None = None) -> NativeFile:
    return NativeFile(path, path, 100, None, info, error)


EXT = "demo/_ext.so"
Factory = Callable[[], Inspection]
#: For every check that runs on an inspection: (an inspection that triggers it, a clean one).
#: The check families' test modules (tests/checks/test_*_checks.py) each define their own
#: ``CASES`` table; they are merged below.
CASES: dict[str, tuple[Factory, Factory]] = {
    "ND002": (
        lambda: _wheel(_file(EXT, None, "truncated")),
        lambda: _wheel(_file(EXT, _elf(("libc.so.6",)))),
    ),
    "ND003": (
        lambda: _wheel(_file(EXT, _elf(("libc.so.6",))), read_limits=("stopped reading: big.so",)),
        lambda: _wheel(_file(EXT, _elf(("libc.so.6",)))),
    ),
    "ND201": (
        lambda: _wheel(_file(EXT, _elf(("libfoo.so.1", "libc.so.6")))),
        lambda: _wheel(
            _file(EXT, _elf(("libfoo.so.1",), rpath=("$ORIGIN/../demo.libs",))),
            _file("demo.libs/libfoo.so.1", _elf(("libc.so.6",))),
        ),
    ),
    "ND211": (
        lambda: _wheel(_file(EXT, _elf(("libfoo.so.1", "libc.so.6"))), optional=(EXT,)),
        lambda: _wheel(_file(EXT, _elf(("libfoo.so.1", "libc.so.6")))),  # not optional: ND201
    ),
}


def _family_cases(table: str) -> dict[str, tuple[Callable[[], Any], Callable[[], Any]]]:
    merged: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {}
    for path in sorted(Path(__file__).parent.glob("test_*_checks.py")):
        spec = importlib.util.spec_from_file_location(f"_cases_{path.stem}", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for code, pair in getattr(module, table, {}).items():
            assert code not in merged and code not in CASES, f"{code} has fixtures in two modules"
            merged[code] = pair
    return merged


CASES.update(_family_cases("CASES"))
#: For every environment check: (an EnvironmentInspection that triggers it, a clean one).
ENV_CASES = _family_cases("ENV_CASES")


def test_codes_and_names_are_unique_and_well_formed() -> None:
    checks = all_checks()
    codes = [c.code for c in checks]
    names = [c.name for c in checks]
    assert len(set(codes)) == len(codes) and len(set(names)) == len(names)
    assert all(re.fullmatch(r"ND\d{3}", code) for code in codes)
    assert all(re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", name) for name in names)


@pytest.mark.parametrize("check", all_checks(), ids=lambda c: c.code)
def test_every_check_is_documented_in_every_part(check: Check) -> None:
    for part in ("summary", "what", "why", "fix"):
        text = getattr(check, part)
        assert isinstance(text, str) and len(text) > 20, part
    assert get(check.code) is check and get(check.name) is check


@pytest.mark.parametrize(
    "check",
    [c for c in all_checks() if c.function is not None and c.status is Status.STABLE],
    ids=lambda c: c.code,
)
def test_every_check_fires_and_stays_quiet(check: Check) -> None:
    code = check.code
    assert code in CASES, f"{code} needs a triggering and a clean fixture in CASES"
    bad, good = CASES[code]
    assert code in {f.code for f in run_checks(bad())}
    assert code not in {f.code for f in run_checks(good())}


@pytest.mark.parametrize(
    "check",
    [c for c in all_checks() if c.environment_function is not None and c.status is Status.STABLE],
    ids=lambda c: c.code,
)
def test_every_environment_check_fires_and_stays_quiet(check: Check) -> None:
    from native_doctor.checks.registry import run_environment_checks

    assert check.code in ENV_CASES, f"{check.code} needs a triggering and a clean fixture in ENV_CASES"
    bad, good = ENV_CASES[check.code]
    assert check.code in {f.code for f in run_environment_checks(bad())}
    assert check.code not in {f.code for f in run_environment_checks(good())}


def test_generated_docs_are_up_to_date() -> None:
    spec = importlib.util.spec_from_file_location("gen_checks_doc", ROOT / "scripts" / "gen_checks_doc.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    expected = module.render(all_checks())
    assert (ROOT / "docs" / "checks.md").read_text(encoding="utf-8") == expected, (
        "run scripts/gen_checks_doc.py"
    )


def test_every_knowledge_page_exists_and_links_its_checks() -> None:
    from native_doctor.checks.registry import PAGES

    for page in PAGES:
        assert (ROOT / "docs" / "knowledge" / f"{page}.md").is_file(), page
    for check in all_checks():
        text = (ROOT / "docs" / "knowledge" / f"{check.page}.md").read_text(encoding="utf-8")
        assert check.code in text, f"{check.code} is not mentioned on its page {check.page}.md"


# --- one finding per cause ------------------------------------------------------------------------

_WHEEL = "demo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"


def _leak(member: str, entry: str = "/home/runner/build/lib", artifact: str = _WHEEL) -> Finding:
    check = get("ND301")
    assert check is not None
    return check.finding(f"{member} has RUNPATH entry {entry!r} pointing outside", artifact, member, entry)


def test_findings_of_one_cause_become_one_listing_every_location() -> None:
    members = [f"demo/bin/test_{i}" for i in range(207)]
    (finding,) = group_findings(_leak(m) for m in members)
    assert finding.member == members[0]
    assert finding.all_locations == tuple(members)
    assert finding.message.startswith("demo/bin/test_0 (and 206 more) has RUNPATH entry")


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(_leak("demo/b.so", entry="/opt/other"), id="another-detail"),
        pytest.param(_leak("demo/b.so", artifact="other-1.0-py3-none-any.whl"), id="another-artifact"),
        pytest.param(dataclasses.replace(_leak("demo/b.so"), code="ND302"), id="another-code"),
        pytest.param(
            dataclasses.replace(_leak("demo/b.so"), message="demo/b.so differs"), id="another-message"
        ),
        pytest.param(dataclasses.replace(_leak("demo/b.so"), severity=Severity.INFO), id="another-severity"),
    ],
)
def test_findings_of_different_causes_stay_apart(other: Finding) -> None:
    first = _leak("demo/a.so")
    assert group_findings([first, other]) == [first, other]
    assert first.all_locations == ("demo/a.so",) and first.locations == ()


def test_findings_without_a_member_are_kept_and_exact_repeats_dropped() -> None:
    check = get("ND120")
    assert check is not None
    one = check.finding("the wheel is large", _WHEEL)
    two = check.finding("the wheel is very large", _WHEEL)
    assert group_findings([one, two, one]) == [one, two]
    assert one.all_locations == ()


def test_run_checks_groups_a_cause_found_in_many_files() -> None:
    entry = "/home/runner/work/demo/build/lib"
    files = [_file(f"demo/bin/test_{i}", _elf(rpath=(entry,))) for i in range(40)]
    (finding,) = [f for f in run_checks(_wheel(*files)) if f.code == "ND301"]
    assert finding.detail == entry
    assert finding.all_locations == tuple(f"demo/bin/test_{i}" for i in range(40))


def test_run_environment_checks_groups_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same grouping step serves environment checks (an LD_LIBRARY_PATH entry shadowing one
    library for 46 extension modules is one finding)."""
    from native_doctor.checks import registry

    check = next(c for c in all_checks() if c.scope == "environment")

    def shadowed(_: object) -> Iterator[Finding]:
        for i in range(46):
            member = f"pkg/_m{i}.so"
            yield check.finding(f"{member} loads /opt/old/libstdc++.so.6 first", "env", member, "/opt/old")

    fake = dataclasses.replace(check, environment_function=shadowed)
    monkeypatch.setitem(registry._REGISTRY, check.code, fake)
    (finding,) = registry.run_environment_checks(object(), {check.code})  # type: ignore[arg-type]
    assert len(finding.all_locations) == 46
    assert finding.message == "pkg/_m0.so (and 45 more) loads /opt/old/libstdc++.so.6 first"


def test_list_entries_found_in_the_same_files_become_one_finding() -> None:
    members = [f"demo/bin/t{i}" for i in range(3)]
    entries = ["/lib/intel64", "/lib/intel64_win", "/lib/win-x64"]
    findings = [_leak(m, entry=e) for m in members for e in entries]
    assert len(group_findings(findings)) == 3  # one per entry: the detail differs
    (finding,) = group_findings(findings, list_entries=True)
    assert finding.detail == ", ".join(entries) and finding.all_locations == tuple(members)
    quoted = ", ".join(map(repr, entries))
    assert finding.message == f"demo/bin/t0 (and 2 more) has RUNPATH entry {quoted} pointing outside"


def test_list_entries_in_different_files_stay_apart() -> None:
    one, other = _leak("demo/a.so", entry="/opt/x"), _leak("demo/b.so", entry="/opt/y")
    assert group_findings([one, other], list_entries=True) == [one, other]
