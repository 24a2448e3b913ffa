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

Nothing is executed: build files are scanned with regular expressions and small tokenizers, so
conditionals are not evaluated. A name found only under a condition is still proposed; the
evidence comments in :func:`to_toml` say where each proposal came from, for review.
"""

from __future__ import annotations

import functools
import io
import json
import os
import posixpath
import re
import tarfile
import tokenize
import tomllib
import zipfile
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from native_doctor._documents import loads_toml
from native_doctor.deps.depurl import parse_depurl
from native_doctor.errors import InvalidArchiveError, InvalidExternalMetadata, NativeDoctorError
from native_doctor.model import Resolution
from native_doctor.sources._archive import ARCHIVE_FAILURES, InflationBudget, archive_error

if TYPE_CHECKING:
    from native_doctor.analysis import Inspection

__all__ = [
    "Category",
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
    return len(parts) == 1 and base.endswith(".py")  # setup.py's helper modules


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


class _Lines:
    """Offset -> 1-based line number."""

    def __init__(self, text: str) -> None:
        self._starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def __call__(self, offset: int) -> int:
        return bisect_right(self._starts, offset)


def _blank(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """``text`` with the given spans replaced by spaces (newlines kept, so offsets and lines hold)."""
    chars = list(text)
    for start, end in spans:
        for i in range(start, end):
            if chars[i] != "\n":
                chars[i] = " "
    return "".join(chars)


def _hash_comments(text: str, quotes: str) -> list[tuple[int, int]]:
    """Spans of ``#`` comments outside quoted strings (quotes: the quote characters in use)."""
    return _lexical_spans(text, quotes)[0]


