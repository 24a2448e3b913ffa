"""Libraries loaded by a literal name from Python code, found with ast (never executed)."""

from __future__ import annotations

import textwrap

import pytest

from native_doctor.sources.loadnames import LoadCall, calls_from_json, calls_to_json, scan_source


def _scan(source: str, path: str = "pkg/__init__.py", platform: str = "linux") -> list[LoadCall]:
    return scan_source(textwrap.dedent(source).encode(), path, platform)


SOUNDDEVICE = """
from ctypes.util import find_library as _find_library
try:
    for _libname in ('portaudio', 'bin\\\\libportaudio-2.dll', 'lib/libportaudio.dylib'):
        _libname = _find_library(_libname)
        if _libname is not None:
            break
    else:
        raise OSError('PortAudio library not found')
    _lib = _ffi.dlopen(_libname)
except OSError:
    raise
"""

PYZBAR = """
import platform
from ctypes import cdll
from ctypes.util import find_library

def load():
    if 'Windows' == platform.system():
        libzbar = cdll.LoadLibrary('libzbar-64.dll')
    else:
        path = find_library('zbar')
        if not path:
            raise ImportError('Unable to find zbar shared library')
        libzbar = cdll.LoadLibrary(path)
    return libzbar
"""


def test_sounddevice_alternatives_keep_only_this_platforms_names() -> None:
    [call] = _scan(SOUNDDEVICE, "sounddevice.py")
    assert call.mode == "find_library" and call.names == ("portaudio",)
    assert call.at_import and call.guarded and call.function == "_find_library"


def test_pyzbar_loader_in_a_function_that_raises_import_error() -> None:
    [call] = _scan(PYZBAR, "pyzbar/zbar_library.py")
    assert call.names == ("zbar",) and not call.at_import and call.raises_import_error


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import ctypes\nctypes.CDLL('libzbar.so.0')", ("dlopen", ("libzbar.so.0",))),
        ("import ctypes\nctypes.cdll.LoadLibrary('libfoo.so.1')", ("dlopen", ("libfoo.so.1",))),
        ("import ctypes.util\nctypes.util.find_library('portaudio')", ("find_library", ("portaudio",))),
        ("ffi.dlopen('libbar.so.2')", ("dlopen", ("libbar.so.2",))),
        ("ffi.dlopen('bar')", ("find_library", ("bar",))),
        ("NAME = 'libbaz.so.3'\nimport ctypes\nctypes.CDLL(NAME)", ("dlopen", ("libbaz.so.3",))),
        (
            "import os, numpy\nnumpy.ctypeslib.load_library('_lib', os.path.dirname(__file__))",
            ("load_library", ("_lib",)),
        ),
    ],
    ids=[
        "CDLL",
        "cdll.LoadLibrary",
        "find_library",
        "cffi-path",
        "cffi-bare",
        "module-constant",
        "load_library",
    ],
)
def test_literal_names_are_found(source: str, expected: tuple[str, tuple[str, ...]]) -> None:
    [call] = _scan(source)
    assert (call.mode, call.names) == expected


@pytest.mark.parametrize(
    "source",
    [
        "import ctypes\nctypes.CDLL(path)",  # not a literal
        "import ctypes\nctypes.CDLL('msvcrt')",  # a Windows library
        "import ctypes\nfor n in ('msvcr110', 'msvcp140', 'vcruntime140_1'):\n    ctypes.CDLL(n)",
        "import ctypes, sys\nIS_WINDOWS = sys.platform == 'nt'\nif IS_WINDOWS:\n    ctypes.CDLL('libf.so')",
        "import ctypes, sys\nif sys.platform == 'win32':\n    ctypes.CDLL('libfoo.so')",
        "import ctypes, sys\nif sys.platform == 'darwin':\n    ctypes.CDLL('libfoo.so')",
        "import ctypes\ndef init_windows_clipboard():\n    ctypes.CDLL('libfoo.so')",
        "import ctypes\nctypes.windll.LoadLibrary('libfoo.so')",
        "x = 1\n",
        "this is not python (\n",
        "import numpy\nnumpy.ctypeslib.load_library('_lib', somewhere)",  # folder not known
    ],
    ids=[
        "variable",
        "windows-name",
        "versioned-msvc-runtimes",
        "windows-constant-branch",
        "windows-branch",
        "macos-branch",
        "windows-function",
        "windll",
        "no-call",
        "syntax-error",
        "unknown-folder",
    ],
)
def test_calls_this_host_never_makes_or_cannot_decide_are_left_out(source: str) -> None:
    assert _scan(source) == []


