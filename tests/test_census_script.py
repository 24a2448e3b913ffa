"""scripts/census.py offline: which wheel of a release it picks, how judgements match, the verdicts file."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("census", ROOT / "scripts" / "census.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["census"] = module  # dataclasses resolve their annotations through it
    spec.loader.exec_module(module)
    return module


census = _load()


def _file(filename: str) -> dict[str, Any]:
    return {
        "filename": filename,
        "url": f"../../packages/{filename}",
        "digests": {"sha256": "0" * 64},
        "size": 1,
        "yanked": False,
    }


@pytest.mark.parametrize(
    ("filenames", "family", "chosen"),
    [
        pytest.param(
            [
                "x-1-cp311-cp311-win_amd64.whl",
                "x-1-cp312-cp312-win_amd64.whl",
                "x-1-cp313-cp313-win_amd64.whl",
            ],
            "win-amd64",
            "x-1-cp312-cp312-win_amd64.whl",
            id="cp312-preferred",
        ),
        pytest.param(
            ["x-1-cp311-abi3-win_amd64.whl", "x-1-cp315-abi3.abi3t-win_amd64.whl"],
            "win-amd64",
            "x-1-cp311-abi3-win_amd64.whl",
            id="abi3-not-newer-than-3.12",
        ),
        pytest.param(
            [
                "x-1-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
                "x-1-cp312-cp312-manylinux_2_28_x86_64.whl",
            ],
            "manylinux-x86_64",
            "x-1-cp312-cp312-manylinux_2_28_x86_64.whl",
            id="newest-platform-tag",
        ),
        pytest.param(
            ["x-1-cp313-cp313t-musllinux_1_2_aarch64.whl", "x-1-cp313-cp313-musllinux_1_2_aarch64.whl"],
            "musllinux-aarch64",
            "x-1-cp313-cp313-musllinux_1_2_aarch64.whl",
            id="free-threaded-skipped",
        ),
        pytest.param(
            ["x-1-pp310-pypy310_pp73-macosx_11_0_arm64.whl", "x-1-py3-none-macosx_11_0_arm64.whl"],
            "macos-arm64",
            "x-1-py3-none-macosx_11_0_arm64.whl",
            id="pypy-skipped",
        ),
    ],
)
def test_choose(filenames: list[str], family: str, chosen: str) -> None:
    picked = census.choose("x", "1", [_file(f) for f in filenames])
    assert picked[family].filename == chosen


def test_choose_leaves_out_sdists_and_foreign_families() -> None:
    picked = census.choose(
        "x", "1", [_file("x-1.tar.gz"), _file("x-1-cp312-cp312-manylinux_2_31_armv7l.whl")]
    )
    assert picked == {}


def _observed(**changes: str) -> Any:
    base = {
        "project": "rpds-py",
        "family": "musllinux-x86_64",
        "filename": "rpds_py-1-cp312-cp312-musllinux_1_2_x86_64.whl",
        "code": "ND201",
        "name": "external-library",
        "severity": "error",
        "detail": "libc.so",
        "message": "...",
        "members": ("rpds/rpds.so",),
    }
    return census.Observed(**{**base, **changes})


@pytest.mark.parametrize(
    ("changes", "covered"),
    [
        ({}, True),
        ({"project": "RPDS_py"}, True),
        ({"family": "manylinux-x86_64"}, False),
        ({"detail": "libc.so.6"}, False),
        ({"code": "ND604"}, False),
    ],
)
def test_verdict_covers(changes: dict[str, str], covered: bool) -> None:
    verdict = census.Verdict(
        cause="c", code="ND201", verdict="false", evidence="e", detail="libc.so", families=("musllinux-*",)
    )
    assert verdict.covers(_observed(**changes)) is covered


def test_verdicts_file_is_well_formed() -> None:
    verdicts = census.load_verdicts()
    assert verdicts
    for v in verdicts:
        assert v.verdict in census.VERDICTS
        assert v.evidence.strip() and v.cause.strip()
        assert v.code.startswith("ND")
        assert "*" not in v.projects, f"{v.cause}: judge named projects, not every future finding"
    raw = json.loads(census.VERDICTS_PATH.read_text(encoding="utf-8"))
    assert len({v["cause"] for v in raw["verdicts"]}) == len(raw["verdicts"]), "one entry per cause"


def test_projects_are_enough_and_distinct() -> None:
    assert len(census.PROJECTS) >= 60
    assert len(set(census.PROJECTS)) == len(census.PROJECTS)


def test_auditwheel_section_lists_only_disagreements() -> None:
    def wheel(name: str) -> Any:
        return census.Chosen("x", "1", "manylinux-x86_64", name, "u", "0" * 64, 1)

    def ours(tag: str, ext: list[str]) -> dict[str, Any]:
        return {"artifacts": [{"platform": {"qualifies_for": [tag]}, "external_libraries": ext}]}

    pairs = [
        (wheel("same.whl"), ours("manylinux_2_17_x86_64", []), {"overall_tag": "manylinux2014_x86_64"}),
        (
            wheel("other.whl"),
            ours("manylinux_2_28_x86_64", []),
            {"overall_tag": "manylinux_2_5_x86_64", "external_libs": {"libexpat.so.1": None}},
        ),
    ]
    text = "\n".join(census._auditwheel_section(pairs))
    assert "the best platform tag agrees on 1" in text
    assert "`other.whl` | manylinux_2_28_x86_64 | manylinux_2_5_x86_64 | - | libexpat.so.1 |" in text
    assert "same.whl" not in text


def test_abi3_violations_read_abi3audit_reports() -> None:
    clean = {"result": {"non_abi3_symbols": [], "is_abi3_baseline_compatible": True}}
    private = {"name": "a.abi3.so", "result": {"non_abi3_symbols": ["_PyObject_GC_New"]}}
    too_new = {"name": "b.abi3.so", "result": {"non_abi3_symbols": [], "is_abi3_baseline_compatible": False}}
    report = {
        "specs": {"w.whl": {"kind": "wheel", "wheel": [{"name": "c.abi3.so", **clean}, private, too_new]}}
    }
    assert census._abi3_violations(report) == ["a.abi3.so", "b.abi3.so"]
