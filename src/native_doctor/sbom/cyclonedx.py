"""CycloneDX 1.6 JSON for an :class:`~native_doctor.sbom.model.Sbom`. Pure and reproducible: the
serial number is derived from the content, and no timestamp is written (both are optional)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from native_doctor.sbom.model import Component, Role, Sbom

__all__ = ["render_cyclonedx", "to_cyclonedx"]

#: How each evidence kind is described in CycloneDX's identity evidence, with a confidence.
_TECHNIQUE = {
    "string": ("binary-analysis", 1.0),
    "code": ("binary-analysis", 0.9),
    "path": ("binary-analysis", 0.8),
    "debuglink": ("binary-analysis", 0.8),
    "soname": ("filename", 0.7),
    "bare": ("binary-analysis", 0.6),
    "sibling": ("other", 0.5),
    "symver": ("binary-analysis", 0.3),
}


def render_cyclonedx(sbom: Sbom) -> str:
    """The document as JSON text (sorted keys, two-space indent, trailing newline)."""
    return json.dumps(to_cyclonedx(sbom), indent=2, sort_keys=True) + "\n"


def to_cyclonedx(sbom: Sbom) -> dict[str, Any]:
    """The document as a JSON-ready dict."""
    children: dict[str | None, list[Component]] = {}
    for component in sbom.components:
        children.setdefault(component.parent, []).append(component)
    metadata: dict[str, Any] = {
        "tools": {
            "components": [{"type": "application", "name": "native-doctor", "version": sbom.tool_version}]
        },
    }
    top = children.get(None, [])
    if len(top) == 1:
        metadata["component"] = _component(top[0], children)
        components = [_component(c, children) for c in children.get(top[0].ref, [])]
    else:
        components = [_component(c, children) for c in top]
    document: dict[str, Any] = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "metadata": metadata,
        "components": components,
        "dependencies": [{"ref": ref, "dependsOn": list(needs)} for ref, needs in sbom.dependencies],
    }
    digest = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).digest()
    document["serialNumber"] = _uuid5_urn(digest)
    return document


def _uuid5_urn(digest: bytes) -> str:
    """``uuid.UUID(bytes=digest[:16], version=5).urn``, without importing :mod:`uuid` (~3 ms: it
    loads the libuuid binding): the version nibble set to 5, the variant bits to RFC 4122."""
    raw = bytearray(digest[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50
    raw[8] = (raw[8] & 0x3F) | 0x80
    text = raw.hex()
    return f"urn:uuid:{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _component(component: Component, children: dict[str | None, list[Component]]) -> dict[str, Any]:
    item: dict[str, Any] = {
        "type": "library" if component.role is not Role.BINARY else "file",
        "bom-ref": component.ref,
        "name": component.name,
    }
    if component.version is not None:
        item["version"] = component.version
    if component.purl is not None:
        item["purl"] = component.purl
    if component.cpe is not None:
        item["cpe"] = component.cpe
    if component.sha256 is not None:
        item["hashes"] = [{"alg": "SHA-256", "content": component.sha256}]
    if component.license is not None:
        item["licenses"] = [{"expression": component.license}]
    evidence = _evidence(component)
    if evidence:
        item["evidence"] = evidence
    properties = [{"name": "native-doctor:role", "value": str(component.role)}]
    properties += [{"name": name, "value": value} for name, value in component.properties]
    item["properties"] = properties
    nested = children.get(component.ref, [])
    if nested:
        item["components"] = [_component(c, children) for c in nested]
    return item


def _evidence(component: Component) -> dict[str, Any]:
    evidence: dict[str, Any] = {}
    if component.path is not None and component.role is not Role.DISTRIBUTION:
        evidence["occurrences"] = [{"location": component.path}]
    methods = _methods([value for name, value in component.properties if name == "native-doctor:evidence"])
    if methods and component.version is not None:
        evidence["identity"] = [{"field": "version", "methods": methods}]
    return evidence


def _methods(texts: Sequence[str]) -> list[dict[str, Any]]:
    methods = []
    for text in texts:
        kind = text.split(":", 1)[0]
        technique, confidence = _TECHNIQUE.get(kind, ("other", 0.5))
        methods.append({"technique": technique, "confidence": confidence, "value": text})
    return methods
