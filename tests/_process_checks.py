"""Expectations shared by the macOS and Windows process-simulation tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Resolved:
    """``name`` requested by ``by`` resolved to ``path`` via ``how``."""

    name: str
    by: str
    path: str | None
    how: str

    def check(self, report: Any) -> None:
        res = report.resolution(self.name, self.by)
        assert res is not None, f"{self.name} was never requested by {self.by}"
        assert (res.path, res.how) == (self.path, self.how)


@dataclass(frozen=True)
class ErrorContains:
    """Some load failure's message contains ``text``."""

    text: str

    def check(self, report: Any) -> None:
        assert any(self.text in f.message for f in report.failures), [f.message for f in report.failures]


@dataclass(frozen=True)
class Noted:
    """A note of ``kind`` names exactly ``paths``."""

    kind: str
    paths: tuple[str, ...]

    def check(self, report: Any) -> None:
        assert any(n.kind == self.kind and n.paths == self.paths for n in report.notes), report.notes