def test_an_elif_windows_constant_branch_is_left_out_and_the_else_kept() -> None:
    """torch's redirects.py: ``if IS_MACOS: ... elif IS_WINDOWS: CDLL(crt) ... else: CDLL(libc)``."""
    source = (
        "import ctypes, sys\nIS_WINDOWS = sys.platform == 'win32'\nIS_MACOS = sys.platform == 'darwin'\n"
        "def get_libc():\n    if IS_MACOS:\n        return None\n    elif IS_WINDOWS:\n"
        "        return ctypes.CDLL('libwinonly.so')\n    else:\n        return ctypes.CDLL('libc.so.6')\n"
    )
    assert [c.names for c in _scan(source)] == [("libc.so.6",)]


def test_the_else_branch_of_a_windows_test_is_this_platforms() -> None:
    source = (
        "import ctypes, sys\nif sys.platform == 'win32':\n    pass\nelse:\n    ctypes.CDLL('libfoo.so.1')"
    )
    assert [c.names for c in _scan(source)] == [("libfoo.so.1",)]


ALIASED_FAR = """
from ctypes.util import find_library as lookup

NAME = "sndfile"

class Settings:
    LEVEL = 3

@decorate(find_library("deco"))
def unrelated(values):
    return [v * 2 for v in values]

def load():
    total = sum(range(10))
    return lookup(NAME)

try:
    handle = lookup("ogg")
except OSError:
    handle = None
"""


def test_lines_that_mention_no_loader_are_skipped_without_losing_a_call() -> None:
    # The alias is called on lines that name no loader, the literal is bound far from the call,
    # and a decorator's call sits above its function's first line.
    calls = _scan(ALIASED_FAR, "pkg/sndfile.py")
    assert [(c.names, c.at_import, c.guarded) for c in calls] == [
        (("deco",), False, False),  # decorators are visited with their function
        (("sndfile",), False, False),
        (("ogg",), True, True),
    ]


def test_lone_carriage_returns_fall_back_to_a_full_walk() -> None:
    source = "import ctypes\r\rx = 1\rlib = ctypes.CDLL('libfoo.so.1')\r"
    [call] = scan_source(source.encode(), "pkg/old.py", "linux")
    assert call.names == ("libfoo.so.1",) and call.line == 4


def test_calls_round_trip_through_json() -> None:
    calls = _scan(PYZBAR, "pyzbar/zbar_library.py")
    assert list(calls_from_json(calls_to_json(calls), "pyzbar/zbar_library.py")) == calls


@pytest.mark.parametrize(
    ("source", "sites"),
    [
        ("from . import _x\n", [False]),
        ("import a.b._x\n", [False]),
        ("try:\n    from a.b import _x\nexcept ImportError:\n    _x = None\n", [True]),
        ("def layer():\n    from a.b import _x as lib\n    return lib\n", [True]),
        ("import os\n", []),
        (
            "try:\n    from a.b import _x\nexcept ImportError as e:\n    raise ImportError('x') from e\n",
            [False],
        ),
    ],
    ids=["relative", "absolute", "try-except", "in-a-function", "not-imported", "handler-raises-again"],
)
def test_import_sites_of_an_extension_module(source: str, sites: list[bool]) -> None:
    from native_doctor.sources.loadnames import import_sites

    assert import_sites(source.encode(), "a.b._x", "a.b") == sites


