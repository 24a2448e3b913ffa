"""Which branches of a ``setup.py`` a default build does not take (read with :mod:`ast`, never
executed).

An optional library is either *on if found* (the build probes for it and uses it when present:
``if feature.want("jpeg")``, ``has_function(...)``) or *off unless asked* (the build asks for it
only when the user turns a switch on). Only the second kind is decided here, and only from
evidence in the build files: the ``if`` test must be false when nothing is configured. A test
is false by default when it reads

* a user setting that is unset by default: a name bound only to environment lookups without a
  default (``jpeg_dir = os.environ.get('JPEG_DIR')``), to values of the sdist's ``setup.cfg``
  keys that the sdist leaves unset, or to values derived from such names
  (``os.path.join(jpeg_dir, 'lib')``); an inline lookup (``os.environ.get('X') == 'ON'``);
* a command option whose every default is off: ``self.dynamic_linking`` set to ``None``,
  ``False``, ``0`` or ``''`` in ``initialize_options``/``finalize_options``/``__init__``;
* membership in a collection that is empty by default (``feat in self.vendor`` with
  ``vendor = set()`` in the class body), also through a one-line method
  (``feature.want_vendor("raqm")``);
* a one-line function returning such a test (h5py's ``setup_configure.mpi_enabled()``,
  ``return os.environ.get('HDF5_MPI') == "ON"``), in the file or in a module it imports;
* a module-level constant bound once to a false literal;
* a command-line flag: ``'--with-sasl2' in sys.argv``, or ``arg == '--with-sasl2'`` (and
  ``arg.startswith('--with-x=')``) for ``arg`` walking ``sys.argv``.

Anything else is unknown and treated as taken (on by default), so a library is never called
"off" without a reason in the file.

:func:`required_features` reads the opposite evidence: a literal collection of feature names
(``required = {"jpeg", "zlib"}`` in a class body or at module level) that a failing-when-missing
branch consults (``if not feature.get(f) and feature.require(f): raise ...``, with ``require``
returning ``feat in self.required``): those features are required by a default build, however
optional the code that looks for them seems; the switch that takes a name out of the
collection (``self.feature.required.discard(x)`` under ``if getattr(self, f"disable_{x}"):``)
is how a user turns one off.

:func:`switch_value_branches` finds the bodies of ``if`` statements that test a name bound only
to a build switch's value (``webp = feature.get("webp")``, ``if isinstance(webp, str):``):
libraries there are optional under that feature, as under ``if feature.get("webp"):``.

:func:`probed_loops` reads the other kind: a ``for`` loop over a literal list of library names
that probes for each one (``if config_cmd.check_library(libname, ...):``) makes each name
optional and on if found.
"""

from __future__ import annotations

import ast
import configparser
import functools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

__all__ = [
    "OffBranch",
    "ProbedLiteral",
    "RequiredFeature",
    "SwitchValueBranch",
    "configured_keys",
    "off_branches",
    "probed_loops",
    "required_features",
    "switch_value_branches",
]

#: The one size budget of every ast-based pass over a Python build file (here and in
#: :mod:`.infer`: platform markers, feature switches, default-off branches, probed loops): bigger
#: files are not parsed (see :func:`over_budget`). Real setup.py files are well under 100 KB;
#: parsing 128 KiB of the densest code (a name per line) takes about 0.2 s.
MAX_PARSE = 128 << 10
_DEPTH = 4


@dataclass(frozen=True, slots=True)
class OffBranch:
    """The lines of a branch a default build does not take."""

    first: int
    last: int
    #: The test, shortened (``feature.want_vendor('raqm')``, ``not self.dynamic_linking``).
    test: str
    #: The switch it reads: an environment variable, an option, a string argument.
    switch: str | None


class _Unset:
    """The value of a setting nobody set (``os.environ.get('X')`` with no default)."""

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return "<unset>"


UNSET = _Unset()
_UNKNOWN = object()
_EMPTY_CALLS = frozenset({"set", "list", "dict", "tuple", "frozenset"})


def configured_keys(setup_cfg: str | None) -> frozenset[tuple[str, str]]:
    """(section, key) pairs a ``setup.cfg`` sets to a non-empty value."""
    if not setup_cfg:
        return frozenset()
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(setup_cfg)
    except configparser.Error:
        return frozenset()
    return frozenset(
        (section, key)
        for section in parser.sections()
        for key, value in parser.items(section)
        if value.strip()
    )


def over_budget(text: str) -> bool:
    """Too big to parse (:data:`MAX_PARSE`): the ast-based passes skip the file."""
    return len(text) > MAX_PARSE


