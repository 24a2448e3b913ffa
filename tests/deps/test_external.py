"""The ``[external]`` table (PEP 725): the PEP's examples, validation errors, core metadata, selection."""

from __future__ import annotations

import textwrap
import tomllib
from pathlib import Path
from typing import Any

import pytest

from native_doctor.deps.depurl import parse_specifier
from native_doctor.deps.external import (
    KEYS,
    ExternalTable,
    all_dependencies,
    normalize_name,
    parse_external,
    read_metadata,
    read_pyproject,
)
from native_doctor.errors import InvalidExternalMetadata

CRYPTOGRAPHY = """
[external]
build-requires = ["dep:virtual/compiler/c", "dep:virtual/compiler/rust", "dep:generic/pkg-config"]
host-requires = ["dep:generic/openssl", "dep:generic/libffi"]
"""
SCIPY = """
[external]
build-requires = ["dep:virtual/compiler/c", "dep:virtual/compiler/cpp", "dep:virtual/compiler/fortran",
                  "dep:generic/ninja", "dep:generic/pkg-config"]
host-requires = ["dep:virtual/interface/blas", "dep:virtual/interface/lapack@>=3.7.1"]
"""
PILLOW = """
[external]
build-requires = ["dep:virtual/compiler/c"]
host-requires = ["dep:generic/libjpeg", "dep:generic/zlib"]

[external.optional-host-requires]
extra = ["dep:generic/lcms2", "dep:generic/freetype", "dep:generic/libimagequant", "dep:generic/libraqm",
         "dep:generic/libtiff", "dep:generic/libxcb", "dep:generic/libwebp", "dep:generic/openjpeg@>=2.0",
         "dep:generic/tk"]
"""
JUPYTERLAB_GIT = """
[external]
dependencies = ["dep:generic/git"]

[external.optional-build-requires]
dev = ["dep:generic/nodejs"]
"""
GROUPS = """
[external.dependency-groups]
dev = ["dep:generic/catch2", "dep:generic/valgrind"]
Docs_Build = ["dep:generic/doxygen; sys_platform == 'linux'"]
all = [{include-group = "dev"}, {include-group = "docs-build"}, "dep:generic/catch2"]
"""


def _table(toml: str, source: str = "pyproject.toml") -> ExternalTable:
    return parse_external(tomllib.loads(toml)["external"], source=source)


def _strings(deps: tuple[Any, ...]) -> list[str]:
    return [str(dep) for dep in deps]


# --- the PEP's examples ----------------------------------------------------------------------------------


def test_cryptography() -> None:
    table = _table(CRYPTOGRAPHY)
    assert _strings(table.build_requires) == [
        "dep:virtual/compiler/c",
        "dep:virtual/compiler/rust",
        "dep:generic/pkg-config",
    ]
    assert _strings(table.host_requires) == ["dep:generic/openssl", "dep:generic/libffi"]
    assert table.dependencies == ()
    assert table.host_requires[1].where == "external.host-requires[1]"
    assert table.source == "pyproject.toml"


def test_scipy() -> None:
    table = _table(SCIPY)
    assert len(table.build_requires) == 5
    lapack = table.host_requires[1].url
    assert (lapack.type, lapack.namespace, lapack.name, lapack.version) == (
        "virtual",
        "interface",
        "lapack",
        ">=3.7.1",
    )


def test_pillow_optional_host_requires() -> None:
    table = _table(PILLOW)
    assert list(table.optional_host_requires) == ["extra"]
    assert len(table.optional_host_requires["extra"]) == 9
    assert table.optional_host_requires["extra"][7].where == "external.optional-host-requires.extra[7]"
    assert table.extras == ("extra",)
    host = all_dependencies(table, category="host")
    assert _strings(host) == ["dep:generic/libjpeg", "dep:generic/zlib"]
    with_extra = all_dependencies(table, category="host", extras=["Extra"])
    assert len(with_extra) == 11
    assert str(with_extra[-2]) == "dep:generic/openjpeg@>=2.0"


def test_jupyterlab_git() -> None:
    table = _table(JUPYTERLAB_GIT)
    assert _strings(table.dependencies) == ["dep:generic/git"]
    assert _strings(table.optional_build_requires["dev"]) == ["dep:generic/nodejs"]
    assert _strings(all_dependencies(table, category="build")) == []
    assert _strings(all_dependencies(table, category="build", extras=["dev"])) == ["dep:generic/nodejs"]
    assert _strings(all_dependencies(table, category="run", extras=["dev"])) == ["dep:generic/git"]


