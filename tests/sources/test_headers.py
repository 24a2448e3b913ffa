"""The METADATA/WHEEL header reader agrees with the standard library's email parser."""

from __future__ import annotations

import email.parser

import pytest

from native_doctor.sources._headers import parse_headers

SAMPLES = {
    "metadata": (
        "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nRequires-Dist: numpy>=2\n"
        "Requires-Dist: scipy ; extra == 'all'\nSummary: one\n  continued\n\nbody: not a header\n"
    ),
    "wheel": (
        "Wheel-Version: 1.0\nRoot-Is-Purelib: false\n"
        "Tag: cp311-cp311-manylinux_2_17_x86_64\nTag: cp311-cp311-x\n"
    ),
    "case-insensitive": "name: lower\nVERSION: 2\n",
    "empty": "",
    "crlf": "Name: demo\r\nVersion: 3\r\n\r\n",
}


@pytest.mark.parametrize("text", list(SAMPLES.values()), ids=list(SAMPLES))
@pytest.mark.parametrize(
    "field", ["Name", "Version", "Requires-Dist", "Tag", "Root-Is-Purelib", "Summary", "body"]
)
def test_agrees_with_email_parser(text: str, field: str) -> None:
    reference = email.parser.Parser().parsestr(text, headersonly=True)
    ours = parse_headers(text)
    expected = [" ".join(v.split()) for v in reference.get_all(field) or []]
    assert [" ".join(v.split()) for v in ours.get_all(field)] == expected
    assert (ours.get(field) is None) == (reference.get(field) is None)


def test_a_whitespace_only_continuation_line_does_not_end_the_block() -> None:
    """scipy's METADATA folds a multi-paragraph License: its blank lines are indented, and the
    Requires-Dist fields come after them (email.parser reads it the same way)."""
    text = (
        "Metadata-Version: 2.1\nName: scipy\nLicense: Copyright (c) 2001\n         All rights reserved.\n"
        "         \n         Redistribution ...\nRequires-Dist: numpy<2.7,>=1.26.4\n\nbody\n"
    )
    headers = parse_headers(text)
    assert headers.get_all("Requires-Dist") == ["numpy<2.7,>=1.26.4"]
    import email.parser

    assert email.parser.Parser().parsestr(text).get_all("Requires-Dist") == ["numpy<2.7,>=1.26.4"]