@functools.lru_cache(maxsize=2)
def parse_python(text: str) -> ast.Module | None:
    """The module's syntax tree, None when it does not parse or is over the budget
    (:func:`over_budget`). Cached for the last two texts: the scanners of one setup.py (platform
    markers, switches, defaults, probed loops) share one parse. The tree must not be modified."""
    if over_budget(text):
        return None
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _parse(text: str) -> ast.Module | None:
    return parse_python(text)  # the budget is applied there


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


@dataclass(frozen=True, slots=True)
class _Index:
    """The nodes the readers here need, found in one pass over the tree."""

    tree: ast.Module
    #: ``if`` statements and the scope they are in
    ifs: list[tuple[ast.If, int]]
    classes: list[ast.ClassDef]
    #: ``for`` loops with a name target, and the scope (function, class or module) they are in
    fors: list[tuple[ast.For, int]]
    #: (scope, name) -> a literal list of strings bound to the name in that scope
    literals: dict[tuple[int, str], ast.expr]
    #: function scope -> the names bound in it (they shadow the module's)
    local_names: dict[int, set[str]]


@functools.lru_cache(maxsize=2)
def _index(text: str) -> _Index | None:
    tree = _parse(text)
    if tree is None:
        return None
    index = _Index(tree, [], [], [], {}, {})
    todo: list[tuple[ast.AST, int]] = [(tree, id(tree))]
    while todo:
        node, scope = todo.pop()
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del) and scope != id(tree):
            index.local_names.setdefault(scope, set()).add(node.id)
        elif isinstance(node, ast.arg) and scope != id(tree):
            index.local_names.setdefault(scope, set()).add(node.arg)
        if isinstance(node, ast.If):
            index.ifs.append((node, scope))
        elif isinstance(node, ast.ClassDef):
            index.classes.append(node)
        elif isinstance(node, ast.For) and isinstance(node.target, ast.Name):
            index.fors.append((node, scope))
        elif (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and _string_items(node.value) is not None
        ):
            index.literals[scope, node.targets[0].id] = node.value
        inner = id(node) if isinstance(node, _SCOPES) else scope
        todo.extend((child, inner) for child in ast.iter_child_nodes(node))
    index.ifs.sort(key=lambda item: (item[0].lineno, item[0].col_offset))
    return index


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _env_lookup(node: ast.expr) -> object:
    """``os.environ.get('X'[, default])``/``os.getenv(...)``: the default (UNSET when none or
    None); _UNKNOWN for anything else."""
    if not isinstance(node, ast.Call) or node.keywords:
        return _UNKNOWN
    name = _dotted(node.func)
    if name not in {"os.environ.get", "os.getenv", "environ.get", "getenv"} or not 1 <= len(node.args) <= 2:
        return _UNKNOWN
    if not isinstance(node.args[0], ast.Constant) or not isinstance(node.args[0].value, str):
        return _UNKNOWN
    if len(node.args) == 1:
        return UNSET
    default = node.args[1]
    if isinstance(default, ast.Constant):
        return UNSET if default.value is None else default.value
    return _UNKNOWN


def _env_name(node: ast.expr) -> str | None:
    if _env_lookup(node) is not _UNKNOWN:
        assert isinstance(node, ast.Call) and isinstance(node.args[0], ast.Constant)
        return str(node.args[0].value)
    return None


def _module_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Module-level statements, also inside ``if``/``try``/``with``/``for`` (not in functions
    or classes)."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        for name in ("body", "orelse", "finalbody"):
            yield from _module_statements(getattr(stmt, name, []) or [])
        for handler in getattr(stmt, "handlers", []) or []:
            yield from _module_statements(handler.body)


def _assignments(tree: ast.Module) -> dict[str, list[ast.expr | None]]:
    """Module-level name -> the values bound to it (None: bound by something else)."""
    out: dict[str, list[ast.expr | None]] = {}
    for stmt in _module_statements(tree.body):
        if isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                if isinstance(target, ast.Name):
                    out.setdefault(target.id, []).append(stmt.value)
                else:
                    for node in ast.walk(target):
                        if isinstance(node, ast.Name):
                            out.setdefault(node.id, []).append(None)
        elif isinstance(stmt, ast.AnnAssign | ast.AugAssign) and isinstance(stmt.target, ast.Name):
            value = stmt.value if isinstance(stmt, ast.AnnAssign) else None
            out.setdefault(stmt.target.id, []).append(value)
        elif isinstance(stmt, ast.For | ast.With | ast.Import | ast.ImportFrom):
            targets: list[ast.AST] = []
            if isinstance(stmt, ast.For):
                targets = [stmt.target]
            elif isinstance(stmt, ast.With):
                targets = [i.optional_vars for i in stmt.items if i.optional_vars is not None]
            for bound in targets:
                for sub in ast.walk(bound):
                    if isinstance(sub, ast.Name):
                        out.setdefault(sub.id, []).append(None)
            if isinstance(stmt, ast.Import | ast.ImportFrom):
                for alias in stmt.names:
                    out.setdefault((alias.asname or alias.name).split(".")[0], []).append(None)
    return out


