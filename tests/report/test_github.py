"""GitHub Actions annotations: the commands, their escaping, and a round trip through the runner's parser.

``_parse`` mirrors how the Actions runner reads a ``::command k=v,k=v::data`` line
(``ActionCommand.TryParseV2`` in actions/runner): first ``::`` after the name ends the
properties, properties split on ``,`` then on the first ``=``, and the escapes are undone with
``%25`` last.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from native_doctor._text import printable
from native_doctor.checks.registry import Finding, Severity
from native_doctor.report import github

WHEEL = "demo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"

_UNESCAPE_DATA = (("%0D", "\r"), ("%0A", "\n"), ("%25", "%"))
_UNESCAPE_PROPERTY = (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%"))


def _unescape(text: str, mappings: tuple[tuple[str, str], ...]) -> str:
    for escaped, raw in mappings:
        text = text.replace(escaped, raw)
    return text


def _parse(line: str) -> tuple[str, dict[str, str], str]:
    """(command, properties, data) as the runner reads them."""
    line = line.lstrip()
    assert line.startswith("::")
    end = line.index("::", 2)
    info = line[2:end]
    name, _, rest = info.partition(" ")
    properties = {}
    for item in filter(None, rest.strip().split(",")):
        key, sep, value = item.partition("=")
        if sep and key and value:
            properties[key] = _unescape(value, _UNESCAPE_PROPERTY)
    return name, properties, _unescape(line[end + 2 :], _UNESCAPE_DATA)


def _finding(
    message: str = "m", artifact: str = WHEEL, severity: Severity = Severity.ERROR, code: str = "ND201"
) -> Finding:
    return Finding(code, "external-library", severity, message, artifact, "demo/_ext.so", "libfoo.so.1")


# --- escaping -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "data", "prop"),
    [
        pytest.param("plain text", "plain text", "plain text", id="plain"),
        pytest.param("100%", "100%25", "100%25", id="percent"),
        pytest.param("a\nb", "a%0Ab", "a%0Ab", id="newline"),
        pytest.param("a\r\nb", "a%0D%0Ab", "a%0D%0Ab", id="crlf"),
        pytest.param("needs: libfoo", "needs: libfoo", "needs%3A libfoo", id="colon"),
        pytest.param("a::b", "a::b", "a%3A%3Ab", id="double-colon"),
        pytest.param("a, b", "a, b", "a%2C b", id="comma"),
        pytest.param("%0A", "%250A", "%250A", id="literal-escape-sequence"),
        pytest.param("%3A,:", "%253A,:", "%253A%2C%3A", id="literal-property-escape"),
        pytest.param("x=y;z]", "x=y;z]", "x=y;z]", id="untouched-punctuation"),
        pytest.param("", "", "", id="empty"),
    ],
)
def test_escaping(raw: str, data: str, prop: str) -> None:
    assert github.escape_data(raw) == data
    assert github.escape_property(raw) == prop
    assert _unescape(data, _UNESCAPE_DATA) == raw
    assert _unescape(prop, _UNESCAPE_PROPERTY) == raw


# --- commands -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "command"),
    [
        pytest.param(Severity.ERROR, "error", id="error"),
        pytest.param(Severity.WARNING, "warning", id="warning"),
        pytest.param(Severity.INFO, "notice", id="info-is-notice"),
    ],
)
def test_command_per_severity(tmp_path: Path, severity: Severity, command: str) -> None:
    line = github.command(_finding(severity=severity), tmp_path)
    assert line.startswith(f"::{command} ")
    assert _parse(line)[0] == command


def test_command_shape(tmp_path: Path) -> None:
    line = github.command(_finding("demo/_ext.so needs libfoo.so.1"), tmp_path)
    assert line == f"::error file={WHEEL},title=ND201 external-library::demo/_ext.so needs libfoo.so.1"


@pytest.mark.parametrize(
    ("message", "artifact"),
    [
        pytest.param("line one\nline two\r\nline three", WHEEL, id="newlines"),
        pytest.param("100% of 3 binaries: 50%0A done", WHEEL, id="percent-and-fake-escape"),
        pytest.param("needs libfoo.so.1, libbar.so.2: via RPATH $ORIGIN", WHEEL, id="commas-and-colons"),
        pytest.param("::error::injected", WHEEL, id="command-in-message"),
        pytest.param("m", "dist/a,b:c%d.whl", id="tricky-artifact"),
        pytest.param("m\n::warning::second", "x\n::error file=y::z.whl", id="injection-everywhere"),
    ],
)
def test_tricky_values_survive_one_line(tmp_path: Path, message: str, artifact: str) -> None:
    line = github.command(_finding(message, artifact), tmp_path)
    assert "\n" not in line
    assert "\r" not in line
    name, properties, data = _parse(line)
    assert name == "error"
    assert properties == {"file": artifact, "title": "ND201 external-library"}
    assert data == message


_TEXT = st.text(st.characters(codec="utf-8"), max_size=60)


@settings(max_examples=300, deadline=None)
@given(message=_TEXT, artifact=_TEXT.filter(lambda s: s.strip("\r\n\t /\\.") != ""))
def test_any_text_round_trips(message: str, artifact: str) -> None:
    base = Path("/nonexistent-base")
    line = github.command(_finding(message, artifact), base)
    assert "\n" not in line
    assert "\r" not in line
    assert "\x1b" not in line and "\u202e" not in line
    _, properties, data = _parse(line)
    assert data == printable(message, keep="\r\n")  # what the runner shows: controls made visible
    assert properties["title"] == "ND201 external-library"


# --- render -------------------------------------------------------------------------------------


def test_render_nothing() -> None:
    assert github.render([]) == ""


def test_render_one_line_per_finding_in_report_order(tmp_path: Path) -> None:
    findings = [
        _finding("warn", "b.whl", Severity.WARNING),
        _finding("note", "a.whl", Severity.INFO),
        _finding("err", "a.whl", Severity.ERROR),
        _finding("two\nlines", "b.whl", Severity.ERROR, code="ND002"),
    ]
    text = github.render(findings, base=tmp_path)
    assert text.endswith("\n")
    lines = text.splitlines()
    assert [(_parse(line)[0], _parse(line)[2]) for line in lines] == [
        ("error", "err"),
        ("notice", "note"),
        ("error", "two\nlines"),
        ("warning", "warn"),
    ]


@pytest.mark.parametrize(
    ("artifact", "expected"),
    [
        pytest.param(WHEEL, WHEEL, id="relative"),
        pytest.param(f"./dist/{WHEEL}", f"dist/{WHEEL}", id="normalised"),
        pytest.param("{base}/dist/" + WHEEL, f"dist/{WHEEL}", id="absolute-below"),
        pytest.param("/opt/wheels/" + WHEEL, "/opt/wheels/" + WHEEL, id="absolute-elsewhere"),
        pytest.param(f"../{WHEEL}", f"../{WHEEL}", id="outside-as-given"),
    ],
)
def test_file_is_relative_to_the_base(tmp_path: Path, artifact: str, expected: str) -> None:
    line = github.command(_finding(artifact=artifact.format(base=tmp_path)), tmp_path)
    assert _parse(line)[1]["file"] == expected


def test_base_defaults_to_the_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    text = github.render([_finding(artifact=str(tmp_path / "dist" / WHEEL))])
    assert _parse(text)[1]["file"] == f"dist/{WHEEL}"
