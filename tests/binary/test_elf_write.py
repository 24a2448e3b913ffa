"""Tests for the ELF writer: real toolchain output edited, read back, checked by readelf and ld.so.

Every edit is checked four ways: the project's reader reads back exactly the requested values,
``readelf -d -V -l`` parses the output and agrees, :func:`check_elf_invariants` finds nothing,
and (native x86_64) the real loader runs an executable whose renamed library sits in another
folder reached only through the new RUNPATH.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _corpus import CorpusWheel, corpus_params, ensure
from _elf_builds import BUILD_RPATH, CROSS_COMPILERS, ElfSet, build_elf_set, libc_name
from _toolchain import require
from native_doctor.binary import BinaryInfo, BytesSource, elf_write
from native_doctor.binary.elf import read_elf
from native_doctor.binary.elf_write import ElfEdit, ElfWriteError, check_elf_invariants, edit_elf
from native_doctor.errors import NativeDoctorError

pytestmark = pytest.mark.toolchain

TARGETS = tuple(CROSS_COMPILERS)
MANGLED_DEP = "libdep-1a2b3c4d.so.1"
MANGLED_VERSIONED = "libversioned-deadbeef.so"


@pytest.fixture(scope="session")
def build_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("elf_write")


def read(data: bytes) -> BinaryInfo:
    return read_elf(BytesSource(data))


# --------------------------------------------------------------------------------------------
# The edit table: (which file, the edit, the values the result must have)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    file: str  # "app", "libdep", "libversioned"
    edit: ElfEdit
    #: BinaryInfo field -> expected value after the edit.
    expect: dict[str, object]
    rpath: bool = False


CASES: dict[str, Case] = {
    "soname-shorter-in-place": Case("libdep", ElfEdit(soname="libd.so"), {"soname": "libd.so"}),
    "soname-longer": Case("libdep", ElfEdit(soname=MANGLED_DEP), {"soname": MANGLED_DEP}),
    "soname-same-is-noop": Case("libdep", ElfEdit(soname="libdep.so.1"), {"soname": "libdep.so.1"}),
    "soname-versioned": Case(
        "libversioned",
        ElfEdit(soname=MANGLED_VERSIONED),
        {"soname": MANGLED_VERSIONED, "version_definitions": ("VERS_1.0", "VERS_2.0")},
    ),
    "needed-rename": Case(
        "app",
        ElfEdit(replace_needed={"libdep.so.1": MANGLED_DEP}),
        {"needed": (MANGLED_DEP, "libversioned.so", "libc.so.6")},
    ),
    "needed-rename-with-verneed": Case(
        "app",
        ElfEdit(replace_needed={"libversioned.so": MANGLED_VERSIONED}),
        {
            "needed": ("libdep.so.1", MANGLED_VERSIONED, "libc.so.6"),
            "symbol_versions": {MANGLED_VERSIONED: ("VERS_1.0", "VERS_2.0")},
        },
    ),
    "needed-rename-shorter-in-place": Case(
        "app",
        ElfEdit(replace_needed={"libversioned.so": "libv.so"}),
        {
            "needed": ("libdep.so.1", "libv.so", "libc.so.6"),
            "symbol_versions": {"libv.so": ("VERS_1.0", "VERS_2.0")},
        },
    ),
    "runpath-replaces-runpath": Case(
        "app", ElfEdit(runpath=("$ORIGIN/../app.libs",)), {"runpath": ("$ORIGIN/../app.libs",), "rpath": ()}
    ),
    "runpath-replaces-rpath": Case(
        "app",
        ElfEdit(runpath=("$ORIGIN/../app.libs", "$ORIGIN")),
        {"runpath": ("$ORIGIN/../app.libs", "$ORIGIN"), "rpath": ()},
        rpath=True,
    ),
    "runpath-same-with-rename": Case(
        "app",
        ElfEdit(runpath=tuple(BUILD_RPATH.split(":")), replace_needed={"libdep.so.1": MANGLED_DEP}),
        {"runpath": tuple(BUILD_RPATH.split(":")), "needed": (MANGLED_DEP, "libversioned.so", "libc.so.6")},
    ),
    "soname-same-with-runpath": Case(
        "libdep",
        ElfEdit(soname="libdep.so.1", runpath=("$ORIGIN",)),
        {"soname": "libdep.so.1", "runpath": ("$ORIGIN",)},
    ),
    "runpath-long": Case(
        "app",
        ElfEdit(runpath=tuple(f"$ORIGIN/../../site-packages/nvidia/lib{i}/lib" for i in range(8))),
        {"runpath": tuple(f"$ORIGIN/../../site-packages/nvidia/lib{i}/lib" for i in range(8))},
    ),
    "runpath-added": Case(
        "libdep", ElfEdit(runpath=("$ORIGIN",)), {"runpath": ("$ORIGIN",), "soname": "libdep.so.1"}
    ),
    "runpath-removed": Case("app", ElfEdit(runpath=()), {"runpath": (), "rpath": ()}, rpath=True),
    "all-at-once": Case(
        "app",
        ElfEdit(
            soname="app-1",
            replace_needed={"libdep.so.1": MANGLED_DEP, "libversioned.so": MANGLED_VERSIONED},
            runpath=("$ORIGIN/../app.libs",),
        ),
        {
            "soname": "app-1",
            "needed": (MANGLED_DEP, MANGLED_VERSIONED, "libc.so.6"),
            "runpath": ("$ORIGIN/../app.libs",),
            "rpath": (),
            "symbol_versions": {MANGLED_VERSIONED: ("VERS_1.0", "VERS_2.0")},
        },
    ),
}


def _case_file(built: ElfSet, case: Case) -> Path:
    return {"app": built.app, "libdep": built.libdep, "libversioned": built.libversioned}[case.file]


def _check_symbol_versions(info: BinaryInfo, expected: object) -> None:
    assert isinstance(expected, dict)
    for name, versions in expected.items():
        assert info.symbol_versions.get(name) == versions


def _check_expected(info: BinaryInfo, expect: dict[str, object], libc: str) -> None:
    for key, value in expect.items():
        wanted = tuple(libc if v == "libc.so.6" else v for v in value) if isinstance(value, tuple) else value
        if key == "symbol_versions":
            _check_symbol_versions(info, wanted)
        else:
            assert getattr(info, key) == wanted, key


# --------------------------------------------------------------------------------------------
# readelf as the oracle
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadelfView:
    needed: tuple[str, ...]
    soname: str | None
    runpath: tuple[str, ...]
    rpath: tuple[str, ...]
    verneed_files: tuple[str, ...]


def readelf(path: Path) -> ReadelfView:
    """What ``readelf -d -V -l -W`` says, failing on any warning or error it prints."""
    proc = subprocess.run(
        [require("readelf"), "-d", "-V", "-l", "-W", str(path)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "warning" not in proc.stderr.lower() and "error" not in proc.stderr.lower(), proc.stderr
    out = proc.stdout

    def values(kind: str) -> list[str]:
        return re.findall(rf"\({kind}\)\s+[^\[]*\[([^\]]*)\]", out)

    soname = values("SONAME")
    return ReadelfView(
        needed=tuple(values("NEEDED")),
        soname=soname[0] if soname else None,
        runpath=tuple(p for v in values("RUNPATH") for p in v.split(":") if p),
        rpath=tuple(p for v in values("RPATH") for p in v.split(":") if p),
        verneed_files=tuple(re.findall(r"File: (\S+)\s+Cnt:", out)),
    )


def _agrees_with_readelf(path: Path, info: BinaryInfo) -> None:
    view = readelf(path)
    assert view.needed == info.needed
    assert view.soname == info.soname
    assert view.runpath == info.runpath
    assert view.rpath == info.rpath
    assert sorted(view.verneed_files) == sorted(info.symbol_versions)


# --------------------------------------------------------------------------------------------
# Every edit, every target
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("case_id", sorted(CASES))
def test_edit_reads_back_and_readelf_agrees(
    build_root: Path, tmp_path: Path, target: str, case_id: str
) -> None:
    case = CASES[case_id]
    built = build_elf_set(build_root, target, rpath=case.rpath)
    data = _case_file(built, case).read_bytes()
    assert check_elf_invariants(data) == ()
    result = edit_elf(data, case.edit)
    assert check_elf_invariants(result) == ()
    if "in-place" in case_id:  # the new strings took the bytes of the old ones: nothing grew
        assert len(result) == len(data)
    info = read(result)
    _check_expected(info, case.expect, libc_name(target))
    before = read(data)
    untouched = (
        "arch",
        "bits",
        "byteorder",
        "kind",
        "interpreter",
        "version_definitions",
        "executable_stack",
    )
    for key in untouched:
        assert getattr(info, key) == getattr(before, key), key
    # symbols, their names and the hash tables are untouched: the deep reader sees the same ones
    deep_before, deep_after = read_elf(BytesSource(data), deep=True), read_elf(BytesSource(result), deep=True)
    assert deep_after.imported_symbols == deep_before.imported_symbols
    assert deep_after.exported_symbols == deep_before.exported_symbols
    out = tmp_path / "edited"
    out.write_bytes(result)
    _agrees_with_readelf(out, info)
    # editing again with the same edit changes nothing (re-repair is a no-op)
    assert edit_elf(result, case.edit) == result


def test_noop_edits_return_the_input(build_root: Path) -> None:
    data = build_elf_set(build_root, "x86_64").app.read_bytes()
    assert edit_elf(data, ElfEdit()) is data
    assert edit_elf(data, ElfEdit(runpath=tuple(BUILD_RPATH.split(":")))) == data
    assert edit_elf(data, ElfEdit(replace_needed={"libc.so.6": "libc.so.6"})) == data


def test_input_is_not_mutated(build_root: Path) -> None:
    original = build_elf_set(build_root, "x86_64").app.read_bytes()
    data = bytearray(original)
    edit_elf(bytes(data), ElfEdit(replace_needed={"libdep.so.1": MANGLED_DEP}, runpath=("$ORIGIN",)))
    assert bytes(data) == original


# --------------------------------------------------------------------------------------------
# The real loader runs the result
# --------------------------------------------------------------------------------------------


def _graft(built: ElfSet, root: Path, *, sections: bool = True) -> tuple[Path, Path]:
    """bin/app needing mangled copies of both libraries in app.libs/, found through RUNPATH only."""
    (root / "bin").mkdir()
    libs = root / "app.libs"
    libs.mkdir()
    for source, name in ((built.libdep, MANGLED_DEP), (built.libversioned, MANGLED_VERSIONED)):
        data = source.read_bytes() if sections else _without_section_headers(source.read_bytes())
        (libs / name).write_bytes(edit_elf(data, ElfEdit(soname=name, runpath=("$ORIGIN",))))
    app = root / "bin" / "app"
    return app, libs


def _runner(target: str) -> list[str]:
    """How to run a program built for ``target``: natively, or under qemu-user with its sysroot."""
    _compiler, _extra, qemu, sysroot = CROSS_COMPILERS[target]
    if qemu is None or sysroot is None:
        return []
    return [require(qemu), "-L", sysroot]


def _without_section_headers(data: bytes) -> bytes:
    """``data`` with e_shoff, e_shnum and e_shstrndx zeroed (as sstrip leaves a file)."""
    fmt = elf_write._parse(data).fmt
    header = list(fmt.ehdr.unpack_from(data, 16))
    header[5] = header[11] = header[12] = 0
    return data[:16] + fmt.ehdr.pack(*header) + data[16 + fmt.ehdr.size :]


@pytest.mark.parametrize(
    ("rpath", "sections"),
    [(False, True), (True, True), (False, False)],
    ids=["from-runpath", "from-rpath", "no-section-headers"],
)
@pytest.mark.parametrize("target", TARGETS)
def test_loader_runs_renamed_libraries_through_new_runpath(
    build_root: Path, tmp_path: Path, target: str, rpath: bool, sections: bool
) -> None:
    """Without section headers the program header table moves instead of growing in place."""
    built = build_elf_set(build_root, target, rpath=rpath)
    runner = _runner(target)
    app, libs = _graft(built, tmp_path, sections=sections)
    edit = ElfEdit(
        replace_needed={"libdep.so.1": MANGLED_DEP, "libversioned.so": MANGLED_VERSIONED},
        runpath=("$ORIGIN/../app.libs",),
    )
    original_app = built.app.read_bytes()
    app.write_bytes(edit_elf(original_app if sections else _without_section_headers(original_app), edit))
    app.chmod(0o755)
    env = {"PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [*runner, str(app)], capture_output=True, text=True, check=False, env=env, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "dep=41 versions=3\n"
    # the unedited program cannot find the libraries: the new RUNPATH is what made it work
    original = tmp_path / "bin" / "original"
    shutil.copy(built.app, original)
    proc = subprocess.run([*runner, str(original)], capture_output=True, text=True, check=False, env=env)
    assert proc.returncode != 0 and "libdep.so.1" in proc.stderr
    assert {p.name for p in libs.iterdir()} == {MANGLED_DEP, MANGLED_VERSIONED}


@pytest.mark.parametrize("target", TARGETS)
def test_repeated_edits_stay_sound_and_run(build_root: Path, tmp_path: Path, target: str) -> None:
    """Three successive edits, each needing room, on one program and its libraries."""
    built = build_elf_set(build_root, target)
    runner = _runner(target)
    app, libs = _graft(built, tmp_path)
    data = built.app.read_bytes()
    names = {"libdep.so.1": "libdep.so.1", "libversioned.so": "libversioned.so"}
    for round_ in range(3):
        new = {old: f"{old.split('.')[0]}-{round_:08x}-{'x' * 8 * round_}.so" for old in names}
        edit = ElfEdit(
            soname=f"app-{'y' * 10 * round_}",
            replace_needed={names[old]: new[old] for old in names},
            runpath=(f"$ORIGIN/../{'z' * round_}app.libs",),
        )
        data = edit_elf(data, edit)
        assert check_elf_invariants(data) == ()
        names = new
    (tmp_path / "zzapp.libs").mkdir()
    for old, source in (("libdep.so.1", built.libdep), ("libversioned.so", built.libversioned)):
        graft = edit_elf(source.read_bytes(), ElfEdit(soname=names[old]))
        for _ in range(2):  # a library renamed again, as re-repairing a repaired wheel may
            graft = edit_elf(graft, ElfEdit(soname=names[old], runpath=("$ORIGIN", "$ORIGIN/..")))
        assert check_elf_invariants(graft) == ()
        (tmp_path / "zzapp.libs" / names[old]).write_bytes(graft)
    app.write_bytes(data)
    app.chmod(0o755)
    info = read(data)
    assert info.needed == (names["libdep.so.1"], names["libversioned.so"], libc_name(target))
    assert info.symbol_versions[names["libversioned.so"]] == ("VERS_1.0", "VERS_2.0")
    proc = subprocess.run(
        [*runner, str(app)], capture_output=True, text=True, check=False, env={"PATH": "/usr/bin"}
    )
    assert (proc.returncode, proc.stdout) == (0, "dep=41 versions=3\n"), proc.stderr
    assert {p.name for p in libs.iterdir()} == {MANGLED_DEP, MANGLED_VERSIONED}


_STRIP = {"i686": "i686-linux-gnu-strip", "s390x": "s390x-linux-gnu-strip", "ppc": "powerpc-linux-gnu-strip"}
_STRIP["aarch64"] = "aarch64-linux-gnu-strip"


@pytest.mark.parametrize("target", TARGETS)
def test_strip_after_edit_keeps_the_program_working(build_root: Path, tmp_path: Path, target: str) -> None:
    """binutils' strip rewrites the file from its sections (auditwheel #716: strip after patchelf)."""
    built = build_elf_set(build_root, target)
    runner = _runner(target)
    strip = require(_STRIP.get(target, "strip"))
    app, libs = _graft(built, tmp_path)
    edit = ElfEdit(
        replace_needed={"libdep.so.1": MANGLED_DEP, "libversioned.so": MANGLED_VERSIONED},
        runpath=("$ORIGIN/../app.libs",),
    )
    app.write_bytes(edit_elf(built.app.read_bytes(), edit))
    app.chmod(0o755)
    files = [app, *sorted(libs.iterdir())]
    subprocess.run([strip, *map(str, files)], check=True, capture_output=True)
    for path in files:
        assert check_elf_invariants(path.read_bytes()) == (), path.name
    assert read(app.read_bytes()).needed == (MANGLED_DEP, MANGLED_VERSIONED, libc_name(target))
    proc = subprocess.run(
        [*runner, str(app)], capture_output=True, text=True, check=False, env={"PATH": "/usr/bin"}
    )
    assert (proc.returncode, proc.stdout) == (0, "dep=41 versions=3\n"), proc.stderr