@pytest.mark.parametrize(
    ("source", "sites"),
    [
        ("try:\n    from a.b import _x\nexcept ImportError:\n    _x = None\n", [True]),
        ("try:\n    import a.b._x\nexcept (OSError, builtins.Exception):\n    pass\n", [True]),
        ("try:\n    from . import _x\nexcept:\n    pass\n", [True]),
        ("try:\n    from . import _x\nexcept KeyError:\n    pass\n", [False]),
        ("def layer():\n    from a.b import _x as lib\n    return lib\n", [False]),
        ("def layer():\n    try:\n        from . import _x\n    except ImportError:\n        pass\n", [True]),
        ("try:\n    pass\nexcept ImportError:\n    from . import _x\n", [False]),
        (
            "try:\n    from . import _x\nexcept ImportError as e:\n    raise ImportError('rebuild') from e\n",
            [False],
        ),
        ("try:\n    from . import _x\nexcept ImportError:\n    if STRICT:\n        raise\n", [False]),
        ("try:\n    from . import _x\nexcept ImportError:\n    def later():\n        raise\n", [True]),
    ],
    ids=[
        "except-import-error",
        "except-exception-attribute",
        "bare-except",
        "other-handler",
        "in-a-function",
        "try-in-a-function",
        "in-the-handler",
        "handler-raises-again",
        "handler-may-raise",
        "raise-in-a-function-of-the-handler",
    ],
)
def test_strict_import_sites_count_only_a_try_that_catches_import_error(
    source: str, sites: list[bool]
) -> None:
    from native_doctor.sources.loadnames import import_sites

    assert import_sites(source.encode(), "a.b._x", "a.b", strict=True) == sites


def test_optional_modules_are_imported_only_where_import_error_is_caught() -> None:
    from native_doctor.sources.loadnames import conditional_modules

    guarded = b"try:\n    from . import omppool\nexcept ImportError:\n    pass\n"
    sources = [
        ("pkg/parallel.py", guarded + b"from pkg import workqueue\n"),
        ("pkg/sysinfo.py", guarded.replace(b"omppool", b"tbbpool")),
        ("pkg/other.py", b"import pkg.tbbpool\n"),
    ]
    modules = ["pkg.omppool", "pkg.tbbpool", "pkg.workqueue", "pkg.unused"]
    assert conditional_modules(sources, modules, strict=True) == {"pkg.omppool"}


#: Layouts where a top-level statement is not where a line in column 0 suggests: strings,
#: brackets, continuations, decorators, ``else``/``except``; and variables assigned far away.
LAYOUTS = {
    "docstring-with-code": '''
        """Example:
        lib = ctypes.CDLL("libdoc.so.1")
        """
        import ctypes
        lib = ctypes.CDLL("libreal.so.2")
        ''',
    "bracket-in-column-0": """
        import ctypes
        libs = [
        ctypes.CDLL("libbracket.so.1"),
        ]
        """,
    "continuation": """
        import ctypes
        lib = \\
        ctypes.CDLL("libcont.so.1")
        """,
    "decorated-function": """
        import ctypes, functools
        @functools.cache
        @staticmethod
        def load():
            return ctypes.CDLL("libdecorated.so.1")
        """,
    "else-and-except-in-column-0": """
        import ctypes
        try:
            import something
        except ImportError:
            lib = ctypes.CDLL("libguarded.so.1")
        else:
            lib = None
        if flag:
            pass
        elif other:
            lib = ctypes.CDLL("libelif.so.1")
        """,
    "variable-assigned-at-the-top": """
        import ctypes
        NAME = "libvariable.so.3"
        def unrelated():
            return 1
        lib = ctypes.CDLL(NAME)
        """,
    "variable-assigned-twice": """
        import ctypes
        NAME = "liba.so.1"
        def unrelated():
            return 1
        NAME = "libb.so.1"
        lib = ctypes.CDLL(NAME)
        """,
    "variable-assigned-after-the-call": """
        import ctypes
        lib = ctypes.CDLL(NAME)
        NAME = "liblate.so.1"
        """,
    "variable-in-a-class-body": """
        import ctypes
        class Paths:
            LIB = "libclass.so.1"
        (NAME) = "libparen.so.1"
        lib = ctypes.CDLL(NAME)
        """,
    "string-with-brackets-and-quotes": """
        import ctypes
        text = "(not [closed" + '"' + '''
        ('''
        lib = ctypes.CDLL("libafter.so.1")
        """,
    "alias-far-away": """
        from ctypes import CDLL as load_it
        def unrelated():
            return 1
        lib = load_it("libalias.so.1")
        def direct():
            return ctypes.CDLL("libdirect.so.1")
        """,
    "variable-also-assigned-in-a-function": """
        import ctypes
        NAME = "libmodule.so.1"
        def local():
            NAME = "liblocal.so.1"
            return NAME
        async def other():
            NAME = "libasync.so.1"
        lib = ctypes.CDLL(NAME)
        """,
    "variable-also-assigned-in-a-class-body": """
        import ctypes
        NAME = "libmodule.so.1"
        class Holder:
            NAME = "libclass.so.1"
        lib = ctypes.CDLL(NAME)
        """,
    "latin-1-cookie": """
        # -*- coding: latin-1 -*-
        import ctypes
        lib = ctypes.CDLL("liblatin.so.1")
        """,
    "syntax-error-in-the-call-statement": """
        import ctypes
        lib = ctypes.CDLL("libbroken.so.1"
        """,
}


