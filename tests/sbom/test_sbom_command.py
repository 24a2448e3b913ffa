"""``native-doctor sbom``: a gcc-built library with a planted version string, and real corpus wheels
whose vendored versions were confirmed by asking the libraries at run time
(benchmarks/sbom_accuracy.py does the same for 44 pairs)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from _corpus import ensure, wheels
from _toolchain import require, run
from _wheels import make_wheel
from native_doctor.cli import main


def _walk(components: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for component in components:
        yield component
        yield from _walk(component.get("components", []))


def _versions(document: dict[str, Any]) -> dict[str, str | None]:
    return {c["name"]: c.get("version") for c in _walk(document["components"])}


@pytest.mark.toolchain
def test_sbom_of_a_built_wheel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gcc = require("gcc")
    (tmp_path / "v.c").write_text(
        'const char *jv(void) { return "libjpeg-turbo version 3.0.9 (build 1)"; }\n'
    )
    (tmp_path / "e.c").write_text("const char *jv(void); const char *e(void) { return jv(); }\n")
    lib = tmp_path / "libjpeg-0a1b2c3d.so.62.4.0"
    run(gcc, "-shared", "-fPIC", "-o", lib, tmp_path / "v.c", "-Wl,-soname,libjpeg-0a1b2c3d.so.62.4.0")
    ext = tmp_path / "_ext.cpython-311-x86_64-linux-gnu.so"
    run(gcc, "-shared", "-fPIC", "-o", ext, tmp_path / "e.c", lib, "-Wl,-rpath,$ORIGIN/../demo.libs")
    wheel = make_wheel(
        tmp_path,
        "demo-1.0-cp311-cp311-linux_x86_64.whl",
        {
            "demo/_ext.cpython-311-x86_64-linux-gnu.so": ext.read_bytes(),
            f"demo.libs/{lib.name}": lib.read_bytes(),
        },
    )
    out = tmp_path / "sbom.json"
    assert main(["sbom", str(wheel), "-o", str(out)]) == 0
    text = out.read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    document = json.loads(text)
    jpeg = next(c for c in _walk(document["components"]) if c["name"] == "libjpeg-turbo")
    assert jpeg["version"] == "3.0.9"
    assert jpeg["purl"] == "pkg:generic/libjpeg-turbo@3.0.9"
    ext_ref = next(c["bom-ref"] for c in _walk(document["components"]) if c["name"].startswith("_ext"))
    assert {"ref": ext_ref, "dependsOn": [jpeg["bom-ref"]]} in document["dependencies"]
    assert ("native-doctor:version-source", "string") in {(p["name"], p["value"]) for p in jpeg["properties"]}


def test_sbom_usage_errors(tmp_path: Path) -> None:
    assert main(["sbom"]) == 2
    assert main(["sbom", str(tmp_path / "missing.whl")]) == 2
    assert main(["sbom", "--path", str(tmp_path), str(tmp_path / "x.whl")]) == 2


def test_sbom_of_a_site_packages_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dist = tmp_path / "demo-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n")
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "libz.so.1.3.1").write_bytes(b"\x7fELF" + b"\x00" * 80)
    (dist / "RECORD").write_text("demo/libz.so.1.3.1,,\ndemo-1.0.dist-info/METADATA,,\n")
    assert main(["sbom", "--path", str(tmp_path), "--format", "spdx"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["spdxVersion"] == "SPDX-2.3"
    assert {p["name"] for p in document["packages"]} >= {"demo"}


# (corpus wheel, {library: version the library itself reports when imported})
_REAL = [
    (
        "pyzmq-27.2.0-cp311-cp311-manylinux_2_26_x86_64.manylinux_2_28_x86_64.whl",
        {"libzmq": "4.3.5", "libsodium": "1.0.22"},
    ),
    ("cryptography-50.0.2-cp311-abi3-manylinux_2_34_x86_64.whl", {"openssl": "4.0.3"}),
]


@pytest.mark.corpus
@pytest.mark.parametrize(("filename", "expected"), _REAL, ids=[r[0].split("-")[0] for r in _REAL])
def test_sbom_of_real_wheels(
    filename: str, expected: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    entry = next(w for w in wheels() if w.filename == filename)
    assert main(["sbom", str(ensure(entry))]) == 0
    document = json.loads(capsys.readouterr().out)
    versions = _versions(document)
    assert {name: versions.get(name) for name in expected} == expected
