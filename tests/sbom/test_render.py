"""CycloneDX 1.6 and SPDX 2.3 documents, validated against the official schema / the SPDX tools."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from _wheels import make_wheel
from native_doctor.sbom.collect import wheels_sbom
from native_doctor.sbom.cyclonedx import render_cyclonedx, to_cyclonedx
from native_doctor.sbom.model import Component, Role, Sbom
from native_doctor.sbom.spdx import render_spdx

_DIST = "pkg:pypi/demo@1.0"


def _sbom() -> Sbom:
    components = (
        Component(_DIST, Role.DISTRIBUTION, "demo", "1.0", _DIST, sha256="ab" * 32, path="demo-1.0.whl"),
        Component(
            f"{_DIST}#demo/_ext.so",
            Role.BINARY,
            "_ext.so",
            None,
            None,
            sha256="cd" * 32,
            path="demo/_ext.so",
            parent=_DIST,
        ),
        Component(
            f"{_DIST}#demo.libs/libcrypto-1a2b3c4d.so.3",
            Role.VENDORED,
            "openssl",
            "3.0.13",
            "pkg:generic/openssl@3.0.13",
            "cpe:2.3:a:openssl:openssl:3.0.13:*:*:*:*:*:*:*",
            "Apache-2.0",
            "ef" * 32,
            "demo.libs/libcrypto-1a2b3c4d.so.3",
            (("native-doctor:evidence", "string: OpenSSL 3.0.13 30 Jan 2024 -> 3.0.13"),),
            _DIST,
        ),
        Component(
            f"{_DIST}#demo.libs/libmystery.so.1",
            Role.VENDORED,
            "libmystery.so.1",
            None,
            None,
            sha256="01" * 32,
            path="demo.libs/libmystery.so.1",
            parent=_DIST,
        ),
        Component(
            f"{_DIST}#demo/_ext.so!zlib",
            Role.EMBEDDED,
            "zlib",
            "1.3.1",
            "pkg:generic/zlib@1.3.1",
            license="Zlib",
            path="demo/_ext.so",
            parent=f"{_DIST}#demo/_ext.so",
        ),
    )
    needs = ((f"{_DIST}#demo/_ext.so", (f"{_DIST}#demo.libs/libcrypto-1a2b3c4d.so.3",)),)
    return Sbom("demo-1.0.whl", components, needs, (_DIST,), "0.0.test")


def _valid_spdx(text: str, tmp_path: Path) -> list[str]:
    path = tmp_path / "doc.spdx.json"
    path.write_text(text)
    return [m.validation_message for m in validate_full_spdx_document(parse_file(str(path)))]


def test_cyclonedx_valid_against_official_schema() -> None:
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(render_cyclonedx(_sbom())) is None


def test_cyclonedx_validator_rejects_a_broken_document() -> None:
    document = to_cyclonedx(_sbom())
    document["components"][0]["hashes"] = [{"alg": "SHA-256", "content": "not hex"}]
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(document)) is not None


def test_cyclonedx_shape() -> None:
    document = to_cyclonedx(_sbom())
    assert document["metadata"]["component"]["purl"] == _DIST
    by_name = {c["name"]: c for c in document["components"]}
    openssl = by_name["openssl"]
    assert openssl["purl"] == "pkg:generic/openssl@3.0.13"
    assert openssl["cpe"].startswith("cpe:2.3:a:openssl:openssl:3.0.13")
    assert openssl["evidence"]["occurrences"] == [{"location": "demo.libs/libcrypto-1a2b3c4d.so.3"}]
    assert by_name["libmystery.so.1"]["hashes"][0]["content"] == "01" * 32
    assert [c["name"] for c in by_name["_ext.so"]["components"]] == ["zlib"]
    assert document["dependencies"] == [
        {"ref": f"{_DIST}#demo/_ext.so", "dependsOn": [f"{_DIST}#demo.libs/libcrypto-1a2b3c4d.so.3"]}
    ]


def test_cyclonedx_reproducible() -> None:
    assert render_cyclonedx(_sbom()) == render_cyclonedx(_sbom())


def test_spdx_valid(tmp_path: Path) -> None:
    assert _valid_spdx(render_spdx(_sbom(), "2026-01-01T00:00:00Z"), tmp_path) == []


def test_spdx_validator_rejects_a_broken_document(tmp_path: Path) -> None:
    document = json.loads(render_spdx(_sbom(), "2026-01-01T00:00:00Z"))
    document["relationships"][0]["relatedSpdxElement"] = "SPDXRef-nowhere"
    assert _valid_spdx(json.dumps(document), tmp_path) != []


def test_spdx_relationships() -> None:
    document = json.loads(render_spdx(_sbom(), "2026-01-01T00:00:00Z"))
    kinds = sorted(r["relationshipType"] for r in document["relationships"])
    assert kinds == ["CONTAINS", "CONTAINS", "CONTAINS", "CONTAINS", "DEPENDS_ON", "DESCRIBES"]
    openssl = next(p for p in document["packages"] if p["name"] == "openssl")
    assert {r["referenceType"] for r in openssl["externalRefs"]} == {"purl", "cpe23Type"}


@pytest.mark.parametrize("fmt", ["cyclonedx", "spdx"])
def test_documents_of_a_built_wheel_are_valid(tmp_path: Path, fmt: str) -> None:
    blob = b"\x7fELF" + b"\x00" * 60 + b"\x00OpenSSL 3.0.13 30 Jan 2024\x00"
    wheel = make_wheel(tmp_path, "demo-1.0-py3-none-any.whl", {"demo.libs/libcrypto-1a2b3c4d.so.3": blob})
    sbom = wheels_sbom([wheel])
    if fmt == "cyclonedx":
        assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(render_cyclonedx(sbom)) is None
    else:
        assert _valid_spdx(render_spdx(sbom, "2026-01-01T00:00:00Z"), tmp_path) == []


@pytest.mark.parametrize(
    ("member", "role"),
    [
        ("demo.libs/libmystery-1a2b3c4d.so.1", "vendored-library"),
        ("demo/.dylibs/libmystery.1.dylib", "vendored-library"),
        ("demo/lib/libmystery-0123456789abcdef0123456789abcdef.dll", "vendored-library"),
        ("demo/lib/libdemo_core.so", "binary"),
        ("demo/_ext.cpython-311-x86_64-linux-gnu.so", "binary"),
    ],
)
def test_role_of_unidentified_files(tmp_path: Path, member: str, role: str) -> None:
    wheel = make_wheel(tmp_path, "demo-1.0-py3-none-any.whl", {member: b"\x7fELF" + b"\x00" * 80})
    (component,) = [c for c in wheels_sbom([wheel]).components if c.path == member]
    assert (component.role, component.version, component.purl) == (role, None, None)
    assert component.sha256 is not None


@pytest.mark.parametrize(
    "seed", [b"", b"demo", b"\xff" * 40, bytes(range(32))], ids=["empty", "demo", "ones", "range"]
)
def test_the_serial_number_is_uuid5_of_the_digest(seed: bytes) -> None:
    import hashlib
    import uuid

    from native_doctor.sbom.cyclonedx import _uuid5_urn

    digest = hashlib.sha256(seed).digest()
    assert _uuid5_urn(digest) == uuid.UUID(bytes=digest[:16], version=5).urn