@pytest.mark.parametrize("target", TARGETS)
def test_remove_needed_runs_with_the_symbol_preloaded(build_root: Path, tmp_path: Path, target: str) -> None:
    """Without its DT_NEEDED, the program starts only when something else provides dep_value."""
    built = build_elf_set(build_root, target)
    runner = _runner(target)
    app, libs = _graft(built, tmp_path)
    (libs / MANGLED_DEP).unlink()
    edit = ElfEdit(
        remove_needed=frozenset({"libdep.so.1"}),
        replace_needed={"libversioned.so": MANGLED_VERSIONED},
        runpath=("$ORIGIN/../app.libs",),
    )
    result = edit_elf(built.app.read_bytes(), edit)
    assert check_elf_invariants(result) == ()
    assert read(result).needed == (MANGLED_VERSIONED, libc_name(target))
    app.write_bytes(result)
    app.chmod(0o755)
    preload = tmp_path / "preload" / "libdep.so.1"
    preload.parent.mkdir()
    shutil.copy(built.libdep, preload)
    env = {"PATH": "/usr/bin:/bin"}
    if runner:  # qemu-user passes the guest's environment with -E
        with_preload = [*runner, "-E", f"LD_PRELOAD={preload}", str(app)]
    else:
        with_preload = ["env", f"LD_PRELOAD={preload}", str(app)]
    proc = subprocess.run(with_preload, capture_output=True, text=True, check=False, env=env)
    assert (proc.returncode, proc.stdout) == (0, "dep=41 versions=3\n"), proc.stderr
    proc = subprocess.run([*runner, str(app)], capture_output=True, text=True, check=False, env=env)
    assert proc.returncode != 0 and "dep_value" in proc.stderr


