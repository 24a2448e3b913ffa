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
from typing import Any

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


# Big VALID build files read by the whole inference (``findings_of_tree``: every scanner and the
# passes after it: platform markers, feature switches, default-off branches, probed loops, meson
# and CMake branches). Each unit is numbered ({i}) so that every finding has its own name (the
# evidence cap does not hide the work). Quadratic versions matched every finding against every
# branch, or copied the earlier tests of an elif chain per branch.
# (id, file name, unit, prefix, suffix, size, what every library finding carries)
_OFF = "off_by_default"
VALID_CASES = [
    (
        "setup-py-platform-ifs",
        "setup.py",
        "if sys.platform == 'win32':\n    libraries = ['l{i}']\n",
        "",
        "",
        SIZE,
        None,
    ),
    ("setup-py-switch-ifs", "setup.py", "if USE_L{i}:\n    libraries = ['l{i}']\n", "", "", SIZE, None),
    (
        "setup-py-extensions",
        "setup.py",
        "Extension('m{i}', ['m{i}.c'], libraries=['z{i}'])\n",
        "",
        "",
        SIZE,
        None,
    ),
    # just under the parse budget: every ast-based pass runs, one branch per library
    (
        "setup-py-env-ifs-under-budget",
        "setup.py",
        "if os.environ.get('L{i}'):\n    libraries = ['l{i}']\n",
        "import os\n",
        "",
        infer.defaults.MAX_PARSE - 64,
        _OFF,
    ),
    (
        "setup-py-platform-ifs-under-budget",
        "setup.py",
        "if sys.platform == 'win32':\n    libraries = ['l{i}']\n",
        "import sys\n",
        "",
        infer.defaults.MAX_PARSE - 64,
        "marker",
    ),
    (
        "meson-option-ifs",
        "meson.build",
        "if get_option('o{i}')\n  d{i} = dependency('z{i}')\nendif\n",
        "",
        "",
        SIZE,
        None,
    ),
    (
        "meson-host-ifs",
        "meson.build",
        "if host_machine.system() == 'windows'\n  d = dependency('z{i}')\nendif\n",
        "",
        "",
        SIZE,
        "marker",
    ),
    (
        "meson-elif-chain",
        "meson.build",
        "elif host_machine.system() == 'darwin'\n  d = dependency('z{i}')\n",
        "if host_machine.system() == 'windows'\n",
        "endif\n",
        SIZE,
        "marker",
    ),
    (
        "cmake-option-ifs",
        "CMakeLists.txt",
        'option(WITH_Z{i} "z" OFF)\nif(WITH_Z{i})\n  find_package(Z{i})\nendif()\n',
        "",
        "",
        SIZE,
        _OFF,
    ),
    (
        "cmake-deep-nesting",
        "CMakeLists.txt",
        "if(A{i})\nfind_package(Z{i})\n",
        "if(WIN32)\n",
        "",
        SIZE,
        "marker",
    ),
    (
        "cmake-elseif-chain",
        "CMakeLists.txt",
        "elseif(APPLE)\n  find_package(Z{i})\n",
        "if(WIN32)\n",
        "endif()\n",
        SIZE,
        "marker",
    ),
]

_VALID_CHILD = textwrap.dedent(
    """
    import json, sys
    from native_doctor.deps import infer
    name, unit, prefix, suffix, size, extra = json.loads(sys.stdin.read())
    parts, length, units = [prefix], len(prefix) + len(suffix), 0
    while True:
        piece = unit.format(i=units)
        if length + len(piece) > size:
            break
        parts.append(piece)
        length += len(piece)
        units += 1
    files = {name: "".join(parts) + suffix, **extra}
    found, notes = infer.findings_of_tree(infer.SourceTree.from_files(files))
    libraries = [f for f in found if f.kind == "library"]
    print(json.dumps({
        "units": units,
        "bytes": len(files[name]),
        "names": len({f.name for f in libraries}),
        "libraries": len(libraries),
        "marker": sum(f.marker is not None for f in libraries),
        "off_by_default": sum(f.off_by_default for f in libraries),
        "notes": notes,
    }))
    """
)


