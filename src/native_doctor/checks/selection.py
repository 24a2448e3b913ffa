"""Which checks run: ``--select``/``--ignore`` by code, code prefix or name (as ruff does)."""

from __future__ import annotations

from collections.abc import Iterable

from native_doctor.checks.registry import Check, Status, all_checks
from native_doctor.errors import UsageError

__all__ = ["select_checks"]


def select_checks(
    select: Iterable[str] | None = None, ignore: Iterable[str] = (), *, preview: bool = False
) -> frozenset[str]:
    """The codes of the checks to run.

    ``select`` defaults to every stable check (plus preview ones with ``preview``); ``ignore`` is
    taken away. Each selector is a code (``ND201``), a code prefix (``ND2``, ``ND20``), a name
    (``external-library``) or ``ALL``.

    :raises UsageError: a selector that matches no check.
    """
    checks = [c for c in all_checks() if c.status is not Status.REMOVED]
    runnable = [c for c in checks if c.status is Status.STABLE or preview]
    chosen = set().union(*(_match(s, runnable, checks) for s in select)) if select is not None else None
    base = {c.code for c in runnable} if chosen is None else chosen
    ignored = set().union(*(_match(s, checks, checks) for s in ignore))
    return frozenset(base - ignored)


def _match(selector: str, among: list[Check], known: list[Check]) -> set[str]:
    text = selector.strip()
    if text.upper() == "ALL":
        return {c.code for c in among}
    upper, lower = text.upper(), text.lower()

    def hits(checks: list[Check]) -> set[str]:
        by_code = {c.code for c in checks if upper.startswith("ND") and c.code.startswith(upper)}
        return by_code | {c.code for c in checks if c.name == lower}

    matched = hits(among)
    if not matched:
        if hits(known):
            raise UsageError(f"check selector {selector!r} names only checks in preview: add --preview")
        raise UsageError(
            f"unknown check selector {selector!r}: `native-doctor explain --all` lists codes and names"
        )
    return matched
