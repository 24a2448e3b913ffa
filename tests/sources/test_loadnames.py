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
    ],
    ids=["relative", "absolute", "try-except", "in-a-function", "not-imported"],
)
def test_import_sites_of_an_extension_module(source: str, sites: list[bool]) -> None:
    from native_doctor.sources.loadnames import import_sites

    assert import_sites(source.encode(), "a.b._x", "a.b") == sites
