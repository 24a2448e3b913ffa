"""Build-file scanners on adversarial input (issue 15 item 3): every scanner reads 2 MiB of a
crafted build file (unclosed calls, unclosed bracket comments, blank lines, long words, runs of
backslashes, thousands of keys) and returns. Quadratic versions took hours on these files.

No timed assertions (see GUIDE.md): each case runs in a child process with a generous hang guard,
and asserts what the scanner found. Times are measured by ``benchmarks/deps_scan.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from native_doctor.deps import infer

SIZE = 2 << 20
#: A hang guard, not a measurement: the slowest case takes about a second here.
HANG_GUARD_SECONDS = 60

EXT_MODULE = "[[tool.setuptools.ext-modules]]\nname = 'x'\nsources = ['a.c']\n"
# (id, file name, repeated unit, prefix, findings expected per unit: (kind, name) or None)
CASES = [
    ("meson-closed-calls", "meson.build", "dependency('zlib', version: '>=1.2')\n", "", ("library", "zlib")),
    ("meson-unclosed-calls", "meson.build", "dependency('zlib'\n", "", ("library", "zlib")),
    ("meson-nested-calls", "meson.build", "dependency(", "", None),
    ("meson-blank-lines", "meson.build", " \n", "", None),
    ("meson-unclosed-string", "meson.build", "x = 'a\\\\", "", None),
    ("cmake-unclosed-bracket-comments", "CMakeLists.txt", "#[[\n", "", None),
    ("cmake-unclosed-calls", "CMakeLists.txt", "find_package(ZLIB\n", "", ("library", "ZLIB")),
    ("cmake-closed-calls", "CMakeLists.txt", "find_package(ZLIB 1.2 REQUIRED)\n", "", ("library", "ZLIB")),
    ("setup-py-strings", "setup.py", "'a' ", "", None),
    ("setup-py-unclosed-lists", "setup.py", "libraries=['z'\n", "", ("library", "z")),
    ("setup-py-underscores", "setup.py", "_", "", None),
    ("setup-py-find-library-word", "setup.py", "find_library", "", None),
    ("setup-py-backslashes", "setup.py", "\\", "x = '", None),
    ("setup-py-blank-lines", "setup.py", " \n", "", None),
    ("setup-py-pkg-config-line", "setup.py", "'pkg-config' ", "", None),
    ("setup-py-escaped-quotes", "setup.py", "'\\", "", None),
    ("setup-py-nested-brackets", "setup.py", "[(", "libraries=", None),
    ("setup-py-find-library-calls", "setup.py", "find_library('z')\n", "", ("library", "z")),
    ("setup-py-returned-lists", "setup.py", " return ['z']\n", "libraries=f()\ndef f():\n", ("library", "z")),
    ("setup-py-pkg-config-helpers", "setup.py", "def f():\n    pkgconfig.parse('x')\n", "", None),
    ("configure-ac-pkg-check-modules", "configure.ac", "PKG_CHECK_MODULES([X], [zlib >= 1.2])\n", "", None),
    ("configure-ac-unclosed-calls", "configure.ac", "AC_CHECK_LIB(z\n", "", ("library", "z")),
    ("configure-ac-dnl-lines", "configure.ac", "dnl x\n", "", None),
    ("pyproject-ext-modules", "pyproject.toml", EXT_MODULE + "libraries = ['z']\n", "", ("library", "z")),
    ("pyproject-unclosed-libraries", "pyproject.toml", "'z', ", EXT_MODULE + "libraries = [", None),
    ("setup-cfg-indented-keys", "setup.cfg", "  libraries = a\n", "libraries = z\n", None),
    ("setup-cfg-keys", "setup.cfg", "libraries = z\n", "", ("library", "z")),
]

_CHILD = textwrap.dedent(
    """
    import json, sys
    from native_doctor.deps import infer
    name, unit, prefix, size = json.loads(sys.stdin.read())
    text = prefix + unit * (size // len(unit))
    table = infer.load_table()
    if name == "meson.build":
        found = infer.scan_meson(name, text)
    elif name == "CMakeLists.txt":
        found = infer.scan_cmake(name, text)[0]
    elif name == "setup.py":
        found = infer.scan_python(name, text, table)
    elif name == "configure.ac":
        found = infer.scan_autoconf(name, text)
    elif name == "pyproject.toml":
        found = infer.scan_pyproject(name, text)[0]
    else:
        found = infer.scan_setup_cfg(name, text)
    units = size // len(unit)
    print(json.dumps({"units": units, "found": [[f.kind, f.name] for f in found]}))
    """
)


@pytest.mark.parametrize(
    ("name", "unit", "prefix", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_scanner_finishes_on_adversarial_2mib(
    name: str, unit: str, prefix: str, expected: tuple[str, str] | None
) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD],
        input=json.dumps([name, unit, prefix, SIZE]),
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_SECONDS,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    found = [tuple(f) for f in result["found"]]
    if expected is not None:
        # every repeated call is found once (setup.py and meson.build: up to the evidence cap)
        capped = name in {"setup.py", "meson.build", "pyproject.toml"}
        units = infer.MAX_EVIDENCE_PER_NAME if capped else result["units"]
        assert len(found) == units
        assert set(found) == {expected}
    else:
        assert len(found) <= 2 * result["units"] + 1


def test_unclosed_call_ends_with_its_line() -> None:
    found = infer.scan_meson("meson.build", "dependency('zlib'\ndependency('png')\n")
    assert [(f.name, f.where) for f in found] == [("zlib", "meson.build:1"), ("png", "meson.build:2")]


def test_call_inside_another_call_is_read_once() -> None:
    text = "dependency('a', fallback: dependency('b'))\ndependency('c')\n"
    assert [f.name for f in infer.scan_meson("meson.build", text)] == ["a", "c"]


def test_unclosed_cmake_bracket_comment_runs_to_the_end() -> None:
    text = "find_package(A)\n#[==[ never closed\nfind_package(B)\n"
    assert [f.name for f in infer.scan_cmake("CMakeLists.txt", text)[0]] == ["A"]


def test_cmake_bracket_comment_closed_by_its_own_level() -> None:
    text = "#[==[ x ]] find_package(NO) ]==]\nfind_package(YES)\n"
    assert [f.name for f in infer.scan_cmake("CMakeLists.txt", text)[0]] == ["YES"]


def test_setup_cfg_continuation_lines_belong_to_one_key() -> None:
    text = "[build_ext]\nlibraries = z\n  png\n  libraries = junk\n[other]\nlibraries = m\n"
    found = infer.scan_setup_cfg("setup.cfg", text)
    assert [(f.name, f.where) for f in found] == [
        ("z", "setup.cfg:2"),
        ("png", "setup.cfg:2"),
        ("libraries", "setup.cfg:2"),
        ("junk", "setup.cfg:2"),
        ("m", "setup.cfg:6"),
    ]


def test_pkg_config_shell_name_is_not_an_option() -> None:
    found = infer.scan_python("setup.py", "os.system('pkg-config --libs --cflags')\n", infer.load_table())
    assert ("library", "--cflags") not in {(f.kind, f.name) for f in found}


_TEXT = st.text(alphabet=st.sampled_from(list("()[]{}'\"#\\\n =,:_-+.ab")), max_size=400)


@settings(max_examples=300, deadline=None)
@given(_TEXT)
def test_scanners_accept_any_text(text: str) -> None:
    table = infer.load_table()
    for found in (
        infer.scan_meson("meson.build", text),
        infer.scan_cmake("CMakeLists.txt", text)[0],
        infer.scan_python("setup.py", text, table),
        infer.scan_setup_cfg("setup.cfg", text),
    ):
        assert all(isinstance(f, infer.Finding) and f.name for f in found)


_PIECES = [*"()[]'\"#\\\n =_ab", "\x1b", "\x00", "\u202e", "libraries=[", "if sys.platform == 'win32':\n "]
_HOSTILE = st.lists(st.sampled_from(_PIECES), max_size=60).map("".join)


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(["setup.py", "meson.build", "CMakeLists.txt", "configure.ac"]), text=_HOSTILE)
def test_proposed_table_is_valid_toml_with_control_characters_escaped(name: str, text: str) -> None:
    result = infer.infer_from_tree(infer.SourceTree.from_files({name: text}, name="x\x1by"))
    toml = infer.to_toml(result)
    tomllib.loads(toml)
    assert "\x1b" not in toml and "\u202e" not in toml


def test_pyproject_repeated_library_is_capped_and_lines_hold() -> None:
    text = EXT_MODULE + "libraries = [" + "'z', " * 40 + "'ssl']\nlanguage = 'c++'\n"
    found = infer.scan_pyproject("pyproject.toml", text)[0]
    assert [(f.name, f.where) for f in found] == [("z", "pyproject.toml:4")] * infer.MAX_EVIDENCE_PER_NAME + [
        ("ssl", "pyproject.toml:4"),
        ("c++", "pyproject.toml:5"),
    ]
