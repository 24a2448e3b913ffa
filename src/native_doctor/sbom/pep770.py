"""PEP 770: the SBOM a repair writes into ``.dist-info/sboms/`` for the libraries it grafts.

Pure: the repair passes the artifact, the grafted libraries (with the bytes that go into the
wheel) and the binaries that need them; this returns the member name and the CycloneDX 1.6 text.
The version evidence is read from the grafted bytes exactly as ``native-doctor sbom`` reads it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from native_doctor import __version__
from native_doctor.binary.model import BinaryInfo
from native_doctor.model import Artifact, NativeFile
from native_doctor.sbom.build import FileScan, build_sbom
from native_doctor.sbom.catalog import libraries
from native_doctor.sbom.cyclonedx import render_cyclonedx
from native_doctor.sbom.evidence import scan
from native_doctor.sbom.identify import library_of, normalized_name

__all__ = ["SBOM_NAME", "Grafted", "grafted_sbom"]

#: The file's name inside ``<dist>.dist-info/sboms/`` (PEP 770 leaves the name to the tool).
SBOM_NAME = "native-doctor.cdx.json"


@dataclass(frozen=True, slots=True)
class Grafted:
    """One library a repair copied into the wheel."""

    #: Artifact path of the copy (``<dist>.libs/libfoo-1a2b3c4d.so.1``).
    member: str
    #: The name dependents needed it by (usually its SONAME before mangling).
    name: str
    #: Where it was copied from on the build host.
    source: str
    #: The headers of the copy as written.
    info: BinaryInfo
    #: Artifact paths (or graft names) of the binaries that need it directly.
    needed_by: tuple[str, ...]


def grafted_sbom(
    dist_info: str, artifact: Artifact, grafts: Sequence[Grafted], contents: Mapping[str, bytes]
) -> dict[str, bytes]:
    """``{"<dist_info>/sboms/native-doctor.cdx.json": document}``; empty when nothing is grafted.

    ``contents`` holds the bytes each graft has in the output wheel (hashed and scanned)."""
    if not grafts:
        return {}
    embeddable = tuple(lib for lib in libraries() if lib.embedded)
    natives = []
    scans: dict[str, FileScan] = {}
    for graft in grafts:
        data = contents[graft.member]
        own = library_of(graft.member, graft.info)
        evidence = scan(data, own, embeddable, arch=graft.info.arch, soname=normalized_name(graft.member))
        scans[graft.member] = FileScan(hashlib.sha256(data).hexdigest(), evidence)
        natives.append(NativeFile(graft.member, graft.member, len(data), None, graft.info))
    subject = replace(artifact, native=tuple(natives), files=tuple(g.member for g in grafts))
    sbom = build_sbom(artifact.path, [(subject, scans, None)], __version__)
    sources = {f"{sbom.roots[0]}#{g.member}": g.source for g in grafts}
    components = tuple(
        replace(c, properties=(*c.properties, ("native-doctor:grafted-from", sources[c.ref])))
        if c.ref in sources
        else c
        for c in sbom.components
    )
    needs = _needed_by(sbom.roots[0], grafts)
    sbom = replace(sbom, components=components, dependencies=needs)
    return {f"{dist_info}/sboms/{SBOM_NAME}": render_cyclonedx(sbom).encode()}


def _needed_by(root: str, grafts: Sequence[Grafted]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Which grafted library needs which (the wheel's own binaries are not components here)."""
    refs = {g.member: f"{root}#{g.member}" for g in grafts}
    by_name = {**{g.name: refs[g.member] for g in grafts}, **refs}
    needs: dict[str, list[str]] = {ref: [] for ref in refs.values()}
    for graft in grafts:
        for user in graft.needed_by:
            if user in by_name:
                needs[by_name[user]].append(refs[graft.member])
    return ((root, tuple(refs.values())), *((ref, tuple(deps)) for ref, deps in needs.items()))
