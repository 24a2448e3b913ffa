"""GitHub Actions annotations: one workflow command per finding, for the step's log and summary.

``::error file=<artifact>,title=<code> <name>::<message>`` (``::warning``, ``::notice`` for info).
A finding of one cause in several members is one annotation whose message lists them (capped).
The runner reads one command per line and splits it on ``::`` and ``,``, so values are
percent-encoded the way ``@actions/core`` does it and the runner undoes it
(``src/Runner.Common/ActionCommand.cs``): in the message ``%``, CR and LF; in a property also
``:`` and ``,``. ``%`` goes first, so the escapes added after it are not escaped again.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from native_doctor._text import printable
from native_doctor.checks.registry import Finding, Severity, sort_findings
from native_doctor.report.listing import capped

__all__ = ["COMMANDS", "LOCATIONS_SHOWN", "command", "escape_data", "escape_property", "render"]

#: The workflow command for each severity.
COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}

#: How many members an annotation of a many-place finding names before "and N more".
LOCATIONS_SHOWN = 10

_DATA = (("%", "%25"), ("\r", "%0D"), ("\n", "%0A"))
_PROPERTY = (*_DATA, (":", "%3A"), (",", "%2C"))


def render(findings: Iterable[Finding], *, base: Path | None = None) -> str:
    """One annotation command per finding, one per line (empty when there are none).

    The ``file`` is the artifact's path relative to ``base`` (default: the current directory,
    which in a workflow is the checkout) when it lies below it, as annotations expect.
    """
    root = (base or Path.cwd()).resolve()
    return "".join(command(f, root) + "\n" for f in sort_findings(findings))


def command(finding: Finding, base: Path) -> str:
    """The workflow command for one finding (without the line end)."""
    properties = {"file": _display_path(finding.artifact, base), "title": f"{finding.code} {finding.name}"}
    rendered = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items())
    message = finding.message
    if len(finding.all_locations) > 1:
        message += (
            f"\nin {len(finding.all_locations)} files: {capped(finding.all_locations, LOCATIONS_SHOWN)}"
        )
    return f"::{COMMANDS[finding.severity]} {rendered}::{escape_data(message)}"


def escape_data(text: str) -> str:
    """Escape a command's message: ``%`` -> ``%25``, CR -> ``%0D``, LF -> ``%0A``; other control
    and bidi characters (ESC...) are written visibly, as in every human-facing output."""
    text = printable(text, keep="\r\n")
    for raw, escaped in _DATA:
        text = text.replace(raw, escaped)
    return text


def escape_property(text: str) -> str:
    """Escape a property value: as :func:`escape_data`, and ``:`` -> ``%3A``, ``,`` -> ``%2C``."""
    text = printable(text, keep="\r\n")
    for raw, escaped in _PROPERTY:
        text = text.replace(raw, escaped)
    return text


def _display_path(path: str, base: Path) -> str:
    """``path`` relative to ``base`` (with ``/``) when it lies below it; otherwise as given."""
    try:
        root = base.resolve()
        resolved = (root / path).resolve()
    except (OSError, ValueError):  # a symlink loop, a NUL byte: not a path we can place
        return path
    if resolved.is_relative_to(root) and resolved != root:
        return resolved.relative_to(root).as_posix()
    return path
