"""DepURLs and external dependency specifiers (PEP 725): examples, forbidden forms, round trips."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.markers import Marker
from packaging.version import Version

from native_doctor.deps.depurl import DepURL, old_draft_spelling, parse_depurl, parse_specifier
from native_doctor.errors import InvalidExternalMetadata

# --- examples ------------------------------------------------------------------------------------------

GOOD = {
    "virtual-interface-range": (
        "dep:virtual/interface/lapack@>=3.7.1",
        DepURL("virtual", "lapack", namespace="interface", version=">=3.7.1"),
    ),
    "virtual-compiler": ("dep:virtual/compiler/c", DepURL("virtual", "c", namespace="compiler")),
    "pypi-exact": ("dep:pypi/numpy@2.0", DepURL("pypi", "numpy", version="2.0")),
    "pypi-range": ("dep:pypi/numpy@>=2.0", DepURL("pypi", "numpy", version=">=2.0")),
    "generic": ("dep:generic/openblas", DepURL("generic", "openblas")),
    "github-namespace": ("dep:github/AbiWord/enchant", DepURL("github", "enchant", namespace="AbiWord")),
    "cargo": ("dep:cargo/ripgrep", DepURL("cargo", "ripgrep")),
    "golang-deep-namespace": (
        "dep:golang/github.com/junegunn/fzf",
        DepURL("golang", "fzf", namespace="github.com/junegunn"),
    ),
    "cran": ("dep:cran/nat", DepURL("cran", "nat")),
    "two-clause-range": ("dep:generic/llvm@>=15,<20", DepURL("generic", "llvm", version=">=15,<20")),
    "all-operators": (
        "dep:generic/x@>1,<=3,==2.5,<4,>=0",
        DepURL("generic", "x", version=">1,<=3,==2.5,<4,>=0"),
    ),
    "qualifiers": (
        "dep:generic/openssl?arch=x86_64&build=shared",
        DepURL("generic", "openssl", qualifiers={"arch": "x86_64", "build": "shared"}),
    ),
    "subpath": ("dep:github/apache/arrow#cpp/src", DepURL("github", "arrow", "apache", subpath="cpp/src")),
    "everything": (
        "dep:github/apache/arrow@>=14?vcs=git#cpp",
        DepURL("github", "arrow", "apache", ">=14", {"vcs": "git"}, "cpp"),
    ),
    "percent-encoded-name": ("dep:generic/lib%20foo", DepURL("generic", "lib foo")),
    "percent-encoded-at-namespace": ("dep:npm/%40angular/core", DepURL("npm", "core", namespace="@angular")),
    "percent-encoded-qualifier": (
        "dep:generic/x?path=%2Fopt%2Fa%26b",
        DepURL("generic", "x", qualifiers={"path": "/opt/a&b"}),
    ),
    "uppercase-type-is-canonicalised": ("dep:Generic/zlib", DepURL("generic", "zlib")),
}


@pytest.mark.parametrize(("text", "expected"), GOOD.values(), ids=GOOD.keys())
def test_parses(text: str, expected: DepURL) -> None:
    assert parse_depurl(text) == expected


def test_specifier_with_marker() -> None:
    dep = parse_specifier("dep:github/AbiWord/enchant; platform_system!='Windows'", where="x[0]")
    assert dep.url == DepURL("github", "enchant", namespace="AbiWord")
    assert dep.marker == Marker("platform_system != 'Windows'")
    assert dep.where == "x[0]"
    assert dep.applies({"platform_system": "Linux"})
    assert not dep.applies({"platform_system": "Windows"})
    assert str(dep) == 'dep:github/AbiWord/enchant; platform_system != "Windows"'


def test_version_clauses_and_id() -> None:
    url = parse_depurl("dep:golang/github.com/junegunn/fzf@>=0.40,<1?x=y#sub")
    assert url.id == "dep:golang/github.com/junegunn/fzf"
    assert url.version_clauses() == ((">=", Version("0.40")), ("<", Version("1")))
    assert parse_depurl("dep:pypi/numpy@2.0").version_clauses() == (("==", Version("2.0")),)
    assert parse_depurl("dep:virtual/compiler/c").is_virtual


def test_hashable_and_equal_with_any_mapping() -> None:
    parsed = parse_depurl("dep:generic/x?b=2&a=1")
    built = DepURL("generic", "x", qualifiers={"a": "1", "b": "2"})
    assert parsed == built
    assert hash(parsed) == hash(built)
    assert len({parsed, built, parse_specifier("dep:generic/x?a=1&b=2").url}) == 1
    assert hash(parse_specifier("dep:generic/x; os_name == 'nt'")) is not None


BAD = {
    "tilde-equal": ("dep:generic/x@~=1.0", "'~='"),
    "not-equal": ("dep:generic/x@!=1.0", "'!='"),
    "triple-equal": ("dep:generic/x@===1.0", "'==='"),
    "not-equal-in-second-clause": ("dep:generic/x@>=1,!=1.5", "'!='"),
    "wildcard": ("dep:generic/x@==1.*", "wildcards"),
    "not-a-version": ("dep:generic/x@>=latest", "not a PEP 440 version"),
    "stray-comma": ("dep:generic/x@>=1,", "stray ','"),
    "empty-version": ("dep:generic/x@", "must be followed by a version"),
    "missing-name": ("dep:generic", "type and a name"),
    "missing-type-and-name": ("dep:", "type and a name"),
    "no-scheme": ("generic/zlib", "must start with 'dep:'"),
    "purl-scheme-is-old-draft": ("pkg:generic/gmp", "old draft syntax"),
    "bad-type": ("dep:gen_eric/x", "type 'gen_eric'"),
    "type-starts-with-digit": ("dep:7zip/x", "type '7zip'"),
    "bad-virtual-namespace": ("dep:virtual/library/blas", "virtual DepURLs are"),
    "virtual-without-namespace": ("dep:virtual/c", "virtual DepURLs are"),
    "virtual-too-deep": ("dep:virtual/compiler/gnu/c", "virtual DepURLs are"),
    "qualifier-without-value": ("dep:generic/x?shared", "not key=value"),
    "qualifier-twice": ("dep:generic/x?a=1&A=2", "appears twice"),
    "unencoded-at-in-namespace": ("dep:npm/@angular/core", "%40"),
}


@pytest.mark.parametrize(("text", "reason"), BAD.values(), ids=BAD.keys())
def test_rejects(text: str, reason: str) -> None:
    with pytest.raises(InvalidExternalMetadata) as info:
        parse_depurl(text, where="external.host-requires[2]")
    assert reason in str(info.value)
    assert info.value.where == "external.host-requires[2]"
    assert str(info.value).startswith("external.host-requires[2]: ")


BAD_SPECIFIERS = {
    "bad-marker": ("dep:generic/x; platform_system ~ 'Linux'", "invalid environment marker"),
    "unknown-marker-variable": ("dep:generic/x; flavour == 'a'", "invalid environment marker"),
    "empty-marker": ("dep:generic/x;", "invalid environment marker"),
    "bad-url-before-marker": ("dep:generic/x@!=1; os_name == 'nt'", "'!='"),
}


@pytest.mark.parametrize(("text", "reason"), BAD_SPECIFIERS.values(), ids=BAD_SPECIFIERS.keys())
def test_rejects_specifier(text: str, reason: str) -> None:
    with pytest.raises(InvalidExternalMetadata) as info:
        parse_specifier(text, where="w")
    assert reason in str(info.value)


def test_non_string_is_invalid_metadata() -> None:
    with pytest.raises(InvalidExternalMetadata, match="must be a string"):
        parse_specifier(42, where="w")  # type: ignore[arg-type]
    with pytest.raises(InvalidExternalMetadata, match="must be a string"):
        parse_depurl(None)  # type: ignore[arg-type]


OLD_DRAFT = {
    "virtual-compiler": ("virtual:compiler/c", "dep:virtual/compiler/c"),
    "virtual-interface": ("virtual:interface/blas", "dep:virtual/interface/blas"),
    "pkg-generic": ("pkg:generic/gmp", "dep:generic/gmp"),
    "pkg-with-version": ("pkg:generic/gmp@>=6", "dep:generic/gmp@>=6"),
    "already-dep": ("dep:generic/gmp", None),
    "unrelated": ("https://example.org", None),
}


@pytest.mark.parametrize(("text", "upgraded"), OLD_DRAFT.values(), ids=OLD_DRAFT.keys())
def test_old_draft_spelling(text: str, upgraded: str | None) -> None:
    assert old_draft_spelling(text) == upgraded
    if upgraded is not None:
        parse_depurl(upgraded)  # the suggestion is itself valid
        with pytest.raises(InvalidExternalMetadata, match=f"old draft syntax.*write '{upgraded}'"):
            parse_depurl(text)


# --- properties ----------------------------------------------------------------------------------------

TYPES = ["generic", "github", "pypi", "cargo", "cran", "golang", "deb", "conda", "npm", "gem", "my.type+x"]
PLAIN = st.from_regex(r"[A-Za-z0-9._-]+", fullmatch=True)
ODD = st.text(st.characters(codec="utf-8"), min_size=1, max_size=8).filter(
    lambda s: s.strip("/") == s and "/" not in s
)
SEGMENT = st.one_of(PLAIN, ODD).filter(lambda s: not s.startswith("-"))  # "-x" is refused
VERSIONS = st.builds(
    lambda parts, pre: ".".join(map(str, parts)) + pre,
    st.lists(st.integers(0, 999), min_size=1, max_size=4),
    st.sampled_from(["", "a1", "rc2", ".post1", ".dev3"]),
)
ALLOWED_OPS = [">=", ">", "<", "<=", "==", ""]
RANGE = st.lists(st.tuples(st.sampled_from(ALLOWED_OPS), VERSIONS), min_size=1, max_size=3).map(
    lambda clauses: ",".join(op + version for op, version in clauses)
)
QUALIFIER_KEYS = st.from_regex(r"[a-z.\-_][a-z0-9.\-_]{0,6}", fullmatch=True)
QUALIFIERS = st.dictionaries(QUALIFIER_KEYS, st.one_of(PLAIN, ODD), max_size=3)
SUBPATH = st.lists(PLAIN.filter(lambda s: s not in {".", ".."}), min_size=1, max_size=3).map("/".join)


@st.composite
def depurls(draw: st.DrawFn) -> DepURL:
    """Valid DepURLs; ``virtual`` ones keep to the two namespaces the PEP defines."""
    kind = draw(st.sampled_from([*TYPES, "virtual"]))
    if kind == "virtual":
        namespace: str | None = draw(st.sampled_from(["compiler", "interface"]))
    else:
        segments = draw(st.lists(SEGMENT, max_size=3))
        namespace = "/".join(segments) or None
    return DepURL(
        type=kind,
        name=draw(SEGMENT),
        namespace=namespace,
        version=draw(st.none() | RANGE),
        qualifiers=draw(QUALIFIERS),
        subpath=draw(st.none() | SUBPATH),
    )


@settings(max_examples=300, deadline=None)
@given(depurls())
def test_round_trip(url: DepURL) -> None:
    text = str(url)
    assert parse_depurl(text) == url
    assert str(parse_depurl(text)) == text


@settings(deadline=None)
@given(depurls(), st.sampled_from(["~=", "!=", "==="]), VERSIONS, st.booleans())
def test_forbidden_operators_rejected(url: DepURL, op: str, version: str, append: bool) -> None:
    clause = op + version
    version_text = f"{url.version},{clause}" if append and url.version else clause
    text = str(DepURL(url.type, url.name, url.namespace, None, url.qualifiers, url.subpath))
    base, sep, rest = text.partition("?") if "?" in text else text.partition("#")
    with pytest.raises(InvalidExternalMetadata, match=f"does not allow '{op}'"):
        parse_depurl(f"{base}@{quote(version_text, safe='<>=,!~')}{sep}{rest}")


@settings(deadline=None)
@given(VERSIONS)
def test_wildcards_rejected(version: str) -> None:
    with pytest.raises(InvalidExternalMetadata, match="wildcards"):
        parse_depurl(f"dep:generic/x@=={version}.*")


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.text().map(lambda s: "dep:" + s), st.text().map(lambda s: "dep:generic/" + s)))
def test_arbitrary_text_only_raises_invalid_metadata(text: str) -> None:
    try:
        dep = parse_specifier(text)
    except InvalidExternalMetadata:
        return
    assert parse_depurl(str(dep.url)) == dep.url  # whatever is accepted writes back losslessly


@given(st.text(max_size=200) | st.builds(lambda s: "dep:" + s, st.text(max_size=200)))
def test_fuzz_any_text_parses_or_raises_the_projects_error(text: str) -> None:
    try:
        dep = parse_specifier(text)
    except InvalidExternalMetadata as exc:
        assert len(str(exc)) < 2000  # echoed input is capped
        return
    assert not dep.url.name.startswith("-")