@pytest.mark.parametrize("source", LAYOUTS.values(), ids=LAYOUTS.keys())
def test_parsing_only_the_call_sites_finds_what_the_whole_module_gives(source: str) -> None:
    from native_doctor.sources.loadnames import _CALLED, _mention_lines, _scan_module

    text = textwrap.dedent(source).encode()
    assert _CALLED.search(text)  # past the byte prefilter: the parse decides
    whole = _scan_module(text, "pkg/mod.py", "linux", _mention_lines(text))
    assert scan_source(text, "pkg/mod.py", "linux") == whole


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("docstring-with-code", [("libreal.so.2",)]),
        ("bracket-in-column-0", [("libbracket.so.1",)]),
        ("continuation", [("libcont.so.1",)]),
        ("decorated-function", [("libdecorated.so.1",)]),
        ("else-and-except-in-column-0", [("libguarded.so.1",), ("libelif.so.1",)]),
        ("variable-assigned-at-the-top", [("libvariable.so.3",)]),
        ("variable-assigned-twice", []),
        ("variable-assigned-after-the-call", []),
        ("variable-in-a-class-body", [("libparen.so.1",)]),
        ("string-with-brackets-and-quotes", [("libafter.so.1",)]),
        ("alias-far-away", [("libalias.so.1",), ("libdirect.so.1",)]),
        ("variable-also-assigned-in-a-function", [("libmodule.so.1",)]),
        ("variable-also-assigned-in-a-class-body", []),
        ("latin-1-cookie", [("liblatin.so.1",)]),
        ("syntax-error-in-the-call-statement", []),
    ],
)
def test_call_sites_in_tricky_layouts(name: str, expected: list[tuple[str, ...]]) -> None:
    assert [c.names for c in _scan(LAYOUTS[name], "pkg/mod.py")] == expected


def test_a_syntax_error_elsewhere_no_longer_hides_the_call_sites() -> None:
    """The one difference from parsing the whole module: a statement that is not parsed is not
    checked (here a Python 2 print statement far from the call)."""
    source = 'import ctypes\nprint "hello"\nlib = ctypes.CDLL("libstill.so.1")\n'
    assert [c.names for c in scan_source(source.encode(), "pkg/mod.py", "linux")] == [("libstill.so.1",)]


def test_a_large_module_is_not_parsed_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    from native_doctor.sources import loadnames

    def whole(*args: object) -> list[LoadCall]:
        raise AssertionError("the whole module was parsed")

    monkeypatch.setattr(loadnames, "_scan_module", whole)
    filler = "".join(f"def f{n}(x):\n    return [x, {n}]\n" for n in range(200))
    source = f'import ctypes\nNAME = "libfar.so.1"\n{filler}lib = ctypes.CDLL(NAME)\n'
    [call] = scan_source(source.encode(), "pkg/mod.py", "linux")
    assert call.names == ("libfar.so.1",) and call.line == 403
