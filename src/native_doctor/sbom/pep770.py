"""PEP 770: the SBOM a repair writes into ``.dist-info/sboms/`` for the libraries it grafts.

Pure: the repair passes the artifact, the grafted libraries (with the bytes that go into the
wheel) and the binaries that need them; this returns the member name and the CycloneDX 1.6 text.
The version evidence is read from the grafted bytes exactly as ``native-doctor sbom`` reads it.
``fuse`` reads the two thin wheels' documents back (:func:`merged_grafts`) and writes the fused
wheel's again from the fused bytes: the thin documents' hashes describe neither fused file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, NamedTuple

from native_doctor import __version__
from native_doctor.binary.model import BinaryInfo
from native_doctor.model import Artifact, NativeFile
from native_doctor.sbom.build import FileScan, build_sbom
from native_doctor.sbom.catalog import libraries
from native_doctor.sbom.cyclonedx import render_cyclonedx
from native_doctor.sbom.evidence import scan
from native_doctor.sbom.identify import library_of, normalized_name

__all__ = ["SBOM_NAME", "GraftRecord", "Grafted", "grafted_sbom", "merged_grafts"]

#: The file's name inside ``<dist>.dist-info/sboms/`` (PEP 770 leaves the name to the tool).
SBOM_NAME = "native-doctor.cdx.json"
#: The property that says where a grafted library was copied from (one per place).
_GRAFTED_FROM = "native-doctor:grafted-from"


class Grafted(NamedTuple):
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
    #: Further places the same member came from (``fuse``: the other architecture's copy).
    also_from: tuple[str, ...] = ()


class GraftRecord(NamedTuple):
    """One grafted library as a document written by :func:`grafted_sbom` lists it."""

    member: str
    #: Every ``native-doctor:grafted-from`` value, in order.
    sources: tuple[str, ...]
    #: The members of the other grafts that need it.
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
    sources = {f"{sbom.roots[0]}#{g.member}": (g.source, *g.also_from) for g in grafts}
    components = tuple(
        replace(c, properties=(*c.properties, *((_GRAFTED_FROM, s) for s in sources[c.ref])))
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
    # A graft's users name it by its name before the repair, or (macOS, where a vendored dylib
    # keeps its file name) by that file name.
    by_name = {
        **{g.member.rsplit("/", 1)[-1]: refs[g.member] for g in grafts},
        **{g.name: refs[g.member] for g in grafts},
        **refs,
    }
    needs: dict[str, list[str]] = {ref: [] for ref in refs.values()}
    for graft in grafts:
        for user in graft.needed_by:
            if user in by_name:
                needs[by_name[user]].append(refs[graft.member])
    return ((root, tuple(refs.values())), *((ref, tuple(deps)) for ref, deps in needs.items()))


def merged_grafts(documents: Sequence[bytes]) -> dict[str, GraftRecord] | None:
    """The grafts the documents list, by member, merged: every place a member came from and every
    graft that needs it, in the documents' order. None when one is not a document
    :func:`grafted_sbom` writes (nothing to merge then)."""
    merged: dict[str, tuple[list[str], list[str]]] = {}
    for document in documents:
        records = _graft_records(document)
        if records is None:
            return None
        for record in records:
            sources, users = merged.setdefault(record.member, ([], []))
            sources += [s for s in record.sources if s not in sources]
            users += [u for u in record.needed_by if u not in users]
    return {m: GraftRecord(m, tuple(s), tuple(u)) for m, (s, u) in sorted(merged.items())}


def _graft_records(document: bytes) -> list[GraftRecord] | None:
    try:
        data: Any = json.loads(document)
        member_of: dict[str, str] = {}
        sources: dict[str, tuple[str, ...]] = {}
        for component in data["components"]:
            member = component["evidence"]["occurrences"][0]["location"]
            member_of[component["bom-ref"]] = member
            properties = component.get("properties", ())
            sources[member] = tuple(p["value"] for p in properties if p["name"] == _GRAFTED_FROM)
        users: dict[str, list[str]] = {m: [] for m in sources}
        for entry in data.get("dependencies", ()):
            user = member_of.get(entry["ref"])
            if user is None:
                continue
            for target in entry.get("dependsOn", ()):
                if target in member_of:
                    users[member_of[target]].append(user)
        if not all(isinstance(m, str) for m in sources) or not all(
            isinstance(s, str) for v in sources.values() for s in v
        ):
            return None
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None
    return [GraftRecord(m, sources[m], tuple(users[m])) for m in sources]