def test_dependency_groups_with_include_group() -> None:
    table = _table(GROUPS)
    assert set(table.dependency_groups) == {"dev", "docs-build", "all"}
    assert _strings(table.dependency_groups["all"]) == [
        "dep:generic/catch2",
        "dep:generic/valgrind",
        'dep:generic/doxygen; sys_platform == "linux"',
        "dep:generic/catch2",
    ]
    # An included entry keeps the location where it was written.
    assert table.dependency_groups["all"][2].where == "external.dependency-groups.Docs_Build[0]"
    selected = all_dependencies(table, groups=["ALL"])
    assert _strings(selected) == _strings(table.dependency_groups["all"])[:3]


def test_empty_table_is_valid() -> None:
    table = parse_external({}, source="x")
    assert table == ExternalTable(source="x")
    assert table.is_empty
    assert not _table(CRYPTOGRAPHY).is_empty
    assert all_dependencies(table, extras=["a"], groups=["b"]) == ()


def test_table_is_hashable_and_immutable() -> None:
    table = _table(PILLOW)
    assert hash(table) == hash(_table(PILLOW))
    with pytest.raises(TypeError):
        table.optional_host_requires["new"] = ()  # type: ignore[index]


# --- selection ------------------------------------------------------------------------------------------


def test_all_dependencies_every_category_deduplicated() -> None:
    table = parse_external(
        {
            "build-requires": ["dep:virtual/compiler/c", "dep:generic/cmake"],
            "host-requires": ["dep:generic/zlib", "dep:generic/cmake"],
            "dependencies": ["dep:generic/zlib", "dep:generic/zlib; os_name == 'nt'"],
            "optional-dependencies": {"gui": ["dep:generic/tk", "dep:generic/zlib"]},
            "dependency-groups": {"test": ["dep:generic/valgrind", "dep:generic/cmake"]},
        },
        source="s",
    )
    assert _strings(all_dependencies(table)) == [
        "dep:virtual/compiler/c",
        "dep:generic/cmake",
        "dep:generic/zlib",
        'dep:generic/zlib; os_name == "nt"',
    ]
    assert _strings(all_dependencies(table, category="run", extras=["GUI", "unknown"], groups=["test"])) == [
        "dep:generic/zlib",
        'dep:generic/zlib; os_name == "nt"',
        "dep:generic/tk",
        "dep:generic/valgrind",
        "dep:generic/cmake",
    ]


def test_all_dependencies_on_a_table_built_by_hand() -> None:
    tk = parse_specifier("dep:generic/tk")
    table = ExternalTable(optional_dependencies={"GUI_x": (tk,)}, dependency_groups={"Dev": (tk,)})
    assert all_dependencies(table, category="run", extras=["gui.x"]) == (tk,)
    assert all_dependencies(table, category="build", extras=["gui.x"]) == ()
    assert all_dependencies(table, category="build", groups=["dev"]) == (tk,)


@pytest.mark.parametrize(
    ("name", "normalized"),
    [("Docs_Build", "docs-build"), ("a.-_b", "a-b"), ("TEST", "test"), ("x", "x")],
)
def test_normalize_name(name: str, normalized: str) -> None:
    assert normalize_name(name) == normalized


# --- errors ---------------------------------------------------------------------------------------------

