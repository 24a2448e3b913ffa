"""Propose a PEP 725 ``[external]`` table for a project that has none.

Two kinds of evidence are read:

* **build files** of a source tree or sdist (:func:`infer_from_tree`): ``meson.build``
  (``project()`` languages, ``add_languages``, ``dependency``, ``find_program``,
  ``find_library``), ``CMakeLists.txt``/``*.cmake`` (``project``, ``enable_language``,
  ``find_package``, ``pkg_check_modules``, ``find_library``, ``find_program``), ``setup.py`` and
  the top-level modules it imports (``libraries=[...]``, ``libs.append(...)``, pkg-config and
  ``*-config`` calls, ``find_library``, ``-l`` flags), ``setup.cfg``, ``pyproject.toml`` (build
  backend), ``Cargo.toml`` (``*-sys`` crates, ``cc``), and the suffixes of the source files;
* **a built wheel** (:func:`infer_from_wheel`): the libraries a repair tool vendored, the
  libraries its binaries need that nothing provides, and the compiler runtimes they link.

Names are turned into DepURLs by the table in ``inference.json``; names it does not know are
reported as :attr:`Inference.unmapped` instead of guessed. Everything here is pure code over file
contents except :func:`read_source_tree` and :func:`read_sdist`, which read the relevant files
(never extracting anything to disk).

Nothing is executed: build files are scanned with regular expressions, small tokenizers and
:mod:`ast`. Some conditionals are evaluated statically: platform tests become markers, build
switches make a library optional, and a branch a default build does not take (see
:mod:`.defaults`, meson/CMake options that default to off) makes it optional and ``off`` by
default. A name found only under another condition is still proposed; the evidence comments in
:func:`to_toml` say where each proposal came from, for review.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import json
import os
import posixpath
import re
import tarfile
import tomllib
import zipfile
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from native_doctor._documents import loads_toml
from native_doctor.deps import defaults
from native_doctor.deps.depurl import parse_depurl
from native_doctor.errors import InvalidArchiveError, InvalidExternalMetadata, NativeDoctorError
from native_doctor.model import Resolution
from native_doctor.sources._archive import ARCHIVE_FAILURES, InflationBudget, archive_error

if TYPE_CHECKING:
    from native_doctor.analysis import Inspection

__all__ = [
    "Category",
    "Default",
    "Finding",
    "Inference",
    "InferenceTable",
    "Proposal",
    "SourceTree",
    "infer_from_tree",
    "infer_from_wheel",
    "load_table",
    "merge",
    "read_sdist",
    "read_source_tree",
    "to_toml",
]

Category = Literal["build", "host", "run"]
#: What a default build does with an optional dependency (:attr:`Proposal.default`).
Default = Literal["on-if-found", "off"]
CATEGORIES: tuple[Category, ...] = ("build", "host", "run")
_TOML_KEYS: Mapping[Category, str] = {
    "build": "build-requires",
    "host": "host-requires",
    "run": "dependencies",
}

#: Build files are read up to this size each; bigger ones are listed in ``SourceTree.skipped``.
MAX_FILE_BYTES = 2 << 20
#: At most this many bytes of build files are read from one tree or archive.
MAX_TOTAL_BYTES = 64 << 20
#: Archives with more members than this are rejected.
MAX_MEMBERS = 500_000
#: A build file's findings of one name beyond this many are dropped (setup.py scanner).
MAX_EVIDENCE_PER_NAME = 32
#: The proposed TOML lists at most this many names found but not mapped (the rest are counted):
#: a real project has a handful; thousands come from generated or hostile build files.
MAX_UNMAPPED_LISTED = 100

_BUILD_FILE_NAMES = frozenset(
    {
        "pyproject.toml",
        "setup.py",
        "setup.cfg",
        "meson.build",
        "meson.options",
        "meson_options.txt",
        "CMakeLists.txt",
        "Cargo.toml",
        "configure.ac",
        "configure.in",
    }
)
#: Directories holding vendored code, documentation or examples: their build files and sources
#: say nothing about what the project itself needs.
_SKIP_DIRS = frozenset(
    {
        "subprojects",
        "third_party",
        "thirdparty",
        "3rdparty",
        "third-party",
        "vendor",
        "vendored",
        "_vendor",
        "extern",
        "doc",
        "docs",
        "benchmarks",
        "benchmark",
        "examples",
        "example",
        "demo",
        "demos",
        "sample",
        "samples",
        "winbuild",
        ".git",
        "node_modules",
        ".tox",
        ".nox",
    }
)
#: Only for counting source suffixes: test code may be in another language than the package.
_SKIP_SOURCE_DIRS = _SKIP_DIRS | {"tests", "test", "testing"}


# --------------------------------------------------------------------------- data


@dataclass(frozen=True, slots=True)
class InferenceTable:
    """The name -> DepURL table (``inference.json``); keys are lowercase."""

    languages: Mapping[str, tuple[str, ...]]
    suffixes: Mapping[str, str]
    libraries: Mapping[str, tuple[str, ...]]
    programs: Mapping[str, tuple[str, ...]]
    cargo: Mapping[str, tuple[str, ...]]
    runtime: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...]
    build_tools: frozenset[str]
    registry: frozenset[str]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InferenceTable:
        """Build the table from the parsed JSON, validating every DepURL in it.

        :raises InvalidExternalMetadata: a malformed DepURL or entry.
        """

        def urls(value: Any, where: str) -> tuple[str, ...]:
            items = [] if value is None else [value] if isinstance(value, str) else list(value)
            for item in items:
                parse_depurl(item, where=where)
            return tuple(items)

        def section(name: str) -> Mapping[str, tuple[str, ...]]:
            return MappingProxyType(
                {k.lower(): urls(v, f"inference.json {name}.{k}") for k, v in data.get(name, {}).items()}
            )

        runtime = []
        for i, entry in enumerate(data.get("runtime", ())):
            try:
                pattern = re.compile(entry["match"], re.IGNORECASE)
            except (KeyError, re.error) as exc:
                raise InvalidExternalMetadata(f"bad runtime pattern: {exc}", where=f"runtime[{i}]") from None
            runtime.append((pattern, urls(entry.get("urls"), f"inference.json runtime[{i}]")))
        return cls(
            languages=section("languages"),
            suffixes=MappingProxyType({k.lower(): v.lower() for k, v in data.get("suffixes", {}).items()}),
            libraries=section("libraries"),
            programs=section("programs"),
            cargo=section("cargo"),
            runtime=tuple(runtime),
            build_tools=frozenset(data.get("build_tools", ())),
            registry=frozenset(data.get("registry", ())),
        )

    def category(self, url: str) -> Category:
        """``build`` for compilers and build tools, else ``host``."""
        ident = _ident(url)
        return "build" if ident.startswith("dep:virtual/compiler/") or ident in self.build_tools else "host"

    def runtime_urls(self, stem: str) -> tuple[str, ...] | None:
        """DepURLs for a runtime library stem (``libgfortran``), None when unknown."""
        for pattern, found in self.runtime:
            if pattern.fullmatch(stem):
                return found
        return None


@functools.cache
def load_table() -> InferenceTable:
    """The packaged ``inference.json``."""
    text = resources.files("native_doctor.deps").joinpath("inference.json").read_text("utf-8")
    return InferenceTable.from_json(json.loads(text))


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Finding:
    """One name found in a build file or a wheel, before mapping to DepURLs."""

    #: ``language``, ``library`` (pkg-config module, CMake package, linker name...),
    #: ``program``, ``crate`` or ``runtime`` (a shared library seen in a wheel).
    kind: str
    name: str
    #: ``path:line`` in the source tree, or a wheel member.
    where: str
    #: The construct it was found in, shortened (``dependency('zlib')``).
    detail: str
    #: The build file says it may be missing (``required: false``, ``OPTIONAL``).
    optional: bool = False
    #: A version constraint written next to it (``>=1.2``), when literal.
    version: str | None = None
    #: A PEP 508 marker when the build file asks for it on some platforms only
    #: (``if sys.platform == 'win32':`` in setup.py -> ``sys_platform == 'win32'``).
    marker: str | None = None
    #: The sdist carries the library's sources (``src/libsodium/``) and builds them by default.
    bundled: bool = False
    #: The build switch an optional finding depends on (``raqm`` for Pillow's
    #: ``feature.want("raqm")``, ``link-openssl``, a meson or CMake option's name).
    feature: str | None = None
    #: (optional findings) asked for only when the user turns on a switch that is off by
    #: default (``--vendor-raqm``, an unset environment variable, a meson/CMake option that
    #: defaults to off); otherwise an optional finding is used when found.
    off_by_default: bool = False

    @property
    def evidence(self) -> str:
        """``where detail``, one line."""
        return f"{self.where} {self.detail}".strip()


@dataclass(frozen=True, slots=True)
class Proposal:
    """One proposed ``[external]`` entry."""

    url: str
    category: Category
    evidence: tuple[str, ...]
    #: Every piece of evidence was optional: goes to ``optional-*`` in :func:`to_toml`.
    optional: bool = False
    #: (wheels) the library is bundled inside the wheel, not required from the system.
    vendored: bool = False
    #: A PEP 508 marker: every piece of evidence is platform-conditional.
    marker: str | None = None
    #: (sdists) the sdist bundles the library's sources and builds them by default (any other
    #: evidence is optional): not a host requirement unless the build is told to use the
    #: system's copy.
    bundled: bool = False
    #: (optional proposals) the one build switch every piece of optional evidence names: the
    #: group name under ``optional-*`` (PEP 725 groups are named); None: the default group.
    feature: str | None = None
    #: (optional proposals) what a default build does: ``on-if-found`` (it looks for the
    #: library and uses it when present) or ``off`` (every piece of optional evidence needs a
    #: switch the user must turn on); None for required and bundled-only proposals.
    default: Default | None = None

    @property
    def specifier(self) -> str:
        """The DepURL with its marker (``dep:generic/msmpi; sys_platform == 'win32'``)."""
        return self.url if self.marker is None else f"{self.url}; {self.marker}"

    @property
    def id(self) -> str:
        """The DepURL without version (``dep:generic/geos``)."""
        return _ident(self.url)


@dataclass(frozen=True, slots=True)
class Inference:
    """What was inferred for one tree or wheel."""

    source: str
    #: Sorted by category (build, host, run), then compilers, interfaces, the rest by DepURL.
    proposals: tuple[Proposal, ...]
    #: Every name found, mapped or not, in discovery order.
    findings: tuple[Finding, ...] = ()
    #: Names the table does not know (neither mapped nor deliberately ignored).
    unmapped: tuple[Finding, ...] = ()
    notes: tuple[str, ...] = ()

    def ids(self, category: Category | None = None, *, optional: bool | None = None) -> set[str]:
        """DepURL ids (no versions) of the proposals, filtered by category and optionality."""
        return {
            p.id
            for p in self.proposals
            if (category is None or p.category == category) and (optional is None or p.optional == optional)
        }

    def get(self, url: str, category: Category | None = None) -> Proposal | None:
        """The proposal with this DepURL id (and category), if any."""
        ident = _ident(url)
        for p in self.proposals:
            if p.id == ident and (category is None or p.category == category):
                return p
        return None


def _ident(url: str) -> str:
    return parse_depurl(url).id


# --------------------------------------------------------------------------- source trees


@dataclass(frozen=True, slots=True)
class SourceTree:
    """The parts of a source tree that inference reads."""

    #: A label: the directory or archive name.
    name: str
    #: Build files by ``/``-separated path relative to the project root.
    files: Mapping[str, str]
    #: Every regular file path in the tree (for source suffixes).
    paths: tuple[str, ...] = ()
    #: Build files that were not read (too big, or over the total budget).
    skipped: tuple[str, ...] = ()

    @classmethod
    def from_files(
        cls, files: Mapping[str, str], *, name: str = "<memory>", paths: Iterable[str] = ()
    ) -> SourceTree:
        """A tree from in-memory contents (``paths`` defaults to the files' own paths)."""
        all_paths = sorted({*files, *paths})
        return cls(name=name, files=MappingProxyType(dict(files)), paths=tuple(all_paths))


def is_build_file(path: str) -> bool:
    """Whether inference reads this tree-relative path (``pyproject.toml``, ``x/meson.build``...)."""
    parts = PurePosixPath(path).parts
    if not parts:
        return False
    base = parts[-1]
    if base in _BUILD_FILE_NAMES or base.endswith(".cmake"):
        return True
    if len(parts) == 1 and base.endswith(".py"):  # modules setup.py may import
        return True
    return is_build_helper(path)


#: Directories and module names of build helpers that setup.py or a cffi builder uses
#: (cryptography's ``src/_cffi_src/build_openssl.py``, matplotlib's ``setupext.py``).
_HELPER_DIRS = frozenset({"_cffi_src", "build_support", "buildutils", "setupext", "setup_support", "conf"})
_HELPER_FILE = re.compile(r"(?:_?build_\w+|\w+_build|_build|setupext|setupbase|setup_\w+)\.py")


def is_build_helper(path: str) -> bool:
    """A ``.py`` build helper outside tests and docs (read even if setup.py does not import it)."""
    parts = PurePosixPath(path).parts
    if not parts or not parts[-1].endswith(".py") or _skipped(path, _SKIP_SOURCE_DIRS):
        return False
    return any(p in _HELPER_DIRS for p in parts[:-1]) or _HELPER_FILE.fullmatch(parts[-1]) is not None


def read_source_tree(path: str | os.PathLike[str]) -> SourceTree:
    """Read the build files and file list of a project directory.

    :raises InvalidArchiveError: ``path`` is not a directory.
    """
    root = Path(path)
    if not root.is_dir():
        raise InvalidArchiveError(f"{root}: not a directory")
    paths: list[str] = []
    wanted: list[tuple[str, Path, int]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in {".git", "node_modules", ".tox", ".nox"})
        for filename in sorted(filenames):
            full = Path(dirpath) / filename
            rel = full.relative_to(root).as_posix()
            if not full.is_file():
                continue
            paths.append(rel)
            if is_build_file(rel):
                wanted.append((rel, full, full.stat().st_size))
    budget = _Budget()
    files: dict[str, str] = {}
    for rel, full, size in wanted:
        if budget.take(rel, size):
            files[rel] = _decode(full.read_bytes())
    return SourceTree(root.name, MappingProxyType(files), tuple(paths), tuple(budget.skipped))


def read_sdist(path: str | os.PathLike[str]) -> SourceTree:
    """Read the build files and file list of an sdist (``.tar.gz``/``.tar.*``/``.zip``) in memory.

    The sdist's top-level directory (``name-version/``) is stripped. Members with absolute paths
    or ``..`` components are ignored.

    :raises InvalidArchiveError: not a readable archive, or too many members.
    """
    archive = Path(path)
    raw: dict[str, str] = {}
    paths: list[str] = []
    budget = _Budget()
    inflation = InflationBudget.for_archive(archive.stat().st_size)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                infos = [i for i in zf.infolist() if not i.is_dir()]
                _check_count(archive, len(infos))
                for info in infos:
                    name = _safe_member(info.filename)
                    if name is None:
                        continue
                    paths.append(name)
                    if _maybe_build_file(name) and budget.take(name, info.file_size):
                        with zf.open(info) as fh:
                            raw[name] = _decode(fh.read(MAX_FILE_BYTES + 1))
        else:
            with tarfile.open(archive, mode="r|*") as tf:
                for count, member in enumerate(tf, 1):
                    _check_count(archive, count)
                    inflation.spend(member.name, member.size)  # reaching the next member inflates this one
                    if not member.isfile():
                        continue
                    name = _safe_member(member.name)
                    if name is None:
                        continue
                    paths.append(name)
                    if _maybe_build_file(name) and budget.take(name, member.size):
                        member_file = tf.extractfile(member)
                        if member_file is not None:
                            raw[name] = _decode(member_file.read(MAX_FILE_BYTES + 1))
    except NativeDoctorError:
        raise
    except ARCHIVE_FAILURES as exc:  # corrupt streams, encrypted members, names that are not UTF-8...
        raise archive_error(f"{archive}: not a readable sdist", exc) from None
    prefix = _common_prefix(paths)

    def strip(p: str) -> str:
        return p[len(prefix) :]

    files = {strip(k): v for k, v in raw.items() if is_build_file(strip(k))}
    return SourceTree(
        archive.name,
        MappingProxyType(files),
        tuple(sorted(strip(p) for p in paths)),
        tuple(strip(p) for p in budget.skipped),
    )


class _Budget:
    def __init__(self) -> None:
        self.total = 0
        self.skipped: list[str] = []

    def take(self, name: str, size: int) -> bool:
        if size > MAX_FILE_BYTES or self.total + size > MAX_TOTAL_BYTES:
            self.skipped.append(name)
            return False
        self.total += size
        return True


def _check_count(archive: Path, count: int) -> None:
    if count > MAX_MEMBERS:
        raise InvalidArchiveError(f"{archive}: more than {MAX_MEMBERS} members")


def _safe_member(name: str) -> str | None:
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        return None
    return pure.as_posix().removeprefix("./")


def _maybe_build_file(raw_name: str) -> bool:
    """Relevance before the top-level directory is known: top-level ``.py`` files may sit one deeper."""
    parts = PurePosixPath(raw_name).parts
    if is_build_file(raw_name):
        return True
    return len(parts) == 2 and parts[-1].endswith(".py")


def _common_prefix(paths: Sequence[str]) -> str:
    tops = {p.split("/", 1)[0] for p in paths}
    if len(tops) == 1 and all("/" in p for p in paths):
        return tops.pop() + "/"
    return ""


def _decode(data: bytes) -> str:
    return data[:MAX_FILE_BYTES].decode("utf-8", errors="replace")


# --------------------------------------------------------------------------- text helpers
#
# Every helper here runs in time linear in its input (issue 15): no regular expression can
# backtrack over more than the construct it matches (possessive quantifiers and atomic groups
# where alternatives overlap), brackets are matched in one pass over the file, and a call's
# arguments are read once (calls nested in another call's arguments are not read again).


class _Lines:
    """Offset -> 1-based line number (the line starts are found on first use)."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._starts: list[int] | None = None

    def __call__(self, offset: int) -> int:
        if self._starts is None:
            self._starts = [0] + [m.end() for m in re.finditer("\n", self._text)]
        return bisect_right(self._starts, offset)


_NOT_NEWLINE = re.compile(r"[^\n]+")


def _blank(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """``text`` with the given sorted, disjoint spans replaced by spaces (newlines kept, so
    offsets and lines hold)."""
    pieces, last = [], 0
    for start, end in spans:
        pieces.append(text[last:start])
        if text.find("\n", start, end) < 0:  # a comment of one line: no pattern needed
            pieces.append(" " * (end - start))
        else:
            pieces.append(_NOT_NEWLINE.sub(lambda m: " " * len(m.group(0)), text[start:end]))
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


def _hash_comments(text: str, quotes: str) -> list[tuple[int, int]]:
    """Spans of ``#`` comments outside quoted strings (quotes: the quote characters in use)."""
    return [m.span("t") for m in _outside_strings(quotes, "#").finditer(text) if m.group("t")]


@functools.cache
def _lexer(quotes: str, comments: bool, punctuation: str) -> re.Pattern[str]:
    """One pattern for the tokens a scanner needs: ``#`` comments (group ``c``), strings in any of
    ``quotes`` (group ``s``: triple-quoted to the closing triple, else to the closing quote or the
    end of the line, a backslash escaping the next character) and single ``punctuation``
    characters (group ``p``). Every alternative is possessive, so a scan is linear."""
    alternatives = []
    if comments:
        alternatives.append(r"(?P<c>\#[^\n]*+)")
    strings = []
    for q in quotes:
        e = re.escape(q)
        strings.append(rf"{e}{{3}}(?:.*?{e}{{3}}|.*+)")
        strings.append(rf"{e}(?:[^{e}\\\n]|\\.)*+(?:[{e}\n]|\\?\Z)")
    alternatives.append("(?P<s>" + "|".join(strings) + ")")
    if punctuation:
        alternatives.append("(?P<p>[" + re.escape(punctuation) + "])")
    return re.compile("|".join(alternatives), re.DOTALL)


@functools.cache
def _outside_strings(quotes: str, tokens: str) -> re.Pattern[str]:
    """Up to and including the next of the characters ``tokens`` outside strings in ``quotes``
    (group ``t``: the character, a whole comment for ``#``; none at the end), the strings read
    as :func:`_lexer` reads them. One match per token: the strings and other characters before
    it are read inside the match (possessively, so in one pass), not handed to Python one by
    one as the ``finditer`` of :func:`_lexer` does (a third of the time of a scanner on 2 MiB
    of strings)."""
    skip = [f"[^{re.escape(tokens + quotes)}]++"]
    if quotes:
        skip.append(_lexer(quotes, False, "").pattern)
    token = f"[{re.escape(tokens)}]" + (r"[^\n]*+" if tokens == "#" else "")
    return re.compile(f"(?:{'|'.join(skip)})*+(?P<t>{token})?", re.DOTALL)


def _lexical_spans(text: str, quotes: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Spans of ``#`` comments and of quoted strings."""
    comments: list[tuple[int, int]] = []
    strings: list[tuple[int, int]] = []
    if not quotes:  # no strings (the lexer's empty string alternative would match everywhere)
        return _hash_comments(text, quotes), strings
    for m in _lexer(quotes, True, "").finditer(text):
        (comments if m.lastgroup == "c" else strings).append(m.span())
    return comments, strings


def _inside(spans: Sequence[tuple[int, int]], offset: int) -> bool:
    """Whether ``offset`` falls inside one of the sorted, disjoint ``spans``."""
    index = bisect_right(spans, (offset, _FAR)) - 1
    return index >= 0 and spans[index][0] <= offset < spans[index][1]


_FAR = 1 << 62


def _string_end(text: str, start: int) -> int:
    """Index of the quote closing the single-line string opened at ``start`` (or the line end)."""
    m = _lexer(text[start], False, "").match(text, start)
    assert m is not None
    end = m.end()
    return end - 1 if end > start + 1 and text[end - 1] in (text[start], "\n") else len(text) - 1


_PAIRS = {"(": ")", "[": "]", "{": "}"}


def _bracket_ends(text: str, opens: Iterable[int], quotes: str = "'\"") -> dict[int, int]:
    """For each offset in ``opens`` that holds a bracket outside a string: the offset just past
    its matching bracket, or the end of its line when it is never closed. One pass over
    ``text``; a closing bracket that matches nothing open is ignored."""
    wanted = set(opens)
    ends: dict[int, int] = {}
    stack: list[int] = []
    if not wanted:
        return ends
    for m in _outside_strings(quotes, "()[]{}").finditer(text):
        c = m.group("t")
        if c in _PAIRS:
            stack.append(m.start("t"))
        elif c is not None and stack and _PAIRS[text[stack[-1]]] == c:
            opened = stack.pop()
            if opened in wanted:
                ends[opened] = m.end()
    line_end = -1
    for opened in stack:  # ascending
        if opened in wanted:
            if line_end < opened:
                line_end = text.find("\n", opened)
                line_end = len(text) if line_end < 0 else line_end
            ends[opened] = line_end
    return ends


def _split_top(args: str) -> list[str]:
    """Split call arguments at top-level commas."""
    if "," not in args:  # nothing to split (a quick test for one-argument calls)
        return [args.strip()] if args.strip() else []
    parts, depth, start = [], 0, 0
    for m in _lexer("'\"", False, "()[]{},").finditer(args):
        c = m.group("p")
        if c is None:
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0:
            parts.append(args[start : m.start()])
            start = m.end()
    parts.append(args[start:])
    return [p.strip() for p in parts if p.strip()]


_STRING = re.compile(
    r"""(?P<prefix>[fFrRbBuU]{0,2})(?P<q>'|")(?P<body>(?:\\.|(?!(?P=q))[^\\])*?)(?P=q)""", re.DOTALL
)
_NAME_LIKE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")


def _literal(expr: str) -> str | None:
    """The value of a single string literal expression (``'zlib'``), else None."""
    m = _STRING.fullmatch(expr.strip())
    if m is None or "b" in m.group("prefix").lower():
        return None
    return m.group("body")


def _literals(expr: str) -> list[str]:
    """String literal(s) of ``'a'`` or ``['a', 'b']`` (non-literal items are dropped)."""
    expr = expr.strip()
    if expr.startswith("[") and expr.endswith("]"):
        return [v for item in _split_top(expr[1:-1]) if (v := _literal(item)) is not None]
    value = _literal(expr)
    return [] if value is None else [value]


def _short(text: str, limit: int = 70) -> str:
    head = text[: limit * 4]
    one = " ".join(head.split())
    if len(head) < len(text) and len(one) <= limit:
        one += " ..."
    return one if len(one) <= limit else one[: limit - 3] + "..."


@dataclass(frozen=True, slots=True)
class _Call:
    name: str
    args: str
    line: int
    text: str


def _calls(text: str, pattern: re.Pattern[str], quotes: str = "'\"") -> Iterator[_Call]:
    """Calls matched by ``pattern`` (ending at the opening bracket) outside strings, with their
    argument text. ``text`` must have its comments blanked already. A call inside another
    matched call's arguments is not yielded again; a call never closed ends with its line."""
    strings = _lexical_spans(text, quotes)[1]
    matches = _outside(list(pattern.finditer(text)), strings)
    ends = _bracket_ends(text, (m.end() - 1 for m in matches), quotes)
    covered = 0
    line, counted = 1, 0  # the line of offset ``counted`` (calls come in order: count onwards)
    for m in matches:
        open_at = m.end() - 1
        if m.start() < covered or open_at not in ends:
            continue
        end = covered = ends[open_at]
        closed = end > open_at + 1 and text[end - 1] == _PAIRS[text[open_at]]
        name_at = m.start("fn")
        line += text.count("\n", counted, name_at)
        counted = name_at
        yield _Call(m.group("fn"), text[open_at + 1 : end - 1 if closed else end], line, text[name_at:end])


def _outside(matches: list[re.Match[str]], spans: Sequence[tuple[int, int]]) -> list[re.Match[str]]:
    """The matches (in order) that start outside the sorted, disjoint ``spans``: one walk over
    both lists."""
    if not spans:
        return matches
    kept, i, count = [], 0, len(spans)
    for m in matches:
        start = m.start()
        while i < count and spans[i][1] <= start:
            i += 1
        if i == count or spans[i][0] > start:
            kept.append(m)
    return kept


# --------------------------------------------------------------------------- meson


_MESON_CALL = re.compile(r"(?<![\w])(?P<fn>dependency|find_program|add_languages|project|find_library)\s*+\(")
_MESON_ASSIGN = re.compile(r"^[ \t]*(\w++)[ \t]*=[ \t]*('[^'\n]*+')[ \t]*$", re.MULTILINE)
_KWARG = re.compile(r"^(\w+)\s*:(?!:)\s*(.*)$", re.DOTALL)


def _meson_args(args: str) -> tuple[list[str], dict[str, str]]:
    positional: list[str] = []
    kwargs: dict[str, str] = {}
    for part in _split_top(args):
        m = _KWARG.match(part)
        if m and not part.startswith(("'", '"', "[")):
            kwargs[m.group(1)] = m.group(2).strip()
        else:
            positional.append(part)
    return positional, kwargs


def _meson_optional(kwargs: Mapping[str, str]) -> bool:
    required = kwargs.get("required", "").strip()
    return required == "false" or "get_option" in required


def _meson_version(value: str | None, assigned: Mapping[str, str]) -> str | None:
    if not value:
        return None
    value = value.strip()
    if value.startswith(("f'", 'f"')):
        body = value[2:-1]

        def sub(m: re.Match[str]) -> str:
            return assigned.get(m.group(1), m.group(0))

        body = re.sub(r"@(\w+)@", sub, body)
        return None if "@" in body else body
    versions = _literals(value)
    return ",".join(v.replace(" ", "") for v in versions) or None


_MESON_OPTION_CALL = re.compile(r"(?<![\w])(?P<fn>option)\s*+\(")
_MESON_GET_OPTION = re.compile(r"get_option\s*+\(\s*+'([^'\n]*+)'\s*+\)")
_MESON_ASSIGN_OPTION = re.compile(
    r"^[ \t]*+(\w++)[ \t]*+=[ \t]*+get_option\s*+\(\s*+'([^'\n]*+)'\s*+\)", re.MULTILINE
)


def meson_option_defaults(text: str) -> dict[str, str]:
    """``meson.options``/``meson_options.txt``: option name -> default value (an array's first
    item; a feature's ``enabled``/``disabled``/``auto``)."""
    text = _blank(text, _hash_comments(text, "'"))
    defaults: dict[str, str] = {}
    for call in _calls(text, _MESON_OPTION_CALL, "'"):
        positional, kwargs = _meson_args(call.args)
        names = _literals(positional[0]) if positional else []
        values = _literals(kwargs.get("value", ""))
        if names and values:
            defaults.setdefault(names[0], values[0])
    return defaults


def _meson_names(expr: str, variables: Mapping[str, str], options: Mapping[str, str]) -> list[str]:
    """Names a ``dependency()`` argument asks for: literals, ``get_option('x')`` resolved to its
    default, or a variable assigned one of those."""
    literal = _literals(expr)
    if literal:
        return literal
    expr = expr.strip()
    m = _MESON_GET_OPTION.fullmatch(expr)
    if m:
        return [options[m.group(1)]] if m.group(1) in options else []
    return [variables[expr]] if expr in variables else []


_WINDOWS_MARKER = "sys_platform == 'win32'"


def _negated(marker: str) -> str:
    return marker.replace("==", "!=") if "==" in marker else marker.replace("!=", "==")


_MESON_BRANCH = re.compile(r"^[ \t]*+(if|elif|else|endif)\b(.*)$", re.MULTILINE)
_MESON_HOST_SYSTEM = re.compile(r"^(not\s+)?host_machine\s*\.\s*system\s*\(\s*\)\s*(==|!=)\s*'(\w+)'$")
_MESON_SYSTEMS = {
    "windows": _WINDOWS_MARKER,
    "cygwin": "sys_platform == 'cygwin'",
    "darwin": "sys_platform == 'darwin'",
    "linux": "sys_platform == 'linux'",
}
_MESON_OFF = frozenset({"false", "disabled"})
_MESON_ON = frozenset({"true", "enabled"})


@dataclass(frozen=True, slots=True)
class _MesonBranch:
    """One branch of a meson ``if``/``elif``/``else`` chain: its lines, the platform marker it
    implies, and the build switch it depends on (an option, or a subproject fallback)."""

    first: int
    last: int
    marker: str | None
    feature: str | None
    optional: bool
    #: taken only when the user sets an option that is off by default
    off: bool = False


def _joined(markers: Sequence[str]) -> str | None:
    """One marker for several conditions that all hold (None for none)."""
    unique = list(dict.fromkeys(markers))
    if not unique:
        return None
    return unique[0] if len(unique) == 1 else " and ".join(f"({m})" for m in unique)


def _meson_marker(test: str) -> str | None:
    """The marker of a ``host_machine.system() == 'windows'`` test, else None."""
    m = _MESON_HOST_SYSTEM.fullmatch(test.strip())
    if m is None or m.group(3) not in _MESON_SYSTEMS:
        return None
    marker = _MESON_SYSTEMS[m.group(3)]
    return _negated(marker) if (m.group(2) == "!=") != bool(m.group(1)) else marker


def _meson_switch(test: str, option_variables: Mapping[str, str]) -> str | None:
    """The option a branch test reads (``get_option('x')``, or a variable assigned from it)."""
    m = _MESON_GET_OPTION.search(test)
    if m:
        return m.group(1)
    for word in re.findall(r"\w+", test):
        if word in option_variables:
            return option_variables[word]
    return None


def _meson_branches(text: str, lines: _Lines, options: Mapping[str, str]) -> list[_MesonBranch]:
    """The branches of the file's ``if`` chains. A chain with a ``subproject()`` call in one
    branch is a fallback: the other branches' dependencies are used only when a switch (an
    option) asks for the system's copy, so they are optional under that switch. A branch taken
    only when an option is on (``if get_option('x')`` with ``x`` off by default) is optional."""
    option_variables = {m.group(1): m.group(2) for m in _MESON_ASSIGN_OPTION.finditer(text)}
    out: list[_MesonBranch] = []
    stack: list[list[tuple[int, str, str]]] = []  # per open chain: (offset, keyword, test)
    for m in _MESON_BRANCH.finditer(text):
        keyword, test = m.group(1), m.group(2).strip()
        if keyword == "if":
            stack.append([(m.start(), keyword, test)])
        elif not stack:
            continue
        elif keyword in {"elif", "else"}:
            stack[-1].append((m.start(), keyword, test))
        else:
            out += _meson_chain(text, lines, stack.pop(), m.start(), options, option_variables)
    return out


def _meson_chain(
    text: str,
    lines: _Lines,
    chain: Sequence[tuple[int, str, str]],
    end: int,
    options: Mapping[str, str],
    option_variables: Mapping[str, str],
) -> list[_MesonBranch]:
    starts = [start for start, _, _ in chain]
    bounds = list(zip(starts, [*starts[1:], end], strict=True))
    # each test's marker and option, read once (None for the else branch)
    tested = [(keyword != "else", test) for _, keyword, test in chain]
    owns = [_meson_marker(test) if is_test else None for is_test, test in tested]
    options_read = [_meson_switch(test, option_variables) if is_test else None for is_test, test in tested]
    # a subproject on one platform and the system's copy on the others is not a switch
    platform_only = all(own for own, (_, keyword, _) in zip(owns, chain, strict=True) if keyword != "else")
    fallback = not platform_only and any(_MESON_SUBPROJECT.search(text, a, b) for a, b in bounds)
    switch = next((s for s in options_read if s), None)
    out = []
    previous: list[str] = []  # the platform markers of the earlier tests in the chain
    for (start, keyword, test), (a, b), own, option in zip(chain, bounds, owns, options_read, strict=True):
        # an elif/else branch holds only when the earlier tests failed: not (A) and not (B)...
        conditions = [*(_negated(m) for m in previous), *([own] if own else [])]
        marker = _joined(conditions)
        if keyword != "else" and own is not None and own not in previous:
            previous.append(own)  # once each: a long elif chain of the same test stays linear
        if keyword == "else":
            off = False
        else:
            off = option is not None and options.get(option, "").lower() in _MESON_OFF and "not " not in test
        if fallback or off:
            # in a fallback chain, a branch without the subproject uses the system's copy,
            # which the option must ask for
            user_asks = off or (switch is not None and not _MESON_SUBPROJECT.search(text, a, b))
            out.append(_MesonBranch(lines(start), lines(b), marker, switch, True, user_asks))
        elif marker is not None:
            out.append(_MesonBranch(lines(start), lines(b), marker, None, False))
    return out


def scan_meson(path: str, text: str, options: Mapping[str, str] | None = None) -> list[Finding]:
    """Findings of one ``meson.build`` file. ``options``: the project's option defaults (see
    :func:`meson_option_defaults`), to resolve ``dependency(get_option('blas'))``."""
    options = options or {}
    text = _blank(text, _hash_comments(text, "'"))
    lines = _Lines(text)
    assigned = {m.group(1): m.group(2)[1:-1] for m in _MESON_ASSIGN.finditer(text)}
    variables = {k: v for k, v in assigned.items() if _NAME_LIKE.match(v)}
    for m in _MESON_ASSIGN_OPTION.finditer(text):
        if m.group(2) in options:
            variables.setdefault(m.group(1), options[m.group(2)])
    found: list[Finding] = []
    seen: dict[tuple[str, str], int] = {}
    branches = _meson_branches(text, lines, options)
    calls = list(_calls(text, _MESON_CALL, "'"))
    at = _spans_at((call.line for call in calls), branches) if branches else {}
    for call in calls:
        if seen.get(("call", call.args), 0) >= MAX_EVIDENCE_PER_NAME:
            continue  # the same call again: more of the same says nothing new (as scan_python)
        seen["call", call.args] = seen.get(("call", call.args), 0) + 1
        before = len(found)
        where = f"{path}:{call.line}"
        detail = _short(call.text)
        positional, kwargs = _meson_args(call.args)
        optional = _meson_optional(kwargs)
        if call.name == "project":
            for lang in (v for p in positional[1:] for v in _literals(p)):
                found.append(Finding("language", lang, where, detail))
        elif call.name == "add_languages":
            for lang in (v for p in positional for v in _literals(p)):
                found.append(Finding("language", lang, where, detail, optional))
        elif call.name == "dependency":
            version = _meson_version(kwargs.get("version"), assigned)
            for name in (v for p in positional for v in _meson_names(p, variables, options)):
                if name:
                    found.append(Finding("library", name, where, detail, optional, version))
        elif call.name == "find_program":
            names = _literals(positional[0]) if positional else []
            if names:
                found.append(Finding("program", names[0], where, detail, optional))
        elif call.name == "find_library":
            for name in _literals(positional[0]) if positional else []:
                found.append(Finding("library", name, where, detail, optional))
        switch = _MESON_GET_OPTION.search(kwargs.get("required", ""))
        found[before:] = [
            _in_meson_branches(f, at.get(call.line, []), switch.group(1) if switch else None, options)
            for f in found[before:]
        ]
    return found


def _in_meson_branches(
    finding: Finding,
    inside: Sequence[_MesonBranch],
    switch: str | None,
    options: Mapping[str, str],
) -> Finding:
    """``finding`` with the markers, optionality and switch of the branches it sits in
    (``inside``, in the order of :func:`_meson_branches`); off by default in a branch taken
    only when an off option is set, or with ``required:`` an option that is off
    (``disabled``/``false``) by default."""
    markers = list(dict.fromkeys(b.marker for b in inside if b.marker))
    optional_in = [b for b in inside if b.optional]
    changes: dict[str, Any] = {}
    if markers:
        changes["marker"] = markers[0] if len(markers) == 1 else " and ".join(f"({m})" for m in markers)
    if optional_in:
        changes["optional"] = True
        changes["feature"] = optional_in[-1].feature
        changes["off_by_default"] = any(b.off for b in optional_in)
    elif finding.optional and switch and options.get(switch, "").lower() in _MESON_ON:
        changes["optional"] = False  # required: get_option('x') with x enabled by default
    elif finding.optional and switch:
        changes["feature"] = switch
        changes["off_by_default"] = options.get(switch, "").lower() in _MESON_OFF
    return dataclasses.replace(finding, **changes) if changes else finding


# --------------------------------------------------------------------------- CMake


_CMAKE_BRACKET_OPEN = re.compile(r"#\[(=*+)\[")
_CMAKE_CALL = re.compile(
    r"(?<![\w$])(?P<fn>find_package|pkg_check_modules|pkg_search_module|project|enable_language|check_language"
    r"|find_library|find_program|fetchcontent_declare|externalproject_add|cpmaddpackage"
    r"|option|if|elseif|else|endif)\s*+\(",
    re.IGNORECASE,
)
_CMAKE_TOKEN = re.compile(r'"((?:\\.|[^"\\])*+)"|([^\s"()]++)')
_CMAKE_PROJECT_KEYWORDS = frozenset({"VERSION", "DESCRIPTION", "HOMEPAGE_URL", "LANGUAGES"})
_CMAKE_FIND_KEYWORDS = frozenset(
    {
        "NAMES",
        "NAMES_PER_DIR",
        "HINTS",
        "PATHS",
        "PATH_SUFFIXES",
        "DOC",
        "REQUIRED",
        "OPTIONAL",
        "NO_CACHE",
        "VALIDATOR",
        "REGISTRY_VIEW",
        "ENV",
        "NO_DEFAULT_PATH",
        "NO_PACKAGE_ROOT_PATH",
        "NO_CMAKE_PATH",
        "NO_CMAKE_ENVIRONMENT_PATH",
        "NO_SYSTEM_ENVIRONMENT_PATH",
        "NO_CMAKE_SYSTEM_PATH",
        "NO_CMAKE_INSTALL_PREFIX",
        "CMAKE_FIND_ROOT_PATH_BOTH",
        "ONLY_CMAKE_FIND_ROOT_PATH",
        "NO_CMAKE_FIND_ROOT_PATH",
    }
)
_PKG_KEYWORDS = frozenset(
    {"REQUIRED", "QUIET", "NO_CMAKE_PATH", "NO_CMAKE_ENVIRONMENT_PATH", "IMPORTED_TARGET", "GLOBAL"}
)
_PKG_SPEC = re.compile(r"^([A-Za-z0-9_.+-]+?)\s*+((?:>=|<=|=|>|<).*)?$", re.DOTALL)


def _cmake_tokens(args: str) -> list[str]:
    # findall gives "" for the group that did not match; an unquoted token is never empty, so
    # it is the token when not empty, else the (maybe empty) quoted one
    return [bare or quoted for quoted, bare in _CMAKE_TOKEN.findall(args)]


def _cmake_bracket_comments(text: str) -> list[tuple[int, int]]:
    """Spans of ``#[[...]]``/``#[==[...]==]`` comments; one never closed runs to the end."""
    spans: list[tuple[int, int]] = []
    m = _CMAKE_BRACKET_OPEN.search(text)
    while m is not None:
        close = "]" + m.group(1) + "]"
        end = text.find(close, m.end())
        stop = len(text) if end < 0 else end + len(close)
        spans.append((m.start(), stop))
        m = _CMAKE_BRACKET_OPEN.search(text, stop)
    return spans


def _cmake_text(text: str) -> str:
    text = _blank(text, _cmake_bracket_comments(text))
    return _blank(text, _hash_comments(text, '"'))


def scan_cmake(path: str, text: str) -> tuple[list[Finding], list[str]]:
    """Findings and notes (downloaded dependencies) of one CMake file."""
    text = _cmake_text(text)
    found: list[Finding] = []
    notes: list[str] = []
    tested = {m.group(1).lower() for m in _CMAKE_FOUND_TEST.finditer(text)}
    branches = _CMakeBranches()
    add = found.append
    for call in _calls(text, _CMAKE_CALL, '"'):
        tokens = _cmake_tokens(call.args)
        fn = call.name.lower()
        if branches.step(fn, tokens) or not tokens:
            continue
        where = f"{path}:{call.line}"
        detail = _short(call.text)
        off = branches.disabled
        feature = branches.feature if off else None
        marker = branches.marker
        made = functools.partial(_cmake_finding, where, detail, marker, feature, off)
        if fn == "find_package":
            name = tokens[0]
            version = None
            if len(tokens) > 1 and re.fullmatch(r"\d+(\.\d+)*", tokens[1]):
                version = ("==" if "EXACT" in tokens else ">=") + tokens[1]
            # without REQUIRED, and the file tests <Name>_FOUND: the project copes without it
            add(made("library", name, off or ("REQUIRED" not in tokens and name.lower() in tested), version))
        elif fn in {"pkg_check_modules", "pkg_search_module"}:
            optional = off or ("REQUIRED" not in tokens and tokens[0].lower() in tested)
            add(made("program", "pkg-config", optional))
            for token in tokens[1:]:
                if token in _PKG_KEYWORDS:
                    continue
                m = _PKG_SPEC.match(token)
                if m:
                    version = m.group(2).replace(" ", "") if m.group(2) else None
                    if version and version.startswith("=") and not version.startswith("=="):
                        version = "=" + version
                    add(made("library", m.group(1), optional, version))
        elif fn == "project":
            for lang in _cmake_project_languages(tokens[1:]):
                add(made("language", lang))
        elif fn in {"enable_language", "check_language"}:
            optional = fn == "check_language" or "OPTIONAL" in tokens
            for lang in tokens:
                if lang != "OPTIONAL":
                    add(made("language", lang, optional))
        elif fn in {"find_library", "find_program"}:
            names = _cmake_find_names(tokens)
            if names:
                add(made("library" if fn == "find_library" else "program", names[0], off))
        elif fn in {"fetchcontent_declare", "externalproject_add", "cpmaddpackage"}:
            notes.append(f"{where} {detail}: a dependency is downloaded and built during the build")
    return found, notes


def _cmake_finding(
    where: str,
    detail: str,
    marker: str | None,
    feature: str | None,
    off: bool,
    kind: str,
    name: str,
    optional: bool = False,
    version: str | None = None,
) -> Finding:
    """A finding of a CMake call with the marker of the branches it is in, and when it is
    optional the switch of the innermost branch off by default (made whole, not replaced)."""
    return Finding(
        kind,
        name,
        where,
        detail,
        optional,
        version,
        marker=marker,
        feature=feature if optional else None,
        off_by_default=off and optional,
    )


_CMAKE_FOUND_TEST = re.compile(r"\b(\w+?)_FOUND\b")


_CMAKE_PLATFORM_VARIABLES = {
    "WIN32": _WINDOWS_MARKER,
    "MSVC": _WINDOWS_MARKER,
    "MINGW": _WINDOWS_MARKER,
    "APPLE": "sys_platform == 'darwin'",
    # CMake's UNIX: every POSIX platform, Cygwin and macOS included (Python's os.name 'posix')
    "UNIX": "os_name == 'posix'",
    "LINUX": "sys_platform == 'linux'",
    "CYGWIN": "sys_platform == 'cygwin'",
}
_CMAKE_SYSTEM_NAMES = {
    "Windows": _WINDOWS_MARKER,
    "Darwin": "sys_platform == 'darwin'",
    "Linux": "sys_platform == 'linux'",
}


def _cmake_platform_marker(tokens: Sequence[str]) -> str | None:
    """The PEP 508 marker of an ``if()`` that tests the platform only (``WIN32``, ``NOT APPLE``,
    ``CMAKE_SYSTEM_NAME STREQUAL "Linux"``), else None."""
    negate = len(tokens) > 1 and tokens[0] == "NOT"
    rest = list(tokens[1:] if negate else tokens)
    marker = None
    if len(rest) == 1:
        marker = _CMAKE_PLATFORM_VARIABLES.get(rest[0].removeprefix("${").removesuffix("}"))
    elif len(rest) == 3 and rest[1] == "STREQUAL" and rest[0].strip("${}") == "CMAKE_SYSTEM_NAME":
        marker = _CMAKE_SYSTEM_NAMES.get(rest[2])
    if marker is None:
        return None
    return _negated(marker) if negate else marker


@dataclass(slots=True)
class _CMakeIf:
    """One open ``if()`` chain: the current branch's state and what the earlier tests said."""

    #: the current branch is not taken by default (None: unknown)
    off: bool | None
    #: the option the current branch's test reads, when its default is known
    switch: str | None
    #: the current branch's platform marker
    marker: str | None
    #: platform markers of the chain's earlier tests (an elseif/else holds when they failed)
    previous: list[str] = field(default_factory=list)
    #: some earlier test holds by default (``if(X)`` with X ON): later branches are not taken
    earlier_on: bool = False
    #: every test so far is known to fail by default: the else branch is taken
    all_off: bool = True


class _CMakeBranches:
    """``option(X "doc" OFF)`` defaults and the ``if``/``elseif``/``else``/``endif`` nesting:
    whether the current position is in a branch a default configuration does not take
    (``if(X)`` with X OFF, ``if(NOT X)`` with X ON, an ``elseif``/``else`` after a test that
    holds by default, or the ``else()`` of such a test), the option that branch depends on, and
    the platform markers of the ``if(WIN32)``-like branches it is in (an ``elseif``/``else``
    also carries the negation of the earlier platform tests)."""

    def __init__(self) -> None:
        self.options: dict[str, bool] = {}
        self.stack: list[_CMakeIf] = []
        #: per open branch, what it and the branches around it say: some branch is off by
        #: default, the option of the innermost such branch, the platform markers (each once)
        #: and their joined marker; kept with the stack so that a call deep inside nested ifs
        #: costs no walk of the stack
        self.sums: list[tuple[bool, str | None, tuple[str, ...], str | None]] = []

    @property
    def disabled(self) -> bool:
        return self.sums[-1][0] if self.sums else False

    @property
    def feature(self) -> str | None:
        """The option of the innermost branch that is off by default."""
        return self.sums[-1][1] if self.sums else None

    @property
    def marker(self) -> str | None:
        return self.sums[-1][3] if self.sums else None

    def _push(self, branch: _CMakeIf) -> None:
        """Put ``branch`` on the stack (the top was popped or it opens a new ``if``)."""
        off, feature, markers, joined = self.sums[-1] if self.sums else (False, None, (), None)
        if branch.off:
            off, feature = True, branch.switch
        if branch.marker and branch.marker not in markers:
            markers = (*markers, branch.marker)
            joined = _joined(markers)
        self.stack.append(branch)
        self.sums.append((off, feature, markers, joined))

    def _pop(self) -> _CMakeIf:
        self.sums.pop()
        return self.stack.pop()

    def _default_off(self, tokens: Sequence[str]) -> bool | None:
        if len(tokens) == 1 and tokens[0] in self.options:
            return not self.options[tokens[0]]
        if len(tokens) == 2 and tokens[0] == "NOT" and tokens[1] in self.options:
            return self.options[tokens[1]]
        return None

    def _branch(self, tokens: Sequence[str], chain: _CMakeIf | None) -> _CMakeIf:
        """The state of an ``if``/``elseif`` branch testing ``tokens``."""
        previous = chain.previous if chain else []
        earlier_on = chain.earlier_on if chain else False
        off = self._default_off(tokens)
        own = _cmake_platform_marker(tokens)
        return _CMakeIf(
            True if earlier_on else off,
            tokens[-1] if off is not None else chain.switch if chain and earlier_on else None,
            _joined([*(_negated(m) for m in previous), *([own] if own else [])]),
            [*previous, *([own] if own and own not in previous else [])],  # once each
            earlier_on or off is False,
            (chain.all_off if chain else True) and off is True,
        )

    def step(self, fn: str, tokens: Sequence[str]) -> bool:
        """Track one command; True when it was a branch or option command (nothing to find)."""
        if fn == "option":
            if len(tokens) >= 3 and tokens[-1].upper() in {"ON", "OFF"}:
                self.options.setdefault(tokens[0], tokens[-1].upper() == "ON")
            elif len(tokens) >= 1:
                self.options.setdefault(tokens[0], False)  # CMake's default for an option
        elif fn == "if":
            self._push(self._branch(tokens, None))
        elif fn == "elseif" and self.stack:
            self._push(self._branch(tokens, self._pop()))
        elif fn == "else" and self.stack:
            chain = self._pop()
            # taken by default when every earlier test fails by default; not taken when one holds
            off: bool | None = True if chain.earlier_on else False if chain.all_off else None
            self._push(
                _CMakeIf(
                    off,
                    chain.switch,
                    _joined([_negated(m) for m in chain.previous]),
                    chain.previous,
                    chain.earlier_on,
                    chain.all_off,
                )
            )
        elif fn == "endif" and self.stack:
            self._pop()
        else:
            return fn in {"option", "if", "elseif", "else", "endif"}
        return True


def _cmake_project_languages(tokens: Sequence[str]) -> list[str]:
    if "LANGUAGES" in tokens:
        out = []
        for token in tokens[tokens.index("LANGUAGES") + 1 :]:
            if token in _CMAKE_PROJECT_KEYWORDS:
                break
            out.append(token)
        return out
    if any(t in _CMAKE_PROJECT_KEYWORDS for t in tokens):
        return ["C", "CXX"]  # CMake's default when LANGUAGES is not given
    return list(tokens) or ["C", "CXX"]


def _cmake_find_names(tokens: Sequence[str]) -> list[str]:
    if len(tokens) < 2:
        return []
    if tokens[1] != "NAMES":
        return [tokens[1]]
    names = []
    for token in tokens[2:]:
        if token in _CMAKE_FIND_KEYWORDS:
            break
        names.append(token)
    return names


# --------------------------------------------------------------------------- Python (setup.py)


def _word(word: str) -> str:
    """``word`` not preceded by a word character: ``\bword``, the assertion written after the
    word so that a search can look for the word itself (2 MiB in 1 ms instead of 35)."""
    return rf"{word}(?<!\w{word})"


_PY_LIBS = re.compile(
    r"(?<![\w])(?:\w*_)?(?:libraries|libs)\b['\"]?\]?\s*+"
    r"(?:(?P<method>\.\s*+(?:append|extend|insert)\s*+)\(|(?:\+?=|:)\s*+(?=[\[(]))"
)
_PY_FIND_LIBRARY = re.compile(r"(?<![\w])(?>\w*?find_library)\w*+\s*+\(")
#: Strings ending like file names are not library names (``npymath.ini.in``).
_FILE_SUFFIXES = (".in", ".ini", ".pc", ".py", ".h", ".c", ".txt", ".cfg", ".toml", ".json")
_PY_ADD_LIBRARY = re.compile(r"\badd_(?:installed_)?library\s*+\(\s*+['\"]([\w.+-]++)['\"]")
_PY_MIN_VERSION_ARG = re.compile(r"\b(?:min|minimum|atleast)_?ver\w*+\s*+=\s*+['\"](\d++(?:\.\d++)*+)['\"]")
_PY_HAS_HEADER = re.compile(_word("has_header") + r"\s*+\(\s*+\[?\s*+['\"]([\w/+-]++)\.h['\"]")
_PY_MPI4PY = re.compile(r"['\"]mpi4py\b")
_PY_MPI_WRAPPER = re.compile(r"['\"](mpicc|mpicxx|mpic\+\+|mpif90|mpifort)['\"]")
_PY_LIBRARY_TABLE = re.compile(r"['\"]([A-Za-z][\w+-]*+)['\"]\s*+:\s*+\[\s*+['\"]([\w.+-]++)['\"]")
_PY_GET_INFO = re.compile(_word("get_info") + r"\s*+\(\s*+['\"](\w++)['\"]")
_PY_WHICH = re.compile(
    "(?:"
    + "|".join(map(_word, ("which", "find_executable", "find_on_path")))
    + r")\s*+\(\s*+(['\"])([^'\"\n]++)\1"
)
_PY_PKGCONFIG_CALL = re.compile(
    _word("pkgconfig")
    + r"\s*+\.\s*+(?:parse|exists|cflags|libs|modversion|variables|installed|configure_extension)\s*+\("
)
_PY_PKGCONFIG_IMPORT = re.compile(
    r"^[ \t]*+(?:import[ \t]++pkgconfig\b|from[ \t]++pkgconfig[ \t]++import)", re.MULTILINE
)
_PY_PKG_CONFIG_LINE = re.compile(r"pkg-config|pkg_config|PKG_CONFIG", re.IGNORECASE)
_PY_PKG_CONFIG_SHELL = re.compile(
    r"pkg-config\s++(?>(?:--[\w-]++(?:=\S++)?\s++)+)([A-Za-z0-9_][A-Za-z0-9_.+-]*+)"
)
#: Words the call patterns cannot match without (2 MiB are searched for a word in a millisecond).
_PY_CALL_WORDS = {
    _PY_LIBS: ("libraries", "libs"),
    _PY_FIND_LIBRARY: ("find_library",),
    _PY_PKGCONFIG_CALL: ("pkgconfig",),
}
_PY_LANG_CXX = re.compile(_word("language") + r"\s*+=\s*+['\"]c\+\+['\"]")
_PY_IMPORT = re.compile(r"^[ \t]*+(?:from[ \t]++(\w++)[ \t]++import|import[ \t]++([\w, \t]++))", re.MULTILINE)
_ENV_VAR = re.compile(r"^[A-Z][A-Z0-9_]*$")


def _python_text(text: str) -> str:
    """``text`` with ``#`` comments blanked (strings, triple-quoted ones too, are kept)."""
    return _blank(text, _hash_comments(text, "'\""))


# String literals, as ``_STRING`` reads them left to right (any prefix of up to two letters, a
# body to the first quote that no backslash escapes, across lines). A literal that is never
# closed is skipped and the search goes on after its quote; then that quote character closes
# no later literal either: every later quote of that kind is escaped along the failed literal's
# own (deterministic) path, which therefore reaches the character after it too. So once a
# quote character fails it is left out of the search, and no literal is read twice: the scan is
# linear (searching on with it took hours for 2 MiB of ``'\``).
_PREFIX_CHARS = "fFrRbBuU"


@functools.cache
def _literal_pattern(quotes: str) -> re.Pattern[str]:
    """One string literal quoted with one of ``quotes``, in groups 1 to 6 (by number: faster): a
    ``+`` and white space before it (``plus``), ``prefix``, quote ``q``, ``body``, the closing
    quote (``close``: empty when the literal is never closed) and, in a lookahead past white
    space, a ``+`` or ``%`` after it (``op``)."""
    return re.compile(
        rf"(?P<plus>\+\s*+)?(?P<prefix>[{_PREFIX_CHARS}]{{0,2}}){_literal_tail(quotes)}", re.DOTALL
    )


def _literal_tail(quotes: str) -> str:
    """The pattern of a literal from its quote on (groups ``q``, ``body``, ``close``, ``op``)."""
    q = re.escape(quotes)
    return (
        rf"(?P<q>[{q}])(?P<body>(?:[^{q}\\]++|\\.|(?!(?P=q))[{q}])*+)(?P<close>(?P=q)?)"
        r"(?=\s*+(?P<op>[+%]?))"
    )


def _string_literals(
    text: str, start: int = 0, end: int | None = None, wanted: Callable[[str], bool] | None = None
) -> list[tuple[int, str]]:
    """(offset in ``text``, value) of the string literals of ``text[start:end]`` (read as if it
    were the whole text) that are not parts of a concatenation or a ``%`` format (a ``+`` or
    ``%`` next to them), nor bytes or f-strings with a placeholder (only those whose value is
    ``wanted``, when given)."""
    end = len(text) if end is None else end
    out: list[tuple[int, str]] = []
    quotes = "'\""
    pattern = _literal_pattern(quotes)
    m = pattern.search(text, start, end)  # a loop of searches: a third faster than finditer
    while m is not None:
        plus, prefix, body, close, op = m.group(1, 2, 4, 5, 6)
        if not close:  # never closed: search on after its quote, without its kind
            quotes = quotes.replace(m.group(3), "")
            if not quotes:
                break
            pattern = _literal_pattern(quotes)
            m = pattern.search(text, m.start(3) + 1, end)
            continue
        if not (plus or op or (prefix and _bytes_or_format(prefix, body))) and (
            wanted is None or wanted(body)
        ):
            out.append((m.start(2), body))
        m = pattern.search(text, m.end(), end)
    return out


def _bytes_or_format(prefix: str, body: str) -> bool:
    prefix = prefix.lower()
    return "b" in prefix or (prefix == "f" and "{" in body)


@functools.cache
def _literal_finder(quotes: str, heads: tuple[str, ...], tails: tuple[str, ...]) -> re.Pattern[str]:
    """Up to and including the next literal (quoted with one of ``quotes``) whose body starts
    with one of ``heads`` or ends with one of ``tails``, or that is never closed (the groups of
    :func:`_literal_pattern`, none at the end): the other literals are read inside the match,
    so only those reach Python. Between literals, a prefix letter or a ``+`` is read on its own
    only when no literal starts there (as the search for :func:`_literal_pattern` skips it)."""
    q, p = re.escape(quotes), _PREFIX_CHARS
    start = rf"[{p}]{{0,2}}[{q}]"
    between = rf"[^{q}{p}+]++|[{p}](?![{p}]?[{q}])|\+(?!\s*+{start})"
    others = []
    for quote in quotes:
        e = re.escape(quote)
        not_head = "".join(f"(?!{re.escape(h)})" for h in heads)
        not_tail = "".join(f"(?<!{re.escape(t)}{e})" for t in tails)
        others.append(rf"{e}{not_head}(?:[^{e}\\]++|\\.)*+{e}{not_tail}")
    other = rf"(?:\+\s*+)?[{p}]{{0,2}}(?:{'|'.join(others)})"
    return re.compile(rf"(?:{between}|{other})*+(?:{_literal_pattern(quotes).pattern})?", re.DOTALL)


def _string_literals_like(text: str, heads: tuple[str, ...], tails: tuple[str, ...]) -> list[tuple[int, str]]:
    """``_string_literals(text, wanted=...)`` for the values that start with one of ``heads`` or
    end with one of ``tails``, without handing every other literal to Python."""
    out: list[tuple[int, str]] = []
    quotes, pos = "'\"", 0
    finder = _literal_finder(quotes, heads, tails)
    while True:
        m = finder.match(text, pos)
        assert m is not None  # the pattern matches anywhere
        plus, prefix, quote, body, close, op = m.group(1, 2, 3, 4, 5, 6)
        if quote is None:
            break
        if not close:  # never closed: search on after its quote, without its kind
            quotes = quotes.replace(quote, "")
            if not quotes:
                break
            pos, finder = m.start(3) + 1, _literal_finder(quotes, heads, tails)
            continue
        pos = m.end()
        if plus or op or (prefix and _bytes_or_format(prefix, body)):
            continue
        if body.startswith(heads) or body.endswith(tails):
            out.append((m.start(2), body))
    return out


def _line_bounds(text: str, offset: int) -> tuple[int, int]:
    start = text.rfind("\n", 0, offset) + 1
    end = text.find("\n", offset)
    return start, len(text) if end < 0 else end + 1


def scan_python(path: str, text: str, table: InferenceTable) -> list[Finding]:
    """Findings of a ``setup.py`` (or a module it imports); nothing is executed. Findings under
    an ``if`` on the platform (``sys.platform``, ``os.name``, ``platform.system()``) carry the
    equivalent PEP 508 marker (read with :mod:`ast`, never executed)."""
    original = text
    text = _python_text(text)
    lines = _Lines(text)
    found: list[Finding] = []

    seen: dict[tuple[str, str], int] = {}

    def add(kind: str, name: str, offset: int, detail: str, version: str | None = None) -> None:
        count = seen[kind, name] = seen.get((kind, name), 0) + 1
        if count <= MAX_EVIDENCE_PER_NAME:  # more of the same says nothing new
            found.append(Finding(kind, name, f"{path}:{lines(offset)}", _short(detail), version=version))

    def opens(pattern: re.Pattern[str], library_list: bool = False) -> list[tuple[int, int]]:
        """(match start, opening bracket) of the matches (the bracket must be outside strings,
        the start need not be: ``'libraries': [``)."""
        if not any(word in text for word in _PY_CALL_WORDS[pattern]):  # a quick test first
            return []
        return [
            (m.start(), m.end() - 1 if not library_list or m.group("method") else m.end())
            for m in pattern.finditer(text)
        ]

    found_calls = {p: opens(p, p is _PY_LIBS) for p in (_PY_LIBS, _PY_FIND_LIBRARY, _PY_PKGCONFIG_CALL)}
    ends = _bracket_ends(
        text, (o for calls in found_calls.values() for _, o in calls if o < len(text) and text[o] in "([")
    )

    def calls(pattern: re.Pattern[str]) -> Iterator[tuple[int, int, int]]:
        """(match start, opening bracket, just past its match); calls inside another's arguments
        are not read again."""
        covered = 0
        for start, open_at in found_calls[pattern]:
            if start >= covered and open_at in ends:
                covered = ends[open_at]
                yield start, open_at, covered

    variables = _string_variables(text)
    for start, open_at, end in calls(_PY_LIBS):
        chunk = text[open_at:end]
        for offset, value in _string_literals(text, open_at, end):
            name = value[2:] if value.startswith("-l") else value
            if _NAME_LIKE.match(name):
                add("library", name, offset, text[start:end])
        if variables and chunk[:1] == "[" and chunk[-1:] == "]":
            for part in _split_top(chunk[1:-1]):  # libraries=[libname]: libname = 'rdkafka'
                for value in variables.get(part, ()):
                    if _NAME_LIKE.match(value):
                        add("library", value, start, f"{text[start:end]} ({part} = {value!r})")
    defs = {m.group(1): m.end() for m in reversed(list(_PY_TOP_LEVEL_DEF.finditer(text)))}
    for name, offset in _library_functions(text):
        for value_offset, value in _returned_strings(text, defs.get(name)):
            if _NAME_LIKE.match(value):
                add("library", value, value_offset, f"{text[offset : offset + 60].strip()} -> {value!r}")
    for offset, value, detail, version in _pkg_config_wrapper_calls(text, defs):
        add("program", "pkg-config", offset, detail)
        if _NAME_LIKE.match(value) and not value.startswith("-"):
            add("library", value, offset, detail, version)
    for start, open_at, end in calls(_PY_FIND_LIBRARY):
        items = [v for _, v in _string_literals(text, open_at + 1, end - 1)]
        if items and _NAME_LIKE.match(items[-1]):
            add("library", items[-1], start, text[start:end])
    for kind, name, offset, detail in _simple_calls(text):
        add(kind, name, offset, detail)
    for start, open_at, end in calls(_PY_PKGCONFIG_CALL):
        items = [v for _, v in _string_literals(text, open_at + 1, end - 1)]
        add("program", "pkg-config", start, text[start:end])
        if items and _NAME_LIKE.match(items[0]):
            add("library", items[0], start, text[start:end])
    for kind, name, offset, detail in _pkg_config_lines(text):
        add(kind, name, offset, detail)

    for kind, name, offset, detail in _flag_strings(text, table):
        add(kind, name, offset, detail)
    for m in _PY_LANG_CXX.finditer(text):
        add("language", "c++", m.start(), m.group(0))
    found = _with_feature_switches(_with_platform_markers(found, original), original)
    return _with_min_versions(found + _mpi4py_feature(path, text, lines), text, table)


_PY_LIBS_FROM_CALL = re.compile(r"(?<![\w])(?:\w*_)?libraries\s*+=\s*+(\w++)\s*+\(")
#: What every match of ``_PY_LIBS_FROM_CALL`` holds from ``libraries`` on: a quick test first
#: (a search for a word, where the whole pattern is tried at every word).
_PY_LIBS_FROM_CALL_TAIL = re.compile(r"libraries\s*+=\s*+\w++\s*+\(")
_PY_RETURN_LIST = re.compile(_word("return") + r"\s*+\[")
_PY_TOP_LEVEL = re.compile(r"\n(?=\S)")
_PY_STRING_ASSIGN = re.compile(r"^[ \t]*+(\w++)[ \t]*+=[ \t]*+(['\"])([\w.+-]++)\2[ \t]*+$", re.MULTILINE)
_PY_TOP_LEVEL_DEF = re.compile(r"^def[ \t]++(\w++)", re.MULTILINE)


def _library_functions(text: str) -> Iterator[tuple[str, int]]:
    """(function name, offset) of ``libraries=func(...)``: a helper computes the list."""
    seen = set()
    if _PY_LIBS_FROM_CALL_TAIL.search(text) is None:
        return
    for m in _PY_LIBS_FROM_CALL.finditer(text):
        if m.group(1) not in seen:
            seen.add(m.group(1))
            yield m.group(1), m.start()


def _returned_strings(text: str, def_end: int | None) -> Iterator[tuple[int, str]]:
    """(offset, value) of the strings in the ``return [...]`` lists of the top-level function
    whose ``def name`` ends at ``def_end`` (its body ends at the next top-level line; top-level
    functions do not overlap, so reading each once is linear)."""
    if def_end is None:
        return
    end_match = _PY_TOP_LEVEL.search(text, def_end)
    body_end = end_match.start() if end_match else len(text)
    body = text[def_end:body_end]
    opens = [r.end() - 1 for r in _PY_RETURN_LIST.finditer(body)]
    ends = _bracket_ends(body, opens)
    for open_at in opens:
        if open_at in ends:
            yield from _string_literals(text, def_end + open_at, def_end + ends[open_at])


_PY_PKG_CONFIG_USE = re.compile(
    r"['\"](?:pkg-config|pkgconf)['\"]|" + _word("pkgconfig") + r"\s*+\.|PKG_CONFIG"
)
_PY_CALL_NAME = re.compile(r"(?<![\w.])(\w++)\s*+\(")


def _body(text: str, def_end: int) -> tuple[int, int]:
    end_match = _PY_TOP_LEVEL.search(text, def_end)
    return def_end, end_match.start() if end_match else len(text)


def _pkg_config_wrapper_calls(
    text: str, defs: Mapping[str, int]
) -> Iterator[tuple[int, str, str, str | None]]:
    """(offset, name, detail, minimum version) of the string arguments of calls to top-level
    functions that run
    pkg-config, directly or through another such function (systemd-python's
    ``lib('libsystemd', ...)`` calls ``pkgconfig(name)``, which runs ``pkg-config --libs``)."""
    bodies = {name: _body(text, end) for name, end in defs.items()}
    wrappers = {n for n, (a, b) in bodies.items() if _PY_PKG_CONFIG_USE.search(text, a, b)}
    if not wrappers:
        return
    calls_in = {n: {m.group(1) for m in _PY_CALL_NAME.finditer(text, a, b)} for n, (a, b) in bodies.items()}
    callers: dict[str, list[str]] = {}
    for caller, called in calls_in.items():
        for callee in called:
            callers.setdefault(callee, []).append(caller)
    todo = list(wrappers)
    while todo:  # each function enters once: linear in the calls
        for caller in callers.get(todo.pop(), ()):
            if caller not in wrappers:
                wrappers.add(caller)
                todo.append(caller)
    spans = sorted(bodies[n] for n in wrappers)
    opens = [
        (m.start(), m.end() - 1)
        for m in _PY_CALL_NAME.finditer(text)
        if m.group(1) in wrappers and not _inside(spans, m.start())
    ]
    ends = _bracket_ends(text, (o for _, o in opens))
    for start, open_at in opens:
        if open_at in ends:
            args = text[open_at + 1 : ends[open_at] - 1]
            minimum = _PY_MIN_VERSION_ARG.search(args)  # pkg_config('fuse3', min_ver='3.2.0')
            version = f">={minimum.group(1)}" if minimum else None
            for part in _split_top(args):
                value = _literal(part)
                if value is not None:
                    yield start, value, text[start : ends[open_at]], version


def _mpi4py_feature(path: str, text: str, lines: _Lines) -> list[Finding]:
    """Built against mpi4py (h5py's parallel build): MPI, as an optional feature."""
    m = _PY_MPI4PY.search(text)
    if m is None:
        return []
    return [Finding("library", "mpi", f"{path}:{lines(m.start())}", "requires mpi4py", True)]


def _simple_calls(text: str) -> Iterator[tuple[str, str, int, str]]:
    """(kind, name, offset, detail) of ``which('x')``-like program lookups, numpy.distutils'
    ``get_info('lapack_opt')``, MPI compiler wrappers (``'mpicc'``), and per-platform library
    name tables whose key and first name are the same library (``"HDF5": ["hdf5"]``)."""
    for m in _PY_PKGCONFIG_IMPORT.finditer(text):
        yield "program", "pkg-config", m.start(), m.group(0).strip()
    for m in _PY_WHICH.finditer(text):
        yield "program", m.group(2).removesuffix(".exe"), m.start(), m.group(0) + ")"
    for m in _PY_GET_INFO.finditer(text):
        yield "library", m.group(1), m.start(), m.group(0) + ")"
    for m in _PY_MPI_WRAPPER.finditer(text):
        yield "program", m.group(1), m.start(), m.group(0)
    table = load_table()
    for m in _PY_HAS_HEADER.finditer(text):  # has_header(['fftw3.h']): a known library's header
        stem = PurePosixPath(m.group(1)).name.lower()
        if table.libraries.get(stem):
            yield "library", stem, m.start(), m.group(0) + "])"
    for m in _PY_LIBRARY_TABLE.finditer(text):
        key, name = m.group(1).lower(), m.group(2)
        urls = table.libraries.get(key)
        if urls and urls == table.libraries.get(name.lower().removeprefix("lib")):
            yield "library", name, m.start(), m.group(0) + "]"


_PY_CONFIG_PROGRAM = re.compile(r"[-_]config(\.exe)?$")


def _flag_strings(text: str, table: InferenceTable) -> Iterator[tuple[str, str, int, str]]:
    """(kind, name, offset, detail) of the strings anywhere that are linker flags (``'-lz'``) or
    name a known ``*-config`` program (``'pcap-config'``)."""
    names: dict[str, tuple[str, str, str] | None] = {}  # each value is judged once
    for offset, value in _string_literals_like(text, ("-l",), ("config", "config.exe")):
        if value not in names:
            names[value] = _flag_name(value, table)
        name = names[value]
        if name is not None:
            yield name[0], name[1], offset, name[2]


def _flag_name(value: str, table: InferenceTable) -> tuple[str, str, str] | None:
    if value.startswith("-l") and _NAME_LIKE.match(value[2:]):
        return "library", value[2:], value
    if value.lower() in table.programs and _PY_CONFIG_PROGRAM.search(value):
        return "program", value.removesuffix(".exe"), repr(value)
    return None


def _pkg_config_lines(text: str) -> Iterator[tuple[str, str, int, str]]:
    """(kind, name, offset, line) of the strings on lines that mention pkg-config."""
    names: dict[str, tuple[tuple[str, str], ...]] = {}  # each value is judged once
    hit = _PY_PKG_CONFIG_LINE.search(text)
    while hit is not None:
        start, end = _line_bounds(text, hit.start())
        hit = _PY_PKG_CONFIG_LINE.search(text, end)
        line = text[start:end]
        for offset, value in _string_literals(text, start, end):
            if value not in names:
                names[value] = _pkg_config_names(value)
            for kind, name in names[value]:
                yield kind, name, offset, line


def _pkg_config_names(value: str) -> tuple[tuple[str, str], ...]:
    """(kind, name) of what a string on a line that mentions pkg-config names."""
    shell = _PY_PKG_CONFIG_SHELL.search(value)
    if shell:
        return ("program", "pkg-config"), ("library", shell.group(1))
    if value in {"pkg-config", "pkgconf"}:
        return (("program", "pkg-config"),)
    if (
        _NAME_LIKE.match(value)
        and not _ENV_VAR.match(value)
        and not value.startswith("-")
        and not value.lower().endswith(_FILE_SUFFIXES)
    ):
        return (("library", value),)
    return ()


_PY_MIN_VERSION = re.compile(
    r"^(?:([A-Z][A-Z0-9]*+)_MIN(?:IMUM)?+|MIN(?:IMUM)?+_([A-Z][A-Z0-9]*+))_VERSION[ \t]*+=[ \t]*+"
    r"(?:[\w.]++\()?+[ \t]*+['\"](\d++(?:\.\d++)*+)['\"]",
    re.MULTILINE,
)


def _with_min_versions(found: list[Finding], text: str, table: InferenceTable) -> list[Finding]:
    """Findings of a library named by a module-level ``GEOS_MIN_VERSION = "3.10"`` (or
    ``MIN_HDF5_VERSION = ...``) get ``>=3.10`` when they carry no version of their own."""
    minimums: dict[tuple[str, ...], str] = {}
    for m in _PY_MIN_VERSION.finditer(text):
        urls = _lookup(Finding("library", (m.group(1) or m.group(2)).lower(), "", ""), table)
        if urls:
            minimums.setdefault(urls, f">={m.group(3)}")
    if not minimums:
        return found
    out = []
    for f in found:
        urls = _lookup(f, table) if f.kind == "library" and f.version is None else None
        version = minimums.get(urls) if urls else None
        out.append(f if version is None else dataclasses.replace(f, version=version))
    return out


def _string_variables(text: str) -> dict[str, list[str]]:
    """Name -> the name-like strings assigned to it anywhere (``libname = 'rdkafka'``)."""
    variables: dict[str, list[str]] = {}
    for m in _PY_STRING_ASSIGN.finditer(text):
        variables.setdefault(m.group(1), []).append(m.group(3))
    return variables


def _setup_imports(text: str, available: Iterable[str]) -> list[str]:
    """Top-level modules of the tree that ``setup.py`` imports (``setupinfo.py``)."""
    modules = set()
    for m in _PY_IMPORT.finditer(text):
        if m.group(1):
            modules.add(m.group(1))
        else:
            modules.update(words[0] for part in m.group(2).split(",") if (words := part.split()))
    present = set(available)
    return sorted(f"{mod}.py" for mod in modules if f"{mod}.py" in present and mod != "setup")


_CFG_LIBRARIES = re.compile(r"^\s*+libraries\s*+=\s*+(.*)$")


_AC_PKG_CHECK = re.compile(
    r"(?<![\w])(?P<fn>PKG_CHECK_MODULES|PKG_CHECK_EXISTS|AC_CHECK_LIB|AC_SEARCH_LIBS)\s*+\("
)
_AC_MODULE = re.compile(r"([A-Za-z0-9_.+-]++)(?:\s*+(>=|<=|=|>|<)\s*+([\w.]++))?+")


def scan_autoconf(path: str, text: str) -> list[Finding]:
    """``configure.ac``: ``PKG_CHECK_MODULES(VAR, [mod >= 1.2 mod2])`` modules and
    ``AC_CHECK_LIB(lib, ...)``/``AC_SEARCH_LIBS(fn, [libs])`` libraries. A call whose
    action-if-not-found is given (a fourth argument) is optional."""
    text = _blank(text, [m.span() for m in re.finditer(r"(?m)^[ \t]*+dnl\b[^\n]*+|#[^\n]*+", text)])
    found: list[Finding] = []
    for call in _calls(text, _AC_PKG_CHECK, ""):
        args = [a.strip().removeprefix("[").removesuffix("]").strip() for a in _split_top(call.args)]
        where, detail = f"{path}:{call.line}", _short(call.text)
        if call.name.startswith("PKG_") and len(args) >= 2:
            optional = call.name == "PKG_CHECK_EXISTS" or len(args) >= 4
            found.append(Finding("program", "pkg-config", where, detail))
            for m in _AC_MODULE.finditer(args[1]):
                version = f"{'==' if m.group(2) == '=' else m.group(2)}{m.group(3)}" if m.group(2) else None
                found.append(Finding("library", m.group(1), where, detail, optional, version))
        elif call.name == "AC_CHECK_LIB" and args:
            found.append(Finding("library", args[0], where, detail, len(args) >= 4))
        elif call.name == "AC_SEARCH_LIBS" and len(args) >= 2:
            for name in args[1].split():
                found.append(Finding("library", name, where, detail, len(args) >= 4))
    return found


def scan_setup_cfg(path: str, text: str) -> list[Finding]:
    """``libraries =`` values (and their indented continuation lines) in any section of ``setup.cfg``."""
    found = []
    current: tuple[str, str] | None = None  # (where, detail) of the key whose value is being read

    def add(values: str) -> None:
        assert current is not None
        for value in values.replace(",", " ").split():
            if _NAME_LIKE.match(value):
                found.append(Finding("library", value, *current))

    for number, line in enumerate(text.splitlines(), 1):
        m = _CFG_LIBRARIES.match(line)
        if m and not (current is not None and line[:1].isspace()):
            current = (f"{path}:{number}", _short(line))
            add(m.group(1))
        elif current is not None and line.strip() and line[:1].isspace():
            add(line)
        else:
            current = None
    return found


_CFG_DEFINES = re.compile(r"^\s*+defines?\s*+=\s*+(.*)$")
_HAVE_MACRO = re.compile(r"HAVE_([A-Z][A-Z0-9]*+)")


def setup_cfg_feature_macros(path: str, text: str, table: InferenceTable) -> list[Finding]:
    """``defines = HAVE_SASL HAVE_TLS`` in a ``setup.cfg`` section (python-ldap's ``[_ldap]``):
    the sdist's own configuration turns on code that includes the library's headers, so a
    ``HAVE_<NAME>`` macro whose name is a library the table knows is a requirement. Macros
    naming no known library (``HAVE_TLS``) are not reported."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        m = _CFG_DEFINES.match(line)
        if m is None:
            continue
        for macro in _HAVE_MACRO.finditer(m.group(1)):
            name = macro.group(1).lower()
            if _lookup(Finding("library", name, "", ""), table):
                detail = f"{_short(line)} (code built with {macro.group(0)})"
                found.append(Finding("library", name, f"{path}:{number}", detail))
    return found


# --------------------------------------------------------------------------- pyproject / Cargo


def scan_pyproject(path: str, text: str) -> tuple[list[Finding], list[str]]:
    """The build backend's implications, ``ext-modules`` libraries, and an existing ``[external]``."""
    try:
        data = loads_toml(text)
    except tomllib.TOMLDecodeError as exc:
        return [], [f"{path}: not valid TOML ({exc})"]
    found: list[Finding] = []
    notes: list[str] = []
    system = data.get("build-system", {})
    backend = str(system.get("build-backend", ""))
    requires = [str(r) for r in system.get("requires", []) if isinstance(r, str)]
    lines = _Lines(text)
    cursor = 0

    def line_of(needle: str) -> int:
        """The line of ``needle``'s next occurrence near the previous one (looked for in a
        bounded window, so many needles cost linear time), else the previous one's line."""
        nonlocal cursor
        at = text.find(needle, cursor, cursor + _LINE_OF_WINDOW + len(needle))
        if at < 0:
            at = text.find(needle, 0, _LINE_OF_WINDOW + len(needle))
        if at < 0:
            return lines(cursor) if cursor else 1
        cursor = at
        return lines(at)

    if backend.startswith("maturin"):
        found.append(
            Finding("language", "rust", f"{path}:{line_of('maturin')}", f"build-backend = {backend!r}")
        )
    for req in requires:
        name = re.split(r"[\s<>=!~;\[(]", req, maxsplit=1)[0].lower().replace("_", "-")
        if name == "setuptools-rust":
            found.append(Finding("language", "rust", f"{path}:{line_of(req)}", f"requires {req!r}"))
        elif name == "pkgconfig":
            found.append(Finding("program", "pkg-config", f"{path}:{line_of(req)}", f"requires {req!r}"))
    ext_modules = data.get("tool", {}).get("setuptools", {}).get("ext-modules", [])
    seen: dict[str, int] = {}
    for module in ext_modules if isinstance(ext_modules, list) else []:
        if not isinstance(module, dict):
            continue
        for lib in map(str, module.get("libraries", [])):
            line = line_of(lib)  # every one: the next is looked for after it
            seen[lib] = seen.get(lib, 0) + 1
            if seen[lib] <= MAX_EVIDENCE_PER_NAME:  # as in setup.py: more of the same says nothing new
                found.append(Finding("library", lib, f"{path}:{line}", "tool.setuptools.ext-modules"))
        if str(module.get("language", "")).lower() == "c++":
            found.append(
                Finding("language", "c++", f"{path}:{line_of('language')}", "tool.setuptools.ext-modules")
            )
    if "external" in data:
        notes.append(f"{path} already has an [external] table")
    return found, notes


_CARGO_SECTIONS = ("dependencies", "build-dependencies")
_CARGO_KEY = re.compile(r"^[ \t]*+\"?([\w-]++)\"?[ \t]*+[=.]", re.MULTILINE)
#: How far :func:`scan_pyproject` looks for the next name it reports a line for.
_LINE_OF_WINDOW = 1 << 16


def scan_cargo(path: str, text: str, table: InferenceTable) -> list[Finding]:
    """Rust, plus crates that link or build native code (``*-sys``, ``cc``) in one ``Cargo.toml``."""
    try:
        data = loads_toml(text)
    except tomllib.TOMLDecodeError:
        return []
    lines = _Lines(text)
    key_lines: dict[str, int] = {}
    for m in _CARGO_KEY.finditer(text):
        key_lines.setdefault(m.group(1), m.start())
    found = [Finding("language", "rust", f"{path}:1", "Cargo.toml")]
    sections: list[Mapping[str, Any]] = [data.get(s, {}) for s in _CARGO_SECTIONS]
    sections.append(data.get("workspace", {}).get("dependencies", {}))
    for target in data.get("target", {}).values():
        if isinstance(target, dict):
            sections += [target.get(s, {}) for s in _CARGO_SECTIONS]
    seen = set()
    for section in sections:
        if not isinstance(section, dict):
            continue
        for key, spec in section.items():
            crate = str(spec.get("package", key)) if isinstance(spec, dict) else key
            if crate in seen or not (crate in table.cargo or crate.endswith(("-sys", "-src"))):
                continue
            seen.add(crate)
            at = key_lines.get(key)
            line = lines(at) if at is not None else 1
            found.append(Finding("crate", crate, f"{path}:{line}", f"crate {crate}"))
    return found


# --------------------------------------------------------------------------- tree inference


def _skipped(path: str, skip: frozenset[str]) -> bool:
    return any(part.lower() in skip for part in PurePosixPath(path).parts[:-1])


def _swig_interfaces(paths: Iterable[str]) -> list[Finding]:
    """SWIG interface files (``*.i``, outside tests and docs): swig is a build tool."""
    interfaces = [p for p in paths if p.endswith(".i") and not _skipped(p, _SKIP_SOURCE_DIRS)]
    if not interfaces:
        return []
    return [Finding("program", "swig", interfaces[0], f"({len(interfaces)} SWIG interface file(s))")]


def _source_languages(paths: Iterable[str], table: InferenceTable) -> list[Finding]:
    counts: dict[str, list[str]] = {}
    for path in paths:
        if _skipped(path, _SKIP_SOURCE_DIRS):
            continue
        suffix = posixpath.splitext(path)[1]
        lang = "cpp" if suffix == ".C" else table.suffixes.get(suffix.lower())
        if lang:
            counts.setdefault(lang, []).append(path)
    return [
        Finding(
            "language", lang, examples[0], f"({len(examples)} {posixpath.splitext(examples[0])[1]} file(s))"
        )
        for lang, examples in sorted(counts.items())
    ]


def findings_of_tree(
    tree: SourceTree, table: InferenceTable | None = None
) -> tuple[list[Finding], list[str]]:
    """Every finding and note of a source tree, before mapping."""
    table = table or load_table()
    files = {p: t for p, t in tree.files.items() if not _skipped(p, _SKIP_DIRS)}
    found: list[Finding] = []
    notes: list[str] = []
    if "pyproject.toml" in files:
        more, extra = scan_pyproject("pyproject.toml", files["pyproject.toml"])
        found += more
        notes += extra
    if "meson.build" in files:
        option_file = next((p for p in ("meson.options", "meson_options.txt") if p in files), None)
        options = meson_option_defaults(files[option_file]) if option_file else {}
        meson_paths = sorted(p for p in files if PurePosixPath(p).name == "meson.build")
        for path in meson_paths:
            found += scan_meson(path, files[path], options)
        found += _meson_subproject_findings(tree.files, [files[p] for p in meson_paths])
    if "CMakeLists.txt" in files:
        cmake_paths = sorted(
            p for p in files if p.endswith(".cmake") or PurePosixPath(p).name == "CMakeLists.txt"
        )
        modules = [p for p in cmake_paths if re.fullmatch(r"Find\w+\.cmake", PurePosixPath(p).name)]
        cmake_found: list[Finding] = []
        for path in (p for p in cmake_paths if p not in modules):
            more, extra = scan_cmake(path, files[path])
            cmake_found += more
            notes += extra
        # A Find<Name>.cmake module only matters when find_package(<Name>) asks for it.
        wanted = {f.name.lower() for f in cmake_found if f.kind == "library"}
        for path in modules:
            if PurePosixPath(path).name[4:-6].lower() in wanted:
                more, extra = scan_cmake(path, files[path])
                cmake_found += [f for f in more if f.name.lower() not in wanted or f.kind != "library"]
                notes += extra
        found += cmake_found
    found += _python_findings(files, table)
    notes += _unparsed_notes(files)
    if "setup.cfg" in files:
        found += scan_setup_cfg("setup.cfg", files["setup.cfg"])
        found += setup_cfg_feature_macros("setup.cfg", files["setup.cfg"], table)
    for path in ("configure.ac", "configure.in"):
        if path in files:
            found += scan_autoconf(path, files[path])
    for path in sorted(p for p in files if PurePosixPath(p).name == "Cargo.toml"):
        found += scan_cargo(path, files[path], table)
    found += _source_languages(tree.paths, table)
    found += _swig_interfaces(tree.paths)
    bundled = bundled_sources(tree.paths, table)
    found += bundled
    if bundled:
        hints = _unbundle_hints(text for path, text in files.items() if "/" not in path)
        if hints:
            names = ", ".join(sorted({f.name for f in bundled}))
            notes.append(f"bundled sources ({names}); the build files mention: {', '.join(hints)}")
    if tree.skipped:
        notes.append(f"not read (too big): {', '.join(tree.skipped[:5])}")
    return found, notes


def _python_paths(files: Mapping[str, str]) -> list[str]:
    """The Python build files read: setup.py, the modules it imports, numpy.distutils
    subpackage setup.py files and build helpers."""
    py_paths = ["setup.py", *_setup_imports(files["setup.py"], files)] if "setup.py" in files else []
    # numpy.distutils: a setup.py per subpackage, each with a configuration() function
    py_paths += sorted(
        p
        for p in files
        if p.endswith("/setup.py") and not _skipped(p, _SKIP_SOURCE_DIRS) and "def configuration(" in files[p]
    )
    py_paths += sorted(p for p in files if p not in py_paths and is_build_helper(p))
    return py_paths


def _python_findings(files: Mapping[str, str], table: InferenceTable) -> list[Finding]:
    """Findings of setup.py, the modules it imports, numpy.distutils subpackage setup.py files
    and build helpers; libraries in branches a default build does not take are off by default."""
    found: list[Finding] = []
    py_paths = _python_paths(files)
    # numpy.distutils: config.add_library('quadpack', ...) is built by the project itself
    own = {m.group(1).lower() for path in py_paths for m in _PY_ADD_LIBRARY.finditer(files[path])}
    # configparser takes 20 us a section: the setup.cfg keys are read under the parse budget too
    configured = defaults.configured_keys(_parsed_setup_cfg(files))
    for path in py_paths:
        more = [f for f in scan_python(path, files[path], table) if f.name.lower() not in own]
        more = _with_probed_loops(_with_switch_values(more, files[path]), files[path])
        more = _with_off_branches(more, files[path], _imported_texts(files[path], files), configured)
        found += _with_required_features(more, path, files[path])
    return found


def _parsed_setup_cfg(files: Mapping[str, str]) -> str | None:
    """The setup.cfg text when it is under the parse budget (:func:`.defaults.over_budget`)."""
    setup_cfg = files.get("setup.cfg")
    return None if setup_cfg is None or defaults.over_budget(setup_cfg) else setup_cfg


def _unparsed_notes(files: Mapping[str, str]) -> list[str]:
    """A note for each Python build file over the parse budget (:func:`.defaults.over_budget`):
    its literals were read, its conditions were not; and for a setup.cfg over it beside them."""
    py_paths = _python_paths(files)
    notes = [
        f"{path}: not parsed (over {defaults.MAX_PARSE >> 10} KiB): its platform markers, feature"
        " switches, branches off by default and probed loops were not read"
        for path in py_paths
        if defaults.over_budget(files[path])
    ]
    if py_paths and "setup.cfg" in files and _parsed_setup_cfg(files) is None:
        notes.append(
            f"setup.cfg: not parsed (over {defaults.MAX_PARSE >> 10} KiB): the options it sets were"
            " not read for the branches setup.py takes by default"
        )
    return notes


#: Folders that hold other projects' sources (``vendor/libuv``, ``src/libsodium``).
_VENDOR_PARENTS = frozenset(
    {
        "extern",
        "external",
        "vendor",
        "vendored",
        "third_party",
        "thirdparty",
        "3rdparty",
        "deps",
        "lib",
        "libs",
        "src",
        "subprojects",
        "csrc",
        "c-src",
        "internal-complibs",
    }
)
_C_SOURCE = (".c", ".cc", ".cpp", ".cxx", ".h", ".hpp")
_VERSION_SUFFIX = re.compile(r"[-_.]?v?\d+(?:\.\d+)*$")


def bundled_sources(paths: Iterable[str], table: InferenceTable) -> list[Finding]:
    """Libraries whose C/C++ sources the tree carries: a folder named for a library the table
    knows (version suffix allowed: ``lz4-1.9.3``), at the top, directly under a vendor folder or
    inside a Python package (``blosc/c-blosc``), holding C/C++ files and no ``__init__.py`` (not
    a Python package of the same name). A bundle inside another bundle is not reported."""
    all_paths = list(paths)
    packages = {
        "/".join(PurePosixPath(p).parts[:-1]) for p in all_paths if PurePosixPath(p).name == "__init__.py"
    }
    counts: dict[str, int] = {}
    for path in all_paths:
        parts = PurePosixPath(path).parts
        if not parts[-1].lower().endswith(_C_SOURCE):
            continue
        for depth in range(min(len(parts) - 1, 4)):
            parent = "/".join(parts[:depth])
            if depth > 0 and parts[depth - 1].lower() not in _VENDOR_PARENTS and parent not in packages:
                continue
            key = "/".join(parts[: depth + 1])
            counts[key] = counts.get(key, 0) + 1
    found = []
    outer: set[str] = set()
    for folder, count in sorted(counts.items()):
        folder_parts = PurePosixPath(folder).parts
        ancestors = {"/".join(folder_parts[:i]) for i in range(1, len(folder_parts))}
        if folder in packages or ancestors & outer:
            continue  # a bundle inside a bundle goes with it
        name = PurePosixPath(folder).name
        key = _VERSION_SUFFIX.sub("", name.lower())
        urls = table.libraries.get(key) or table.libraries.get(key.removeprefix("lib"))
        if urls and all(not u.startswith("dep:virtual/") for u in urls):
            outer.add(folder)
            detail = f"(bundled sources: {count} C/C++ files)"
            found.append(Finding("library", key, folder + "/", detail, bundled=True))
    return found


_UNBUNDLE_HINT = re.compile(
    r"(?i)\b(?:use[-_]system[-_][\w-]+|[\w-]*system[-_]lib\w*|[A-Z0-9_]*_INSTALL|[\w-]*bundled[\w-]*"
    r"|with[-_]system[-_][\w-]+|embedded[-_][\w-]+|dynamic[-_]linking)\b"
)


def _unbundle_hints(texts: Iterable[str], limit: int = 4) -> list[str]:
    """Option and variable names in the build files that look like unbundling switches."""
    hints: dict[str, None] = {}
    for text in texts:
        for m in _UNBUNDLE_HINT.finditer(text):
            if m.group(0).upper().startswith(("CPACK", "CMAKE")):
                continue
            hints.setdefault(m.group(0), None)
            if len(hints) >= limit:
                return list(hints)
    return list(hints)


_MESON_SUBPROJECT = re.compile(r"(?<![\w])subproject\s*+\(\s*+'([\w.+-]++)'")


def _meson_subproject_findings(all_files: Mapping[str, str], texts: Iterable[str]) -> list[Finding]:
    """The dependencies of the subprojects the build calls (``subproject('dbus-gmain')``): built
    with the project by default, so what they need from the system, the project needs. A
    subproject's tests and docs are not read."""
    names = {m.group(1) for text in texts for m in _MESON_SUBPROJECT.finditer(text)}
    found: list[Finding] = []
    for name in sorted(names):
        prefix = f"subprojects/{name}/"
        for path in sorted(p for p in all_files if p.startswith(prefix) and p.endswith("meson.build")):
            if not _skipped(path[len(prefix) :], _SKIP_SOURCE_DIRS):
                found += [f for f in scan_meson(path, all_files[path]) if f.kind != "language"]
    return found


def infer_from_tree(tree: SourceTree, table: InferenceTable | None = None) -> Inference:
    """Propose ``[external]`` entries from a source tree's build files and source suffixes."""
    table = table or load_table()
    found, notes = findings_of_tree(tree, table)
    backend_meson = "meson.build" in tree.files
    return _build(tree.name, found, notes, table, implied_pkg_config=backend_meson)


# --------------------------------------------------------------------------- mapping


@dataclass
class _Acc:
    category: Category
    evidence: list[str] = field(default_factory=list)
    optional: bool = True
    vendored: bool = True
    bundled: bool = False
    versions: set[str | None] = field(default_factory=set)
    markers: set[str | None] = field(default_factory=set)
    features: set[str | None] = field(default_factory=set)
    #: some optional (not bundled) evidence is used when found; some is off by default
    on_if_found: bool = False
    off: bool = False


def _without_switch_values(unmapped: list[Finding], mapped_features: set[str | None]) -> list[Finding]:
    """``unmapped`` without the names that are a build switch whose value is the library.

    ``libs.append(feature.get("jpeg2000"))`` appends what the ``jpeg2000`` switch found
    (``openjp2``), not a library called ``jpeg2000``: when the switch's own group already has a
    mapped library, the switch's name is not a further library to add by hand."""
    return [
        f
        for f in unmapped
        if not (
            f.kind == "library"
            and f.feature
            and f.feature.lower() == f.name.lower()
            and f.feature in mapped_features
        )
    ]


def _lookup(finding: Finding, table: InferenceTable) -> tuple[str, ...] | None:
    name = finding.name.strip()
    key = name.lower()
    if finding.kind == "language":
        return table.languages.get(key)
    if finding.kind == "crate":
        return table.cargo.get(key)
    if finding.kind == "program":
        if "/" in name or key.endswith((".py", ".sh", ".pl")) or "${" in name or "@" in name:
            return ()
        return table.programs.get(key.removesuffix(".exe"))
    if finding.kind == "runtime":
        return table.runtime_urls(key)
    if "${" in name or "$<" in name or "::" in name:
        return ()
    stem = re.sub(r"(?:_a|_static|\.lib|\.dll)$", "", key)  # Windows static/import names
    for candidate in (key, key.removeprefix("lib"), stem, stem.removeprefix("lib")):
        if candidate in table.libraries:
            return table.libraries[candidate]
    return None


def _build(
    source: str,
    found: Sequence[Finding],
    notes: Sequence[str],
    table: InferenceTable,
    *,
    implied_pkg_config: bool = False,
    categories: Callable[[Finding, str], Iterable[tuple[Category, bool]]] | None = None,
) -> Inference:
    acc: dict[tuple[str, Category], _Acc] = {}
    unmapped: list[Finding] = []
    seen_unmapped: set[tuple[str, str]] = set()
    meson_libraries: list[Finding] = []

    def add(url: str, category: Category, finding: Finding, vendored: bool = False) -> None:
        ident = _ident(url)
        entry = acc.setdefault((ident, category), _Acc(category))
        if finding.evidence not in entry.evidence:
            entry.evidence.append(finding.evidence)
        # bundled sources are the default; other evidence makes it a requirement unless optional
        entry.optional = entry.optional and (finding.optional or finding.bundled)
        entry.vendored = entry.vendored and vendored
        entry.bundled = entry.bundled or finding.bundled
        entry.markers.add(finding.marker)
        if finding.optional and not finding.bundled:
            entry.features.add(finding.feature)
            entry.off = entry.off or finding.off_by_default
            entry.on_if_found = entry.on_if_found or not finding.off_by_default
        entry.versions.add(finding.version if not parse_depurl(url).version else parse_depurl(url).version)

    for finding in found:
        urls = _lookup(finding, table)
        if urls is None:
            if finding.kind == "crate" and not finding.name.endswith(("-sys", "-src")):
                continue
            if not finding.name[:1].isalpha():  # a version or a stray token, not a name
                continue
            key = (finding.kind, finding.name.lower())
            if key not in seen_unmapped:
                seen_unmapped.add(key)
                unmapped.append(finding)
            continue
        for url in urls:
            if categories is None:
                add(url, table.category(url), finding)
            else:
                for category, vendored in categories(finding, url):
                    add(url, category, finding, vendored)
        if (
            urls
            and finding.kind == "library"
            and finding.where.split(":")[0].endswith("meson.build")
            and any(table.category(u) == "host" for u in urls)
        ):
            meson_libraries.append(finding)
    unmapped = _without_switch_values(unmapped, {f for e in acc.values() for f in e.features})
    if implied_pkg_config and meson_libraries:
        first = next((f for f in meson_libraries if not f.optional), meson_libraries[0])
        add(
            "dep:generic/pkg-config",
            "build",
            Finding(
                "program",
                "pkg-config",
                first.where,
                f"{first.detail} (meson looks up pkg-config first)",
                all(f.optional for f in meson_libraries),
            ),
        )
    proposals = []
    for (ident, category), entry in acc.items():
        versions = {v for v in entry.versions if v}
        url = ident
        if len(versions) == 1:  # one constraint stated; evidence without one does not contradict it
            candidate = f"{ident}@{versions.pop()}"
            try:
                parse_depurl(candidate)
                url = candidate
            except InvalidExternalMetadata:
                pass
        proposals.append(
            Proposal(
                url,
                category,
                tuple(entry.evidence),
                entry.optional,
                entry.vendored and categories is not None,
                _combined_marker(entry.markers),
                entry.bundled and entry.optional,
                _one_feature(entry.features) if entry.optional else None,
                _default(entry),
            )
        )
    return Inference(
        source, tuple(sorted(proposals, key=_order)), tuple(found), tuple(unmapped), tuple(notes)
    )


def _default(entry: _Acc) -> Default | None:
    """``on-if-found`` when some optional evidence is used when found, ``off`` when all of it
    waits for a switch the user must turn on; None for required and bundled-only entries."""
    if not entry.optional:
        return None
    return "on-if-found" if entry.on_if_found else "off" if entry.off else None


def _one_feature(features: set[str | None]) -> str | None:
    """The group name when all optional evidence names the same switch, else None; normalized
    like a PEP 685 extra (``LINK_OPENSSL`` -> ``link-openssl``)."""
    if len(features) != 1:
        return None
    name = next(iter(features))
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or None if name else None


def _combined_marker(markers: set[str | None]) -> str | None:
    """None when some evidence is unconditional (or a marker and its negation both occur),
    else the markers joined with ``or``."""
    if not markers or None in markers:
        return None
    ordered = sorted(m for m in markers if m)
    if any(m.replace("==", "\0").replace("!=", "==").replace("\0", "!=") in markers for m in ordered):
        return None
    return ordered[0] if len(ordered) == 1 else " or ".join(f"({m})" for m in ordered)


def _order(p: Proposal) -> tuple[int, int, str]:
    ident = p.id
    rank = 0 if ident.startswith("dep:virtual/compiler/") else 1 if ident.startswith("dep:virtual/") else 2
    return CATEGORIES.index(p.category), rank, ident


def _merged_default(a: Proposal, b: Proposal) -> Default | None:
    if not (a.optional and b.optional):
        return None
    defaults = {a.default, b.default} - {None}
    return "on-if-found" if "on-if-found" in defaults else "off" if defaults else None


def merge(*inferences: Inference, source: str | None = None) -> Inference:
    """Combine inferences (an sdist's and its wheels'): proposals with the same DepURL id and
    category are merged; optional only if optional everywhere, vendored only if vendored everywhere."""
    acc: dict[tuple[str, Category], Proposal] = {}
    for inference in inferences:
        for p in inference.proposals:
            key = (p.id, p.category)
            old = acc.get(key)
            if old is None:
                acc[key] = p
                continue
            evidence = old.evidence + tuple(e for e in p.evidence if e not in old.evidence)
            url = (
                old.url
                if old.url == p.url
                else p.id
                if "@" in old.url and "@" in p.url
                else max(old.url, p.url, key=len)
            )
            acc[key] = Proposal(
                url,
                p.category,
                evidence,
                old.optional and p.optional,
                old.vendored and p.vendored,
                old.marker if old.marker == p.marker else None,
                old.bundled and p.bundled,
                old.feature if old.feature == p.feature and old.optional and p.optional else None,
                _merged_default(old, p),
            )
    return Inference(
        source or " + ".join(i.source for i in inferences),
        tuple(sorted(acc.values(), key=_order)),
        tuple(f for i in inferences for f in i.findings),
        tuple(f for i in inferences for f in i.unmapped),
        tuple(n for i in inferences for n in i.notes),
    )


# --------------------------------------------------------------------------- wheels


_AUDITWHEEL_HASH = re.compile(r"-[0-9a-f]{8}(?=[.-])", re.IGNORECASE)
_DELVEWHEEL_HASH = re.compile(r"-[0-9a-f]{32}(?=\.)", re.IGNORECASE)


def library_stem(name: str) -> str:
    """``libgfortran-040039e1-0352e75f.so.5.0.0`` -> ``libgfortran``; ``libgmp-10.dll`` -> ``libgmp``."""
    base = posixpath.basename(name.replace("\\", "/")).lower()
    base = _DELVEWHEEL_HASH.sub("", base)
    while True:
        stripped = _AUDITWHEEL_HASH.sub("", base, count=1)
        if stripped == base:
            break
        base = stripped
    stem = base.split(".", 1)[0]
    return re.sub(r"-\d+$", "", stem)


def infer_from_wheel(inspection: Inspection, table: InferenceTable | None = None) -> Inference:
    """Propose ``[external]`` entries from a wheel's binaries.

    * any native binary: a C compiler was used (build);
    * vendored libraries (in ``*.libs``/``.dylibs``, or otherwise bundled): host, marked vendored
      (compiler runtimes such as libgfortran become the compiler instead);
    * libraries the binaries need that neither the wheel nor the platform provides: host and run;
    * compiler runtimes the platform provides (``libstdc++``, ``msvcp140``): their compiler.
    """
    table = table or load_table()
    artifact = inspection.artifact
    vendored_paths = set(inspection.repair.vendored)
    for binary in inspection.binaries:
        for dep in binary.dependencies:
            if dep.resolution is Resolution.BUNDLED and dep.member:
                vendored_paths.add(dep.member)
    found: list[Finding] = []
    extensions = [b.native for b in inspection.binaries if b.native.path not in vendored_paths]
    if extensions:
        example = extensions[0].install_path
        found.append(Finding("language", "c", example, f"({len(extensions)} native file(s) built)"))
    kinds: dict[tuple[str, str], str] = {}
    for path in sorted(vendored_paths):
        folder, base = posixpath.split(path)
        finding = Finding("runtime", library_stem(base), path, f"(vendored in {folder or '.'})")
        found.append(finding)
        kinds[(finding.where, finding.name)] = "vendored"
    needed: dict[tuple[str, Resolution], list[str]] = {}
    for binary in inspection.binaries:
        for dep in binary.dependencies:
            if dep.resolution is Resolution.BUNDLED:
                continue
            needed.setdefault((dep.name, dep.resolution), []).append(binary.native.install_path)
    for (name, resolution), users in sorted(needed.items(), key=lambda kv: (kv[0][0], kv[0][1].value)):
        more = f" and {len(users) - 1} more" if len(users) > 1 else ""
        detail = f"needed by {users[0]}{more} ({resolution.value})"
        finding = Finding("runtime", library_stem(name), name, detail)
        urls = table.runtime_urls(finding.name)
        if resolution is Resolution.SYSTEM and not (urls and all(u.startswith("dep:virtual/") for u in urls)):
            continue  # provided by the platform: not an external dependency
        found.append(finding)
        kinds[(finding.where, finding.name)] = resolution.value
    if not vendored_paths and not any(k != "system" for k in kinds.values()) and extensions:
        notes = ["no vendored or external libraries: native dependencies, if any, are linked statically"]
    else:
        notes = []

    def categories(finding: Finding, url: str) -> Iterator[tuple[Category, bool]]:
        base = table.category(url)
        kind = kinds.get((finding.where, finding.name))
        if base == "build" or kind is None:
            yield base, False
        elif kind == "vendored":
            yield "host", True
        elif kind == "external":
            yield "host", False
            yield "run", False
        else:
            yield "host", False

    return _build(artifact.path.rsplit("/", 1)[-1], found, notes, table, categories=categories)


# --------------------------------------------------------------------------- TOML


def _toml_string(value: str) -> str:
    return json.dumps(value)


_UNSAFE_IN_COMMENT = re.compile("[\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _toml_key(name: str) -> str:
    """A group name as a TOML key: bare when it can be, else quoted."""
    return name if _BARE_KEY.fullmatch(name) else _toml_string(name)


def _comment(text: str) -> str:
    """One line of comment text: whitespace runs collapsed, control and bidi characters shown
    as escapes (TOML comments may not hold control characters; a terminal must not obey them)."""
    one = " ".join(text.split())
    return _UNSAFE_IN_COMMENT.sub(
        lambda m: f"\\x{ord(m.group(0)):02x}" if ord(m.group(0)) < 0x100 else f"\\u{ord(m.group(0)):04x}", one
    )


def to_toml(inference: Inference, *, evidence_per_entry: int = 2, group: str = "optional") -> str:
    """A pasteable ``[external]`` table with ``# evidence`` comments, in a stable order.

    Optional proposals go to ``[external.optional-*]`` under their feature's name (the build
    switch they depend on), or under ``group`` when no one switch is known (an entry a default
    build does not use is flagged ``off unless asked``); names that could not be
    mapped are listed in trailing comments.
    """
    table = load_table()
    out = [f"# Proposed by native-doctor from {_comment(inference.source)}: review before use.", "[external]"]

    def entries(items: Sequence[Proposal]) -> list[str]:
        lines = []
        for p in items:
            shown = [_comment(e) for e in p.evidence[:evidence_per_entry]]
            extra = len(p.evidence) - len(shown)
            comment = "; ".join(shown) + (f" (+{extra} more)" if extra > 0 else "")
            flags = []
            if p.vendored:
                flags.append("vendored in the wheel")
            if p.default == "off":
                flags.append("off unless asked")
            if p.id not in table.registry:
                flags.append("not in the PEP 804 registry")
            if flags:
                comment += f" [{', '.join(flags)}]"
            lines.append(f"  {_toml_string(p.specifier)},  # {comment}")
        return lines

    sections: list[str] = []
    proposals = [p for p in inference.proposals if not p.bundled]
    for category in CATEGORIES:
        items = [p for p in proposals if p.category == category and not p.optional]
        if items:
            out += [f"{_TOML_KEYS[category]} = [", *entries(items), "]"]
    for category in CATEGORIES:
        items = [p for p in proposals if p.category == category and p.optional]
        if not items:
            continue
        sections += ["", f"[external.optional-{_TOML_KEYS[category]}]"]
        by_group: dict[str, list[Proposal]] = {}
        for p in items:
            by_group.setdefault(p.feature or group, []).append(p)
        for name in sorted(by_group, key=lambda n: (n != group, n)):
            sections += [f"{_toml_key(name)} = [", *entries(by_group[name]), "]"]
    if len(out) == 2 and not sections:
        out.append("# nothing inferred")
    out += sections
    bundled = [p for p in inference.proposals if p.bundled]
    if bundled:
        out += ["", "# Bundled in the sdist and built by default (not host requirements; to build"]
        out += ["# against the system's copy instead, see the note on unbundling below):"]
        out += [f"#   {p.url}  # {_comment('; '.join(p.evidence[:2]))}" for p in bundled]
    if inference.unmapped:
        out += ["", "# Found, but not mapped to a DepURL (add by hand if needed):"]
        listed = inference.unmapped[:MAX_UNMAPPED_LISTED]
        out += [f"#   {f.kind} {_comment(repr(f.name))}: {_comment(f.evidence)}" for f in listed]
        if len(inference.unmapped) > len(listed):
            out.append(f"#   ... and {len(inference.unmapped) - len(listed):,} more, not listed")
    if inference.notes:
        out += ["", *(f"# note: {_comment(n)}" for n in inference.notes)]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- platform branches

_PLATFORM_SUBJECTS = {
    ("sys", "platform"): "sys_platform",
    ("os", "name"): "os_name",
}
_STARTSWITH = {"win": "win32", "linux": "linux", "darwin": "darwin", "cygwin": "cygwin"}


def _quoted(value: str) -> str:
    return f"'{value}'" if "'" not in value else json.dumps(value)


def _subject(node: ast.expr) -> str | None:
    """The marker variable a platform expression reads (``sys.platform`` -> ``sys_platform``)."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return _PLATFORM_SUBJECTS.get((node.value.id, node.attr))
    if (
        isinstance(node, ast.Call)
        and not node.args
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "system"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "platform"
    ):
        return "platform_system"
    return None


_WINDOWS = _WINDOWS_MARKER
_PLATFORM_WORD = re.compile(
    r"platform|os\.name|msvc|mingw|darwin|win32|windows|_nt\b|osx|macos", re.IGNORECASE
)
_MSVC = re.compile(r"msvc|mingw", re.IGNORECASE)
#: Functions named for a platform (psycopg2's ``finalize_darwin``, called via ``getattr``).
_PLATFORM_FUNCTION = re.compile(r".*_(win|win32|windows|nt|darwin|mac|macos|osx)")
_FUNCTION_MARKERS = {
    "win": _WINDOWS,
    "mac": "sys_platform == 'darwin'",
    "win32": _WINDOWS,
    "windows": _WINDOWS,
    "nt": _WINDOWS,
    "darwin": "sys_platform == 'darwin'",
    "macos": "sys_platform == 'darwin'",
    "osx": "sys_platform == 'darwin'",
}


def _names_in(node: ast.AST) -> Iterator[str]:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            yield sub.id
        elif isinstance(sub, ast.Attribute):
            yield sub.attr
        elif isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            yield sub.value


def _platform_marker(
    test: ast.expr, negate: bool = False, names: Mapping[str, ast.expr] | None = None
) -> str | None:
    """The PEP 508 marker equivalent to an ``if`` test on the platform, else None. ``names``:
    module-level names bound to such a test (``WINDOWS = platform.system() == 'Windows'``). A
    test on the compiler being MSVC or MinGW means Windows (its negation means nothing)."""
    names = names or {}
    if isinstance(test, ast.Name) and test.id in names:
        return _platform_marker(names[test.id], negate, {})
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return _platform_marker(test.operand, not negate, names)
    if any(_MSVC.search(n) for n in _names_in(test)) and _subject_free(test):
        return None if negate else _WINDOWS
    if isinstance(test, ast.BoolOp):
        parts = [_platform_marker(v, negate, names) for v in test.values]
        if any(p is None for p in parts):
            return None
        is_and = isinstance(test.op, ast.And) != negate  # De Morgan
        return (" and " if is_and else " or ").join(f"({p})" for p in parts)
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        subject = _subject(test.left)
        right = test.comparators[0]
        if subject is None or not isinstance(right, ast.Constant) or not isinstance(right.value, str):
            return None
        op = test.ops[0]
        if isinstance(op, ast.Eq | ast.NotEq):
            equal = isinstance(op, ast.Eq) != negate
            return f"{subject} {'==' if equal else '!='} {_quoted(right.value)}"
        return None
    if (
        isinstance(test, ast.Call)
        and isinstance(test.func, ast.Attribute)
        and test.func.attr == "startswith"
        and len(test.args) == 1
        and isinstance(test.args[0], ast.Constant)
        and _subject(test.func.value) == "sys_platform"
        and test.args[0].value in _STARTSWITH
    ):
        value = _STARTSWITH[test.args[0].value]
        return f"sys_platform {'!=' if negate else '=='} {_quoted(value)}"
    return None


def _subject_free(test: ast.expr) -> bool:
    """No ``sys.platform``-like subject inside (those are read exactly instead)."""
    return not any(isinstance(n, ast.expr) and _subject(n) for n in ast.walk(test))


@functools.lru_cache(maxsize=2)
def _branch_nodes(text: str) -> tuple[list[ast.If | ast.FunctionDef], dict[str, ast.expr]] | None:
    """The ``if`` statements and function definitions of the parsed file (:func:`ast.walk`
    order) and its module-level platform names: one walk shared by the platform-marker and
    feature-switch passes. None when it is not parsed (see :func:`.defaults.parse_python`)."""
    tree = defaults.parse_python(text)
    if tree is None:
        return None
    nodes = [n for n in ast.walk(tree) if isinstance(n, ast.If | ast.FunctionDef)]
    return nodes, _module_platform_names(tree)


def _platform_ranges(text: str) -> list[tuple[int, int, str]]:
    """(first line, last line, marker) of the branches of platform ``if`` statements and of
    functions named for a platform."""
    parsed = _branch_nodes(text)
    if parsed is None:
        return []
    nodes, names = parsed
    ranges = []
    for node in nodes:
        if isinstance(node, ast.FunctionDef):
            m = _PLATFORM_FUNCTION.fullmatch(node.name.lower())
            if m:
                ranges.append((node.lineno, node.end_lineno or node.lineno, _FUNCTION_MARKERS[m.group(1)]))
            continue
        for branch, negate in ((node.body, False), (node.orelse, True)):
            marker = _platform_marker(node.test, negate, names) if branch else None
            if marker is not None:
                last = branch[-1].end_lineno or branch[-1].lineno
                ranges.append((branch[0].lineno, last, marker))
    return ranges


def _with_platform_markers(found: list[Finding], text: str) -> list[Finding]:
    """``found`` with the markers of the platform branches each finding sits in."""
    if not found or _PLATFORM_WORD.search(text) is None:
        return found
    ranges = _platform_ranges(text)
    if not ranges:
        return found
    lines = sorted({_line_of(f) for f in found})
    markers: dict[int, list[str]] = {}
    for first, last, branch in ranges:
        for line in lines[bisect_left(lines, first) : bisect_right(lines, last)]:
            markers.setdefault(line, []).append(branch)
    out = []
    for f in found:
        at = markers.get(_line_of(f))
        if not at:
            out.append(f)
            continue
        unique = list(dict.fromkeys(at))
        marker = unique[0] if len(unique) == 1 else " and ".join(f"({m})" for m in unique)
        out.append(dataclasses.replace(f, marker=marker))
    return out


#: Libraries that exist on one platform only, whatever the build file's condition says.
_PLATFORM_LIBRARIES = {"msmpi": _WINDOWS}
_WORD_SPLIT = re.compile(r"[^a-z0-9]+")


_SWITCH_CONSTANT = re.compile(r"[A-Z][A-Z0-9_]*_[A-Z0-9_]+|[A-Z][A-Z0-9]{2,}")
#: Calls that test whether a build feature is wanted or available (Pillow's ``feature.want``,
#: distutils' ``has_function``).
_SWITCH_CALLS = frozenset({"want", "get", "has_function", "has_header", "check_lib", "check_library"})
_FEATURE_WORD = re.compile(r"[A-Za-z][\w.+-]*")


@dataclass(frozen=True, slots=True)
class _FeatureRange:
    first: int
    last: int
    #: The words of the test, split at non-alphanumerics, with and without a ``lib`` prefix.
    words: frozenset[str]
    #: The switch's name: the test's last string constant (``want("raqm")``), else its first
    #: constant or ``self`` attribute (``LINK_OPENSSL``, ``self.dynamic_linking``).
    name: str | None
    #: The test reads a build switch or availability probe only.
    switch: bool


def _module_platform_names(tree: ast.Module) -> dict[str, ast.expr]:
    return {
        node.targets[0].id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Name)
        and _platform_marker(node.value) is not None
    }


def _switch_name(test: ast.expr) -> str | None:
    constants = [
        node.value
        for node in ast.walk(test)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and _FEATURE_WORD.fullmatch(node.value)
    ]
    if constants:
        return constants[-1]
    for node in ast.walk(test):
        if isinstance(node, ast.Name) and _SWITCH_CONSTANT.fullmatch(node.id):
            return node.id
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
            return node.attr
    return None


def _is_switch(test: ast.expr) -> bool:
    """A test on build switches only: module constants (``LINK_OPENSSL``), ``self`` options
    (``self.dynamic_linking``) and probe calls (``feature.want('jpeg')``,
    ``has_function(...)``), combined with ``and``/``or``/``not``."""
    if isinstance(test, ast.BoolOp):
        return all(_is_switch(v) for v in test.values)
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return _is_switch(test.operand)
    if isinstance(test, ast.Name):
        return _SWITCH_CONSTANT.fullmatch(test.id) is not None
    if isinstance(test, ast.Attribute):
        return isinstance(test.value, ast.Name) and test.value.id == "self"
    if isinstance(test, ast.Call):
        func = test.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        return name in _SWITCH_CALLS
    return False


def _feature_ranges(text: str) -> list[_FeatureRange]:
    """The bodies of ``if`` statements that are not platform tests (``if config.msmpi:``,
    ``if use_system_libuv:``, ``if LINK_OPENSSL:``)."""
    parsed = _branch_nodes(text)
    if parsed is None:
        return []
    nodes, names = parsed
    ranges = []
    for node in nodes:
        if isinstance(node, ast.If) and node.body and _platform_marker(node.test, names=names) is None:
            words = {w.lower() for w in _names_in(node.test)}
            words |= {part for w in words for part in _WORD_SPLIT.split(w) if part}
            words |= {w.removeprefix("lib") for w in words}
            last = node.body[-1].end_lineno or node.body[-1].lineno
            name, switch = _switch_name(node.test), _is_switch(node.test)
            # from the test's own line: a probe's arguments (has_function(..., libraries=['crypto']))
            ranges.append(_FeatureRange(node.lineno, last, frozenset(words), name, switch))
    return ranges


def _names_library(r: _FeatureRange, key: str) -> bool:
    return key in r.words or (len(key) >= 3 and any(key in w for w in r.words))


def _with_feature_switches(found: list[Finding], text: str) -> list[Finding]:
    """A library asked for only inside an ``if`` whose test names it (``if config.msmpi:``
    then ``libraries.append('msmpi')``) or reads a build switch (``if LINK_OPENSSL:``,
    ``if feature.want('raqm'):``) is optional: the build asks for it when that feature is on;
    the feature is named by the innermost switch (``want("jpeg2000")``, not a probe for
    ``openjp2`` inside it), else by the outermost test naming the library. Libraries that exist
    on one platform only get that platform's marker."""
    libraries = [f for f in found if f.kind == "library"]
    if not libraries:
        return found
    ranges = _feature_ranges(text)
    at = _spans_at((_line_of(f) for f in libraries), ranges) if ranges else {}
    out = []
    for finding in found:
        changed = finding
        if finding.kind == "library":
            key = finding.name.lower().removeprefix("lib")
            inside = at.get(_line_of(finding), [])
            naming = [r for r in inside if _names_library(r, key)]
            switches = [r for r in inside if r.switch]
            if switches:
                innermost = max(switches, key=lambda r: r.first)
                changed = dataclasses.replace(changed, optional=True, feature=innermost.name)
            elif naming:
                outermost = min(naming, key=lambda r: r.first)
                changed = dataclasses.replace(changed, optional=True, feature=outermost.name or key)
            if changed.marker is None and key in _PLATFORM_LIBRARIES:
                changed = dataclasses.replace(changed, marker=_PLATFORM_LIBRARIES[key])
        out.append(changed)
    return out


class _Span(Protocol):
    @property
    def first(self) -> int: ...
    @property
    def last(self) -> int: ...


_S = TypeVar("_S", bound=_Span)


def _spans_at(lines: Iterable[int], spans: Iterable[_S]) -> dict[int, list[_S]]:
    """Line -> the spans (``first`` to ``last``, inclusive) holding it, in the order of
    ``spans``; in time proportional to the spans and the pairs found (not spans x lines)."""
    ordered = sorted(set(lines))
    out: dict[int, list[_S]] = {}
    for span in spans:
        for line in ordered[bisect_left(ordered, span.first) : bisect_right(ordered, span.last)]:
            out.setdefault(line, []).append(span)
    return out


def _line_of(finding: Finding) -> int:
    tail = finding.where.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0


# --------------------------------------------------------------------------- default builds


def _imported_texts(text: str, files: Mapping[str, str]) -> dict[str, str]:
    """Module name -> text of the tree's top-level modules a build file imports."""
    return {path.removesuffix(".py"): files[path] for path in _setup_imports(text, files)}


def _with_off_branches(
    found: list[Finding],
    text: str,
    imported: Mapping[str, str],
    configured: frozenset[tuple[str, str]],
) -> list[Finding]:
    """Findings inside a branch a default build does not take (see :mod:`.defaults`) are
    optional and off by default, named after the switch that turns them on when they have no
    feature name yet; the evidence says which test it was."""
    if not any(f.kind == "library" for f in found):
        return found
    branches = defaults.off_branches(text, imported, configured)
    if not branches:
        return found
    at = _spans_at((_line_of(f) for f in found if f.kind == "library"), branches)
    out = []
    for finding in found:
        inside = at.get(_line_of(finding), []) if finding.kind == "library" else []
        if not inside:
            out.append(finding)
            continue
        outer = min(inside, key=lambda b: (b.first, -b.last))
        feature = finding.feature if finding.optional and finding.feature else outer.switch
        detail = f"{finding.detail} [a branch off by default: {outer.test}]"
        out.append(
            dataclasses.replace(finding, optional=True, off_by_default=True, feature=feature, detail=detail)
        )
    return out


def _with_switch_values(found: list[Finding], text: str) -> list[Finding]:
    """Libraries asked for only in the body of an ``if`` that tests a name bound to a build
    switch's value (``webp = feature.get("webp")``, ``if isinstance(webp, str):``; see
    :func:`.defaults.switch_value_branches`) are optional under that switch, as they are
    under ``if feature.get("webp"):``."""
    if not any(f.kind == "library" and not f.optional for f in found):
        return found
    branches = defaults.switch_value_branches(text)
    if not branches:
        return found
    at = _spans_at((_line_of(f) for f in found), branches)
    out = []
    for finding in found:
        inside = at.get(_line_of(finding), [])
        if finding.kind != "library" or finding.optional or not inside:
            out.append(finding)
            continue
        innermost = max(inside, key=lambda b: b.first)
        out.append(dataclasses.replace(finding, optional=True, feature=innermost.name))
    return out


def _with_required_features(found: list[Finding], path: str, text: str) -> list[Finding]:
    """Optional findings under a feature switch whose feature the build requires by default
    (see :func:`.defaults.required_features`: ``required = {"jpeg", "zlib"}`` and a branch
    that raises when a required feature is missing) are required; the evidence says where, and
    the switch that turns the feature off when the file has one."""

    def candidate(f: Finding) -> bool:
        return f.kind == "library" and f.optional and bool(f.feature) and not f.off_by_default

    if not any(candidate(f) for f in found):
        return found
    required = defaults.required_features(text)
    if not required:
        return found
    out = []
    for finding in found:  # a test per finding, not a search of the candidates' list
        feature = required.get(finding.feature or "") if candidate(finding) else None
        if feature is None:
            out.append(finding)
            continue
        how = f"; off with {feature.switch}" if feature.switch else ""
        detail = (
            f"{finding.detail} [required by default: {path}:{feature.line} {feature.collection},"
            f" missing fails the build at {path}:{feature.check}{how}]"
        )
        out.append(dataclasses.replace(finding, optional=False, feature=None, detail=detail))
    return out


def _with_probed_loops(found: list[Finding], text: str) -> list[Finding]:
    """Library names in a literal list that a ``for`` loop probes for one by one (see
    :func:`.defaults.probed_loops`) are optional: the build uses each one it finds."""
    if not any(f.kind == "library" and not f.optional for f in found) or "for " not in text:
        return found
    literals = defaults.probed_loops(text)
    if not literals:
        return found
    at = _spans_at((_line_of(f) for f in found if f.kind == "library"), literals)
    out = []
    for finding in found:
        holding = at.get(_line_of(finding), []) if finding.kind == "library" else []
        probed = next((p for p in holding if finding.name in p.names), None)
        if probed is None or finding.optional:
            out.append(finding)
        else:
            detail = f"{finding.detail} [each probed: {probed.probe}]"
            out.append(dataclasses.replace(finding, optional=True, detail=detail))
    return out