def test_loader_rejects_verneed_not_renamed(build_root: Path, tmp_path: Path) -> None:
    """Control: renaming DT_NEEDED without its version need is what ld.so refuses (uccl #1038)."""
    built = build_elf_set(build_root, "x86_64")
    app, _libs = _graft(built, tmp_path)
    edit = ElfEdit(
        replace_needed={"libdep.so.1": MANGLED_DEP, "libversioned.so": MANGLED_VERSIONED},
        runpath=("$ORIGIN/../app.libs",),
    )
    broken = _unrename_verneed(edit_elf(built.app.read_bytes(), edit), "libversioned.so")
    assert any("not a DT_NEEDED library" in p for p in check_elf_invariants(broken))
    app.write_bytes(broken)
    app.chmod(0o755)
    proc = subprocess.run([str(app)], capture_output=True, text=True, check=False, env={"PATH": "/usr/bin"})
    assert proc.returncode != 0, proc.stdout


def _unrename_verneed(data: bytes, name: str) -> bytes:
    """Point the first version need's vn_file back at ``name`` (planting the classic defect)."""
    out = bytearray(data)
    elf_strtab = _dynamic(data)
    strtab, verneed = elf_strtab["strtab"], elf_strtab["verneed"]
    table = data[strtab : strtab + elf_strtab["strsz"]]
    index = table.find(name.encode() + b"\0")
    assert index >= 0
    struct.pack_into("<I", out, verneed + 4, index)
    return bytes(out)


