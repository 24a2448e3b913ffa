"""Libraries a package loads by name at run time, found statically in its Python source.

``ctypes.CDLL("libzbar.so.0")``, ``ctypes.cdll.LoadLibrary(...)``, ``ctypes.util.find_library(
"portaudio")``, cffi's ``ffi.dlopen(...)`` and ``numpy.ctypeslib.load_library(...)`` name a
library no ELF header mentions: the loader simulation cannot see them. Their string literals are
read with :mod:`ast` (the code is never executed): a literal argument, a name bound to a literal,
or the loop variable of a ``for`` over a tuple of literals (alternatives tried in turn).

Calls the host platform never makes are left out: names of another OS (``.dll``, ``.dylib``,
paths with backslashes) and calls in the body of an ``if`` that tests for Windows or macOS.
Whether a call runs at import (module level) or later (inside a function), and whether a
``try`` surrounds it, is recorded for the check to grade.
"""

from __future__ import annotations

import ast
import bisect
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["TOKENS", "LoadCall", "scan_source"]

Mode = Literal["dlopen", "find_library", "load_library"]

#: The loaders: ctypes' (``CDLL``, ``PyDLL``, ``LoadLibrary``, ``find_library``; numpy's
#: ``load_library`` is built on ctypes and its module names it) and cffi's ``dlopen``. A file is
#: parsed only when it mentions ``ctypes`` or ``dlopen`` (two memchr-speed searches rule out almost
#: every file) and calls one of them.
TOKENS = (b"CDLL", b"PyDLL", b"LoadLibrary", b"find_library", b"dlopen", b"load_library")
_CALLED = re.compile(rb"(?:CDLL|PyDLL|LoadLibrary|find_library|dlopen|load_library)\s*\(")
#: Any mention of a loader (or of a name an import binds one to): the lines worth visiting.
_MENTION = re.compile(rb"CDLL|PyDLL|LoadLibrary|find_library|dlopen|load_library|cdll")
_ALIAS = re.compile(rb"(?:find_library|CDLL|PyDLL|cdll|load_library)\s+as\s+(\w+)")
#: Source files larger than this are not parsed (generated code, vendored bundles).
MAX_SOURCE = 2 << 20

#: A test naming another OS (any case: torch's ``IS_WINDOWS``, ``IS_MACOS`` constants).
_FOREIGN_TEST = re.compile(r"win32|'nt'|\"nt\"|windows|darwin|cygwin|msys|macos|mac_ver", re.IGNORECASE)
_WINDOWS_NAME = re.compile(
    r"\.(?:dll|pyd)$|\\"
    r"|^(?:msvcrt|kernel32|user32|gdi32|advapi32|shell32|ole32|oleaut32|ws2_32|ntdll|comctl32|winmm"
    r"|crypt32|secur32|dwmapi|shcore|psapi|setupapi|ucrtbase|msvc[rp]\d+|vcruntime\d+(?:_\d+)?)$",
    re.IGNORECASE,
)
_MAC_NAME = re.compile(
    r"\.dylib$|^/System/|\.framework|^/usr/lib/libSystem"
    r"|^(?:Security|CoreFoundation|Foundation|AppKit|Cocoa|libSystem|IOKit|Carbon)$"
)


def _foreign_name(name: str, platform: str) -> bool:
    """Whether ``name`` is a library of another OS than ``platform`` (a ``sys.platform`` value)."""
    windows = platform.startswith(("win", "cygwin"))
    if not windows and _WINDOWS_NAME.search(name):
        return True
    return platform != "darwin" and _MAC_NAME.search(name) is not None