def _lexical_spans(text: str, quotes: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Spans of ``#`` comments and of quoted strings."""
    comments, strings = [], []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in quotes:
            triple = text[i : i + 3] == c * 3
            end = text.find(c * 3, i + 3) if triple else _string_end(text, i)
            stop = n if end < 0 else end + (3 if triple else 1)
            strings.append((i, stop))
            i = stop
        elif c == "#":
            end = text.find("\n", i)
            end = n if end < 0 else end
            comments.append((i, end))
            i = end
        else:
            i += 1
    return comments, strings


def _inside(spans: Sequence[tuple[int, int]], offset: int) -> bool:
    """Whether ``offset`` falls inside one of the sorted, disjoint ``spans``."""
    index = bisect_right(spans, offset, key=lambda span: span[0]) - 1
    return index >= 0 and spans[index][0] <= offset < spans[index][1]


def _string_end(text: str, start: int) -> int:
    """Index of the quote closing the single-line string opened at ``start`` (or the line end)."""
    quote = text[start]
    i = start + 1
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c in (quote, "\n"):
            return i
        i += 1
    return len(text) - 1


def _balanced(text: str, open_at: int, quotes: str = "'\"") -> int:
    """Index just past the bracket matching the one at ``open_at`` (or ``len(text)``)."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    stack = [pairs[text[open_at]]]
    i = open_at + 1
    while i < len(text) and stack:
        c = text[i]
        if c in quotes:
            if text[i : i + 3] == c * 3:
                end = text.find(c * 3, i + 3)
                i = len(text) if end < 0 else end + 3
                continue
            i = _string_end(text, i) + 1
            continue
        if c in pairs:
            stack.append(pairs[c])
        elif stack and c == stack[-1]:
            stack.pop()
        i += 1
    return i


def _split_top(args: str) -> list[str]:
    """Split call arguments at top-level commas."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(args):
        c = args[i]
        if c in "'\"":
            i = _string_end(args, i) + 1
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(args[start:i])
            start = i + 1
        i += 1
    parts.append(args[start:])
    return [p.strip() for p in parts if p.strip()]


_STRING = re.compile(
    r"""(?P<prefix>[fFrRbBuU]{0,2})(?P<q>'|")(?P<body>(?:\\.|(?!(?P=q)).)*?)(?P=q)""", re.DOTALL
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
    one = " ".join(text.split())
    return one if len(one) <= limit else one[: limit - 3] + "..."


@dataclass(frozen=True, slots=True)
class _Call:
    name: str
    args: str
    line: int
    text: str


def _calls(text: str, pattern: re.Pattern[str], lines: _Lines, quotes: str = "'\"") -> Iterator[_Call]:
    """Calls matched by ``pattern`` (ending at the opening parenthesis) outside strings, with their
    argument text. ``text`` must have its comments blanked already."""
    strings = _lexical_spans(text, quotes)[1]
    for m in pattern.finditer(text):
        if _inside(strings, m.start()):
            continue
        open_at = m.end() - 1
        end = _balanced(text, open_at, quotes)
        yield _Call(
            m.group("fn"), text[open_at + 1 : end - 1], lines(m.start("fn")), text[m.start("fn") : end]
        )


# --------------------------------------------------------------------------- meson


_MESON_CALL = re.compile(r"(?<![\w])(?P<fn>dependency|find_program|add_languages|project|find_library)\s*\(")
_MESON_ASSIGN = re.compile(r"^\s*(\w+)\s*=\s*('[^'\n]*')\s*$", re.MULTILINE)
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


def scan_meson(path: str, text: str) -> list[Finding]:
    """Findings of one ``meson.build`` file."""
    text = _blank(text, _hash_comments(text, "'"))
    lines = _Lines(text)
    assigned = {m.group(1): m.group(2)[1:-1] for m in _MESON_ASSIGN.finditer(text)}
    found: list[Finding] = []
    for call in _calls(text, _MESON_CALL, lines, "'"):
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
            for name in (v for p in positional for v in _literals(p)):
                if name:
                    found.append(Finding("library", name, where, detail, optional, version))
        elif call.name == "find_program":
            names = _literals(positional[0]) if positional else []
            if names:
                found.append(Finding("program", names[0], where, detail, optional))
        elif call.name == "find_library":
            for name in _literals(positional[0]) if positional else []:
                found.append(Finding("library", name, where, detail, optional))
    return found


# --------------------------------------------------------------------------- CMake


_CMAKE_BRACKET_COMMENT = re.compile(r"#\[(=*)\[.*?\]\1\]", re.DOTALL)
_CMAKE_CALL = re.compile(
    r"(?<![\w$])(?P<fn>find_package|pkg_check_modules|pkg_search_module|project|enable_language|check_language"
    r"|find_library|find_program|fetchcontent_declare|externalproject_add|cpmaddpackage)\s*\(",
    re.IGNORECASE,
)
_CMAKE_TOKEN = re.compile(r'"((?:\\.|[^"\\])*)"|([^\s"()]+)')
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
_PKG_SPEC = re.compile(r"^([A-Za-z0-9_.+-]+?)\s*((?:>=|<=|=|>|<).*)?$")


def _cmake_tokens(args: str) -> list[str]:
    return [m.group(1) if m.group(1) is not None else m.group(2) for m in _CMAKE_TOKEN.finditer(args)]


def _cmake_text(text: str) -> str:
    text = _blank(text, [(m.start(), m.end()) for m in _CMAKE_BRACKET_COMMENT.finditer(text)])
    return _blank(text, _hash_comments(text, '"'))


def scan_cmake(path: str, text: str) -> tuple[list[Finding], list[str]]:
    """Findings and notes (downloaded dependencies) of one CMake file."""
    text = _cmake_text(text)
    lines = _Lines(text)
    found: list[Finding] = []
    notes: list[str] = []
    for call in _calls(text, _CMAKE_CALL, lines, '"'):
        where = f"{path}:{call.line}"
        detail = _short(call.text)
        tokens = _cmake_tokens(call.args)
        fn = call.name.lower()
        if not tokens:
            continue
        if fn == "find_package":
            name = tokens[0]
            version = None
            if len(tokens) > 1 and re.fullmatch(r"\d+(\.\d+)*", tokens[1]):
                version = ("==" if "EXACT" in tokens else ">=") + tokens[1]
            found.append(Finding("library", name, where, detail, version=version))
        elif fn in {"pkg_check_modules", "pkg_search_module"}:
            found.append(Finding("program", "pkg-config", where, detail))
            for token in tokens[1:]:
                if token in _PKG_KEYWORDS:
                    continue
                m = _PKG_SPEC.match(token)
                if m:
                    version = m.group(2).replace(" ", "") if m.group(2) else None
                    if version and version.startswith("=") and not version.startswith("=="):
                        version = "=" + version
                    found.append(Finding("library", m.group(1), where, detail, version=version))
        elif fn == "project":
            for lang in _cmake_project_languages(tokens[1:]):
                found.append(Finding("language", lang, where, detail))
        elif fn in {"enable_language", "check_language"}:
            optional = fn == "check_language" or "OPTIONAL" in tokens
            for lang in tokens:
                if lang != "OPTIONAL":
                    found.append(Finding("language", lang, where, detail, optional))
        elif fn in {"find_library", "find_program"}:
            kind = "library" if fn == "find_library" else "program"
            names = _cmake_find_names(tokens)
            if names:
                found.append(Finding(kind, names[0], where, detail))
        elif fn in {"fetchcontent_declare", "externalproject_add", "cpmaddpackage"}:
            notes.append(f"{where} {detail}: a dependency is downloaded and built during the build")
    return found, notes


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


_PY_LIBS = re.compile(
    r"(?<![\w])(?:\w*_)?(?:libraries|libs)\b['\"]?\]?\s*"
    r"(?:(?P<method>\.\s*(?:append|extend|insert)\s*)\(|(?:\+?=|:)\s*(?=[\[(]))"
)
_PY_FIND_LIBRARY = re.compile(r"(?<![A-Za-z0-9])_?\w*find_library\w*\s*\(")
_PY_WHICH = re.compile(r"(?<![\w])(?:which|find_executable|find_on_path)\s*\(\s*(['\"])([^'\"\n]+)\1")
_PY_PKGCONFIG_CALL = re.compile(
    r"\bpkgconfig\s*\.\s*(?:parse|exists|cflags|libs|modversion|variables|installed|configure_extension)\s*\("
)
_PY_PKGCONFIG_IMPORT = re.compile(r"^\s*(?:import\s+pkgconfig\b|from\s+pkgconfig\s+import)", re.MULTILINE)
_PY_PKG_CONFIG_LINE = re.compile(r"pkg-config|pkg_config|PKG_CONFIG", re.IGNORECASE)
_PY_PKG_CONFIG_SHELL = re.compile(r"pkg-config\s+(?:--[\w-]+(?:=\S+)?\s+)+([A-Za-z0-9_.+-]+)")
_PY_LANG_CXX = re.compile(r"\blanguage\s*=\s*['\"]c\+\+['\"]")
_PY_IMPORT = re.compile(r"^\s*(?:from\s+(\w+)\s+import|import\s+([\w, ]+))", re.MULTILINE)
_ENV_VAR = re.compile(r"^[A-Z][A-Z0-9_]*$")


def _python_text(text: str) -> str:
    """``text`` with comments blanked (via the tokenizer; unchanged if it cannot tokenize)."""
    spans = []
    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                (srow, scol), (erow, ecol) = tok.start, tok.end
                spans.append((starts[srow - 1] + scol, starts[erow - 1] + ecol))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return text
    return _blank(text, spans)


def _string_items(text: str) -> Iterator[tuple[int, str]]:
    """(offset, value) of string literals in ``text`` that are not parts of a concatenation."""
    for m in _STRING.finditer(text):
        if "b" in m.group("prefix").lower():
            continue
        before = text[: m.start()].rstrip()[-1:]
        after = text[m.end() :].lstrip()[:1]
        if (
            before == "+"
            or after in {"+", "%"}
            or (m.group("prefix").lower() == "f" and "{" in m.group("body"))
        ):
            continue
        yield m.start(), m.group("body")


def scan_python(path: str, text: str, table: InferenceTable) -> list[Finding]:
    """Findings of a ``setup.py`` (or a module it imports); nothing is executed."""
    text = _python_text(text)
    lines = _Lines(text)
    found: list[Finding] = []

    def add(kind: str, name: str, offset: int, detail: str) -> None:
        found.append(Finding(kind, name, f"{path}:{lines(offset)}", _short(detail)))

    for m in _PY_LIBS.finditer(text):
        open_at = m.end() - 1 if m.group("method") else m.end()
        if open_at >= len(text) or text[open_at] not in "([":
            continue
        end = _balanced(text, open_at)
        chunk = text[open_at:end]
        snippet = text[m.start() : end]
        for offset, value in _string_items(chunk):
            name = value[2:] if value.startswith("-l") else value
            if _NAME_LIKE.match(name):
                add("library", name, open_at + offset, snippet)
    for m in _PY_FIND_LIBRARY.finditer(text):
        end = _balanced(text, m.end() - 1)
        items = [v for _, v in _string_items(text[m.end() : end - 1])]
        if items and _NAME_LIKE.match(items[-1]):
            add("library", items[-1], m.start(), text[m.start() : end])
    for m in _PY_WHICH.finditer(text):
        add("program", m.group(2).removesuffix(".exe"), m.start(), m.group(0) + ")")
    for m in _PY_PKGCONFIG_CALL.finditer(text):
        end = _balanced(text, m.end() - 1)
        items = [v for _, v in _string_items(text[m.end() : end - 1])]
        add("program", "pkg-config", m.start(), text[m.start() : end])
        if items and _NAME_LIKE.match(items[0]):
            add("library", items[0], m.start(), text[m.start() : end])
    for m in _PY_PKGCONFIG_IMPORT.finditer(text):
        add("program", "pkg-config", m.start(), m.group(0).strip())
    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
    for number, start in enumerate(line_starts):
        end = line_starts[number + 1] if number + 1 < len(line_starts) else len(text)
        line = text[start:end]
        if not _PY_PKG_CONFIG_LINE.search(line):
            continue
        for offset, value in _string_items(line):
            shell = _PY_PKG_CONFIG_SHELL.search(value)
            if shell:
                add("program", "pkg-config", start + offset, line)
                add("library", shell.group(1), start + offset, line)
            elif value in {"pkg-config", "pkgconf"}:
                add("program", "pkg-config", start + offset, line)
            elif _NAME_LIKE.match(value) and not _ENV_VAR.match(value) and not value.startswith("-"):
                add("library", value, start + offset, line)
    for offset, value in _string_items(text):
        if value.startswith("-l") and _NAME_LIKE.match(value[2:]):
            add("library", value[2:], offset, value)
        elif value.lower() in table.programs and re.search(r"[-_]config(\.exe)?$", value):
            add("program", value.removesuffix(".exe"), offset, repr(value))
    for m in _PY_LANG_CXX.finditer(text):
        add("language", "c++", m.start(), m.group(0))
    return found


def _setup_imports(text: str, available: Iterable[str]) -> list[str]:
    """Top-level modules of the tree that ``setup.py`` imports (``setupinfo.py``)."""
    modules = set()
    for m in _PY_IMPORT.finditer(text):
        if m.group(1):
            modules.add(m.group(1))
        else:
            modules.update(part.strip().split(" ")[0] for part in m.group(2).split(","))
    present = set(available)
    return sorted(f"{mod}.py" for mod in modules if f"{mod}.py" in present and mod != "setup")


def scan_setup_cfg(path: str, text: str) -> list[Finding]:
    """``libraries =`` values in any section of ``setup.cfg``."""
    found = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^\s*libraries\s*=\s*(.*)$", line)
        if not m:
            continue
        values = m.group(1).replace(",", " ").split()
        for cont in lines[i + 1 :]:
            if not cont.strip() or not cont[:1].isspace():
                break
            values += cont.replace(",", " ").split()
        for value in values:
            if _NAME_LIKE.match(value):
                found.append(Finding("library", value, f"{path}:{i + 1}", _short(line)))
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

    def line_of(needle: str) -> int:
        at = text.find(needle)
        return lines(at) if at >= 0 else 1

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
    for module in ext_modules if isinstance(ext_modules, list) else []:
        if not isinstance(module, dict):
            continue
        for lib in module.get("libraries", []):
            found.append(
                Finding("library", str(lib), f"{path}:{line_of(str(lib))}", "tool.setuptools.ext-modules")
            )
        if str(module.get("language", "")).lower() == "c++":
            found.append(
                Finding("language", "c++", f"{path}:{line_of('language')}", "tool.setuptools.ext-modules")
            )
    if "external" in data:
        notes.append(f"{path} already has an [external] table")
    return found, notes


_CARGO_SECTIONS = ("dependencies", "build-dependencies")


def scan_cargo(path: str, text: str, table: InferenceTable) -> list[Finding]:
    """Rust, plus crates that link or build native code (``*-sys``, ``cc``) in one ``Cargo.toml``."""
    try:
        data = loads_toml(text)
    except tomllib.TOMLDecodeError:
        return []
    lines = _Lines(text)
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
            m = re.search(rf"^\s*\"?{re.escape(key)}\"?\s*[=.]", text, re.MULTILINE)
            line = lines(m.start()) if m else 1
            found.append(Finding("crate", crate, f"{path}:{line}", f"crate {crate}"))
    return found


# --------------------------------------------------------------------------- tree inference


def _skipped(path: str, skip: frozenset[str]) -> bool:
    return any(part.lower() in skip for part in PurePosixPath(path).parts[:-1])


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
        for path in sorted(p for p in files if PurePosixPath(p).name == "meson.build"):
            found += scan_meson(path, files[path])
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
    if "setup.py" in files:
        py_paths = ["setup.py", *_setup_imports(files["setup.py"], files)]
        for path in py_paths:
            found += scan_python(path, files[path], table)
    if "setup.cfg" in files:
        found += scan_setup_cfg("setup.cfg", files["setup.cfg"])
    for path in sorted(p for p in files if PurePosixPath(p).name == "Cargo.toml"):
        found += scan_cargo(path, files[path], table)
    found += _source_languages(tree.paths, table)
    if tree.skipped:
        notes.append(f"not read (too big): {', '.join(tree.skipped[:5])}")
    return found, notes


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
    versions: set[str | None] = field(default_factory=set)


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
    for candidate in (key, key.removeprefix("lib"), key.removesuffix(".lib")):
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
        entry.optional = entry.optional and finding.optional
        entry.vendored = entry.vendored and vendored
        entry.versions.add(finding.version if not parse_depurl(url).version else parse_depurl(url).version)

    for finding in found:
        urls = _lookup(finding, table)
        if urls is None:
            if finding.kind == "crate" and not finding.name.endswith(("-sys", "-src")):
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
        if len(versions) == 1 and None not in entry.versions:
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
            )
        )
    return Inference(
        source, tuple(sorted(proposals, key=_order)), tuple(found), tuple(unmapped), tuple(notes)
    )


