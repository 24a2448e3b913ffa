"""The reports' shared wording: capped location lists and the closing verdict line."""

from __future__ import annotations

import pytest

from native_doctor.checks.registry import Finding, Severity
from native_doctor.report.listing import capped, verdict

E, W, N = Severity.ERROR, Severity.WARNING, Severity.INFO


def _finding(severity: Severity) -> Finding:
    return Finding("ND999", "demo", severity, "message", "demo-1.0-py3-none-any.whl")


@pytest.mark.parametrize(
    ("severities", "artifacts", "noun", "expected"),
    [
        pytest.param((), 1, "wheel", "no problems found in 1 wheel", id="clean-one"),
        pytest.param((), 4, "wheel", "no problems found in 4 wheels", id="clean-many"),
        pytest.param((N, N), 1, "wheel", "no problems found in 1 wheel (2 info findings)", id="info-only"),
        pytest.param((E, E, W, W, W), 4, "wheel", "2 errors, 3 warnings in 4 wheels", id="issue-example"),
        pytest.param((W,), 1, "wheel", "1 warning in 1 wheel", id="one-warning"),
        pytest.param((E, N), 12, "distribution", "1 error, 1 info finding in 12 distributions", id="env"),
    ],
)
def test_verdict(severities: tuple[Severity, ...], artifacts: int, noun: str, expected: str) -> None:
    assert verdict([_finding(s) for s in severities], artifacts, noun) == expected


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        pytest.param(3, "a0, a1, a2", id="under-the-cap"),
        pytest.param(6, "a0, a1, a2, a3, a4, a5", id="one-over-shows-all"),
        pytest.param(9, "a0, a1, a2, a3, a4 and 4 more", id="over-the-cap"),
    ],
)
def test_capped(count: int, expected: str) -> None:
    assert capped([f"a{i}" for i in range(count)], 5) == expected
