"""Assemble an :class:`~native_doctor.sbom.model.Sbom` from artifacts and their files' scans. Pure."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from native_doctor._names import canonical_name
from native_doctor.analysis import inspect_artifact
from native_doctor.model import Artifact, NativeFile
from native_doctor.sbom.catalog import Library
from native_doctor.sbom.evidence import Evidence
from native_doctor.sbom.identify import Identity, embedded, identify, library_of, normalized_name
from native_doctor.sbom.model import Component, Role, Sbom

__all__ = ["FileScan", "build_sbom", "distribution_purl"]

_EXTENSION = re.compile(r"\.(cpython-|pypy|abi3\.|cp3\d+-)|\.pyd$", re.IGNORECASE)
_LIBRARY_DIRS = re.compile(r"(^|/)[^/]*\.(libs|dylibs)/|(^|/)\.dylibs/")
_MAX_EVIDENCE = 8


@dataclass(frozen=True, slots=True)
class FileScan:
    """What the edge read from one native file's bytes."""

    sha256: str | None
    evidence: tuple[Evidence, ...] = ()
    #: Why the bytes were not (fully) scanned, if they were not.
    note: str | None = None


def distribution_purl(name: str, version: str) -> str:
    """``pkg:pypi/<normalized name>@<version>`` (purl's PyPI rules: lowercase, ``_`` as ``-``)."""
    return f"pkg:pypi/{quote(canonical_name(name))}@{quote(version)}"


def build_sbom(
    subject: str,
    artifacts: Sequence[tuple[Artifact, Mapping[str, FileScan], str | None]],
    tool_version: str,
) -> Sbom:
    """One document for ``(artifact, scans by native path, sha256 of the artifact file)`` triples."""
    components: list[Component] = []
    dependencies: list[tuple[str, tuple[str, ...]]] = []
    roots: list[str] = []
    for artifact, scans, digest in artifacts:
        root, parts, needs = _artifact_components(artifact, scans, digest)
        roots.append(root.ref)
        components += [root, *parts]
        dependencies += needs
    refs = {c.ref for c in components}
    needed = {ref for _, targets in dependencies for ref in targets}
    listed = {ref for ref, _ in dependencies}
    dependencies += [(ref, ()) for ref in sorted(refs - listed) if ref in needed or ref in roots]
    return Sbom(subject, tuple(components), tuple(dependencies), tuple(roots), tool_version)


def _artifact_components(
    artifact: Artifact, scans: Mapping[str, FileScan], digest: str | None
) -> tuple[Component, list[Component], list[tuple[str, tuple[str, ...]]]]:
    purl = distribution_purl(artifact.name, artifact.version)
    root = Component(
        ref=purl,
        role=Role.DISTRIBUTION,
        name=artifact.name,
        version=artifact.version,
        purl=purl,
        sha256=digest,
        path=posixpath.basename(artifact.path.replace("\\", "/")),
    )
    identities = _with_siblings({n.path: _identity(n, scans.get(n.path)) for n in artifact.native})
    parts: list[Component] = []
    for native in artifact.native:
        scan = scans.get(native.path) or FileScan(None)
        file_component = _file_component(root.ref, native, scan, identities[native.path])
        parts.append(file_component)
        own = identities[native.path]
        for found in embedded(scan.evidence, own.library if own else None):
            parts.append(_embedded_component(file_component, found))
    by_path = {c.path: c.ref for c in parts if c.role is not Role.EMBEDDED}
    needs = []
    for report in inspect_artifact(artifact).binaries:
        targets = tuple(dict.fromkeys(by_path[d.member] for d in report.dependencies if d.member in by_path))
        if targets:
            needs.append((by_path[report.native.path], targets))
    return root, parts, needs


def _identity(native: NativeFile, scan: FileScan | None) -> Identity | None:
    evidence = scan.evidence if scan else ()
    return identify(native.path, native.info, evidence, library_of(native.path, native.info))


