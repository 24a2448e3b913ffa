"""PEP 770: ``repair`` writes the SBOM of the libraries it grafts into ``.dist-info/sboms/``."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from hypothesis import given, settings
from hypothesis import strategies as st

from _repair_build import build_extension_wheel, build_library
from _toolchain import require
from native_doctor.cli import main
from native_doctor.model import Artifact, ArtifactKind
from native_doctor.sbom.pep770 import SBOM_NAME, grafted_sbom, merged_grafts

_SBOM = f"demo-1.0.dist-info/sboms/{SBOM_NAME}"


def test_nothing_grafted_writes_no_sbom() -> None:
    artifact = Artifact(ArtifactKind.WHEEL, "demo-1.0-py3-none-any.whl", "demo", "1.0", (), (), ())
    assert grafted_sbom("demo-1.0.dist-info", artifact, [], {}) == {}


@pytest.fixture(scope="module")
def repaired(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cc = require("gcc")
    folder = tmp_path_factory.mktemp("pep770")
    libs = folder / "libs"
    build_library(libs, "libz.so.1", "int z(void) { return 1; }\n", cc=cc)  # a policy library: not grafted
    build_library(
        libs, "libcrypto.so.3", 'const char *v(void) { return "OpenSSL 3.0.13 30 Jan 2024"; }\n', cc=cc
    )
    build_library(
        libs,
        "libssl.so.3",
        "const char *v(void); int s(void) { return v()[0]; }\n",
        needed=("libcrypto.so.3",),
        cc=cc,
    )
    wheel = build_extension_wheel(
        folder, libs, ("libssl.so.3", "libz.so.1"), declaration="int s(void);", call="s()", cc=cc
    )
    out = folder / "wheelhouse"
    assert main(["repair", "-w", str(out), "--lib-path", str(libs), "--no-sys-paths", str(wheel)]) == 0
    (result,) = out.glob("*.whl")
    return result


def test_sbom_lists_each_graft_with_its_final_hash(repaired: Path) -> None:
    with zipfile.ZipFile(repaired) as archive:
        text = archive.read(_SBOM).decode()
        grafted = {n: archive.read(n) for n in archive.namelist() if n.startswith("demo.libs/")}
        record = archive.read("demo-1.0.dist-info/RECORD").decode()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    document = json.loads(text)
    assert document["metadata"]["component"]["purl"] == "pkg:pypi/demo@1.0"
    by_path = {c["evidence"]["occurrences"][0]["location"]: c for c in document["components"]}
    assert set(by_path) == set(grafted)  # libz is a policy library: left out, and not listed
    for member, data in grafted.items():
        assert by_path[member]["hashes"] == [{"alg": "SHA-256", "content": hashlib.sha256(data).hexdigest()}]
        assert by_path[member]["name"] == "openssl"
        assert by_path[member]["version"] == "3.0.13"  # libssl by its sibling libcrypto's string
    assert _SBOM in record


def test_sbom_says_where_each_graft_came_from_and_who_needs_it(repaired: Path) -> None:
    document = json.loads(zipfile.ZipFile(repaired).read(_SBOM))
    refs = {
        c["evidence"]["occurrences"][0]["location"].split("/")[1].split("-")[0]: c
        for c in document["components"]
    }
    sources = {
        k: next(p["value"] for p in c["properties"] if p["name"] == "native-doctor:grafted-from")
        for k, c in refs.items()
    }
    assert Path(sources["libcrypto"]).name == "libcrypto.so.3"
    needs = {d["ref"]: d["dependsOn"] for d in document["dependencies"]}
    assert needs[refs["libssl"]["bom-ref"]] == [refs["libcrypto"]["bom-ref"]]


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)


_PROPERTY = st.fixed_dictionaries({"name": st.just("native-doctor:grafted-from") | _JSON, "value": _JSON})
_COMPONENT = st.fixed_dictionaries(
    {
        "bom-ref": st.sampled_from(["r#a", "r#b"]) | _JSON,
        "evidence": st.fixed_dictionaries(
            {"occurrences": st.lists(st.fixed_dictionaries({"location": _JSON}), max_size=2)}
        ),
        "properties": st.lists(_PROPERTY, max_size=2) | _JSON,
    }
)
_DEPENDENCY = st.fixed_dictionaries(
    {"ref": st.sampled_from(["r#a", "r#b"]) | _JSON, "dependsOn": st.lists(st.sampled_from(["r#a", "r#b"]))}
)
_DOCUMENT = st.fixed_dictionaries(
    {"components": st.lists(_COMPONENT, max_size=3), "dependencies": st.lists(_DEPENDENCY, max_size=3)}
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | (_JSON | _DOCUMENT).map(lambda v: json.dumps(v).encode()))
def test_reading_back_any_bytes_gives_grafts_or_none(document: bytes) -> None:
    """``fuse`` reads documents from wheels it did not make: anything is a result or None."""
    found = merged_grafts([document])
    assert found is None or all(isinstance(m, str) and r.member == m for m, r in found.items())


def test_reading_back_merges_sources_and_users_in_order(repaired: Path) -> None:
    document = zipfile.ZipFile(repaired).read(_SBOM)
    once = merged_grafts([document])
    assert once is not None and once == merged_grafts([document, document])  # nothing doubled
    crypto = next(r for m, r in once.items() if "libcrypto" in m)
    assert [Path(s).name for s in crypto.sources] == ["libcrypto.so.3"]
    assert [m.split("/")[1].split("-")[0] for m in crypto.needed_by] == ["libssl"]
