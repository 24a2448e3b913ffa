"""Wheel checks (ND101-ND120) on inspections built in the test, and on real corpus wheels."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

import pytest

from _corpus import CorpusWheel, ensure, wheels
from native_doctor.analysis import Inspection, inspect_artifact
from native_doctor.binary.model import BinaryFormat, BinaryInfo, FileKind
from native_doctor.checks.registry import Finding, run_checks
from native_doctor.model import Artifact, ArtifactKind, NativeFile, RecordReport

Factory = Callable[[], Inspection]
EXT = "demo/_ext.so"


def elf(
    arch: str = "x86_64",
    versions: Mapping[str, tuple[str, ...]] | None = None,
    kind: FileKind = FileKind.SHARED_LIBRARY,
) -> BinaryInfo:
    return BinaryInfo(
        BinaryFormat.ELF,
        arch,
        64,
        "little",
        kind,
        needed=tuple(versions or ()) or ("libc.so.6",),
        symbol_versions=MappingProxyType(dict(versions or {})),
    )


def macho(*slices: tuple[str, str | None], kind: FileKind = FileKind.BUNDLE) -> BinaryInfo:
    pieces = tuple(
        BinaryInfo(BinaryFormat.MACHO, arch, 64, "little", kind, min_os=min_os, os_platform="macos")
        for arch, min_os in slices
    )
    if len(pieces) == 1:
        return pieces[0]
    arch = (
        "universal2"
        if {a for a, _ in slices} == {"arm64", "x86_64"}
        else "+".join(sorted(a for a, _ in slices))
    )
    return BinaryInfo(BinaryFormat.MACHO, arch, 64, "little", kind, slices=pieces)


def pe(
    arch: str = "x86_64",
    needed: tuple[str, ...] = ("KERNEL32.dll",),
    kind: FileKind = FileKind.SHARED_LIBRARY,
) -> BinaryInfo:
    return BinaryInfo(BinaryFormat.PE, arch, 64 if arch != "x86" else 32, "little", kind, needed=needed)


def native(path: str, info: BinaryInfo | None, install_path: str | None = None) -> NativeFile:
    return NativeFile(path, install_path or path, 100, None, info)


def wheel(
    tags: str,
    *files: NativeFile,
    root_is_purelib: bool | None = False,
    record: RecordReport | None = None,
    size: int = 1000,
    kind: ArtifactKind = ArtifactKind.WHEEL,
) -> Inspection:
    """An inspected wheel ``demo-1.0-<tags>.whl``; ``tags`` is the compressed tag triple."""
    interps, abis, plats = tags.split("-")
    claimed = tuple(
        f"{i}-{a}-{p}" for i in interps.split(".") for a in abis.split(".") for p in plats.split(".")
    )
    artifact = Artifact(
        kind=kind,
        path=f"demo-1.0-{tags}.whl",
        name="demo",
        version="1.0",
        claimed_tags=claimed,
        files=(*(f.install_path for f in files), "demo/__init__.py"),
        native=files,
        root_is_purelib=root_is_purelib,
        record=record,
        size=size,
    )
    return inspect_artifact(artifact)


def codes(inspection: Inspection, code: str) -> list[Finding]:
    return [f for f in run_checks(inspection) if f.code == code]


GLIBC_2_28 = {"libc.so.6": ("GLIBC_2.17", "GLIBC_2.28")}
GLIBC_2_17 = {"libc.so.6": ("GLIBC_2.14", "GLIBC_2.17")}

#: For each of this module's codes: (an inspection that triggers it, a clean one).
CASES: dict[str, tuple[Factory, Factory]] = {
    "ND101": (
        lambda: wheel("cp312-cp312-manylinux_2_17_x86_64", native(EXT, elf(versions=GLIBC_2_28))),
        lambda: wheel("cp312-cp312-manylinux_2_28_x86_64", native(EXT, elf(versions=GLIBC_2_28))),
    ),
    "ND102": (
        lambda: wheel("cp312-cp312-manylinux_2_17_x86_64", native(EXT, elf("aarch64", GLIBC_2_17))),
        lambda: wheel("cp312-cp312-manylinux_2_17_aarch64", native(EXT, elf("aarch64", GLIBC_2_17))),
    ),
    "ND103": (
        lambda: wheel("py3-none-any", native(EXT, elf())),
        lambda: wheel("cp312-cp312-linux_x86_64", native(EXT, elf())),
    ),
    "ND104": (
        lambda: wheel("cp312-cp312-win_amd64"),
        lambda: wheel("py3-none-any"),
    ),
    "ND110": (
        lambda: wheel("py3-none-any", record=RecordReport(present=False)),
        lambda: wheel("py3-none-any", record=RecordReport(present=True)),
    ),
    "ND111": (
        lambda: wheel(
            "py3-none-any", record=RecordReport(True, mismatched=(("demo/x.py", "sha256 differs"),))
        ),
        lambda: wheel("py3-none-any", record=RecordReport(True, unlisted=("demo/x.py",))),
    ),
    "ND112": (
        lambda: wheel("py3-none-any", record=RecordReport(True, unlisted=("demo/x.py",))),
        lambda: wheel("py3-none-any", record=RecordReport(True, mismatched=(("demo/x.py", "size"),))),
    ),
    "ND120": (
        lambda: wheel("py3-none-any", size=100 * 2**20 + 1),
        lambda: wheel("py3-none-any", size=100 * 2**20),
    ),
}


@pytest.mark.parametrize(("code", "which"), [(c, w) for c in CASES for w in ("bad", "good")], ids=lambda v: v)
def test_cases_fire_and_stay_quiet(code: str, which: str) -> None:
    bad, good = CASES[code]
    found = {f.code for f in run_checks((bad if which == "bad" else good)())}
    assert (code in found) == (which == "bad")


# --- ND101 -----------------------------------------------------------------------------------------


def test_nd101_flags_every_claimed_tag_older_than_needed() -> None:
    inspection = wheel(
        "cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.manylinux_2_28_x86_64",
        native(EXT, elf(versions=GLIBC_2_28)),
        native("demo.libs/libz.so.1", elf(versions={"libc.so.6": ("GLIBC_2.14",)})),
    )
    found = codes(inspection, "ND101")
    assert sorted(f.message.split(" ", 1)[0] for f in found) == [
        "manylinux2014_x86_64",
        "manylinux_2_17_x86_64",
    ]
    message = found[0].message
    assert "GLIBC_2.28" in message and EXT in message and "libc.so.6" in message
    assert "manylinux_2_28_x86_64 or newer" in message
    assert found[0].member == EXT and found[0].detail == "GLIBC_2.28"


def test_nd101_names_the_worst_binary_and_counts_the_others() -> None:
    inspection = wheel(
        "cp312-cp312-manylinux_2_17_x86_64",
        native("demo/a.so", elf(versions={"libc.so.6": ("GLIBC_2.28",)})),
        native(
            "demo/b.so", elf(versions={"libstdc++.so.6": ("GLIBCXX_3.4.30",), "libc.so.6": ("GLIBC_2.34",)})
        ),
    )
    (finding,) = codes(inspection, "ND101")
    assert finding.member == "demo/b.so" and "GLIBCXX_3.4.30" in finding.message
    assert "1 more file(s)" in finding.message


def test_nd101_ignores_loader_private_and_ungoverned_versions() -> None:
    versions = {
        "ld-linux-x86-64.so.2": ("GLIBC_2.35", "GLIBC_PRIVATE"),
        "libc.so.6": ("GLIBC_2.17", "GLIBC_PRIVATE"),
        "libgfortran.so.5": ("GFORTRAN_10",),
    }
    assert not codes(wheel("cp312-cp312-manylinux_2_17_x86_64", native(EXT, elf(versions=versions))), "ND101")


def test_nd101_version_beyond_every_policy() -> None:
    inspection = wheel(
        "cp312-cp312-manylinux_2_17_x86_64", native(EXT, elf(versions={"libc.so.6": ("GLIBC_2.99",)}))
    )
    (finding,) = codes(inspection, "ND101")
    assert "no known manylinux policy allows it" in finding.message


def test_nd101_musllinux_has_no_symbol_versions_to_judge() -> None:
    assert not codes(wheel("cp312-cp312-musllinux_1_1_x86_64", native(EXT, elf())), "ND101")


@pytest.mark.parametrize(
    ("tag", "slices", "flagged"),
    [
        ("macosx_10_9_universal2", [("x86_64", "10.13"), ("arm64", "11.0")], "x86_64"),
        ("macosx_10_9_universal2", [("x86_64", "10.9"), ("arm64", "11.0")], None),
        ("macosx_10_9_universal2", [("x86_64", "10.9"), ("arm64", "12.0")], "arm64"),
        ("macosx_11_0_arm64", [("arm64", "11.0")], None),
        ("macosx_11_0_arm64", [("arm64", "13.0")], "arm64"),
        # pip's tags have no minor from 11 on: 12.3 is a separate problem, not this tag's.
        ("macosx_12_0_arm64", [("arm64", "12.3")], None),
        ("macosx_10_13_x86_64", [("x86_64", "10.14")], "x86_64"),
        # Slices of other architectures do not decide an x86_64 tag.
        ("macosx_10_9_x86_64", [("x86_64", "10.9"), ("arm64", "14.0")], None),
        ("macosx_10_9_x86_64", [("x86_64", None)], None),
    ],
    ids=str,
)
def test_nd101_macos(tag: str, slices: list[tuple[str, str | None]], flagged: str | None) -> None:
    found = codes(wheel(f"cp312-cp312-{tag}", native("demo/_ext.so", macho(*slices))), "ND101")
    if flagged is None:
        assert not found
    else:
        (finding,) = found
        assert f"{flagged} slice" in finding.message and tag in finding.message


@pytest.mark.corpus
def test_nd101_real_cryptography_universal2_x86_64_slice_needs_10_13() -> None:
    (entry,) = wheels(name="cryptography", family="macos-universal2")
    from native_doctor.sources.wheel import read_wheel

    inspection = inspect_artifact(read_wheel(ensure(entry)))
    (finding,) = codes(inspection, "ND101")
    assert finding.member == "cryptography/hazmat/bindings/_rust.abi3.so"
    assert finding.detail == "10.13"
    assert "macosx_10_9_universal2" in finding.message and "x86_64 slice" in finding.message
    assert "macosx_10_13_universal2" in finding.message


# --- ND102 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "info", "expected"),
    [
        ("cp312-cp312-win32", pe("x86_64"), "win32 needs x86"),
        ("cp312-cp312-win_amd64", pe("x86"), "win_amd64 needs x86_64"),
        ("cp312-cp312-win_arm64", pe("arm64"), None),
        ("cp312-cp312-macosx_10_9_universal2", macho(("x86_64", "10.9")), "needs arm64"),
        ("cp312-cp312-macosx_11_0_arm64", macho(("x86_64", "10.9")), "needs arm64"),
        ("cp312-cp312-macosx_11_0_arm64", macho(("x86_64", "10.9"), ("arm64", "11.0")), None),
        ("cp312-cp312-macosx_10_9_universal2", macho(("x86_64", "10.9"), ("arm64", "11.0")), None),
        ("cp312-cp312-linux_armv6l", elf("armv7l"), None),
        ("cp312-cp312-manylinux_2_17_i686", elf("x86_64"), "needs i686"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_nd102(tags: str, info: BinaryInfo, expected: str | None) -> None:
    found = codes(wheel(tags, native("demo/_ext.bin", info)), "ND102")
    if expected is None:
        assert not found
    else:
        (finding,) = found
        assert expected in finding.message


def test_nd102_ignores_executables_and_other_formats() -> None:
    inspection = wheel(
        "cp312-cp312-win_amd64",
        native("demo/helper-32.exe", pe("x86", kind=FileKind.EXECUTABLE)),
        native("demo/_ext.pyd", pe("x86_64")),
        native("demo/data/linux_helper.so", elf("aarch64")),
    )
    assert not codes(inspection, "ND102")


# --- ND103 / ND104 ---------------------------------------------------------------------------------


def test_nd103_root_is_purelib_with_native_code() -> None:
    (finding,) = codes(
        wheel(
            "cp312-cp312-manylinux_2_17_x86_64", native(EXT, elf(versions=GLIBC_2_17)), root_is_purelib=True
        ),
        "ND103",
    )
    assert "Root-Is-Purelib" in finding.message


def test_nd103_platlib_data_is_fine_with_purelib_root() -> None:
    inspection = wheel(
        "cp312-cp312-manylinux_2_17_x86_64",
        native("demo-1.0.data/platlib/demo/_ext.so", elf(versions=GLIBC_2_17), install_path=EXT),
        root_is_purelib=True,
    )
    assert not codes(inspection, "ND103")


def test_nd103_any_wheel_skips_dotnet_assemblies_and_launcher_templates() -> None:
    inspection = wheel(
        "py3-none-any",
        native("demo/Python.Runtime.dll", pe("x86", needed=("mscoree.dll",))),
        native("demo/cli-64.exe", pe("x86_64", kind=FileKind.EXECUTABLE)),
        root_is_purelib=True,
    )
    assert not codes(inspection, "ND103")
    scripts = wheel(
        "py3-none-any",
        native("demo-1.0.data/scripts/tool", elf(kind=FileKind.EXECUTABLE), install_path="<scripts>/tool"),
    )
    (finding,) = codes(scripts, "ND103")
    assert "any platform" in finding.message


def test_nd104_only_without_any_native_file() -> None:
    assert codes(wheel("cp312-cp312-win_amd64"), "ND104")
    assert not codes(wheel("cp312-cp312-win_amd64", native("demo/_ext.pyd", None)), "ND104")


# --- ND110 - ND120 ---------------------------------------------------------------------------------


def test_record_checks_are_silent_without_verification() -> None:
    inspection = wheel("py3-none-any", record=None)
    assert not [f for f in run_checks(inspection) if f.code in {"ND110", "ND111", "ND112"}]


def test_nd112_reports_unlisted_and_absent_files() -> None:
    record = RecordReport(True, unlisted=("demo/a.py",), missing=("demo/gone.py",))
    found = codes(wheel("py3-none-any", record=record), "ND112")
    assert {f.member for f in found} == {"demo/a.py", "demo/gone.py"}


def test_nd120_message_gives_the_size_and_only_for_wheels() -> None:
    (finding,) = codes(wheel("py3-none-any", size=150 * 2**20), "ND120")
    assert "150.0 MiB" in finding.message
    assert not codes(wheel("py3-none-any", size=150 * 2**20, kind=ArtifactKind.DISTRIBUTION), "ND120")


# --- real wheels -----------------------------------------------------------------------------------

WHEEL_CODES = frozenset(CASES)
#: The only findings of these checks on the (non-benchmark) corpus, judged true positives.
EXPECTED_CORPUS = {"cryptography-48.0.1-cp311-abi3-macosx_10_9_universal2.whl": {"ND101"}}


@pytest.mark.corpus
@pytest.mark.parametrize("entry", wheels(), ids=lambda e: e.filename)
def test_no_false_positives_on_corpus(entry: CorpusWheel) -> None:
    from native_doctor.sources.wheel import read_wheel

    path = ensure(entry)
    inspection = inspect_artifact(read_wheel(path, deep=True, verify_record=True))
    found = {f.code for f in run_checks(inspection) if f.code in WHEEL_CODES}
    assert found == EXPECTED_CORPUS.get(path.name, set())