def _config_read(node: ast.expr, configured: frozenset[tuple[str, str]]) -> bool:
    """``config.get('section', 'key')`` (or ``getboolean``...) of a key the sdist's setup.cfg
    does not set."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return False
    if not node.func.attr.startswith("get") or len(node.args) != 2:
        return False
    section, key = node.args
    if not all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in (section, key)):
        return False
    assert isinstance(section, ast.Constant) and isinstance(key, ast.Constant)
    return (section.value, key.value) not in configured


def _unset_names(
    assigned: Mapping[str, list[ast.expr | None]], configured: frozenset[tuple[str, str]]
) -> dict[str, str]:
    """Module-level names that hold nothing unless the user sets them: name -> the environment
    variable or setting that would. Every binding must be an environment lookup without a
    default, a read of an unset ``setup.cfg`` key, ``None``, or an expression over such names;
    at least one binding is an environment lookup."""
    candidates: dict[str, str] = {}
    for name, values in assigned.items():
        for value in values:
            if value is not None and _env_lookup(value) is UNSET:
                candidates[name] = _env_name(value) or name
                break
    changed = True
    while changed:
        changed = False
        for name in list(candidates):
            if not all(_derived_from_unset(v, candidates, configured) for v in assigned[name]):
                del candidates[name]
                changed = True
    return candidates


def _derived_from_unset(
    value: ast.expr | None, unset: Mapping[str, str], configured: frozenset[tuple[str, str]]
) -> bool:
    if value is None:
        return False
    if _env_lookup(value) is UNSET or _config_read(value, configured):
        return True
    if isinstance(value, ast.Constant):
        return value.value is None
    if isinstance(value, ast.Name):
        return value.id in unset
    # os.path.join(jpeg_dir, 'lib'): a path made from unset names only (no `or` default)
    if not (isinstance(value, ast.Call) and _dotted(value.func) in _PATH_CALLS) or value.keywords:
        return False
    names = [n.id for a in value.args for n in ast.walk(a) if isinstance(n, ast.Name)]
    simple = all(isinstance(a, ast.Name | ast.Constant) for a in value.args)
    return simple and bool(names) and all(n in unset for n in names)


_PATH_CALLS = frozenset(
    {
        "os.path.join",
        "os.path.abspath",
        "os.path.expanduser",
        "os.path.realpath",
        "os.path.normpath",
        "Path",
        "pathlib.Path",
        "os.fspath",
        "str",
    }
)


@dataclass
class _Module:
    """What one file says about defaults."""

    unset: dict[str, str]
    constants: dict[str, object]
    functions: dict[str, ast.expr]
    #: ``self.<attr>`` options that are off by default.
    off_options: frozenset[str]
    #: ``self.<attr>`` collections that are empty by default.
    empty: frozenset[str]
    #: one-line methods: name -> (parameter names, returned expression)
    methods: dict[str, tuple[list[str], ast.expr]]
    #: loop variables over the command line (``for arg in sys.argv[1:]:``)
    argv: frozenset[str] = frozenset()


def _is_argv(node: ast.expr) -> bool:
    """``sys.argv`` or a slice of it."""
    if isinstance(node, ast.Subscript):
        node = node.value
    return _dotted(node) in {"sys.argv", "argv"}


def _argv_names(index: _Index) -> frozenset[str]:
    return frozenset(
        loop.target.id for loop, _ in index.fors if isinstance(loop.target, ast.Name) and _is_argv(loop.iter)
    )


def _falsy_literal(node: ast.expr | None) -> bool:
    if node is None:
        return False
    if isinstance(node, ast.Constant):
        return not node.value
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return not node.elts
    if isinstance(node, ast.Dict):
        return not node.keys
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _EMPTY_CALLS
        and not node.args
        and not node.keywords
    )


def _one_return(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.expr | None:
    body = [s for s in fn.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    if len(body) == 1 and isinstance(body[0], ast.Return) and body[0].value is not None:
        return body[0].value
    return None


_MUTATORS = frozenset({"add", "append", "extend", "update", "insert"})


def _self_attribute(node: ast.AST) -> str | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        return node.attr
    return None


def _unconditional_mutations(fn: ast.FunctionDef) -> Iterator[str]:
    """Attributes a method fills outside any ``if`` (``self.vendor.add(x)`` at its top level)."""
    todo: list[ast.AST] = list(fn.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _MUTATORS
            and isinstance(node.func.value, ast.Attribute)
        ):
            yield node.func.value.attr
        todo.extend(ast.iter_child_nodes(node))


def _class_defaults(
    index: _Index,
) -> tuple[frozenset[str], frozenset[str], dict[str, tuple[list[str], ast.expr]]]:
    """(options off by default, collections empty by default, one-line methods) of the file's
    classes. An attribute is off (empty) by default when every value the file's classes assign
    to it, in the class body or through ``self.<attr> = ...`` in any method, is a false literal,
    and (collections) no method fills it unconditionally."""
    values: dict[str, list[bool]] = {}
    filled: set[str] = set()
    methods: dict[str, tuple[list[str], ast.expr]] = {}
    for cls in index.classes:
        for stmt in cls.body:
            if isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value is not None:
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        values.setdefault(target.id, []).append(_falsy_literal(stmt.value))
            if not isinstance(stmt, ast.FunctionDef):
                continue
            returned = _one_return(stmt)
            if returned is not None:
                methods[stmt.name] = ([a.arg for a in stmt.args.args[1:]], returned)
            filled.update(_unconditional_mutations(stmt))
            for node in ast.walk(stmt):
                if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
                    for target in targets:
                        attr = _self_attribute(target)
                        if attr is not None:
                            values.setdefault(attr, []).append(_falsy_literal(value))
    off = frozenset(k for k, v in values.items() if v and all(v))
    return off - filled, off - filled, methods


def _read_module(index: _Index, configured: frozenset[tuple[str, str]]) -> _Module:
    tree = index.tree
    assigned = _assignments(tree)
    constants: dict[str, object] = {
        name: values[0].value
        for name, values in assigned.items()
        if len(values) == 1 and isinstance(values[0], ast.Constant)
    }
    functions = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef):
            returned = _one_return(stmt)
            if returned is not None and not stmt.args.args:
                functions[stmt.name] = returned
    off, empty, methods = _class_defaults(index)
    unset = _unset_names(assigned, configured)
    return _Module(unset, constants, functions, off, empty, methods, _argv_names(index))


class _Evaluator:
    """The value a test has in a default build: True, False, or None (unknown)."""

    def __init__(
        self, module: _Module, imported: Mapping[str, _Module], local_names: Iterable[str] = ()
    ) -> None:
        self.module = module
        self.imported = imported
        #: names bound in the function the test is in: not the module's
        self.local_names = frozenset(local_names)
        self.switches: list[str] = []

    def truth(self, node: ast.expr, depth: int = 0) -> bool | None:
        value = self.value(node, depth)
        if value is _UNKNOWN:
            return None
        return False if value is UNSET else bool(value)

    def value(self, node: ast.expr, depth: int = 0) -> object:
        """The default value of an expression: a constant, UNSET, or _UNKNOWN."""
        if depth > _DEPTH:
            return _UNKNOWN
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            truth = self.truth(node.operand, depth)
            return _UNKNOWN if truth is None else not truth
        if isinstance(node, ast.BoolOp):
            return self._bool_op(node, depth)
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            return self._compare(node, depth)
        if isinstance(node, ast.Name):
            if node.id in self.local_names:
                return _UNKNOWN
            if node.id in self.module.unset:
                self.switches.append(self.module.unset[node.id])
                return UNSET
            return self.module.constants.get(node.id, _UNKNOWN)
        if isinstance(node, ast.Attribute):
            if _self_attribute(node) in self.module.off_options:
                self.switches.append(node.attr)
                return False
            return _UNKNOWN
        if isinstance(node, ast.Call):
            return self._call(node, depth)
        return _UNKNOWN

    def _bool_op(self, node: ast.BoolOp, depth: int) -> object:
        """``and``/``or``; only the operands that decide the result name the switch."""
        outer, truths, named = self.switches, [], []
        for v in node.values:
            self.switches = []
            truths.append(self.truth(v, depth))
            named.append(self.switches)
        self.switches = outer
        deciding = not isinstance(node.op, ast.And)
        self.switches += [s for t, n in zip(truths, named, strict=True) if t is deciding for s in n]
        if isinstance(node.op, ast.And):
            if False in truths:
                return False
            return True if all(t is True for t in truths) else _UNKNOWN
        if True in truths:
            return True
        return False if all(t is False for t in truths) else _UNKNOWN

    def _compare(self, node: ast.Compare, depth: int) -> object:
        op = node.ops[0]
        left, right = node.left, node.comparators[0]
        flag = self._flag(left, right, op)
        if flag is not None:
            return flag
        if isinstance(op, ast.In | ast.NotIn):
            if self._empty_collection(right):
                self._note_string(left)
                return isinstance(op, ast.NotIn)
            return _UNKNOWN
        a, b = self.value(left, depth + 1), self.value(right, depth + 1)
        if a is _UNKNOWN or b is _UNKNOWN:
            return _UNKNOWN
        a, b = (None if a is UNSET else a), (None if b is UNSET else b)
        if isinstance(op, ast.Is | ast.Eq):
            return a == b
        if isinstance(op, ast.IsNot | ast.NotEq):
            return a != b
        return _UNKNOWN

    def _flag(self, left: ast.expr, right: ast.expr, op: ast.cmpop) -> bool | None:
        """A command-line flag the user must pass: ``'--with-sasl2' in sys.argv``, or
        ``arg == '--with-sasl2'`` for ``arg`` walking ``sys.argv`` (false by default)."""
        if not (isinstance(left, ast.Constant) and isinstance(left.value, str)):
            left, right = right, left
        if not (isinstance(left, ast.Constant) and isinstance(left.value, str)) or left.value[:1] != "-":
            return None
        argv_name = isinstance(right, ast.Name) and right.id in self.module.argv
        if (isinstance(op, ast.In | ast.NotIn) and _is_argv(right)) or (
            isinstance(op, ast.Eq | ast.NotEq) and argv_name
        ):
            self.switches.append(left.value)
            return isinstance(op, ast.NotIn | ast.NotEq)
        return None

    def _empty_collection(self, node: ast.expr) -> bool:
        return (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "self"
            and node.attr in self.module.empty
        )

    def _note_string(self, node: ast.expr) -> None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            self.switches.append(node.value)

    def _call(self, node: ast.Call, depth: int) -> object:
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and func.attr == "startswith"
            and isinstance(func.value, ast.Name)
            and func.value.id in self.module.argv
            and len(node.args) == 1
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and node.args[0].value.startswith("-")
        ):
            self.switches.append(node.args[0].value)
            return False  # arg.startswith('--with-libmemcached='): a flag the user must pass
        default = _env_lookup(node)
        if default is not _UNKNOWN:
            self.switches.append(_env_name(node) or "")
            return default
        func = node.func
        if isinstance(func, ast.Name) and func.id in self.module.functions and not node.args:
            inner = _Evaluator(self.module, self.imported)  # the function reads the module's names
            return inner.value_into(self, self.module.functions[func.id], depth + 1)
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            module = self.imported.get(func.value.id)
            if module is not None and func.attr in module.functions and not node.args:
                return _Evaluator(module, {}).value_into(self, module.functions[func.attr], depth + 1)
            method = self.module.methods.get(func.attr)
            if method is not None and len(method[0]) == len(node.args) and not node.keywords:
                return self._method(method, node.args, depth)
        return _UNKNOWN

    def value_into(self, caller: _Evaluator, node: ast.expr, depth: int) -> object:
        value = self.value(node, depth)
        caller.switches += self.switches
        return value

    def _method(self, method: tuple[list[str], ast.expr], args: list[ast.expr], depth: int) -> object:
        """A one-line method: ``return feat in self.vendor`` with ``vendor`` empty by default."""
        params, returned = method
        if (
            isinstance(returned, ast.Compare)
            and len(returned.ops) == 1
            and isinstance(returned.ops[0], ast.In | ast.NotIn)
            and isinstance(returned.left, ast.Name)
            and returned.left.id in params
            and self._empty_collection(returned.comparators[0])
        ):
            self._note_string(args[params.index(returned.left.id)])
            return isinstance(returned.ops[0], ast.NotIn)
        return _UNKNOWN


def _short(node: ast.expr, limit: int = 60) -> str:
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def off_branches(
    text: str,
    imported: Mapping[str, str] | None = None,
    configured: frozenset[tuple[str, str]] = frozenset(),
) -> list[OffBranch]:
    """The branches of ``text``'s ``if`` statements that a default build does not take.
    ``imported``: module name -> text of the tree's modules the file imports (for one-line
    functions such as ``setup_configure.mpi_enabled()``); ``configured``: the sdist's
    ``setup.cfg`` keys (see :func:`configured_keys`)."""
    index = _index(text)
    if index is None:
        return []
    module = _read_module(index, configured)
    modules = {}
    for name, source in (imported or {}).items():
        parsed = _index(source)
        if parsed is not None:
            modules[name] = _read_module(parsed, configured)
    out = []
    for node, scope in index.ifs:
        evaluator = _Evaluator(module, modules, index.local_names.get(scope, ()))
        truth = evaluator.truth(node.test)
        if truth is None:
            continue
        branch = node.body if truth is False else node.orelse
        if not branch:
            continue
        switch = next((s for s in evaluator.switches if s), None)
        test = _short(node.test)
        if truth is True:  # the else branch is the one not taken
            shown = test[4:] if test.startswith("not ") and " " not in test[4:] else f"not ({test})"
        else:
            shown = test
        last = branch[-1].end_lineno or branch[-1].lineno
        out.append(OffBranch(branch[0].lineno, last, shown, switch))
    return out


# --------------------------------------------------------------------------- probed loops

#: Calls that probe for a library and report whether it is there (distutils' config command,
#: compilers' ``has_function``).
_PROBES = frozenset({"check_library", "check_lib", "has_function", "find_library_file", "try_link"})


@dataclass(frozen=True, slots=True)
class ProbedLiteral:
    """A literal list of library names a ``for`` loop walks, probing for each and using it only
    when found (mpi4py: ``for libname in dep_libs: if config_cmd.check_library(libname, ...):``)."""

    #: the lines of the literal (where the names are found)
    first: int
    last: int
    names: frozenset[str]
    #: the probe call, shortened
    probe: str


def _string_items(node: ast.expr) -> list[str] | None:
    if isinstance(node, ast.Tuple | ast.List | ast.Set) and node.elts:
        items = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
        return items if len(items) == len(node.elts) else None
    return None


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _is_probe(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and _call_name(node) in _PROBES


def _probe_of(body: list[ast.stmt], variable: str) -> ast.Call | None:
    """The probe every use of ``variable`` in a loop body sits under (``if probe(variable...):``),
    else None."""
    probes: list[ast.If] = []
    uses: list[ast.Name] = []
    for stmt in body:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and node.id == variable:
                uses.append(node)
            elif isinstance(node, ast.If) and _is_probe(node.test):
                call = node.test
                assert isinstance(call, ast.Call)
                args = [*call.args, *(k.value for k in call.keywords)]
                if any(isinstance(n, ast.Name) and n.id == variable for a in args for n in ast.walk(a)):
                    probes.append(node)
    if not probes:
        return None
    guarded = {id(n) for p in probes for n in ast.walk(p)}
    if not all(id(n) in guarded for n in uses):
        return None
    test = probes[0].test
    assert isinstance(test, ast.Call)
    return test


def probed_loops(text: str) -> list[ProbedLiteral]:
    """Literal lists of names that a ``for`` loop probes for one by one (the loop walks the
    literal itself or a name bound to it in the same function or module)."""
    index = _index(text)
    if index is None:
        return []
    out = []
    for loop, scope in index.fors:
        assert isinstance(loop.target, ast.Name)
        literal = index.literals.get((scope, loop.iter.id)) if isinstance(loop.iter, ast.Name) else loop.iter
        items = _string_items(literal) if literal is not None else None
        probe = _probe_of(loop.body, loop.target.id) if items else None
        if literal is not None and items and probe is not None:
            last = literal.end_lineno or literal.lineno
            out.append(ProbedLiteral(literal.lineno, last, frozenset(items), _short(probe)))
    out.sort(key=lambda p: p.first)
    return out


# --------------------------------------------------------------------------- required features


@dataclass(frozen=True, slots=True)
class RequiredFeature:
    """A feature a default build requires: named in a literal collection that a branch which
    fails the build consults (Pillow's ``required = {"jpeg", "zlib"}`` and
    ``if not feature.get(f) and feature.require(f): raise RequiredDependencyException(f)``)."""

    name: str
    #: the collection: its name and the line it is bound on
    collection: str
    line: int
    #: the line of the ``if`` that fails the build when the feature is missing
    check: int
    #: how a user turns it off (``--disable-jpeg``), when the file says
    switch: str | None


_EXITS = frozenset({"sys.exit", "exit", "quit", "os._exit"})
_REMOVERS = frozenset({"discard", "remove"})


def _collection_items(node: ast.expr | None) -> list[str] | None:
    """The strings of a literal collection: ``{"a", "b"}``, ``["a"]``, ``("a",)``, also wrapped
    in ``set(...)``/``frozenset(...)``."""
    if node is None:
        return None
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in {"set", "frozenset", "list", "tuple"}
        and len(node.args) == 1
        and not node.keywords
    ):
        node = node.args[0]
    return _string_items(node)


def _bound_collections(tree: ast.Module) -> dict[str, tuple[int, list[str]]]:
    """Names bound to a literal collection of strings at module level or in a class body:
    name -> (line, items). A name bound to different values in several places is left out."""
    bodies: list[list[ast.stmt]] = [list(_module_statements(tree.body))]
    bodies += [node.body for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
    out: dict[str, tuple[int, list[str]]] = {}
    clashes: set[str] = set()
    for body in bodies:
        for stmt in body:
            value: ast.expr | None
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                target, value = stmt.targets[0], stmt.value
            elif isinstance(stmt, ast.AnnAssign | ast.AugAssign):
                target, value = stmt.target, stmt.value if isinstance(stmt, ast.AnnAssign) else None
            else:
                continue
            if not isinstance(target, ast.Name):
                continue
            items = _collection_items(value)
            if items is None or (target.id in out and sorted(out[target.id][1]) != sorted(items)):
                clashes.add(target.id)  # also bound to something else
            elif target.id not in out:
                out[target.id] = (stmt.lineno, items)
    return {name: value for name, value in out.items() if name not in clashes}


def _collection_name(node: ast.expr, collections: Mapping[str, object]) -> str | None:
    """``required``, ``self.required`` or ``self.feature.required`` when it names one of
    ``collections``."""
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
    return name if name in collections else None


def _membership_helpers(tree: ast.Module, collections: Mapping[str, object]) -> dict[str, str]:
    """One-line functions and methods that test membership of their argument in a collection
    (``def require(self, feat): return feat in self.required``): name -> collection."""
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        returned = _one_return(node)
        params = {a.arg for a in node.args.args}
        if (
            isinstance(returned, ast.Compare)
            and len(returned.ops) == 1
            and isinstance(returned.ops[0], ast.In)
            and isinstance(returned.left, ast.Name)
            and returned.left.id in params
        ):
            name = _collection_name(returned.comparators[0], collections)
            if name is not None:
                out[node.name] = name
    return out


def _fails(body: list[ast.stmt]) -> bool:
    """The branch ends by failing the build: ``raise ...`` or ``sys.exit(...)``."""
    last = body[-1] if body else None
    if isinstance(last, ast.Raise):
        return True
    return (
        isinstance(last, ast.Expr) and isinstance(last.value, ast.Call) and _dotted(last.value.func) in _EXITS
    )


def _conjuncts(test: ast.expr) -> Iterator[ast.expr]:
    """The operands that must all hold for ``test`` to hold (``a and b``: a, b)."""
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        for value in test.values:
            yield from _conjuncts(value)
    else:
        yield test


def _required_by(test: ast.expr, collections: Mapping[str, object], helpers: Mapping[str, str]) -> set[str]:
    """Collections whose membership ``test`` needs: ``f in required``, ``feature.require(f)``."""
    out = set()
    for part in _conjuncts(test):
        if isinstance(part, ast.Compare) and len(part.ops) == 1 and isinstance(part.ops[0], ast.In):
            name = _collection_name(part.comparators[0], collections)
        elif isinstance(part, ast.Call) and len(part.args) == 1 and not part.keywords:
            name = helpers.get(_call_name(part))
        else:
            name = None
        if name is not None:
            out.add(name)
    return out


def _switch_template(test: ast.expr, removed: ast.expr) -> str | None:
    """How the user takes ``removed`` out of the collection, from the test of the branch that
    does: ``getattr(self, f"disable_{x}")`` -> ``--disable-{}``; ``self.disable_jpeg`` ->
    ``--disable-jpeg``; ``'--without-jpeg' in sys.argv`` -> ``--without-jpeg``."""
    for node in ast.walk(test):
        if isinstance(node, ast.JoinedStr) and isinstance(removed, ast.Name):
            parts = []
            for value in node.values:
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    parts.append(value.value.replace("{", "{{").replace("}", "}}"))
                elif (
                    isinstance(value, ast.FormattedValue)
                    and isinstance(value.value, ast.Name)
                    and value.value.id == removed.id
                ):
                    parts.append("{}")
                else:
                    return None
            if parts.count("{}") == 1:
                return "--" + "".join(parts).replace("_", "-").lstrip("-")
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("--"):
            return node.value.replace("{", "{{").replace("}", "}}")
        attr = _self_attribute(node)
        if attr is not None and isinstance(removed, ast.Constant):
            return "--" + attr.replace("_", "-").replace("{", "{{").replace("}", "}}")
    return None


def _opt_outs(index: _Index, collections: Mapping[str, object]) -> dict[str, dict[str | None, str]]:
    """collection -> (feature name, or None for any) -> the switch that removes it from the
    collection (``self.feature.required.discard(x)`` inside ``if getattr(self, f"disable_{x}"):``)."""
    out: dict[str, dict[str | None, str]] = {}
    for node, _ in index.ifs:
        for stmt in node.body:
            for call in ast.walk(stmt):
                if not (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Attribute)
                    and call.func.attr in _REMOVERS
                    and len(call.args) == 1
                ):
                    continue
                name = _collection_name(call.func.value, collections)
                if name is None:
                    continue
                removed = call.args[0]
                template = _switch_template(node.test, removed)
                if template is None:
                    continue
                if isinstance(removed, ast.Constant) and isinstance(removed.value, str):
                    out.setdefault(name, {}).setdefault(removed.value, template)
                elif "{}" in template:
                    out.setdefault(name, {}).setdefault(None, template)
    return out


def required_features(text: str) -> dict[str, RequiredFeature]:
    """Features a default build of ``text`` requires (see :class:`RequiredFeature`): feature
    name -> where it is said. Only collections that a failing-when-missing branch in the same
    file consults count."""
    index = _index(text)
    if index is None:
        return {}
    collections = _bound_collections(index.tree)
    if not collections:
        return {}
    helpers = _membership_helpers(index.tree, collections)
    checks: dict[str, int] = {}
    for node, _ in index.ifs:
        if _fails(node.body):
            for name in _required_by(node.test, collections, helpers):
                checks.setdefault(name, node.lineno)
    opt_outs = _opt_outs(index, collections)
    out: dict[str, RequiredFeature] = {}
    for name, check in checks.items():
        line, items = collections[name]
        switches = opt_outs.get(name, {})
        for item in items:
            template = switches.get(item) or switches.get(None)
            switch = template.format(item) if template else None
            out.setdefault(item, RequiredFeature(item, name, line, check, switch))
    return out


# --------------------------------------------------------------------------- switch values


@dataclass(frozen=True, slots=True)
class SwitchValueBranch:
    """The body of an ``if`` whose test reads only a name bound to a build switch's value
    (``webp = feature.get("webp")`` then ``if isinstance(webp, str):``): taken only when that
    feature is on, like ``if feature.get("webp"):``."""

    first: int
    last: int
    #: the string the switch call reads (``webp``)
    name: str


#: Calls that read a build feature's setting (Pillow's ``feature.get("webp")``).
_SWITCH_VALUE_CALLS = frozenset({"get", "want"})


def _own_nodes(scope: ast.AST) -> Iterator[ast.AST]:
    """The nodes of a module or function body, not those of functions or classes in it."""
    todo = list(ast.iter_child_nodes(scope))
    while todo:
        node = todo.pop()
        yield node
        if not isinstance(node, _SCOPES):
            todo.extend(ast.iter_child_nodes(node))


def _switch_value(node: ast.expr) -> str | None:
    """``feature.get("webp")`` -> ``webp``."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in _SWITCH_VALUE_CALLS
        and len(node.args) == 1
        and not node.keywords
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        return node.args[0].value
    return None