def _order(p: Proposal) -> tuple[int, int, str]:
    ident = p.id
    rank = 0 if ident.startswith("dep:virtual/compiler/") else 1 if ident.startswith("dep:virtual/") else 2
    return CATEGORIES.index(p.category), rank, ident


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
                url, p.category, evidence, old.optional and p.optional, old.vendored and p.vendored
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


def to_toml(inference: Inference, *, evidence_per_entry: int = 2, group: str = "optional") -> str:
    """A pasteable ``[external]`` table with ``# evidence`` comments, in a stable order.

    Optional proposals go to ``[external.optional-*]`` under ``group``; names that could not be
    mapped are listed in trailing comments.
    """
    table = load_table()
    out = [f"# Proposed by native-doctor from {inference.source}: review before use.", "[external]"]

    def entries(items: Sequence[Proposal]) -> list[str]:
        lines = []
        for p in items:
            shown = [" ".join(e.split()) for e in p.evidence[:evidence_per_entry]]
            extra = len(p.evidence) - len(shown)
            comment = "; ".join(shown) + (f" (+{extra} more)" if extra > 0 else "")
            flags = []
            if p.vendored:
                flags.append("vendored in the wheel")
            if p.id not in table.registry:
                flags.append("not in the PEP 804 registry")
            if flags:
                comment += f" [{', '.join(flags)}]"
            lines.append(f"  {_toml_string(p.url)},  # {comment}")
        return lines

    sections: list[str] = []
    for category in CATEGORIES:
        items = [p for p in inference.proposals if p.category == category and not p.optional]
        if items:
            out += [f"{_TOML_KEYS[category]} = [", *entries(items), "]"]
    for category in CATEGORIES:
        items = [p for p in inference.proposals if p.category == category and p.optional]
        if items:
            sections += [
                "",
                f"[external.optional-{_TOML_KEYS[category]}]",
                f"{group} = [",
                *entries(items),
                "]",
            ]
    if len(out) == 2 and not sections:
        out.append("# nothing inferred")
    out += sections
    if inference.unmapped:
        out += ["", "# Found, but not mapped to a DepURL (add by hand if needed):"]
        out += [f"#   {f.kind} {f.name!r}: {' '.join(f.evidence.split())}" for f in inference.unmapped]
    if inference.notes:
        out += ["", *(f"# note: {' '.join(n.split())}" for n in inference.notes)]
    return "\n".join(out) + "\n"