def _run_valid(
    name: str, unit: str, prefix: str, suffix: str, size: int, extra: dict[str, str]
) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", _VALID_CHILD],
        input=json.dumps([name, unit, prefix, suffix, size, extra]),
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_SECONDS,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


@pytest.mark.parametrize(
    ("name", "unit", "prefix", "suffix", "size", "carried"),
    [pytest.param(*case[1:], id=case[0]) for case in VALID_CASES],
)
def test_whole_inference_finishes_on_big_valid_build_file(
    name: str, unit: str, prefix: str, suffix: str, size: int, carried: str | None
) -> None:
    result = _run_valid(name, unit, prefix, suffix, size, {})
    # one library per unit, each found once
    assert result["libraries"] == result["names"] == result["units"] > 1000
    if carried is not None:
        assert result[carried] == result["units"]
    parsed = name != "setup.py" or result["bytes"] <= infer.defaults.MAX_PARSE
    assert any("not parsed" in n for n in result["notes"]) == (not parsed)


def test_setup_py_over_the_parse_budget_is_read_for_literals_and_says_so() -> None:
    """2 MiB of valid Python with one platform ``if``: the literals are read, the ast-based
    passes are skipped (no marker), and a note says which file was not parsed."""
    prefix = "import sys\nif sys.platform == 'win32':\n    libraries = ['ws2_32']\n"
    result = _run_valid("setup.py", "x = {i}\n", prefix, "", SIZE, {})
    assert (result["libraries"], result["marker"]) == (1, 0)
    assert result["notes"] == [
        f"setup.py: not parsed (over {infer.defaults.MAX_PARSE >> 10} KiB): its platform markers, feature"
        " switches, branches off by default and probed loops were not read"
    ]


def test_setup_py_under_the_parse_budget_gets_its_marker() -> None:
    prefix = "import sys\nif sys.platform == 'win32':\n    libraries = ['ws2_32']\n"
    result = _run_valid("setup.py", "x = {i}\n", prefix, "", infer.defaults.MAX_PARSE, {})
    assert (result["libraries"], result["marker"], result["notes"]) == (1, 1, [])


def test_setup_cfg_over_the_parse_budget_is_scanned_and_not_parsed() -> None:
    """A big setup.cfg beside a setup.py: its keys are scanned (every library found), its
    options are not parsed for setup.py's default branches, and a note says so."""
    unit = "[build_ext{i}]\nlibraries = z{i}\n"
    setup_py = {"setup.py": "from setuptools import setup\nsetup()\n"}
    result = _run_valid("setup.cfg", unit, "", "", SIZE, setup_py)
    assert result["libraries"] == result["names"] == result["units"] > 1000
    assert result["notes"] == [
        f"setup.cfg: not parsed (over {infer.defaults.MAX_PARSE >> 10} KiB): the options it sets were"
        " not read for the branches setup.py takes by default"
    ]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 40), max_size=30),
    st.lists(st.tuples(st.integers(0, 40), st.integers(0, 10)), max_size=20),
)
def test_spans_at_is_the_naive_match(lines: list[int], spans: list[tuple[int, int]]) -> None:
    """The sorted lookup gives, for every line, the spans holding it in their order (what the
    passes did with one comprehension per finding)."""
    made = [infer._MesonBranch(first, first + length, None, None, False) for first, length in spans]
    at = infer._spans_at(lines, made)
    for line in lines:
        assert at.get(line, []) == [s for s in made if s.first <= line <= s.last]


def test_unmapped_names_listed_up_to_a_cap() -> None:
    """Thousands of distinct unknown names (a generated CMakeLists.txt) keep the proposed TOML
    proportional to a human's reading: the first ``MAX_UNMAPPED_LISTED`` and a count of the rest."""
    count = infer.MAX_UNMAPPED_LISTED + 250
    text = "".join(f"find_package(Unknown{i})\n" for i in range(count))
    inference = infer.infer_from_tree(infer.SourceTree.from_files({"CMakeLists.txt": text}))
    assert len(inference.unmapped) == count  # the model keeps every name
    toml = infer.to_toml(inference)
    listed = [line for line in toml.splitlines() if line.startswith("#   library 'Unknown")]
    assert len(listed) == infer.MAX_UNMAPPED_LISTED
    assert "#   ... and 250 more, not listed" in toml.splitlines()