#: Functions whose name says they run on another OS only (``init_windows_clipboard``).
_FOREIGN_FUNCTION = re.compile(r"win(?:dows|32|_)|darwin|macos|osx|_mac_|^mac_|cocoa", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class LoadCall:
    """One call that loads (or looks up) a library by a literal name."""

    #: The source file, as RECORD names it.
    file: str
    line: int
    #: What the source calls, e.g. ``ctypes.util.find_library``, ``ffi.dlopen``.
    function: str
    mode: Mode
    #: The literal names, alternatives in the order the code tries them.
    names: tuple[str, ...]
    #: At module level (runs when the module is imported), not inside a function.
    at_import: bool
    #: Inside the body of a ``try`` with handlers (the code may recover).
    guarded: bool
    #: ``load_library``'s folder, when it is the module's own (``os.path.dirname(__file__)``).
    folder: str | None = None
    #: Inside a function that raises ImportError itself (a loader run from an import: pyzbar's
    #: ``load()`` raises "Unable to find zbar shared library").
    raises_import_error: bool = False


def _call_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _call_name(node.value)
        return f"{inner}.{node.attr}" if inner else node.attr
    return ""


def _mention_lines(text: bytes) -> list[int] | None:
    """The sorted numbers of the lines that mention a loader or an alias of one (None: unknown,
    a file with lone carriage returns, whose line numbers a count of newlines would not give)."""
    if b"\r" in text and text.count(b"\r") != text.count(b"\r\n"):
        return None
    patterns = [_MENTION.pattern] + [re.escape(alias) for alias in set(_ALIAS.findall(text))]
    lines: list[int] = []
    line, last = 1, 0
    for match in re.finditer(b"|".join(patterns), text):
        line += text.count(b"\n", last, match.start())
        last = match.start()
        if not lines or lines[-1] != line:
            lines.append(line)
    return lines


_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


class _Scanner(ast.NodeVisitor):
    """Walks one module. With ``lines`` (see :func:`_mention_lines`), it skips the expressions,
    functions and statements inside functions whose lines mention no loader: only a call, an
    import of a loader's name and a module-level assignment (a literal a call may name; class
    bodies count) matter, and the first two are on such lines. The skipped subtrees are most of a
    large module."""

    def __init__(self, path: str, platform: str, lines: list[int] | None = None) -> None:
        self.path = path
        self.platform = platform
        self.lines = lines
        self.calls: list[LoadCall] = []
        self.aliases: dict[str, str] = {}
        self.literals: dict[str, str | None] = {}  # module-level name -> its one literal value
        self.loops: list[tuple[str, tuple[str, ...]]] = []
        self.depth = 0
        self.functions: list[ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda] = []
        self.raising: dict[int, bool] = {}
        self.tries = 0
        self.foreign = 0
        #: Only the statements holding a mention were parsed (see :func:`_statement_chunks`).
        self.partial = False
        #: Variables calls named while ``partial``: their module-level assignments are needed.
        self.wanted: set[str] = set()

    def visit(self, node: ast.AST) -> None:
        if self.lines is not None and (self.depth > 0 or isinstance(node, (ast.expr, *_FUNCTIONS))):
            start = getattr(node, "lineno", None)
            end = getattr(node, "end_lineno", None)
            if start is not None and end is not None:
                if isinstance(node, (*_FUNCTIONS, ast.ClassDef)) and node.decorator_list:
                    start = min(start, *(d.lineno for d in node.decorator_list))
                at = bisect.bisect_left(self.lines, start)
                if at == len(self.lines) or self.lines[at] > end:
                    return  # nothing on these lines can load a library
        super().visit(node)

    # --- context ------------------------------------------------------------------------------

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name in ("find_library", "CDLL", "PyDLL", "cdll", "load_library"):
                self.aliases[alias.asname or alias.name] = alias.name

    def visit_Assign(self, node: ast.Assign) -> None:
        if self.depth == 0:
            for target in node.targets:
                if isinstance(target, ast.Name):
                    value = node.value
                    literal = (
                        value.value
                        if isinstance(value, ast.Constant) and isinstance(value.value, str)
                        else None
                    )
                    # A name assigned twice is not one literal.
                    self.literals[target.id] = literal if target.id not in self.literals else None
        self.generic_visit(node)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        foreign = not isinstance(node, ast.Lambda) and _FOREIGN_FUNCTION.search(node.name) is not None
        self.depth += 1
        self.foreign += foreign
        self.functions.append(node)
        self.generic_visit(node)
        self.functions.pop()
        self.foreign -= foreign
        self.depth -= 1

    def _raises_import_error(self) -> bool:
        """Whether an enclosing function raises ImportError itself (computed only for a hit)."""
        for function in self.functions:
            key = id(function)
            if key not in self.raising:
                self.raising[key] = any(
                    isinstance(n, ast.Raise) and n.exc is not None and "ImportError" in ast.unparse(n.exc)
                    for n in ast.walk(function)
                )
            if self.raising[key]:
                return True
        return False

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function
    visit_Lambda = _function

    def visit_Try(self, node: ast.Try) -> None:
        self.tries += 1 if node.handlers else 0
        for statement in node.body:
            self.visit(statement)
        self.tries -= 1 if node.handlers else 0
        for part in (*node.handlers, *node.orelse, *node.finalbody):
            self.visit(part)

    def visit_If(self, node: ast.If) -> None:
        self.visit(node.test)
        foreign = _tests_other_platform(node.test, self.platform)
        self.foreign += foreign
        for statement in node.body:
            self.visit(statement)
        self.foreign -= foreign
        for statement in node.orelse:
            self.visit(statement)

    def visit_For(self, node: ast.For) -> None:
        values = _literals(node.iter)
        target = node.target
        pushed = isinstance(target, ast.Name) and values is not None
        if isinstance(target, ast.Name) and values is not None:
            self.loops.append((target.id, values))
        self.generic_visit(node)
        if pushed:
            self.loops.pop()

    # --- calls --------------------------------------------------------------------------------

    def visit_Call(self, node: ast.Call) -> None:
        self.generic_visit(node)
        if self.foreign or not node.args:
            return
        name = _call_name(node.func)
        last = name.rpartition(".")[2]
        last = self.aliases.get(last, last)
        mode: Mode
        if last in ("CDLL", "PyDLL", "LoadLibrary"):
            if name.startswith(("windll", "oledll", "ctypes.windll", "ctypes.oledll")):
                return
            mode = "dlopen"
        elif last == "find_library":
            mode = "find_library"
        elif last == "dlopen":
            mode = "dlopen"
        elif last == "load_library":
            mode = "load_library"
        else:
            return
        names = self._values(node.args[0])
        if not names:
            return
        names = tuple(n for n in names if n and not _foreign_name(n, self.platform))
        if not names:
            return
        folder = None
        if mode == "load_library":
            folder = _own_folder(node.args[1]) if len(node.args) > 1 else None
            if folder is None:
                return
        if (
            mode == "dlopen"
            and last == "dlopen"
            and not name.startswith(("ctypes", "_ctypes", "os"))
            and all("." not in n and "/" not in n for n in names)
        ):
            mode = "find_library"  # cffi: a bare name goes through ctypes.util.find_library first
        self.calls.append(
            LoadCall(
                file=self.path,
                line=node.lineno,
                function=name or last,
                mode=mode,
                names=names,
                at_import=self.depth == 0,
                guarded=self.tries > 0,
                folder=folder,
                raises_import_error=self._raises_import_error(),
            )
        )

    def _values(self, node: ast.expr) -> tuple[str, ...]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return (node.value,)
        if isinstance(node, ast.Name):
            for variable, values in reversed(self.loops):
                if variable == node.id:
                    return values
            if self.partial:
                self.wanted.add(node.id)  # module-level assignments were not all parsed
                return ()
            literal = self.literals.get(node.id)
            if literal is not None:
                return (literal,)
        return ()


def _literals(node: ast.expr) -> tuple[str, ...] | None:
    if isinstance(node, ast.Tuple | ast.List) and all(
        isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts
    ):
        return tuple(e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str))
    return None


