"""The packaged library catalog: every regex compiles, and the lazy file-name patterns answer as
the regexes do (the literal-start shortcut refuses only names the regex cannot match)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from native_doctor.sbom.catalog import NamePattern, libraries, literal_starts

_NAMES = (
    "libz.so.1",
    "libz-ng.so.2",
    "zlib1.dll",
    "libssl.so.3",
    "libcrypto-3-x64.dll",
    "libjpeg.so.62",
    "jpeg62.dll",
    "libpng16.so.16",
    "png16.dll",
    "libopenblas64_p-r0-0cf96a72.3.23.dev.so",
    "libscipy_openblas64_-ff651d7f.so",
    "libstdc++.so.6",
    "libgcc_s.so.1",
    "libtiff.so.6",
    "libsmalla.so.1",
    "_imaging.cpython-311-x86_64-linux-gnu.so",
    "libcudart.so.12",
    "cudart64_12.dll",
    "sqlite3.dll",
    "libfreetype-6.dll",
    "libharfbuzz-subset.so.0",
    "",
)


def test_every_catalog_regex_compiles_and_string_patterns_have_one_group() -> None:
    for library in libraries():
        assert library.files.compiled.pattern == library.files.source
        if library.filename is not None:
            assert library.filename.compiled.groups >= 1, library.name
        for string in library.strings:
            assert string.pattern.startswith(string.anchor), library.name
            assert re.compile(string.pattern).groups == 1, (library.name, string.pattern)


@pytest.mark.parametrize(
    ("source", "starts"),
    [
        pytest.param(r"^libtiff([-.]|$)", ("libtiff",), id="literal-then-group"),
        pytest.param(r"^lib(ssl|crypto)([-.]|$)", ("libssl", "libcrypto"), id="alternatives-in-a-group"),
        pytest.param(r"^(lib)?png(1[0-9])?([-.]|$)", ("libpng", "png"), id="optional-group-first"),
        pytest.param(r"^(libz|zlib1?|libzlib)([-.]|$)", ("",), id="quantifier-inside-a-group"),
        pytest.param(
            r"^(lib)?(scipy_)?openblas(64_|p|o)?",
            ("libscipy_openblas", "scipy_openblas", "libopenblas", "openblas"),
            id="two-optional-groups",
        ),
        pytest.param(r"^libstdc\+\+([-.]|$)", ("libstdc",), id="escape-stops"),
        pytest.param(r"^libiomp5(md)?([-.]|$)", ("libiomp5",), id="optional-group-after"),
        pytest.param(r"^libyamlx?([-.]|$)", ("libyaml",), id="optional-last-letter"),
        pytest.param(r"^libab*c", ("liba",), id="starred-last-letter"),
        pytest.param(r"^liba{0,2}", ("lib",), id="counted-last-letter"),
        pytest.param(r"^lib(ab)+c", ("lib",), id="repeated-group"),
        pytest.param(r"^lib(?:ab)c", ("lib",), id="non-capturing-group"),
        pytest.param(r"^lib((a|b)c)", ("lib",), id="nested-groups"),
        pytest.param(r"^libfoo|bar", ("",), id="top-level-alternative"),
        pytest.param(r"^lib[|(]foo|bar", ("",), id="bar-after-a-class"),
        pytest.param(r"^lib[]|]x", ("lib",), id="bracket-first-in-class"),
        pytest.param(r"^lib\|x", ("lib",), id="escaped-bar"),
        pytest.param(r"openblas\w*?_v(\d+)", ("",), id="not-anchored"),
    ],
)
def test_literal_starts(source: str, starts: tuple[str, ...]) -> None:
    assert literal_starts(source) == starts


def _agrees(name: str) -> None:
    for library in libraries():
        patterns = [library.files] + ([library.filename] if library.filename is not None else [])
        for pattern in patterns:
            expected = re.search(pattern.source, name)
            found = NamePattern(pattern.source).search(name)
            assert (found and found.group(0)) == (expected and expected.group(0)), (library.name, name)
            expected = re.match(pattern.source, name)
            found = NamePattern(pattern.source).match(name)
            assert (found and found.group(0)) == (expected and expected.group(0)), (library.name, name)


@pytest.mark.parametrize("name", _NAMES, ids=lambda n: n or "empty")
def test_name_patterns_answer_as_their_regexes(name: str) -> None:
    _agrees(name)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="libzsjpegcryptoan64_-.+123mdcu", max_size=16))
def test_name_patterns_answer_as_their_regexes_on_drawn_names(name: str) -> None:
    _agrees(name)