def _dynamic(data: bytes) -> dict[str, int]:
    """File offsets of a little-endian ELF64's string table and version needs (test helper)."""
    (phoff,) = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    phdrs = [struct.unpack_from("<IIQQQQQQ", data, phoff + i * phentsize) for i in range(phnum)]
    loads = [p for p in phdrs if p[0] == 1]

    def offset(address: int) -> int:
        seg = next(p for p in loads if p[3] <= address < p[3] + p[5])
        return seg[2] + address - seg[3]

    dynamic = next(p for p in phdrs if p[0] == 2)
    tags: dict[int, int] = {}
    for i in range(dynamic[5] // 16):
        tag, value = struct.unpack_from("<qQ", data, dynamic[2] + 16 * i)
        if tag == 0:
            break
        tags[tag] = value
    return {
        "strtab": offset(tags[5]),
        "strsz": tags[10],
        "verneed": offset(tags[0x6FFFFFFE]),
        "dynamic": dynamic[2],
    }


# --------------------------------------------------------------------------------------------
# Refusals
# --------------------------------------------------------------------------------------------


def test_refuses_static_executables(tmp_path: Path) -> None:
    gcc = require("gcc")
    (tmp_path / "m.c").write_text("int main(void) { return 0; }\n")
    subprocess.run([gcc, "-static", str(tmp_path / "m.c"), "-o", str(tmp_path / "m")], check=True)
    with pytest.raises(ElfWriteError, match="no dynamic section"):
        edit_elf((tmp_path / "m").read_bytes(), ElfEdit(runpath=("$ORIGIN",)))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (ElfEdit(replace_needed={"libnothere.so": "x.so"}), "does not need 'libnothere.so'"),
        (ElfEdit(soname="a\0b"), "no NUL"),
        (ElfEdit(soname=""), "non-empty"),
        (ElfEdit(runpath=("a:b",)), "no ':'"),
        (ElfEdit(remove_needed=frozenset({"libversioned.so"})), "symbol versions"),
    ],
    ids=["unknown-needed", "nul-in-name", "empty-soname", "colon-in-runpath", "remove-versioned"],
)
def test_refuses_impossible_edits(build_root: Path, edit: ElfEdit, message: str) -> None:
    data = build_elf_set(build_root, "x86_64").app.read_bytes()
    with pytest.raises(ElfWriteError, match=re.escape(message)):
        edit_elf(data, edit)