def _tests_other_platform(test: ast.expr, platform: str) -> bool:
    """Whether ``test`` holds only on another OS than ``platform`` (a ``sys.platform`` value)."""
    text = ast.unparse(test)
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return False  # "if not windows:" is this platform's branch
    if not _FOREIGN_TEST.search(text):
        return False
    if " != " in text or " not in " in text:
        return False
    lowered = text.lower()
    if platform.startswith("linux"):
        return "linux" not in lowered
    if platform == "darwin":
        return "darwin" not in lowered and "mac" not in lowered
    return "win" not in lowered and "'nt'" not in lowered


def _own_folder(node: ast.expr) -> str | None:
    """``"."`` when ``node`` is the module's own folder (``os.path.dirname(__file__)``, ...)."""
    text = ast.unparse(node).replace(" ", "")
    if "__file__" in text and ("dirname" in text or text.endswith(".parent")):
        return "."
    return None


def scan_source(text: bytes, path: str, platform: str = sys.platform) -> list[LoadCall]:
    """The load-by-name calls in one Python source file (empty when it cannot be parsed).

    Only the top-level statements whose lines mention a loader are parsed, and, when a call names
    a variable, the ones that may assign it (a few kilobytes of a 200 kB module); same calls as
    parsing the whole module, which is done instead when a statement does not parse on its own,
    the file holds carriage returns or NUL bytes, declares another encoding or is not UTF-8. A
    syntax error in a statement that is not parsed goes unseen (the others' calls are kept)."""
    if len(text) > MAX_SOURCE or not (b"ctypes" in text or b"dlopen" in text) or not _CALLED.search(text):
        return []
    lines = _mention_lines(text)
    if lines is not None:
        found = _scan_chunks(text, path, platform, lines)
        if found is not None:
            return found
    return _scan_module(text, path, platform, lines)


