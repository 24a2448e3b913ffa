"""A cache of what the environment doctor read from each file, so a second run reads only what
changed.

One JSON file per examined site directory under the user cache folder (see
:func:`cache_directory`). A distribution's entry is keyed by its RECORD's and METADATA's path,
size, modification time (ns) and inode, and holds what the walk of its RECORD found: each native
file read and each Python file screened for loader calls, with that file's state (size,
modification time, inode), and the modification times of the folders listed; it holds while all
of them are unchanged. When it no longer holds, the files whose state is unchanged are taken from
it (:meth:`EnvCache.earlier`) and only the others are read again. The other entries are keyed by
a file's absolute path and state (:func:`file_key`): the text markers of a library, a system
library the loader simulation read, a digest: any change to the file, or a new file at the same
path, misses. A cache that is unreadable, corrupt, of another format version
or of another native-doctor version is ignored and rebuilt; writing is atomic (a temporary file
renamed over the old one) and a failure to write is silent (the cache is an optimisation only).
Nothing in the cache is executed: it is plain JSON, checked field by field on the way in.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from types import MappingProxyType
from typing import Any

from native_doctor.binary.model import BinaryFormat, BinaryInfo, FileKind
from native_doctor.sources.envresult import Inputs, cache_directory, file_key, write_text

__all__ = ["EnvCache", "binary_from_json", "binary_to_json", "cache_directory", "file_key"]

_FORMAT = "native-doctor-env-cache"
_VERSION = 2


class EnvCache:
    """Cached per-file results for one site directory; :meth:`save` keeps only the entries used."""

    def __init__(self, site: Path, *, directory: Path | None = None, enabled: bool = True) -> None:
        self.enabled = enabled
        self._tool = _code_fingerprint()
        self._path = (directory or cache_directory()) / (
            hashlib.sha256(os.path.realpath(site).encode("utf-8", "surrogateescape")).hexdigest()[:24]
            + ".json"
        )
        self._old: dict[str, dict[str, Any]] = self._load() if enabled else {}
        self._new: dict[str, dict[str, Any]] = {}
        self._kinds: dict[str, dict[str, Any]] | None = None  # for :meth:`earlier`, made once
        self.hits = 0
        self.misses = 0
        #: What the run read, for the whole-result cache (:mod:`native_doctor.sources.envresult`).
        self.inputs: Inputs | None = None

    @property
    def path(self) -> Path:
        return self._path

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            with self._path.open("rb") as handle:
                document = json.load(handle)
        except (OSError, ValueError, RecursionError):
            return {}
        if (
            not isinstance(document, dict)
            or document.get("format") != _FORMAT
            or document.get("version") != _VERSION
            or document.get("tool") != self._tool
            or not isinstance(document.get("entries"), dict)
        ):
            return {}
        return {k: v for k, v in document["entries"].items() if isinstance(v, dict)}

    def get(self, key: str) -> dict[str, Any] | None:
        """The entry stored under ``key`` (kept for the next save), or None."""
        if not self.enabled:
            return None
        entry = self._new.get(key) or self._old.get(key)
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        self._new[key] = entry
        return entry

    def earlier(self, key: str) -> dict[str, Any] | None:
        """The stored entry of an earlier state of what ``key`` names (not counted, not kept):
        the entry under ``key``, else the last one whose key starts with the same two
        NUL-separated fields (for a distribution: ``dist`` and its RECORD's path)."""
        if not self.enabled or not self._old:
            return None
        found = self._old.get(key)
        if found is None:
            if self._kinds is None:
                self._kinds = {_kind(k): v for k, v in self._old.items()}
            found = self._kinds.get(_kind(key))
        return found

    def outdated(self) -> None:
        """The entry :meth:`get` just returned no longer holds (what it depends on changed): a
        miss, not a hit (the run learns something, and :meth:`save` writes it)."""
        self.hits -= 1
        self.misses += 1

    def peek(self, key: str) -> dict[str, Any] | None:
        """What :meth:`get` would return, without counting or keeping it."""
        if not self.enabled:
            return None
        return self._new.get(key) or self._old.get(key)

    def put(self, key: str, **values: Any) -> None:
        """Add ``values`` to the entry under ``key``."""
        if self.enabled:
            self._new.setdefault(key, {}).update(values)

    def put_final(self, key: str, entry: Mapping[str, Any]) -> None:
        """Keep ``entry`` under ``key`` as it is now, encoded at once (in the process that made it:
        a forked child sends the text, and :meth:`save` encodes it no more); for entries nothing
        adds to later (a distribution's). A key used already is added to as :meth:`put` does."""
        if not self.enabled:
            return
        if key in self._new:
            self.put(key, **entry)
        else:
            self._new[key] = _Encoded(json.dumps(entry, separators=_SEPARATORS))

    # The parallel read (``sources.env``) replays what each group of distributions used, in the
    # order a serial read would have used it: the entries are kept in first-use order.

    def position(self) -> int:
        """How many entries this run has used so far (a mark for :meth:`used_since`)."""
        return len(self._new)

    def used_since(self, position: int) -> dict[str, dict[str, Any]]:
        """The entries first used after ``position``, in order (the live entries, not copies)."""
        return dict(_last(self._new, len(self._new) - position))

    def apart(self) -> dict[str, dict[str, Any]]:
        """Start a part of the run that records the entries it uses on its own, as a forked child
        does (:meth:`get` sees the stored entries and the part's own); returns what was recorded
        before, for :meth:`rejoin`."""
        before, self._new = self._new, {}
        return before

    def rejoin(self, before: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """End the part :meth:`apart` started: the entries it used, in first-use order (the
        record is again ``before``: :meth:`replay` adds the parts)."""
        part, self._new = self._new, before
        return part

    def replay(self, position: int, used: list[dict[str, dict[str, Any]]], hits: int, misses: int) -> None:
        """Keep the first ``position`` entries, then add each of ``used`` in turn (an entry used
        twice gets the values of both uses), and count ``hits`` and ``misses`` more."""
        rebuilt = dict(list(self._new.items())[:position])
        for part in used:
            for key, entry in part.items():
                known = rebuilt.get(key)
                if known is None:
                    rebuilt[key] = entry
                elif known is not entry:
                    known.update(entry)
        self._new = rebuilt
        self.hits += hits
        self.misses += misses

    def save(self) -> None:
        """Write the entries used in this run (atomically); errors are ignored.

        A run that learned nothing new (no miss, no new key) writes nothing: a run that reuses whole
        distributions uses none of their files' entries, and rewriting the file without them
        would cost time now and a full rescan of such a distribution when one of its files changes.
        """
        if not self.enabled or (self.misses == 0 and self._new.keys() <= self._old.keys()):
            return
        write_text(self._path, *self._text())

    def _text(self) -> list[str]:
        """The cache file's text, in pieces (written one after the other, not joined: the
        distributions' entries are most of it): ``json.dumps`` of the document, the entries
        :meth:`put_final` encoded already put in as they are (the same text)."""
        head = json.dumps(
            {"format": _FORMAT, "version": _VERSION, "tool": self._tool}, separators=_SEPARATORS
        )
        parts: list[str] = [head[:-1], ',"entries":{']
        run: dict[str, dict[str, Any]] = {}  # consecutive entries still to encode, encoded at once
        for key, entry in self._new.items():
            if isinstance(entry, _Encoded):
                if run:
                    parts += (json.dumps(run, separators=_SEPARATORS)[1:-1], ",")
                    run = {}
                parts += (json.dumps(key), ":", entry.text, ",")
            else:
                run[key] = entry
        if run:
            parts += (json.dumps(run, separators=_SEPARATORS)[1:-1], ",")
        if parts[-1] == ",":
            parts.pop()
        parts.append("}}")
        return parts


_SEPARATORS = (",", ":")


class _Encoded(dict[str, Any]):
    """An entry kept as its JSON text (:meth:`EnvCache.put_final`); empty as a mapping, so a
    lookup of it in the same run finds nothing and reads again."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


def _kind(key: str) -> str:
    """The first two NUL-separated fields of ``key``."""
    return "\0".join(key.split("\0", 2)[:2])


def _last(items: dict[str, Any], count: int) -> list[tuple[str, Any]]:
    """The last ``count`` items of ``items``, in order (without walking the ones before)."""
    return list(itertools.islice(reversed(items.items()), max(count, 0)))[::-1]


def _code_fingerprint() -> str:
    """native-doctor's version and the state of the modules whose output is cached (the binary
    readers and every source module: the RECORD walk, the metadata parser, the marker and
    load-by-name scans, this module): a changed reader never serves stale entries."""
    from native_doctor import __version__

    here = Path(__file__).resolve().parent.parent
    parts = [__version__]
    for module in sorted([*here.joinpath("binary").glob("*.py"), *here.joinpath("sources").glob("*.py")]):
        try:
            status = module.stat()
        except OSError:
            continue
        parts.append(f"{module.name}:{status.st_size}:{status.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- BinaryInfo <-> JSON


def _defaults() -> dict[str, object]:
    """Each :class:`BinaryInfo` field's default (fields without one are always written)."""
    from dataclasses import MISSING

    found: dict[str, object] = {}
    for name, spec in BinaryInfo.__dataclass_fields__.items():
        if spec.default is not MISSING:
            found[name] = spec.default
        elif spec.default_factory is not MISSING:
            found[name] = spec.default_factory()
    return found


_DEFAULTS = _defaults()
_NO_DEFAULT = object()


def binary_to_json(info: BinaryInfo) -> dict[str, Any]:
    """``info`` as JSON-ready data: every field that differs from its default (enums by value,
    tuples as lists, mappings as objects of lists)."""
    out: dict[str, Any] = {}
    for name in BinaryInfo.__dataclass_fields__:
        value = getattr(info, name)
        if value == _DEFAULTS.get(name, _NO_DEFAULT):
            continue
        if name == "slices":
            out[name] = [binary_to_json(s) for s in value]
        elif isinstance(value, Enum):
            out[name] = value.value
        elif isinstance(value, Mapping):
            out[name] = {k: list(v) for k, v in value.items()}
        elif isinstance(value, tuple):
            out[name] = list(value)
        else:
            out[name] = value
    return out


def binary_from_json(data: Mapping[str, Any]) -> BinaryInfo:
    """The :class:`BinaryInfo` :func:`binary_to_json` wrote (a field left out has its default).

    :raises ValueError: ``data`` is not such a document (a corrupt or foreign cache entry).
    """
    try:
        fields: dict[str, Any] = {}
        for name, value in data.items():
            if name not in BinaryInfo.__dataclass_fields__:
                raise ValueError(f"unknown field {name!r}")
            if name == "format":
                fields[name] = BinaryFormat(value)
            elif name == "kind":
                fields[name] = FileKind(value)
            elif name == "slices":
                fields[name] = tuple(binary_from_json(s) for s in value)
            elif isinstance(value, dict):  # symbol_versions, imports_by_library, ...
                fields[name] = MappingProxyType({str(k): tuple(map(str, v)) for k, v in value.items()})
            elif isinstance(value, list):
                fields[name] = tuple(value)
            else:
                fields[name] = value
        return BinaryInfo(**fields)
    except (TypeError, AttributeError, KeyError) as exc:
        raise ValueError(f"not a cached BinaryInfo: {exc}") from exc