def test_refuses_garbage() -> None:
    with pytest.raises(ElfWriteError, match="malformed"):
        edit_elf(b"\x7fELF\x02\x01\x01" + bytes(9), ElfEdit(soname="x"))
    with pytest.raises(NativeDoctorError):
        edit_elf(b"MZ", ElfEdit(soname="x"))


# --------------------------------------------------------------------------------------------
# The checker finds planted defects
# --------------------------------------------------------------------------------------------


def _patch_phdr(data: bytes, kind: int, field: int, change: Callable[[int], int], nth: int = 0) -> bytes:
    """Change one field of the ``nth`` program header of type ``kind`` (little-endian ELF64)."""
    out = bytearray(data)
    (phoff,) = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    seen = 0
    for i in range(phnum):
        at = phoff + i * phentsize
        fields = list(struct.unpack_from("<IIQQQQQQ", data, at))
        if fields[0] == kind:
            if seen == nth:
                fields[field] = change(fields[field])
                struct.pack_into("<IIQQQQQQ", out, at, *fields)
                return bytes(out)
            seen += 1
    raise AssertionError("no such segment")


def _patch_tag(data: bytes, wanted: int, change: Callable[[int], int]) -> bytes:
    """Change the value of the dynamic entry ``wanted`` (little-endian ELF64)."""
    out = bytearray(data)
    dynamic = _dynamic(data)["dynamic"]
    i = 0
    while True:
        tag, value = struct.unpack_from("<qQ", data, dynamic + 16 * i)
        if tag == wanted:
            struct.pack_into("<qQ", out, dynamic + 16 * i, tag, change(value))
            return bytes(out)
        i += 1


def _patch_strsz(data: bytes, value: int) -> bytes:
    return _patch_tag(data, 10, lambda _v: value)


def _unterminated(data: bytes) -> bytes:
    """DT_STRSZ ending in the middle of the last DT_NEEDED name."""
    strtab = _dynamic(data)["strtab"]
    table = data[strtab : strtab + _dynamic(data)["strsz"]]
    return _patch_strsz(data, table.index(b"libc.so.6\0") + 3)


