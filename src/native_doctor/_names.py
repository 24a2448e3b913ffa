"""Names compared the way the packaging specifications compare them, without importing ``packaging``.

``packaging.utils`` imports ``packaging.tags``, which imports ``subprocess``, ``logging``,
``platform`` and ``sysconfig``: ~7 ms of start-up for every command that only needs to compare
a distribution name or read a plain wheel file name (measured: docs/performance.md). The
functions here give the same answers as ``packaging`` for what they accept and hand everything
else to it.
"""

from __future__ import annotations

import re

__all__ = ["canonical_name", "plain_wheel_name"]

_SEPARATORS = re.compile(r"[-_.]+")
_NUMBER = r"(?:0|[1-9][0-9]*)"
#: A wheel file name whose every part is already in the form ``packaging`` would give back: a name
#: of letters, digits and single separators, a normalised public version (no epoch, no local
#: part, no leading zeros), no build tag, lower-case tags whose interpreters are identifiers.
_PLAIN_WHEEL = re.compile(
    r"(?P<name>[A-Za-z0-9]+(?:[._][A-Za-z0-9]+)*)"
    rf"-(?P<version>{_NUMBER}(?:\.{_NUMBER})*(?:(?:a|b|rc){_NUMBER})?(?:\.post{_NUMBER})?(?:\.dev{_NUMBER})?)"
    r"-(?P<pythons>[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*)"
    r"-(?P<abis>[a-z0-9_]+(?:\.[a-z0-9_]+)*)"
    r"-(?P<platforms>[a-z0-9_]+(?:\.[a-z0-9_]+)*)\.whl"
)


def canonical_name(name: str) -> str:
    """The normalised form of a distribution name (PEP 503: runs of ``-_.`` become one ``-``,
    lower case), as ``packaging.utils.canonicalize_name`` gives it."""
    return _SEPARATORS.sub("-", name).lower()


def plain_wheel_name(filename: str) -> tuple[str, str, tuple[str, ...]] | None:
    """(canonical name, version, sorted tags) of a plain wheel file name, exactly as
    ``packaging.utils.parse_wheel_filename`` would give them (as strings); ``None`` for any other
    name, which the caller hands to ``packaging`` (it also says what is wrong with a bad one)."""
    match = _PLAIN_WHEEL.fullmatch(filename)
    if match is None:
        return None
    tags = {
        f"{python}-{abi}-{platform}"
        for python in match["pythons"].split(".")
        for abi in match["abis"].split(".")
        for platform in match["platforms"].split(".")
    }
    return canonical_name(match["name"]), match["version"], tuple(sorted(tags))