def _with_siblings(identities: Mapping[str, Identity | None]) -> dict[str, Identity | None]:
    """A file of a multi-file library (libssl beside libcrypto, libhdf5_hl beside libhdf5) without
    its own version evidence takes the one version its siblings agree on."""
    versions: dict[str, set[str]] = {}
    witness: dict[str, str] = {}
    for path, found in identities.items():
        if found is not None and found.version is not None:
            versions.setdefault(found.library.name, set()).add(found.version)
            witness.setdefault(found.library.name, path)
    result = dict(identities)
    for path, found in identities.items():
        if found is None or found.version is not None:
            continue
        known = versions.get(found.library.name, set())
        if len(known) == 1:
            version = next(iter(known))
            note = Evidence(
                found.library.name, "sibling", version, f"same upstream as {witness[found.library.name]}"
            )
            result[path] = found._replace(version=version, evidence=(*found.evidence, note))
    return result


def _file_component(parent: str, native: NativeFile, scan: FileScan, found: Identity | None) -> Component:
    info = native.info
    own_name = (info.soname or info.install_name or info.dll_name) if info else None
    properties = [("native-doctor:path", native.path)]
    if own_name:
        properties.append(("native-doctor:soname", own_name))
    if info is not None:
        properties += [("native-doctor:format", str(info.format)), ("native-doctor:arch", info.arch)]
    if scan.note:
        properties.append(("native-doctor:scan", scan.note))
    ref = f"{parent}#{native.path}"
    if found is None:
        role = Role.VENDORED if _looks_vendored(native.path) else Role.BINARY
        name = own_name or normalized_name(native.path)
        return Component(ref, role, posixpath.basename(name), None, None, None, None, scan.sha256,
                         native.path, tuple(properties), parent)  # fmt: skip
    properties += _evidence_properties(found)
    return Component(
        ref=ref,
        role=Role.VENDORED,
        name=found.library.name,
        version=found.version,
        purl=_purl(found.library, found.version),
        cpe=_cpe(found.library, found.version),
        license=found.library.license,
        sha256=scan.sha256,
        path=native.path,
        properties=tuple(properties),
        parent=parent,
    )


def _embedded_component(owner: Component, found: Identity) -> Component:
    properties = [("native-doctor:linked-into", owner.path or owner.name), *_evidence_properties(found)]
    return Component(
        ref=f"{owner.ref}!{found.library.name}",
        role=Role.EMBEDDED,
        name=found.library.name,
        version=found.version,
        purl=_purl(found.library, found.version),
        cpe=_cpe(found.library, found.version),
        license=found.library.license,
        path=owner.path,
        properties=tuple(properties),
        parent=owner.ref,
    )


def _evidence_properties(found: Identity) -> list[tuple[str, str]]:
    chosen = next((e for e in found.evidence if e.version == found.version), None)
    properties = []
    if chosen is not None:
        properties.append(("native-doctor:version-source", chosen.kind))
    for item in found.evidence[:_MAX_EVIDENCE]:
        properties.append(("native-doctor:evidence", f"{item.kind}: {item.text} -> {item.version}"))
    return properties


def _looks_vendored(path: str) -> bool:
    """An unidentified file is a vendored library when a repair tool put it there: in a
    ``<dist>.libs``/``.dylibs`` folder, or under a hash-mangled name. A package's own shared
    libraries (torch/lib/libc10.so) and extension modules are its binaries."""
    name = posixpath.basename(path)
    if _EXTENSION.search(name):
        return False
    return bool(_LIBRARY_DIRS.search(path)) or normalized_name(path) != name


def _purl(library: Library, version: str | None) -> str:
    return library.purl if version is None else f"{library.purl}@{quote(version)}"


def _cpe(library: Library, version: str | None) -> str | None:
    if library.cpe is None or version is None:
        return None
    vendor, product = library.cpe.split(":")
    return f"cpe:2.3:a:{vendor}:{product}:{version}:*:*:*:*:*:*:*"