ERRORS: dict[str, tuple[dict[str, Any], str]] = {
    "bad-entry-names-its-index": (
        {"host-requires": ["dep:generic/a", "dep:generic/b", "dep:generic/c@~=1.0"]},
        "external.host-requires[2]: invalid DepURL 'dep:generic/c@~=1.0'",
    ),
    "unknown-key": ({"requires": []}, "external.requires: unknown key"),
    "prototype-key-gets-a-hint": (
        {"build-host-requires": ["dep:generic/zlib"]},
        "PEP 725 calls it 'host-requires'",
    ),
    "array-not-string": ({"build-requires": "dep:virtual/compiler/c"}, "external.build-requires: must be"),
    "entry-not-string": ({"dependencies": [1]}, "external.dependencies[0]: must be a string"),
    "optional-not-table": (
        {"optional-dependencies": ["dep:generic/x"]},
        "external.optional-dependencies: must be a table of arrays, not an array",
    ),
    "optional-group-not-array": (
        {"optional-build-requires": {"dev": "dep:generic/x"}},
        "external.optional-build-requires.dev: must be an array",
    ),
    "optional-entry-bad": (
        {"optional-host-requires": {"extra": ["dep:generic/ok", "dep:virtual/library/x"]}},
        "external.optional-host-requires.extra[1]: invalid DepURL",
    ),
    "bad-marker": (
        {"dependencies": ["dep:generic/x; os_name =! 'nt'"]},
        "external.dependencies[0]: invalid environment marker",
    ),
    "invalid-extra-name": ({"optional-dependencies": {"-bad-": []}}, "'-bad-' is not a valid extra name"),
    "extra-names-clash": (
        {"optional-dependencies": {"a_b": [], "A.B": []}},
        "'A.B' and 'a_b' are the same extra once normalized ('a-b')",
    ),
    "group-names-clash": (
        {"dependency-groups": {"Test": [], "test": []}},
        "'test' and 'Test' are the same dependency group once normalized",
    ),
    "unknown-include": (
        {"dependency-groups": {"dev": [{"include-group": "tests"}]}},
        "external.dependency-groups.dev[0]: includes unknown dependency group 'tests'",
    ),
    "include-cycle": (
        {
            "dependency-groups": {
                "a": [{"include-group": "b"}],
                "b": [{"include-group": "c"}],
                "c": [{"include-group": "A"}],
            }
        },
        "cycle: a -> b -> c -> a",
    ),
    "include-self": (
        {"dependency-groups": {"a": ["dep:generic/x", {"include-group": "a"}]}},
        "external.dependency-groups.a[1]: dependency groups include each other in a cycle: a -> a",
    ),
    "include-table-with-extra-key": (
        {"dependency-groups": {"a": [{"include-group": "a", "also": 1}]}},
        "external.dependency-groups.a[0]: a table entry must be exactly",
    ),
    "include-group-not-string": (
        {"dependency-groups": {"a": [{"include-group": ["b"]}]}},
        "external.dependency-groups.a[0]: a table entry must be exactly",
    ),
    "groups-not-table": ({"dependency-groups": []}, "external.dependency-groups: must be a table"),
    "old-draft-virtual": (
        {"build-requires": ["virtual:compiler/c"]},
        "external.build-requires[0]: invalid DepURL 'virtual:compiler/c': this is the old draft syntax of "
        "PEP 725 (before version 3); write 'dep:virtual/compiler/c'",
    ),
    "old-draft-pkg": (
        {"host-requires": ["pkg:generic/gmp"]},
        "old draft syntax of PEP 725 (before version 3); write 'dep:generic/gmp'",
    ),
}


@pytest.mark.parametrize(("table", "message"), ERRORS.values(), ids=ERRORS.keys())
def test_error_names_the_entry(table: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidExternalMetadata) as info:
        parse_external(table, source="pkg/pyproject.toml")
    assert message in str(info.value)
    assert info.value.where == "pkg/pyproject.toml"
    assert str(info.value).startswith("pkg/pyproject.toml: [external] has 1 problem:")


def test_every_problem_is_reported() -> None:
    table = {
        "build-requires": ["dep:virtual/compiler/c", 3, "virtual:compiler/cpp"],
        "host-requires": ["dep:generic/openssl", "dep:generic/zlib", "dep:generic/x@!=2"],
        "runtime": [],
        "optional-dependencies": {"gui": ["dep:generic/tk@1.*"]},
        "dependency-groups": {"dev": [{"include-group": "nope"}]},
    }
    with pytest.raises(InvalidExternalMetadata) as info:
        parse_external(table, source="pyproject.toml")
    lines = str(info.value).splitlines()
    assert lines[0] == "pyproject.toml: [external] has 6 problems:"
    where = sorted(line.strip().split(": ")[0] for line in lines[1:])
    assert where == [
        "external.build-requires[1]",
        "external.build-requires[2]",
        "external.dependency-groups.dev[0]",
        "external.host-requires[2]",
        "external.optional-dependencies.gui[0]",
        "external.runtime",
    ]


def test_entries_under_bad_names_are_still_checked() -> None:
    table = {
        "optional-dependencies": {"a_b": [], "A.B": ["dep:generic/x@~=1"]},
        "dependency-groups": {"-dev-": ["pkg:generic/y"]},
    }
    with pytest.raises(InvalidExternalMetadata) as info:
        parse_external(table, source="p")
    message = str(info.value)
    assert "has 4 problems" in message
    assert "external.optional-dependencies.A.B[0]: invalid DepURL" in message
    assert "external.dependency-groups.-dev-[0]: invalid DepURL 'pkg:generic/y'" in message


def test_not_a_table() -> None:
    with pytest.raises(InvalidExternalMetadata, match="must be a table, not an array"):
        parse_external([], source="p")  # type: ignore[arg-type]


def test_keys_are_the_seven_of_the_pep() -> None:
    assert len(KEYS) == 7
    assert "host-requires" in KEYS


# --- pyproject.toml -------------------------------------------------------------------------------------