def _patch_dynstr_section(data: bytes) -> bytes:
    """Move the .dynstr section header's sh_addr by 16 (little-endian ELF64)."""
    out = bytearray(data)
    (shoff,) = struct.unpack_from("<Q", data, 40)
    shentsize, shnum = struct.unpack_from("<HH", data, 58)
    for i in range(shnum):
        at = shoff + i * shentsize
        fields = list(struct.unpack_from("<IIQQQQIIQQ", data, at))
        if fields[1] == 3 and fields[3] != 0:  # the allocated SHT_STRTAB: .dynstr
            fields[3] += 16
            struct.pack_into("<IIQQQQIIQQ", out, at, *fields)
            return bytes(out)
    raise AssertionError("no .dynstr")


DEFECTS: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "load-not-congruent": (lambda d: _patch_phdr(d, 1, 2, lambda v: v + 8, nth=1), "differ modulo p_align"),
    "load-past-eof": (
        lambda d: _patch_phdr(d, 1, 5, lambda v: v + (1 << 20), nth=1),
        "past the end of the file",
    ),
    "loads-overlap": (lambda d: _patch_phdr(d, 1, 6, lambda v: v + (1 << 24), nth=0), "overlaps"),
    "load-align-not-power-of-two": (lambda d: _patch_phdr(d, 1, 7, lambda _v: 0x3000, nth=0), "power of two"),
    "dynamic-outside-loads": (
        lambda d: _patch_phdr(d, 2, 2, lambda v: v - 0x800),
        "PT_DYNAMIC is not inside",
    ),
    "strings-outside-strsz": (lambda d: _patch_strsz(d, 4), "outside DT_STRSZ"),
    "string-not-terminated": (_unterminated, "not NUL-terminated inside DT_STRSZ"),
    "strtab-outside-loads": (lambda d: _patch_tag(d, 5, lambda v: v + (1 << 40)), "in no loadable segment"),
    "phdr-not-at-e_phoff": (lambda d: _patch_phdr(d, 6, 2, lambda v: v + 8), "is not e_phoff"),
    "filesz-exceeds-memsz": (lambda d: _patch_phdr(d, 1, 5, lambda v: v + 1, nth=0), "exceeds p_memsz"),
    "dynstr-section-disagrees": (_patch_dynstr_section, ".dynstr section header disagrees"),
    "verneed-not-renamed": (
        lambda d: _unrename_verneed(
            edit_elf(d, ElfEdit(replace_needed={"libversioned.so": MANGLED_VERSIONED})), "libversioned.so"
        ),
        "not a DT_NEEDED library",
    ),
}


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_checker_finds_planted_defects(build_root: Path, defect: str) -> None:
    plant, message = DEFECTS[defect]
    data = build_elf_set(build_root, "x86_64").app.read_bytes()
    problems = check_elf_invariants(plant(data))
    assert any(message in p for p in problems), problems


def test_checker_reports_garbage_without_raising() -> None:
    assert check_elf_invariants(b"") != ()
    assert check_elf_invariants(b"\x7fELF\x02\x01\x01" + bytes(20)) != ()  # truncated header
    phnum_past_eof = (
        b"\x7fELF\x02\x01\x01"
        + bytes(9)
        + struct.pack("<HHIQQQIHHHHHH", 3, 62, 1, 0, 64, 0, 0, 64, 56, 9, 0, 0, 0)
    )
    assert check_elf_invariants(phnum_past_eof) != ()


# --------------------------------------------------------------------------------------------
# Fuzzing: any bytes give a result or the project's own error; real libraries stay sound
# --------------------------------------------------------------------------------------------

