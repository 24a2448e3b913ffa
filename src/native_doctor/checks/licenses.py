"""ND130: a vendored GPL/LGPL compiler runtime shipped without its license text.

The check needs the text of the artifact's license files: the wheel source reads them into
``Artifact.license_texts`` when reading deeply (as ``check`` does), and ``native-doctor sbom``
passes what it read (from a wheel or an installed distribution) to the same pure
:func:`missing_runtime_licenses`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from native_doctor.checks.registry import Finding, Severity, register
from native_doctor.model import Artifact
from native_doctor.sbom.identify import library_of, normalized_name

if TYPE_CHECKING:
    from native_doctor.analysis import Inspection

__all__ = ["missing_runtime_licenses", "runtime_license_missing"]


@register(
    "ND130",
    "runtime-license-missing",
    Severity.WARNING,
    summary="A vendored GPL/LGPL compiler runtime (libgfortran, libquadmath, libgomp, ...) ships without "
    "its license text.",
    what=(
        "For every vendored GCC runtime library (libgfortran, libquadmath, libgomp, libgcc_s, libstdc++, "
        "libatomic), that at least one license file in the wheel (under .dist-info/licenses/, a LICENSE, "
        "COPYING or NOTICE file anywhere) names it or carries its license's own text (the GCC Runtime "
        "Library Exception; the GNU Lesser General Public License for libquadmath). Needs the "
        "license files' text: `check` reads them (deep reading), and so does `native-doctor sbom`."
    ),
    why=(
        "These runtimes are GPL-3.0-or-later WITH the GCC Runtime Library Exception (libquadmath: "
        "LGPL-2.1-or-later). The exception lets proprietary and permissively licensed code link them, "
        "but redistributing the library itself - which a repaired wheel does - still requires shipping "
        "its license text. Repair tools copy the library and not its license, so a wheel that vendors "
        "libgfortran silently ships GPL code without the notice; distributors' license audits (and "
        "the SBOM's license fields) then have nothing to point to."
    ),
    fix=(
        "Add the runtime's license to the wheel: NumPy and SciPy append the GCC runtime licenses "
        "(GPL-3.0 text and the GCC Runtime Library Exception, the LGPL for libquadmath) to their "
        "LICENSE.txt in the wheel build (cibuildwheel `before-build`), naming each vendored library; "
        "with PEP 639 metadata list the file in `license-files` so it lands in .dist-info/licenses/."
    ),
    page="wheel-contents",
    references=(
        "https://www.gnu.org/licenses/gcc-exception-3.1.html",
        "https://peps.python.org/pep-0639/",
    ),
)
def runtime_license_missing(inspection: Inspection) -> Iterator[Finding]:
    texts = inspection.artifact.license_texts
    if texts is not None:
        yield from missing_runtime_licenses(inspection.artifact, dict(texts))


def _license_markers(expression: str) -> tuple[str, ...]:
    """Text that only the runtime's own license carries: a file with it covers every runtime under
    that license (NumPy's LICENSE.txt names libgfortran and carries the exception that libgcc_s,
    vendored beside it, is under too)."""
    if "GCC-exception" in expression:
        return ("gcc runtime library exception",)
    if expression.startswith("LGPL"):
        return ("gnu lesser general public license",)
    return ()


def missing_runtime_licenses(artifact: Artifact, texts: Mapping[str, str]) -> list[Finding]:
    """One finding per vendored GPL/LGPL runtime that no license text in ``texts`` names."""
    lowered = [text.lower() for text in texts.values()]
    findings = []
    for native in artifact.native:
        library = library_of(native.path, native.info)
        if library is None or not library.runtime_gpl:
            continue
        markers = (library.name.lower(), *_license_markers(library.license or ""))
        if any(marker in text for text in lowered for marker in markers):
            continue
        where = f"{len(texts)} license file(s) checked" if texts else "the wheel has no license file"
        findings.append(
            runtime_license_missing.finding(
                f"{native.path} is GCC's {library.name} ({library.license}) but no license file names "
                f"it or carries its license text ({where})",
                artifact.path,
                native.path,
                normalized_name(native.path),
            )
        )
    return findings
