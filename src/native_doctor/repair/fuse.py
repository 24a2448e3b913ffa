"""Fuse an arm64 and an x86_64 macOS wheel into one universal2 wheel.

Every member both wheels hold is compared: two thin Mach-O images of the two architectures become
one fat file (x86_64 slice first, as ``lipo -create`` orders them; each slice keeps its bytes, so
its signature stays valid, and is verified); identical files are kept; any other difference (a
file that differs, or a file only one wheel has) is listed, and the fuse is refused unless
``allow_different`` (then the arm64 wheel's file is kept, and files only one wheel has are added).
The tag is ``macosx_X_Y_universal2``: the highest minimum macOS of the x86_64 side (binaries and
claimed tag), raised by the arm64 side only above 11.0. RECORD is regenerated; the output is
canonical, reproducible, verified before writing and written atomically. The PEP 770 SBOM a
repair writes (``.dist-info/sboms/native-doctor.cdx.json``) is not compared when both wheels carry
one: the fused wheel gets one written again from the fused files, listing every graft either
document lists, with the places both thin copies came from (the thin documents' hashes describe
neither fused file).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from native_doctor.binary import read_binary
from native_doctor.binary.codesign import signature_problems
from native_doctor.binary.macho_write import FatSlice, build_fat, thin_images
from native_doctor.binary.model import BinaryFormat, BinaryInfo
from native_doctor.errors import BinaryFormatError, UsageError
from native_doctor.model import Artifact, ArtifactKind
from native_doctor.platforms import macos
from native_doctor.repair import macos as mac
from native_doctor.repair.model import CannotRepair
from native_doctor.repair.stages import fail_verification
from native_doctor.repair.wheelfile import Progress, write_wheel
from native_doctor.repair.wheelmeta import dist_info_dir, open_wheel, retag_wheel, retagged_file_name
from native_doctor.sbom.pep770 import SBOM_NAME, Grafted, GraftRecord, grafted_sbom, merged_grafts

__all__ = ["FuseResult", "fuse_wheels"]

#: log2 of the slice alignment lipo uses: the arm64 page (16 KiB) and the Intel page (4 KiB).
_ALIGN = {"arm64": 14, "x86_64": 12}
_ORDER = ("x86_64", "arm64")
CPU_TYPE_ARM64 = 0x0100000C


@dataclass(frozen=True, slots=True)
class FuseResult:
    """What fusing did (or would do)."""

    arm64: str
    x86_64: str
    output: str | None
    platform: str
    #: Members that became fat files.
    fused: tuple[str, ...] = ()
    #: (member, how the two wheels differ) for every other difference.
    different: tuple[tuple[str, str], ...] = ()
    problem: str | None = None
    notes: tuple[str, ...] = field(default=())


def fuse_wheels(
    first: Path,
    second: Path,
    out_dir: Path,
    *,
    allow_different: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> FuseResult:
    """Fuse two thin macOS wheels (either order) into ``out_dir``; a refusal is a result whose
    ``problem`` says why (nothing written). :raises UsageError: the inputs are not such a pair."""
    arm, intel = _pair(first, second)
    with open_wheel(arm) as a, open_wheel(intel) as b:
        dist_info = dist_info_dir(a, arm)
        if dist_info_dir(b, intel) != dist_info:
            raise UsageError(f"{arm.name} and {intel.name} are not builds of one distribution version")
        names_a, names_b = _members(a, dist_info), _members(b, dist_info)
        sbom = f"{dist_info}/sboms/{SBOM_NAME}"
        grafts = _sbom_grafts(a, b, sbom, names_a, names_b)
        sbom_in_a = sbom in names_a
        if grafts is not None and sbom in names_a & names_b:  # written again below
            names_a.discard(sbom)
            names_b.discard(sbom)
        fused: dict[str, bytes] = {}
        different: list[tuple[str, str]] = []
        for name in sorted(names_a & names_b):
            data_a, data_b = a.read(name), b.read(name)
            if data_a == data_b:
                continue
            fat, why = _fuse_pair(data_a, data_b)
            if fat is None:
                different.append((name, why))
                continue
            fused[name] = fat
        only_b = sorted(names_b - names_a)
        different += [(n, f"only in {arm.name}") for n in sorted(names_a - names_b)]
        different += [(n, f"only in {intel.name}") for n in only_b]
        added = {n: b.read(n) for n in only_b} if allow_different else {}
        wheel_text = a.read(f"{dist_info}/WHEEL").decode("utf-8", "replace")
        graft_bytes = {
            m: fused[m] if m in fused else a.read(m) if m in names_a else b.read(m) for m in grafts or ()
        }
    infos = _verify(fused)
    platform = _tag(infos, arm, intel)
    out_name = retagged_file_name(arm.name, (platform,))
    result = FuseResult(str(arm), str(intel), None, platform, tuple(sorted(fused)), tuple(sorted(different)))
    if different and not allow_different:
        return _refused(result, different)
    _check_universal(fused, platform)
    if dry_run:
        return result
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / out_name
    replace = {**fused, f"{dist_info}/WHEEL": retag_wheel(wheel_text, out_name, (platform,)).encode()}
    if grafts is not None:  # the thin documents' hashes describe neither fused file
        (replace if sbom_in_a else added).update(_fused_sbom(dist_info, out_name, grafts, graft_bytes))
    write_wheel(arm, target, dist_info=dist_info, replace=replace, add=added, progress=progress)
    return FuseResult(result.arm64, result.x86_64, str(target), platform, result.fused, result.different)


def _refused(result: FuseResult, different: list[tuple[str, str]]) -> FuseResult:
    first = "; ".join(f"{n} ({why})" for n, why in sorted(different)[:5])
    more = f" and {len(different) - 5} more" if len(different) > 5 else ""
    problem = (
        f"the wheels differ beyond their binaries: {first}{more} (--allow-different keeps the arm64 files)"
    )
    return FuseResult(
        result.arm64, result.x86_64, None, result.platform, result.fused, result.different, problem=problem
    )


def _pair(first: Path, second: Path) -> tuple[Path, Path]:
    """(arm64 wheel, x86_64 wheel) from the two paths in either order."""
    archs = {}
    for path in (first, second):
        try:
            _name, _version, _build, tags = parse_wheel_filename(path.name)
        except InvalidWheelFilename as exc:
            raise UsageError(f"{path.name}: {exc}") from None
        found = {parsed[1] for t in tags if (parsed := macos.parse_macos_platform_tag(t.platform))}
        if len(found) != 1 or not found <= {"arm64", "x86_64"}:
            raise UsageError(f"{path.name}: not a thin macOS arm64 or x86_64 wheel")
        archs[found.pop()] = path
    if set(archs) != {"arm64", "x86_64"}:
        raise UsageError("fuse needs one arm64 wheel and one x86_64 wheel")
    return archs["arm64"], archs["x86_64"]


def _members(archive: zipfile.ZipFile, dist_info: str) -> set[str]:
    skip = {f"{dist_info}/RECORD", f"{dist_info}/WHEEL", f"{dist_info}/RECORD.jws", f"{dist_info}/RECORD.p7s"}
    return {i.filename for i in archive.infolist() if not i.is_dir() and i.filename not in skip}


def _sbom_grafts(
    a: zipfile.ZipFile, b: zipfile.ZipFile, sbom: str, names_a: set[str], names_b: set[str]
) -> dict[str, GraftRecord] | None:
    """The grafts the wheels' PEP 770 documents list (merged; only members one of the wheels
    holds), or None (no document, or one this tool did not write: compared like any other file).
    A document only one wheel has is still a difference; kept, it is written again too."""
    documents = [z.read(sbom) for z, names in ((a, names_a), (b, names_b)) if sbom in names]
    merged = merged_grafts(documents) if documents else None
    if merged is None:
        return None
    kept = {m: r for m, r in merged.items() if m in names_a or m in names_b}
    return kept or None


def _fused_sbom(
    dist_info: str, out_name: str, grafts: dict[str, GraftRecord], contents: dict[str, bytes]
) -> dict[str, bytes]:
    """The fused wheel's SBOM: every graft hashed and scanned again as it is in the fused wheel,
    with where both thin copies came from and which grafts need it."""
    name, version = out_name.split("-")[:2]
    artifact = Artifact(ArtifactKind.WHEEL, out_name, name, version, (), (), ())
    listed = [
        Grafted(
            m,
            m.rsplit("/", 1)[-1],
            r.sources[0] if r.sources else "",
            read_binary(contents[m]),
            r.needed_by,
            r.sources[1:],
        )
        for m, r in grafts.items()
    ]
    return grafted_sbom(dist_info, artifact, listed, contents)


def _fuse_pair(arm_data: bytes, intel_data: bytes) -> tuple[bytes | None, str]:
    """The fat file of two thin images of the two architectures, or None and why not."""
    try:
        a, b = read_binary(arm_data), read_binary(intel_data)
    except BinaryFormatError:
        return None, "the contents differ"
    if a.format is not BinaryFormat.MACHO or b.format is not BinaryFormat.MACHO:
        return None, "the contents differ"
    if a.archs != ("arm64",) or b.archs != ("x86_64",):
        return None, f"Mach-O files for {'+'.join(a.archs)} and {'+'.join(b.archs)}, not arm64 and x86_64"
    if a.kind is not b.kind:
        return None, f"a {a.kind.value} and a {b.kind.value}"
    [arm_slice], [intel_slice] = thin_images(arm_data), thin_images(intel_data)
    slices = {"arm64": arm_slice, "x86_64": intel_slice}
    fat = build_fat(
        [
            FatSlice(s.cputype, s.cpusubtype, _ALIGN[arch], s.data)
            for arch, s in ((k, slices[k]) for k in _ORDER)
        ]
    )
    return fat, ""


def _verify(fused: dict[str, bytes]) -> list[tuple[str, BinaryInfo]]:
    """Every fat file reads back with both architectures and valid slice signatures."""
    infos = []
    problems = []
    for name, data in sorted(fused.items()):
        info = read_binary(data)
        if info.archs != _ORDER:
            problems.append(f"{name}: reads back as {'+'.join(info.archs)}")
        for image in thin_images(data):
            found = signature_problems(image.data)
            if found == ["no LC_CODE_SIGNATURE"] and image.cputype != CPU_TYPE_ARM64:
                continue
            problems += [f"{name} ({image.cputype:#x}): {p}" for p in found]
        infos.append((name, info))
    if problems:
        raise fail_verification(problems)
    return infos


def _tag(infos: list[tuple[str, BinaryInfo]], arm: Path, intel: Path) -> str:
    floor = mac.needs_by_arch(infos, _ORDER)
    versions = dict(floor.versions)
    for path in (arm, intel):
        for tag in parse_wheel_filename(path.name)[3]:
            parsed = macos.parse_macos_platform_tag(tag.platform)
            if parsed and parsed[1] in versions:
                versions[parsed[1]] = max(versions[parsed[1]], parsed[0])
    return macos.macos_tag((a, f"{v[0]}.{v[1]}") for a, v in versions.items())


def _check_universal(fused: dict[str, bytes], platform: str) -> None:
    """The tag and every fat file say universal2."""
    if not platform.endswith("_universal2"):
        raise CannotRepair(f"the fused tag {platform} is not universal2")
    for name, data in fused.items():
        if read_binary(data).arch != "universal2":
            raise CannotRepair(f"{name}: not universal2 after fusing")
