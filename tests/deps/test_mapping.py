"""PEP 804 mapping lookups: categories, aliases, virtual providers, commands, ecosystem detection."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from native_doctor.deps import mapping
from native_doctor.deps.depurl import parse_depurl, parse_specifier
from native_doctor.deps.mapping import (
    EcosystemMapping,
    Registry,
    canonical,
    detect_ecosystem,
    install_command,
    install_commands,
    load_mapping,
    packages_for,
    providers,
    query_command,
)
from native_doctor.errors import InvalidExternalMetadata, UsageError


@pytest.mark.parametrize(
    ("spec", "ecosystem", "build", "host", "run"),
    [
        ("dep:generic/openssl@>=3", "debian", ("libssl-dev",), ("libssl-dev",), ("libssl3",)),
        ("dep:generic/openssl", "fedora", ("openssl-devel",), ("openssl-devel",), ("openssl-libs",)),
        ("dep:generic/openssl", "alpine", ("openssl-dev",), ("openssl-dev",), ("libssl3", "libcrypto3")),
        ("dep:generic/openssl", "homebrew", ("openssl@3",), ("openssl@3",), ("openssl@3",)),
        ("dep:generic/zlib", "conda-forge", ("zlib",), ("zlib",), ("zlib",)),
        ("dep:virtual/compiler/c", "debian", ("gcc",), ("gcc",), ("gcc",)),
        ("dep:generic/eigen", "debian", ("libeigen3-dev",), ("libeigen3-dev",), ()),
        ("dep:generic/libgomp", "debian", ("gcc",), ("libgomp1",), ("libgomp1",)),
        ("dep:generic/cudart", "alpine", (), (), ()),
    ],
)
def test_packages_for_each_category(
    spec: str, ecosystem: str, build: tuple[str, ...], host: tuple[str, ...], run: tuple[str, ...]
) -> None:
    dep = parse_specifier(spec)
    assert packages_for(dep, ecosystem, "build") == build
    assert packages_for(dep, ecosystem, "host") == host
    assert packages_for(dep, ecosystem, "run") == run


def test_unknown_and_unpackaged_are_different() -> None:
    assert packages_for(parse_depurl("dep:generic/no-such-thing"), "debian", "host") is None
    assert packages_for(parse_depurl("dep:generic/cudart"), "debian", "host") is None  # non-free: not mapped
    assert packages_for(parse_depurl("dep:generic/accelerate"), "debian", "host") == ()
    assert packages_for(parse_depurl("dep:virtual/compiler/c"), "homebrew", "build") == ()


def test_versioned_ecosystem_falls_back_to_the_bare_one() -> None:
    assert packages_for(parse_depurl("dep:generic/libffi"), "debian+12", "run") == ("libffi8",)
    with pytest.raises(UsageError, match="no mapping for ecosystem 'gentoo'"):
        packages_for(parse_depurl("dep:generic/libffi"), "gentoo", "run")


def test_bad_category_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="category"):
        packages_for(parse_depurl("dep:generic/libffi"), "debian", "target")  # type: ignore[arg-type]


def test_aliases_resolve_to_canonical_ids() -> None:
    url = canonical(parse_depurl("dep:github/Kitware/CMake@>=3.20"))
    assert str(url) == "dep:generic/cmake@>=3.20"
    assert canonical(parse_depurl("dep:generic/libjpeg-turbo")).id == "dep:generic/libjpeg"
    assert canonical(parse_depurl("dep:generic/zlib")).id == "dep:generic/zlib"
    assert canonical(parse_depurl("dep:generic/unknown")).id == "dep:generic/unknown"
    # an alias maps through its canonical entry
    assert packages_for(parse_depurl("dep:github/OpenMathLib/OpenBLAS"), "debian", "host") == (
        "libopenblas-dev",
    )


def test_virtual_providers() -> None:
    blas = [u.id for u in providers(parse_depurl("dep:virtual/interface/blas"))]
    assert blas[:2] == ["dep:generic/openblas", "dep:generic/mkl"]
    assert "dep:generic/blis" in blas
    lapack = {u.id for u in providers(parse_depurl("dep:virtual/interface/lapack"))}
    assert "dep:generic/blis" not in lapack and "dep:generic/openblas" in lapack
    assert {u.id for u in providers(parse_depurl("dep:virtual/interface/mpi"))} == {
        "dep:generic/openmpi",
        "dep:generic/mpich",
    }
    assert {u.id for u in providers(parse_depurl("dep:virtual/interface/openmp"))} == {
        "dep:generic/libgomp",
        "dep:generic/llvm-openmp",
    }
    assert providers(parse_depurl("dep:generic/openblas")) == ()


def test_virtual_interface_maps_through_specs_from() -> None:
    blas = parse_depurl("dep:virtual/interface/blas")
    assert packages_for(blas, "debian", "host") == ("libopenblas-dev",)
    assert packages_for(blas, "fedora", "run") == ("flexiblas",)
    assert packages_for(parse_depurl("dep:virtual/interface/openmp"), "homebrew", "host") == ("libomp",)


def test_virtual_without_entry_falls_back_to_a_provider() -> None:
    custom = _mapping({"mappings": [{"id": "dep:generic/mpich", "specs": "mpich-pkg"}]})
    assert packages_for(parse_depurl("dep:virtual/interface/mpi"), custom, "run") == ("mpich-pkg",)
    assert packages_for(parse_depurl("dep:virtual/interface/blas"), custom, "run") is None


@pytest.mark.parametrize(
    ("ecosystem", "manager", "expected"),
    [
        ("debian", None, ["apt-get", "install", "-y", "libssl-dev", "libffi-dev"]),
        ("debian", "apt", ["apt", "install", "-y", "libssl-dev", "libffi-dev"]),
        ("fedora", None, ["dnf", "install", "-y", "libssl-dev", "libffi-dev"]),
        ("alpine", None, ["apk", "add", "libssl-dev", "libffi-dev"]),
        ("arch", None, ["pacman", "-S", "--needed", "--noconfirm", "libssl-dev", "libffi-dev"]),
        ("homebrew", None, ["brew", "install", "libssl-dev", "libffi-dev"]),
        ("conda-forge", "pixi", ["pixi", "add", "libssl-dev", "libffi-dev"]),
        ("spack", None, ["spack", "install", "libssl-dev", "libffi-dev"]),
        ("vcpkg", None, ["vcpkg", "install", "libssl-dev", "libffi-dev"]),
        ("chocolatey", None, ["choco", "install", "-y", "libssl-dev", "libffi-dev"]),
    ],
)
def test_install_command_per_manager(ecosystem: str, manager: str | None, expected: list[str]) -> None:
    assert install_command(["libssl-dev", "libffi-dev"], ecosystem, manager) == expected


def test_install_command_nix_uses_attribute_paths() -> None:
    assert install_command(["zlib"], "nix") == [
        "nix-env",
        "--file",
        "<nixpkgs>",
        "--install",
        "--attr",
        "zlib",
    ]


def test_versions_rendered_only_where_the_syntax_allows() -> None:
    packages = [("openssl", ">=3,<4"), ("zlib", None), ("libffi", "==3.4.4")]
    assert install_command(packages, "conda-forge") == [
        "conda", "install", "--yes", "--channel", "conda-forge", "openssl>=3,<4", "zlib", "libffi==3.4.4"
    ]  # fmt: skip
    assert install_command(packages, "debian") == ["apt-get", "install", "-y", "openssl", "zlib", "libffi"]
    # spack: exact versions only; a range is dropped
    assert install_command(packages, "spack") == ["spack", "install", "openssl", "zlib", "libffi@=3.4.4"]


def test_multiple_specifiers_never_and_name_only() -> None:
    assert install_commands(["Git.Git", "Kitware.CMake"], "winget") == [
        ["winget", "install", "--exact", "--id", "Git.Git"],
        ["winget", "install", "--exact", "--id", "Kitware.CMake"],
    ]
    with pytest.raises(UsageError, match="install_commands"):
        install_command(["Git.Git", "Kitware.CMake"], "winget")
    assert install_command(["Git.Git"], "winget") == ["winget", "install", "--exact", "--id", "Git.Git"]
    custom = _mapping(
        {
            "package_managers": [
                _pm(
                    "tool",
                    multiple="name-only",
                    syntax={"name_only": ["{name}"], "exact_version": ["{name}", "--version", "{version}"]},
                )
            ]
        }
    )
    assert install_commands(["a", ("b", "==1.0"), "c"], custom) == [
        ["tool", "install", "a", "c"],
        ["tool", "install", "b", "--version", "1.0"],
    ]
    with pytest.raises(UsageError, match="no packages"):
        install_command([], "debian")


def test_ranges_exploded_when_and_is_null() -> None:
    syntax = {
        "name_only": ["{name}"],
        "exact_version": None,
        "version_ranges": {
            "syntax": ["{ranges}"],
            "and": None,
            "greater_than_equal": ">={name}-{version}",
            "less_than": "<{name}-{version}",
        },
    }
    custom = _mapping({"package_managers": [_pm("tool", syntax=syntax)]})
    assert install_command([("foo", ">=2,<3")], custom) == ["tool", "install", ">=foo-2", "<foo-3"]
    # an operator without a template: the whole constraint is dropped, never half-rendered
    assert install_command([("foo", ">2")], custom) == ["tool", "install", "foo"]


def test_query_command_and_unknown_manager() -> None:
    assert query_command("libssl3", "debian") == ["dpkg-query", "-W", "libssl3"]
    assert query_command("zlib", "conda-forge") == ["conda", "list", "--full-name", "zlib"]
    with pytest.raises(UsageError, match=r"no package manager 'yum'.*apt-get, apt"):
        install_command(["x"], "debian", "yum")


def _release(id_: str, like: str = "") -> dict[str, str]:
    return {"ID": id_, "ID_LIKE": like} if like else {"ID": id_}


@pytest.mark.parametrize(
    ("os_release", "conda_prefix", "platform", "has_brew", "expected"),
    [
        (_release("ubuntu", "debian"), None, "linux", False, "debian"),
        (_release("debian"), None, "linux", False, "debian"),
        (_release("linuxmint", "ubuntu debian"), None, "linux", False, "debian"),
        (_release("fedora"), None, "linux", False, "fedora"),
        (_release("almalinux", '"rhel centos fedora"'), None, "linux", False, "fedora"),
        (_release("rocky", "rhel centos fedora"), None, "linux", False, "fedora"),
        (_release("centos", "rhel fedora"), None, "linux", False, "fedora"),
        (_release("alpine"), None, "linux", False, "alpine"),
        (_release("arch"), None, "linux", False, "arch"),
        (_release("someos", "arch"), None, "linux", False, "arch"),
        (_release("ubuntu", "debian"), "/opt/conda/envs/x", "linux", False, "conda-forge"),
        (None, "/Users/me/miniforge3", "darwin", True, "conda-forge"),
        (None, None, "darwin", True, "homebrew"),
        (None, None, "darwin", False, None),
        (None, None, "win32", False, "winget"),
        (_release("gentoo"), None, "linux", False, None),
        (_release("gentoo"), None, "linux", True, "homebrew"),
        (None, None, "freebsd14", False, None),
    ],
)
def test_detect_ecosystem(
    os_release: dict[str, str] | None,
    conda_prefix: str | None,
    platform: str,
    has_brew: bool,
    expected: str | None,
) -> None:
    got = detect_ecosystem(os_release, conda_prefix=conda_prefix, platform=platform, has_brew=has_brew)
    assert got == expected
    if got is not None:
        assert got in mapping.ecosystems()


# ---------------------------------------------------------------------------------------------
# user-supplied documents


def _pm(name: str, multiple: str = "always", syntax: dict[str, Any] | None = None) -> dict[str, Any]:
    pm: dict[str, Any] = {
        "name": name,
        "commands": {
            "install": {"command": [name, "install", "{}"], "multiple_specifiers": multiple},
            "query": {"command": [name, "has", "{}"]},
        },
    }
    if syntax is not None:
        pm["specifier_syntax"] = syntax
    return pm


def _doc(overrides: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": "myos", "package_managers": [_pm("tool")], "mappings": []}
    doc.update(overrides)
    return doc


def _mapping(overrides: dict[str, Any]) -> EcosystemMapping:
    return mapping.parse_mapping(_doc(overrides), source="test")


def _write(tmp_path: Path, doc: object) -> Path:
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(doc))
    return path


def test_load_user_mapping(tmp_path: Path) -> None:
    doc = _doc(
        {
            "mappings": [
                {"id": "dep:generic/openssl", "specs": {"host": ["ssl-dev"], "run": "ssl"}},
                {"id": "dep:generic/zlib", "specs": []},
                {"id": "dep:generic/zlib", "specs": "zlib-alt"},
                {"id": "dep:virtual/compiler/c", "specs_from": "dep:generic/cc"},
                {"id": "dep:generic/cc", "specs": "cc"},
            ]
        }
    )
    loaded = load_mapping(_write(tmp_path, doc))
    assert isinstance(loaded, EcosystemMapping)
    assert loaded.name == "myos"
    openssl = parse_depurl("dep:generic/openssl")
    assert packages_for(openssl, loaded, "host") == ("ssl-dev",)
    assert packages_for(openssl, loaded, "build") == ()
    assert packages_for(openssl, loaded, "run") == ("ssl",)
    # the first alternative with names wins
    assert packages_for(parse_depurl("dep:generic/zlib"), loaded, "run") == ("zlib-alt",)
    assert packages_for(parse_depurl("dep:virtual/compiler/c"), loaded, "build") == ("cc",)
    assert install_command(["ssl-dev"], loaded) == ["tool", "install", "ssl-dev"]


def test_load_user_registry(tmp_path: Path) -> None:
    doc = {
        "definitions": [
            {"id": "dep:generic/foo", "provides": "dep:virtual/interface/blas"},
            {"id": "dep:github/org/foo", "provides": ["dep:generic/foo"]},
            {"id": "dep:virtual/interface/blas"},
        ]
    }
    loaded = load_mapping(_write(tmp_path, doc))
    assert isinstance(loaded, Registry)
    assert canonical(parse_depurl("dep:github/org/foo"), registry_=loaded).id == "dep:generic/foo"
    assert [u.id for u in providers(parse_depurl("dep:virtual/interface/blas"), registry_=loaded)] == [
        "dep:generic/foo"
    ]


BAD_MAPPINGS = [
    ({"name": "My OS"}, r"test: 'name' must be an ecosystem id"),
    ({"mappings": {}}, r"test: mappings: expected a JSON array, got an object"),
    (
        {"mappings": [{"id": "generic/zlib", "specs": "z"}]},
        r"mappings\[0\]\.id: invalid DepURL 'generic/zlib'",
    ),
    ({"mappings": [{"id": "dep:generic/zlib@1.0", "specs": "z"}]}, r"mappings\[0\]\.id: .*no version"),
    (
        {"mappings": [{"id": "dep:generic/zlib"}]},
        r"mappings\[0\] \(dep:generic/zlib\): needs exactly one of 'specs' and 'specs_from'",
    ),
    (
        {"mappings": [{"id": "dep:generic/zlib", "specs": "z", "specs_from": "dep:generic/x"}]},
        r"needs exactly one of",
    ),
    (
        {"mappings": [{"id": "dep:generic/zlib", "specs": {"hots": "z"}}]},
        r"mappings\[0\] \(dep:generic/zlib\)\.specs: unknown key\(s\) 'hots'",
    ),
    (
        {"mappings": [{"id": "dep:generic/zlib", "specs": {"host": ["z", 3]}}]},
        r"\.specs\.host: expected a string or an array of strings, got an array",
    ),
    ({"mappings": [{"id": "dep:generic/zlib", "specs": [""]}]}, r"package names must not be empty"),
    (
        {"mappings": [{"id": "dep:generic/a", "specs_from": "dep:generic/b"}]},
        r"test: dep:generic/a: specs_from 'dep:generic/b' is not an id of this mapping",
    ),
    (
        {
            "mappings": [
                {"id": "dep:generic/a", "specs_from": "dep:generic/b"},
                {"id": "dep:generic/b", "specs_from": "dep:generic/a"},
            ]
        },
        r"specs_from forms a cycle: dep:generic/a -> dep:generic/b -> dep:generic/a",
    ),
    ({"package_managers": [{"name": "x"}]}, r"package_managers\[0\] \(x\)\.commands: expected a JSON object"),
]


@pytest.mark.parametrize(("overrides", "message"), BAD_MAPPINGS)
def test_malformed_mappings_are_rejected_precisely(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidExternalMetadata, match=message):
        _mapping(overrides)


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ({"command": ["tool", "install"]}, r": 'command' must hold exactly one '\{\}' \(found 0"),
        ({"command": ["tool", "{}", "{}"]}, r": 'command' must hold exactly one '\{\}' \(found 2"),
        ({"command": ["tool", "pkg={}"]}, r": '\{\}' must be a whole argument of 'command'"),
        ({"command": "tool install {}"}, r"\.command: expected an array of strings, got a string"),
        (
            {"command": ["tool", "{}"], "requires_elevation": "yes"},
            r": 'requires_elevation' must be true or false",
        ),
        (
            {"command": ["tool", "{}"], "multiple_specifiers": "some"},
            r": 'multiple_specifiers' must be one of",
        ),
    ],
)
def test_malformed_commands_are_rejected(command: dict[str, Any], message: str) -> None:
    pm = _pm("tool")
    pm["commands"]["install"] = command
    with pytest.raises(
        InvalidExternalMetadata, match=r"package_managers\[0\] \(tool\)\.commands\.install" + message
    ):
        _mapping({"package_managers": [pm]})


def test_malformed_specifier_syntax_is_rejected() -> None:
    syntax = {
        "name_only": ["{name}"],
        "version_ranges": {"syntax": ["{name}{ranges}"], "and": ",", "less_than": "<"},
    }
    with pytest.raises(
        InvalidExternalMetadata, match=r"specifier_syntax\.version_ranges\.less_than: must be null"
    ):
        _mapping({"package_managers": [_pm("tool", syntax=syntax)]})
    with pytest.raises(
        InvalidExternalMetadata, match=r"specifier_syntax\.exact_version: must contain '\{version\}'"
    ):
        _mapping({"package_managers": [_pm("tool", syntax={"exact_version": ["{name}"]})]})


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            {"definitions": [{"id": "dep:virtual/interface/blas", "provides": "dep:generic/x"}]},
            r"definitions\[0\] \(dep:virtual/interface/blas\): a dep:virtual/ entry must not have 'provides'",
        ),
        (
            {"definitions": [{"id": "dep:generic/a"}, {"id": "dep:generic/a"}]},
            r"definitions\[1\] \(dep:generic/a\): duplicate id",
        ),
        (
            {
                "definitions": [
                    {"id": "dep:generic/a", "provides": "dep:generic/b"},
                    {"id": "dep:generic/b", "provides": "dep:generic/a"},
                ]
            },
            r"'provides' aliases form a cycle: dep:generic/a -> dep:generic/b -> dep:generic/a",
        ),
        ({"definitions": [{"id": "dep:generic/a", "provides": "openblas"}]}, r"\.provides: invalid DepURL"),
    ],
)
def test_malformed_registries_are_rejected(tmp_path: Path, doc: object, message: str) -> None:
    with pytest.raises(InvalidExternalMetadata, match=message):
        load_mapping(_write(tmp_path, doc))


def test_unreadable_or_foreign_documents(tmp_path: Path) -> None:
    with pytest.raises(InvalidExternalMetadata, match="cannot read"):
        load_mapping(tmp_path / "missing.json")
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(InvalidExternalMetadata, match=r"bad\.json: not valid JSON"):
        load_mapping(path)
    with pytest.raises(InvalidExternalMetadata, match="not a PEP 804 document"):
        load_mapping(_write(tmp_path, {"ecosystems": {}}))