def _tested_name(test: ast.expr) -> str | None:
    """The one name a test reads: ``x``, ``not x``, ``x is not None``, ``isinstance(x, str)``."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        test = test.operand
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.comparators[0], ast.Constant):
        test = test.left
    elif (
        isinstance(test, ast.Call)
        and isinstance(test.func, ast.Name)
        and test.func.id == "isinstance"
        and len(test.args) == 2
    ):
        test = test.args[0]
    return test.id if isinstance(test, ast.Name) else None


def switch_value_branches(text: str) -> list[SwitchValueBranch]:
    """The bodies of ``if`` statements that test a name every binding of which (in the same
    function, or at module level) is a build switch's value (see :class:`SwitchValueBranch`)."""
    tree = _parse(text)
    if tree is None:
        return []
    scopes: list[ast.AST] = [tree]
    scopes += [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    out = []
    for scope in scopes:
        nodes = list(_own_nodes(scope))
        bound: dict[str, str | None] = {}
        switch_stores: set[int] = set()
        for node in nodes:
            if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
                continue
            target, value = node.targets[0], _switch_value(node.value)
            if isinstance(target, ast.Name) and value is not None:
                switch_stores.add(id(target))
                bound[target.id] = value if bound.get(target.id, value) == value else None
        for node in nodes:  # bound to anything else too: not decided
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
                if id(node) not in switch_stores:
                    bound[node.id] = None
            elif isinstance(node, ast.arg):
                bound[node.arg] = None
        for node in nodes:
            if not isinstance(node, ast.If) or not node.body:
                continue
            tested = _tested_name(node.test)
            value = bound.get(tested) if tested else None
            if value is not None:
                last = node.body[-1].end_lineno or node.body[-1].lineno
                out.append(SwitchValueBranch(node.body[0].lineno, last, value))
    out.sort(key=lambda b: (b.first, -b.last))
    return out
