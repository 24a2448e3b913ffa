"""Read wheels or an installed environment and build their SBOM (the seam between the I/O in
``sources`` and the pure ``build``)."""

from __future__ import annotations

import hashlib
import mmap
from collections.abc import Callable, Sequence
from pathlib import Path

from native_doctor import __version__
from native_doctor.checks.licenses import missing_runtime_licenses
from native_doctor.checks.registry import Finding
from native_doctor.model import Artifact
from native_doctor.sbom.build import FileScan, build_sbom
from native_doctor.sbom.catalog import libraries
from native_doctor.sbom.evidence import Evidence, scan
from native_doctor.sbom.identify import library_of, normalized_name
from native_doctor.sbom.model import Sbom
from native_doctor.sources.contents import (
    MAX_SCAN,
    file_contents,
    license_texts_on_disk,
    sha256_file,
    wheel_member_contents,
)
from native_doctor.sources.env import read_environment
from native_doctor.sources.wheel import read_wheel

__all__ = [
    "collect_environment",
    "collect_wheels",
    "environment_sbom",
    "scan_artifact_files",
    "wheels_sbom",
]

_Visit = Callable[[str, bytes | mmap.mmap], tuple[Evidence, ...]]


def wheels_sbom(paths: Sequence[Path]) -> Sbom:
    """One document for the wheel files (each a distribution component)."""
    return collect_wheels(paths)[0]


def collect_wheels(paths: Sequence[Path]) -> tuple[Sbom, list[Finding]]:
    """The document for the wheel files, and ND130 findings (runtimes without license text)."""
    entries = []
    findings: list[Finding] = []
    for path in paths:
        artifact = read_wheel(path, licenses=True)
        found = wheel_member_contents(path, [n.path for n in artifact.native], _visitor(artifact))
        entries.append((artifact, _scans(found), sha256_file(path)))
        findings += missing_runtime_licenses(artifact, dict(artifact.license_texts or ()))
    subject = paths[0].name if len(paths) == 1 else f"{len(paths)} wheels"
    return build_sbom(subject, entries, __version__), findings


def collect_environment(directories: Sequence[Path]) -> tuple[Sbom, list[Finding]]:
    """The document for every distribution installed in the site-packages ``directories``, and
    ND130 findings."""
    entries = []
    findings: list[Finding] = []
    for site in directories:
        environment = read_environment(site)
        for artifact in environment.distributions:
            files = {n.path: site / n.path for n in artifact.native}
            entries.append((artifact, _scans(file_contents(files, _visitor(artifact))), None))
            findings += missing_runtime_licenses(artifact, license_texts_on_disk(site, artifact.files))
    subject = "environment " + ", ".join(str(d) for d in directories)
    return build_sbom(subject, entries, __version__), findings


def environment_sbom(directories: Sequence[Path]) -> Sbom:
    """One document for every distribution installed in the site-packages ``directories``."""
    return collect_environment(directories)[0]


def scan_artifact_files(artifact: Artifact, data: dict[str, bytes]) -> dict[str, FileScan]:
    """Scans of in-memory contents (for callers that already hold the bytes, e.g. repair)."""
    visit = _visitor(artifact)
    return {
        name: FileScan(hashlib.sha256(blob).hexdigest(), visit(name, blob)) for name, blob in data.items()
    }


def _visitor(artifact: Artifact) -> _Visit:
    infos = {n.path: n.info for n in artifact.native}
    embeddable = tuple(lib for lib in libraries() if lib.embedded)

    def visit(name: str, buf: bytes | mmap.mmap) -> tuple[Evidence, ...]:
        info = infos.get(name)
        arch = info.arch if info is not None else None
        return scan(buf, library_of(name, info), embeddable, arch=arch, soname=normalized_name(name))

    return visit


def _scans(found: dict[str, tuple[str, tuple[Evidence, ...] | None]]) -> dict[str, FileScan]:
    note = f"larger than {MAX_SCAN >> 20} MiB: hashed, not scanned for versions"
    return {
        name: FileScan(digest, evidence or (), None if evidence is not None else note)
        for name, (digest, evidence) in found.items()
    }