FUZZ = settings(
    max_examples=int(os.environ.get("NATIVE_DOCTOR_FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize="NATIVE_DOCTOR_FUZZ_EXAMPLES" not in os.environ,
)
_names = st.text(st.characters(codec="utf-8", exclude_characters="\0:"), min_size=1, max_size=80)
_edits = st.builds(
    ElfEdit,
    soname=st.none() | _names,
    runpath=st.none() | st.lists(_names, max_size=4).map(tuple),
    replace_needed=st.just({}),  # set below from the library's own DT_NEEDED
    remove_needed=st.just(frozenset()),
)


def _total(data: bytes, edit: ElfEdit) -> None:
    """The writer returns bytes or raises the project's error; the checker returns strings."""
    problems = check_elf_invariants(data)
    assert all(isinstance(p, str) and p for p in problems)
    try:
        result = edit_elf(data, edit)
    except NativeDoctorError:
        return
    assert isinstance(result, bytes)
    if not problems:
        assert check_elf_invariants(result) == ()


@FUZZ
@given(data=st.binary(max_size=2048), edit=_edits)
def test_fuzz_arbitrary_bytes(data: bytes, edit: ElfEdit) -> None:
    _total(data, edit)
    _total(b"\x7fELF\x02\x01\x01" + data, edit)
    _total(b"\x7fELF\x01\x02\x01" + data, edit)


class Seed:
    """A real file to mutate and the byte ranges the writer reads (a short repr for hypothesis)."""

    def __init__(self, name: str, data: bytes, hot: tuple[tuple[int, int], ...]) -> None:
        self.name, self.data, self.hot = name, data, hot

    def __repr__(self) -> str:
        return f"Seed({self.name!r})"


@pytest.fixture(scope="session")
def fuzz_seeds(build_root: Path) -> list[Seed]:
    """Built files of each class and byte order, with the byte ranges the writer reads."""
    seeds = []
    for target in ("x86_64", "i686", "s390x", "ppc"):
        if shutil.which(CROSS_COMPILERS[target][0]):
            built = build_elf_set(build_root, target)
            for path in (built.app, built.libversioned):
                data = path.read_bytes()
                seeds.append(Seed(f"{target}/{path.name}", data, _hot_ranges(data)))
    if not seeds:
        pytest.skip("no compiler built a seed file")
    return seeds


def _hot_ranges(data: bytes) -> tuple[tuple[int, int], ...]:
    """Header, program headers, dynamic array, string table and section headers of ``data``."""
    elf = elf_write._parse(data)
    ranges = [(0, 64), (elf.phoff, elf.phoff + len(elf.phdrs) * elf.phentsize)]
    if elf.dynamic is not None:
        ranges.append((elf.dynamic.offset, elf.dynamic.offset + elf.dynamic.filesz))
        ranges.append((elf.strtab_offset, elf.strtab_offset + elf.strsz))
    if elf.shdrs:
        ranges.append((elf.shoff, elf.shoff + len(elf.shdrs) * elf.shentsize))
    return tuple(ranges)


@FUZZ
@given(
    seed=st.integers(0, 99),
    mutations=st.lists(
        st.tuples(st.integers(0, 10**6), st.integers(0, 7), st.sampled_from([0, 1, 0x7F, 0x80, 0xFF])),
        min_size=1,
        max_size=6,
    ),
    edit=_edits,
)
def test_fuzz_mutated_real_files(
    fuzz_seeds: list[Seed],
    seed: int,
    mutations: list[tuple[int, int, int]],
    edit: ElfEdit,
) -> None:
    chosen = fuzz_seeds[seed % len(fuzz_seeds)]
    data, hot = chosen.data, chosen.hot
    out = bytearray(data)
    for where, which, value in mutations:
        start, end = hot[which % len(hot)]
        if end > start:
            out[min(start + where % (end - start), len(out) - 1)] = value
    _total(bytes(out), edit)
    needed = read(data).needed
    if needed:
        _total(bytes(out), ElfEdit(replace_needed={needed[0]: "libmangled-0123abcd.so.1"}))


def _system_libraries() -> list[Path]:
    found = []
    for path in sorted(SYSTEM_LIB_DIR.glob("*.so*")):
        if path.is_file() and not path.is_symlink() and path.stat().st_size < 8 << 20:
            head = path.read_bytes()[:4]
            if head == b"\x7fELF":
                found.append(path)
    return found


SYSTEM_LIB_DIR = Path("/lib/x86_64-linux-gnu")
SYSTEM_LIBRARIES = _system_libraries() if SYSTEM_LIB_DIR.is_dir() else []


@FUZZ
@given(index=st.integers(0, 10**6), edit=_edits, rename=st.booleans(), new_name=_names, same=st.booleans())
def test_random_edits_on_system_libraries(
    index: int, edit: ElfEdit, rename: bool, new_name: str, same: bool
) -> None:
    if not SYSTEM_LIBRARIES:
        pytest.skip(f"no shared libraries in {SYSTEM_LIB_DIR}")
    data = SYSTEM_LIBRARIES[index % len(SYSTEM_LIBRARIES)].read_bytes()
    assert check_elf_invariants(data) == ()
    before = read(data)
    if same and before.soname:  # asking for the SONAME it has must keep it while other strings move
        edit = ElfEdit(soname=before.soname, runpath=edit.runpath)
    if rename and before.needed:
        edit = ElfEdit(soname=edit.soname, runpath=edit.runpath, replace_needed={before.needed[0]: new_name})
    result = edit_elf(data, edit)
    assert check_elf_invariants(result) == ()
    after = read(result)
    if edit.soname is not None:
        assert after.soname == edit.soname
    if edit.runpath is not None:
        assert after.runpath == tuple(p for p in edit.runpath if p)
        assert after.rpath == ()
    else:
        assert (after.runpath, after.rpath) == (before.runpath, before.rpath)
    for old, new in edit.replace_needed.items():
        assert after.needed == tuple(new if n == old else n for n in before.needed)
        if old in before.symbol_versions:
            assert after.symbol_versions[new] == before.symbol_versions[old]
    assert after.version_definitions == before.version_definitions
    assert edit_elf(result, edit) == result


# --------------------------------------------------------------------------------------------
# Real wheels: every ELF member of the pinned Linux wheels takes a repair's edit; pillow imports
# --------------------------------------------------------------------------------------------

_LINUX_FAMILIES = (
    "manylinux-x86_64",
    "manylinux-aarch64",
    "manylinux-i686",
    "manylinux-other",
    "musllinux-x86_64",
    "musllinux-aarch64",
)
#: Members larger than this are left out (memory on a shared 2-core machine).
_MAX_MEMBER = 64 << 20


def _remangle(name: str, tag: str = "cafef00d") -> str:
    """``libfoo-1234abcd.so.1`` -> ``libfoo-cafef00d.so.1``; an unmangled name gets the tag added."""
    stem, dot, rest = name.partition(".so")
    head, dash, digest = stem.rpartition("-")
    if dash and len(digest) == 8:
        return f"{head}-{tag}{dot}{rest}"
    return f"{stem}-{tag}{dot}{rest}"


@pytest.mark.parametrize("entry", [p for f in _LINUX_FAMILIES for p in corpus_params(family=f)])
def test_corpus_members_take_a_repair_edit(entry: CorpusWheel) -> None:
    edited = 0
    with zipfile.ZipFile(ensure(entry)) as archive:
        for member in archive.infolist():
            if member.file_size > _MAX_MEMBER or ".so" not in member.filename:
                continue
            data = archive.read(member)
            if data[:4] != b"\x7fELF":
                continue
            assert check_elf_invariants(data) == (), member.filename
            before = read(data)
            replace = {before.needed[0]: _remangle(before.needed[0])} if before.needed else {}
            soname = _remangle(before.soname) if before.soname else None
            edit = ElfEdit(soname=soname, replace_needed=replace, runpath=("$ORIGIN/../demo.libs", "$ORIGIN"))
            result = edit_elf(data, edit)
            assert check_elf_invariants(result) == (), member.filename
            after = read(result)
            assert after.soname == (soname or before.soname)
            assert after.needed == tuple(replace.get(n, n) for n in before.needed)
            assert after.runpath == ("$ORIGIN/../demo.libs", "$ORIGIN") and after.rpath == ()
            for old, new in replace.items():
                assert after.symbol_versions.get(new) == before.symbol_versions.get(old)
            edited += 1
    assert edited


_PILLOW = [
    p for p in corpus_params(family="manylinux-x86_64") if "pillow" in str(p.id) and "cp311" in str(p.id)
]
_PILLOW_SCRIPT = """
import io
from PIL import Image, features
image = Image.new("RGB", (64, 64), (200, 30, 30))
for fmt in ("PNG", "JPEG", "WEBP", "TIFF"):
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    assert Image.open(io.BytesIO(buffer.getvalue())).size == (64, 64)
print("ok", features.check("webp"), features.check("jpg"))
"""


@pytest.mark.parametrize("entry", _PILLOW)
def test_corpus_pillow_imports_with_libraries_renamed(entry: CorpusWheel, tmp_path: Path) -> None:
    """Rename every grafted library of a real wheel again; the package still imports and works."""
    if sys.version_info[:2] != (3, 11):
        pytest.skip("the pinned pillow wheel is for CPython 3.11")
    with zipfile.ZipFile(ensure(entry)) as archive:
        archive.extractall(tmp_path)
    libs = tmp_path / "pillow.libs"
    renames = {p.name: _remangle(p.name) for p in libs.iterdir()}
    for path in sorted(tmp_path.rglob("*.so*")):
        data = path.read_bytes()
        info = read(data)
        edit = ElfEdit(
            soname=renames.get(path.name) if info.soname else None,
            replace_needed={n: renames[n] for n in info.needed if n in renames},
        )
        result = edit_elf(data, edit)
        assert check_elf_invariants(result) == ()
        path.unlink()
        (path.parent / renames.get(path.name, path.name)).write_bytes(result)
    assert {p.name for p in libs.iterdir()} == set(renames.values())
    proc = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n{_PILLOW_SCRIPT}"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok True True"


def test_refuses_to_pad_a_program_by_its_memory_image(build_root: Path) -> None:
    """A program with a huge .bss whose program headers must move would need a huge file.

    Without section headers the writer cannot tell what follows the table, so the table moves.
    """
    data = build_elf_set(build_root, "x86_64-lld").app.read_bytes()
    loads = sum(1 for p in elf_write._parse(data).phdrs if p.type == 1)
    huge = _without_section_headers(_patch_phdr(data, 1, 6, lambda v: v + (1 << 30), nth=loads - 1))
    assert check_elf_invariants(huge) == ()
    with pytest.raises(ElfWriteError, match="memory image is much larger than the file"):
        edit_elf(huge, ElfEdit(soname="x" * 40))
    # an edit that fits in place needs no new segment
    assert read(edit_elf(huge, ElfEdit(runpath=()))).runpath == ()
