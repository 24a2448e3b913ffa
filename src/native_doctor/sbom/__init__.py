"""Software bills of materials: which upstream native libraries an artifact really ships.

``catalog`` loads the packaged identification data; ``evidence`` scans a binary's bytes for
version strings (pure, bounded); ``identify`` decides library + version from a file name,
:class:`~native_doctor.binary.model.BinaryInfo` and evidence (pure); ``build`` assembles one
:class:`~native_doctor.sbom.model.Sbom` for artifacts; ``cyclonedx`` and ``spdx`` render it.
"""

from native_doctor.sbom.build import FileScan, build_sbom
from native_doctor.sbom.model import Component, Sbom

__all__ = ["Component", "FileScan", "Sbom", "build_sbom"]