def _scan_module(text: bytes, path: str, platform: str, lines: list[int] | None) -> list[LoadCall]:
    """The calls, from parsing the whole module (empty when it does not parse)."""
    try:
        tree = ast.parse(text, filename=path)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    scanner = _Scanner(path, platform, lines)
    try:
        scanner.visit(tree)
    except RecursionError:
        return []
    return scanner.calls


#: What decides where a top-level statement starts: strings and comments (their brackets, quotes
#: and line breaks do not count; a string's prefix does not change where it ends), brackets, a
#: backslash continuation, and a line break followed by a line that starts in column 0 with
#: something a statement can start with.
_LAYOUT = re.compile(
    rb"""'''(?:[^'\\]++|\\.|'(?!''))*+(?:'''|\Z)"""
    rb'''|"""(?:[^"\\]++|\\.|"(?!""))*+(?:"""|\Z)'''
    rb"""|'(?:[^'\\\n]++|\\.)*+'?|"(?:[^"\\\n]++|\\.)*+"?|\#[^\n]*+"""
    rb"|(?P<o>[(\[{])|(?P<c>[)\]}])|\\\r?\n|(?P<n>\n(?=[^\s#)\]}]))",
    re.DOTALL,
)
#: Lines in column 0 that continue the statement before them, not start one.
_CONTINUES = re.compile(rb"(?:else|elif|except|finally)\b")
_DEFINES = re.compile(rb"(?:def|class|async)\b")
_COOKIE = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)", re.MULTILINE)


def _statement_starts(text: bytes) -> list[int]:
    """Byte offsets where top-level statements start: every one of them for valid Python, as the
    tokenizer sees it (strings, comments, brackets, continuations); the first is 0. A decorated
    definition starts at its first decorator; ``else:`` and ``except`` continue their statement."""
    starts = [0]
    depth = 0
    decorated = False
    for match in _LAYOUT.finditer(text):
        kind = match.lastgroup
        if kind == "o":
            depth += 1
        elif kind == "c":
            depth = max(depth - 1, 0)
        elif kind == "n" and depth == 0:
            at = match.end()
            if text.startswith(b"@", at):
                if not decorated:
                    starts.append(at)
                decorated = True
            elif decorated and _DEFINES.match(text, at):
                decorated = False
            elif not _CONTINUES.match(text, at):
                starts.append(at)
                decorated = False
    return starts


