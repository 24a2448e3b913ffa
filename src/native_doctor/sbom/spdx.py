"""SPDX 2.3 JSON for an :class:`~native_doctor.sbom.model.Sbom`. Pure: the caller passes the
creation time (SPDX requires one); the namespace is derived from the content."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from native_doctor.sbom.model import Component, Role, Sbom

__all__ = ["render_spdx", "to_spdx"]

_NOASSERTION = "NOASSERTION"


def render_spdx(sbom: Sbom, created: str) -> str:
    """The document as JSON text; ``created`` is ``YYYY-MM-DDThh:mm:ssZ``."""
    return json.dumps(to_spdx(sbom, created), indent=2, sort_keys=True) + "\n"


def to_spdx(sbom: Sbom, created: str) -> dict[str, Any]:
    """The document as a JSON-ready dict."""
    ids = {c.ref: _spdx_id(n, c) for n, c in enumerate(sbom.components, 1)}
    relationships = [
        {
            "spdxElementId": "SPDXRef-DOCUMENT",
            "relationshipType": "DESCRIBES",
            "relatedSpdxElement": ids[root],
        }
        for root in sbom.roots
    ]
    for component in sbom.components:
        if component.parent is not None:
            relationships.append(
                {
                    "spdxElementId": ids[component.parent],
                    "relationshipType": "CONTAINS",
                    "relatedSpdxElement": ids[component.ref],
                }
            )
    for ref, needs in sbom.dependencies:
        relationships += [
            {"spdxElementId": ids[ref], "relationshipType": "DEPENDS_ON", "relatedSpdxElement": ids[need]}
            for need in needs
        ]
    packages = [_package(ids[c.ref], c) for c in sbom.components]
    digest = hashlib.sha256(json.dumps([packages, relationships], sort_keys=True).encode()).hexdigest()
    return {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": sbom.subject,
        "documentNamespace": f"https://spdx.org/spdxdocs/native-doctor/{digest[:32]}",
        "creationInfo": {"created": created, "creators": [f"Tool: native-doctor-{sbom.tool_version}"]},
        "documentDescribes": [ids[root] for root in sbom.roots],
        "packages": packages,
        "relationships": relationships,
    }


def _spdx_id(number: int, component: Component) -> str:
    return f"SPDXRef-{number}-" + re.sub(r"[^A-Za-z0-9.-]+", "-", component.name).strip("-")


def _package(spdx_id: str, component: Component) -> dict[str, Any]:
    package: dict[str, Any] = {
        "SPDXID": spdx_id,
        "name": component.name,
        "downloadLocation": _NOASSERTION,
        "filesAnalyzed": False,
        "licenseConcluded": _NOASSERTION,
        "licenseDeclared": component.license or _NOASSERTION,
        "copyrightText": _NOASSERTION,
        "primaryPackagePurpose": "LIBRARY" if component.role is not Role.BINARY else "FILE",
    }
    if component.version is not None:
        package["versionInfo"] = component.version
    if component.path is not None:
        package["packageFileName"] = component.path
    if component.sha256 is not None:
        package["checksums"] = [{"algorithm": "SHA256", "checksumValue": component.sha256}]
    refs = []
    if component.purl is not None:
        refs.append(
            {
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": component.purl,
            }
        )
    if component.cpe is not None:
        refs.append(
            {"referenceCategory": "SECURITY", "referenceType": "cpe23Type", "referenceLocator": component.cpe}
        )
    if refs:
        package["externalRefs"] = refs
    lines = [f"native-doctor:role={component.role}"] + [f"{n}={v}" for n, v in component.properties]
    package["comment"] = "\n".join(lines)
    return package
