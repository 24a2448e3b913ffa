"""--select/--ignore: codes, prefixes, names, ALL; unknown selectors are usage errors."""

from __future__ import annotations

from dataclasses import replace

import pytest

from native_doctor.checks import registry
from native_doctor.checks.registry import Status, all_checks
from native_doctor.checks.selection import select_checks
from native_doctor.errors import UsageError

STABLE = frozenset(c.code for c in all_checks() if c.status is Status.STABLE)


@pytest.mark.parametrize(
    ("select", "ignore", "expected"),
    [
        pytest.param(None, (), STABLE, id="default-all-stable"),
        pytest.param(("ND201",), (), {"ND201"}, id="one-code"),
        pytest.param(("nd201",), (), {"ND201"}, id="code-any-case"),
        pytest.param(("external-library",), (), {"ND201"}, id="by-name"),
        pytest.param(("ND0",), (), {c for c in STABLE if c.startswith("ND0")}, id="prefix"),
        pytest.param(
            ("ALL",), ("ND0",), {c for c in STABLE if not c.startswith("ND0")}, id="all-minus-prefix"
        ),
        pytest.param(None, ("unreadable-binary",), STABLE - {"ND002"}, id="ignore-by-name"),
    ],
)
def test_selection(select: tuple[str, ...] | None, ignore: tuple[str, ...], expected: frozenset[str]) -> None:
    assert select_checks(select, ignore) == expected


@pytest.mark.parametrize("selector", ["ND999", "no-such-check", "XYZ"])
def test_unknown_selector_is_a_usage_error(selector: str) -> None:
    with pytest.raises(UsageError, match="unknown check selector"):
        select_checks((selector,))


def test_preview_checks_only_on_request() -> None:
    preview = {c.code for c in all_checks() if c.status is Status.PREVIEW}
    assert not preview & select_checks()
    assert preview <= select_checks(preview=True)


def test_preview_only_selector_asks_for_preview(monkeypatch: pytest.MonkeyPatch) -> None:
    preview = [c for c in all_checks() if c.status is Status.PREVIEW]
    if not preview:  # none in preview today: register one for the test instead of skipping
        demo = replace(all_checks()[0], code="ND998", name="preview-demo", status=Status.PREVIEW)
        monkeypatch.setitem(registry._REGISTRY, demo.code, demo)
        preview = [demo]
    with pytest.raises(UsageError, match="--preview"):
        select_checks((preview[0].code,))
    assert select_checks((preview[0].code,), preview=True) == {preview[0].code}


@pytest.mark.parametrize("selector", ["N", "D2"])
def test_partial_prefixes_are_unknown(selector: str) -> None:
    with pytest.raises(UsageError):
        select_checks((selector,))