def _scan_chunks(text: bytes, path: str, platform: str, lines: list[int]) -> list[LoadCall] | None:
    """The calls, from parsing only the top-level statements whose lines mention a loader (each
    parsed on its own, with its own line numbers) and, when a call names a variable, the top-level
    statements that may assign it at module level; None when only the whole module can tell (see
    :func:`scan_source`)."""
    if b"\0" in text or b"\r" in text:
        return None
    head = b"\n".join(text.split(b"\n", 2)[:2])
    cookie = _COOKIE.search(head)
    if cookie is not None and cookie.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
        return None
    try:
        text.decode("utf-8")
    except UnicodeDecodeError:
        return None
    starts = _statement_starts(text)
    numbers: list[int] = []  # the first line of each statement
    line, last = 1, 0
    for start in starts:
        line += text.count(b"\n", last, start)
        numbers.append(line)
        last = start
    starts.append(len(text))
    chosen = sorted({bisect.bisect_right(numbers, number) - 1 for number in lines})
    trees: dict[int, ast.Module] = {}
    scanner = _visit_statements(text, path, platform, lines, starts, numbers, chosen, trees, partial=True)
    if scanner is None or not scanner.wanted:
        return None if scanner is None else scanner.calls
    names = b"|".join(re.escape(name.encode()) for name in sorted(scanner.wanted))
    # Every assignment to a variable: ``NAME =``, ``A = NAME =``, ``(NAME) =``, ``NAME \\`` + newline;
    # a function definition holds none at module level (its body is the function's).
    for match in re.finditer(rb"\b(?:%s)\b[\s\\)]*=(?!=)" % names, text):
        number = bisect.bisect_right(starts, match.start()) - 1
        if not _FUNCTION.match(text, starts[number]):
            chosen.append(number)
    chosen = sorted(set(chosen))
    scanner = _visit_statements(text, path, platform, lines, starts, numbers, chosen, trees, partial=False)
    return None if scanner is None else scanner.calls


_FUNCTION = re.compile(rb"(?:async[ \t]+)?def\b")


def _visit_statements(
    text: bytes,
    path: str,
    platform: str,
    lines: list[int],
    starts: list[int],
    numbers: list[int],
    chosen: list[int],
    trees: dict[int, ast.Module],
    *,
    partial: bool,
) -> _Scanner | None:
    """A scanner that visited the ``chosen`` top-level statements (indexes into ``starts``), in
    order, each parsed on its own (``trees`` keeps the parses for another pass); None when one of
    them does not parse on its own."""
    scanner = _Scanner(path, platform, lines)
    scanner.partial = partial
    try:
        for number in chosen:
            tree = trees.get(number)
            if tree is None:
                source = b"\n" * (numbers[number] - 1) + text[starts[number] : starts[number + 1]]
                tree = trees[number] = ast.parse(source, filename=path)
            scanner.visit(tree)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return scanner


_SKIPPED_PARTS = frozenset(
    {"tests", "test", "testing", "examples", "_examples", "docs", "benchmarks", "conftest.py"}
)


def skipped_source(path: str) -> bool:
    """Source files never run on import: tests, examples, documentation, benchmarks."""
    return (
        not path.endswith(".py") or path.startswith("../") or not _SKIPPED_PARTS.isdisjoint(path.split("/"))
    )


def calls_to_json(calls: Sequence[LoadCall]) -> list[dict[str, object]]:
    """``calls`` as JSON-ready data (for the scan cache)."""
    return [
        {
            "file": c.file,
            "line": c.line,
            "function": c.function,
            "mode": c.mode,
            "names": list(c.names),
            "at_import": c.at_import,
            "guarded": c.guarded,
            "folder": c.folder,
            "raises_import_error": c.raises_import_error,
        }
        for c in calls
    ]


def calls_from_json(data: object, path: str) -> Iterator[LoadCall]:
    """The calls :func:`calls_to_json` wrote. :raises ValueError: not such data."""
    if not isinstance(data, list):
        raise ValueError("not a list of calls")
    for item in data:
        if not isinstance(item, dict) or item.get("mode") not in ("dlopen", "find_library", "load_library"):
            raise ValueError("not a call")
        yield LoadCall(
            file=path,
            line=int(item["line"]),
            function=str(item["function"]),
            mode=item["mode"],
            names=tuple(str(n) for n in item["names"]),
            at_import=bool(item["at_import"]),
            guarded=bool(item["guarded"]),
            folder=item["folder"] if isinstance(item.get("folder"), str) else None,
            raises_import_error=bool(item.get("raises_import_error")),
        )