def test_read_pyproject(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "x"\n' + PILLOW, encoding="utf-8")
    table = read_pyproject(path)
    assert table is not None
    assert table.source == str(path)
    assert len(table.optional_host_requires["extra"]) == 9


def test_read_pyproject_without_external(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "x"\n', encoding="utf-8")
    assert read_pyproject(path) is None


def test_read_pyproject_empty_external(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text("[external]\n", encoding="utf-8")
    table = read_pyproject(path)
    assert table is not None
    assert table.is_empty


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('[project]\nname = "x"\n\n[external]\nhost-requires = [dep:generic/a]\n', 5),
        ('[external]\nhost-requires = ["dep:generic/a",\n', 2),
        ("[external]\n[external]\n", 2),
    ],
    ids=["bad-value", "unterminated-array", "duplicate-table"],
)
def test_read_pyproject_toml_error_has_the_line(tmp_path: Path, text: str, line: int) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidExternalMetadata, match="invalid TOML") as info:
        read_pyproject(path)
    assert info.value.where == f"{path}, line {line}"


def test_read_pyproject_invalid_table(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[external]\nhost-requires = ["pkg:generic/gmp"]\n', encoding="utf-8")
    with pytest.raises(InvalidExternalMetadata, match=r"host-requires\[0\].*write 'dep:generic/gmp'") as info:
        read_pyproject(path)
    assert info.value.where == str(path)


def test_read_pyproject_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidExternalMetadata, match="cannot read"):
        read_pyproject(tmp_path / "nope.toml")


# --- core metadata --------------------------------------------------------------------------------------

METADATA = textwrap.dedent(
    """\
    Metadata-Version: 2.6
    Name: jupyterlab-git
    Version: 0.41.0
    Requires-Dist: jupyter-server
    Requires-External-Dep: dep:generic/git
    Requires-External-Dep: dep:generic/libgit2; os_name == "posix"
    Requires-External-Dep: dep:generic/nodejs; extra == 'dev'
    Requires-External-Dep: dep:generic/graphviz; sys_platform == "linux" and extra == "Docs_Build"
    Requires-External-Dep: dep:generic/pandoc; (sys_platform == "linux" or os_name == "nt") and
      extra == "docs-build"
    Requires-External-Dep: dep:generic/make; extra == "dev" or extra == "docs-build"
    Provides-External-Extra: dev
    Provides-External-Extra: docs-build
    Provides-External-Extra: nothing

    A body that mentions Requires-External-Dep: dep:generic/ignored
    """
)


def test_read_metadata_with_extras() -> None:
    table = read_metadata(METADATA, source="METADATA")
    assert table.source == "METADATA"
    assert _strings(table.dependencies) == ["dep:generic/git", 'dep:generic/libgit2; os_name == "posix"']
    assert set(table.optional_dependencies) == {"dev", "docs-build", "nothing"}
    assert _strings(table.optional_dependencies["dev"]) == ["dep:generic/nodejs", "dep:generic/make"]
    assert _strings(table.optional_dependencies["docs-build"]) == [
        'dep:generic/graphviz; sys_platform == "linux"',
        'dep:generic/pandoc; sys_platform == "linux" or os_name == "nt"',
        "dep:generic/make",
    ]
    assert table.optional_dependencies["nothing"] == ()
    assert table.optional_dependencies["dev"][0].where == "Requires-External-Dep[2]"
    assert table.build_requires == table.host_requires == ()
    run = all_dependencies(table, category="run", extras=["Docs.Build"])
    assert len(run) == 5


def test_read_metadata_undeclared_extra_still_kept() -> None:
    table = read_metadata("Requires-External-Dep: dep:generic/x; extra == 'gui'\n", source="PKG-INFO")
    assert _strings(table.optional_dependencies["gui"]) == ["dep:generic/x"]
    assert table.dependencies == ()


def test_read_metadata_without_fields() -> None:
    table = read_metadata("Metadata-Version: 2.1\nName: x\n", source="METADATA")
    assert table.is_empty


def test_read_metadata_reports_every_problem() -> None:
    text = textwrap.dedent(
        """\
        Requires-External-Dep: dep:generic/ok
        Requires-External-Dep: pkg:generic/gmp
        Requires-External-Dep: dep:generic/x@~=1
        Requires-External-Dep: dep:generic/y; extra != 'dev'
        """
    )
    with pytest.raises(InvalidExternalMetadata) as info:
        read_metadata(text, source="x.dist-info/METADATA")
    message = str(info.value)
    assert message.startswith("x.dist-info/METADATA: core metadata has 3 problems:")
    assert (
        "Requires-External-Dep[1]: invalid DepURL 'pkg:generic/gmp': this is the old draft syntax" in message
    )
    assert "write 'dep:generic/gmp'" in message
    assert "Requires-External-Dep[2]:" in message
    assert "Requires-External-Dep[3]: cannot tell which extra" in message
