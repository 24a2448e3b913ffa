"""Untrusted text for people: controls and bidi characters visible, echoed input capped."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from native_doctor._text import printable, quoted, shorten


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        pytest.param("a\x1b]0;title\x07b", "a\\x1b]0;title\\x07b", id="osc-title"),
        pytest.param("x\x1b[2Jy", "x\\x1b[2Jy", id="clear-screen"),
        pytest.param("line\nforged", "line\\x0aforged", id="newline"),
        pytest.param("evil\u202eos.so", "evil\\u202eos.so", id="rtl-override"),
        pytest.param("a\u2066b\u2069", "a\\u2066b\\u2069", id="isolates"),
        pytest.param("c1\x9bcsi", "c1\\x9bcsi", id="c1-csi"),
        pytest.param("zero\u200bwidth", "zero\\u200bwidth", id="zero-width"),
        pytest.param("libfoo.so.1 é 中", "libfoo.so.1 é 中", id="plain-unicode-kept"),
    ],
)
def test_printable(raw: str, shown: str) -> None:
    assert printable(raw) == shown


def test_printable_can_keep_newlines() -> None:
    assert printable("a\nb\x1b\r", keep="\r\n") == "a\nb\\x1b\r"


@given(st.text())
def test_printable_leaves_no_control_or_bidi_character(text: str) -> None:
    shown = printable(text)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or 0x202A <= ord(c) <= 0x202E for c in shown)


def test_shorten_and_quoted_cap_echoed_input() -> None:
    huge = "x" * 50_000_000
    assert len(shorten(huge)) < 300 and shorten(huge).endswith("(49999800 more characters)")
    assert len(quoted(huge)) < 300
    assert quoted("short") == "'short'" and shorten("short") == "short"