def import_sites(text: bytes, module: str, package: str, *, strict: bool = False) -> list[bool]:
    """For each statement in one source file that imports ``module`` (dotted), whether it is
    conditional: inside a function, or inside a ``try`` with a handler that goes on (raises
    nothing: numba's ``_typeconv`` import raises a friendlier ImportError, and is not
    conditional). ``package`` is the dotted package of the file (for relative imports).
    Unparsable files give no sites.

    :param strict: conditional only inside a ``try`` whose handlers catch the ``ImportError`` a
        failed load raises (``ImportError``, ``Exception``, ``BaseException``, a bare ``except``):
        the package goes on without the module, wherever the statement is.
    """
    short = module.rpartition(".")[2]
    if short.encode() not in text or len(text) > MAX_SOURCE:
        return []
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    sites: list[bool] = []

    def names(node: ast.Import | ast.ImportFrom) -> list[str]:
        if isinstance(node, ast.Import):
            return [a.name for a in node.names]
        base = node.module or ""
        if node.level:
            parts = package.split(".")
            anchor = ".".join(parts[: len(parts) - node.level + 1]) if node.level <= len(parts) else ""
            base = f"{anchor}.{base}" if base else anchor
        return [f"{base}.{a.name}" if base else a.name for a in node.names] + [base]

    def walk(node: ast.AST, conditional: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom) and module in names(child):
                sites.append(conditional)
            inner = conditional or (
                not strict and isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            )
            if isinstance(child, ast.Try) and _goes_on(child, strict):
                for statement in child.body:
                    walk_one(statement, True)
                for part in (*child.handlers, *child.orelse, *child.finalbody):
                    walk_one(part, conditional)
                continue
            walk(child, inner)

    def walk_one(node: ast.AST, conditional: bool) -> None:
        if isinstance(node, ast.Import | ast.ImportFrom) and module in names(node):
            sites.append(conditional)
        walk(node, conditional or (not strict and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)))

    try:
        walk(tree, False)
    except RecursionError:
        return []
    return sites


#: Exception names whose handler catches the ImportError of a module that fails to load.
_CATCH_IMPORT_ERROR = frozenset({"ImportError", "Exception", "BaseException"})


def _goes_on(statement: ast.Try, strict: bool) -> bool:
    """Whether a handler of ``statement`` raises nothing (one that raises anywhere in its body
    does not go on) and, when ``strict``, catches ``ImportError``."""
    for handler in statement.handlers:
        if _raises(handler):
            continue
        if not strict or handler.type is None:
            return True
        kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        names = {kind.attr if isinstance(kind, ast.Attribute) else getattr(kind, "id", "") for kind in kinds}
        if not names.isdisjoint(_CATCH_IMPORT_ERROR):
            return True
    return False


def _raises(handler: ast.ExceptHandler) -> bool:
    """Whether a ``raise`` statement is part of ``handler`` (not of a function defined in it)."""
    pending: list[ast.AST] = list(handler.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Raise):
            return True
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            pending.extend(ast.iter_child_nodes(node))
    return False


def conditional_modules(
    sources: Iterable[tuple[str, bytes]], modules: Iterable[str], *, strict: bool = False
) -> frozenset[str]:
    """The ``modules`` (dotted) a package imports only conditionally (:func:`import_sites`, with
    ``strict``): imported at least once in ``sources`` ((RECORD path, text) of its Python files,
    read as they are iterated), never otherwise."""
    wanted = {module: module.rpartition(".")[2].encode() for module in modules}
    sites: dict[str, list[bool]] = {module: [] for module in wanted}
    for path, text in sources:
        package = path.rpartition("/")[0].replace("/", ".")
        for module, short in wanted.items():
            if short in text:
                sites[module].extend(import_sites(text, module, package, strict=strict))
    return frozenset(module for module, found in sites.items() if found and all(found))
