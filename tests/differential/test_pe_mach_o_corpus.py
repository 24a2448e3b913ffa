"""Differential test: the PE and Mach-O readers against LLVM 14 and binutils 2.40 on real wheels.

Every native file of every Windows (win-amd64, win32, win-arm64) and macOS (macos-x86_64,
macos-arm64, macos-universal2) corpus wheel is extracted once per wheel and read by:

* PE: ``llvm-readobj-14 --file-headers --coff-imports`` (machine, import and delay-import DLL
  names, in order) and, for x86/x86_64 only, ``x86_64-w64-mingw32-objdump -p`` ("DLL Name:"
  lines of the ordinary import table; binutils 2.40 does not list delay-load DLL names).
* Mach-O: ``llvm-objdump-14 --macho --arch=all --private-headers`` (per slice: architecture,
  LC_ID_DYLIB, LC_*_DYLIB, LC_RPATH, LC_BUILD_VERSION / LC_VERSION_MIN_*), and the dylib list of
  ``llvm-otool-14 -L`` (thin files) or ``llvm-objdump-14 --macho --arch=all --dylibs-used`` (fat
  files: llvm-otool-14 ignores ``-arch`` and shows one slice only).

Each tool runs once per wheel on all of its native files (one file at a time only after a
failure, since llvm-readobj stops at the first file it cannot parse). The results must equal
native-doctor's :class:`BinaryInfo` exactly; judged disagreements belong in docs/differences.md.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from _corpus import CorpusWheel, ensure, wheels
from _toolchain import require
from native_doctor.binary.model import BinaryFormat, BinaryInfo
from native_doctor.sources.wheel import read_wheel

if TYPE_CHECKING:
    from _pytest.mark.structures import ParameterSet

pytestmark = pytest.mark.corpus

WINDOWS_FAMILIES = ("win-amd64", "win32", "win-arm64")
MACOS_FAMILIES = ("macos-x86_64", "macos-arm64", "macos-universal2")

READOBJ = ("llvm-readobj-14", "llvm-readobj")
OBJDUMP_PE = ("x86_64-w64-mingw32-objdump",)
OBJDUMP_MACHO = ("llvm-objdump-14", "llvm-objdump")
OTOOL = ("llvm-otool-14", "llvm-otool")

#: Our PE ``arch`` for llvm-readobj's ``Machine:`` name.
_PE_MACHINES = {
    "IMAGE_FILE_MACHINE_I386": "x86",
    "IMAGE_FILE_MACHINE_AMD64": "x86_64",
    "IMAGE_FILE_MACHINE_ARM64": "arm64",
    "IMAGE_FILE_MACHINE_ARM64EC": "arm64ec",
    "IMAGE_FILE_MACHINE_ARMNT": "arm",
}
#: Our Mach-O ``arch`` for the cputype / cpusubtype columns of llvm-objdump's "Mach header".
_MACHO_ARCHS = {
    ("X86_64", "ALL"): "x86_64",
    ("X86_64", "H"): "x86_64h",
    ("ARM64", "ALL"): "arm64",
    ("ARM64", "E"): "arm64e",
    ("I386", "ALL"): "i386",
}
_MACHO_DYLIB_COMMANDS = frozenset(
    {
        "LC_LOAD_DYLIB",
        "LC_LOAD_WEAK_DYLIB",
        "LC_REEXPORT_DYLIB",
        "LC_LAZY_LOAD_DYLIB",
        "LC_LOAD_UPWARD_DYLIB",
    }
)
_MACHO_VERSION_MIN = {
    "LC_VERSION_MIN_MACOSX": "macos",
    "LC_VERSION_MIN_IPHONEOS": "ios",
    "LC_VERSION_MIN_TVOS": "tvos",
    "LC_VERSION_MIN_WATCHOS": "watchos",
}


def _params(
    families: tuple[str, ...], keep: Callable[[CorpusWheel], bool] = lambda _: True
) -> list[ParameterSet]:
    return [pytest.param(w, id=w.filename) for family in families for w in wheels(family=family) if keep(w)]


def _is_x86_windows(entry: CorpusWheel) -> bool:
    return entry.family in {"win-amd64", "win32"}


# --------------------------------------------------------------------------- running tools


@dataclass(frozen=True)
class ToolRun:
    """One tool's view of every native file of a wheel: parsed result or error text, per member."""

    results: Mapping[str, object]
    errors: Mapping[str, str]


def _which(names: tuple[str, ...]) -> str | None:
    return next((found for name in names if (found := shutil.which(name))), None)


def _run_batched(
    tool: str, args: tuple[str, ...], members: list[str], root: Path, split: Callable[[str], dict[str, str]]
) -> tuple[dict[str, str], dict[str, str]]:
    """Run ``tool args members`` in ``root``: per-member output text and per-member errors.

    The batch runs first; if the tool fails, each member is run on its own so that one file the
    tool cannot read does not hide the others.
    """

    def once(paths: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run([tool, *args, *paths], cwd=root, capture_output=True, text=True, check=False)

    proc = once(members)
    if proc.returncode == 0 and not proc.stderr.strip():
        return split(proc.stdout), {}
    outputs: dict[str, str] = {}
    errors: dict[str, str] = {}
    for member in members:
        single = once([member])
        if single.returncode == 0 and not single.stderr.strip():
            outputs.update(split(single.stdout))
        else:
            errors[member] = single.stderr.strip() or f"exit status {single.returncode}"
    return outputs, errors


def _split_readobj(text: str) -> dict[str, str]:
    """llvm-readobj output, one "File: <path>" block per file."""
    blocks = re.split(r"^File: (.+)$", text, flags=re.M)
    return {blocks[i]: blocks[i + 1] for i in range(1, len(blocks), 2)}


def _split_objdump_pe(text: str) -> dict[str, str]:
    """binutils objdump output, one "<path>:     file format pei-..." block per file."""
    blocks = re.split(r"^(.+):\s+file format \S+$", text, flags=re.M)
    return {blocks[i]: blocks[i + 1] for i in range(1, len(blocks), 2)}


#: "<path>:" (thin file) or "<path> (architecture <arch>):" (one slice of a fat file).
_MACHO_BLOCK = re.compile(r"^(.+?)(?: \(architecture (\S+)\))?:$", re.M)


def _split_macho(text: str) -> dict[str, str]:
    """llvm-objdump/otool Mach-O output: one block per (member, slice), keyed ``member\\0arch``."""
    pieces = _MACHO_BLOCK.split(text)
    blocks: dict[str, str] = {}
    for i in range(1, len(pieces), 3):
        member, arch, body = pieces[i], pieces[i + 1] or "", pieces[i + 2]
        blocks[f"{member}\0{arch}"] = body
    return blocks


@dataclass(frozen=True)
class PeReference:
    """What a reference tool says about one PE file."""

    machine: str | None
    needed: tuple[str, ...]
    delay_needed: tuple[str, ...] | None  # None: the tool does not show delay-load imports


@dataclass(frozen=True)
class ObjdumpImports:
    """binutils ``objdump -p -h``: the import table's DLL names and where the listing stopped."""

    needed: tuple[str, ...]
    #: The listing ended at a descriptor (not the null terminator) whose DLL name RVA lies outside
    #: the section holding the import directory: binutils 2.40 ``pe_print_idata`` then stops
    #: (``if (dll_name - adj >= datasize) break;``) and drops every later DLL. See
    #: docs/differences.md.
    stopped_at_foreign_name: bool
    #: Descriptor rows printed (one per DLL plus the terminator or the row it stopped at).
    rows: int


def _parse_readobj(block: str) -> PeReference:
    machine = re.search(r"^  Machine: (\w+) \(0x[0-9A-Fa-f]+\)$", block, re.M)
    return PeReference(
        machine=_PE_MACHINES.get(machine.group(1), machine.group(1)) if machine else None,
        needed=tuple(re.findall(r"^Import \{\n  Name: (.+)$", block, re.M)),
        delay_needed=tuple(re.findall(r"^DelayImport \{\n  Name: (.+)$", block, re.M)),
    )


def _parse_objdump_pe(block: str) -> ObjdumpImports:
    needed = tuple(re.findall(r"^\tDLL Name: (.+)$", block, re.M))
    # "There is an import table in .idata at 0x1ee5cd000", the -h row of that section, ImageBase.
    table = re.search(r"^There is an import table in (\S+) at 0x([0-9a-f]+)$", block, re.M)
    if table is None:
        return ObjdumpImports(needed, stopped_at_foreign_name=False, rows=0)
    section = re.search(rf"^\s*\d+ {re.escape(table.group(1))}\s+([0-9a-f]+)\s+([0-9a-f]+)\s", block, re.M)
    image_base = re.search(r"^ImageBase\s+([0-9a-f]+)$", block, re.M)
    assert section and image_base, f"objdump -p -h output without section table or ImageBase:\n{block[:800]}"
    size, vma = int(section.group(1), 16), int(section.group(2), 16)
    # Descriptor rows: " vma\tHintTable TimeStamp ForwardChain DLLName FirstThunk".
    rows = re.findall(
        r"^ [0-9a-f]{8}\t([0-9a-f]{8}) [0-9a-f]{8} [0-9a-f]{8} ([0-9a-f]{8}) ([0-9a-f]{8})$", block, re.M
    )
    stopped = False
    if rows:
        hint, name, thunk = (int(v, 16) for v in rows[-1])
        adj = vma - int(image_base.group(1), 16)
        stopped = (hint or thunk) != 0 and not 0 <= name - adj < size
    return ObjdumpImports(needed, stopped_at_foreign_name=stopped, rows=len(rows))


@dataclass(frozen=True)
class MachoSlice:
    """The load commands native-doctor reads, as llvm-objdump prints them, for one image."""

    arch: str
    needed: tuple[str, ...] = ()
    weak_needed: tuple[str, ...] = ()
    install_name: str | None = None
    rpath: tuple[str, ...] = ()
    min_os: str | None = None
    os_platform: str | None = None

    @classmethod
    def of(cls, info: BinaryInfo) -> MachoSlice:
        return cls(
            arch=info.arch,
            needed=info.needed,
            weak_needed=info.weak_needed,
            install_name=info.install_name,
            rpath=info.rpath,
            min_os=info.min_os,
            os_platform=info.os_platform,
        )


def _parse_private_headers(block: str) -> MachoSlice:
    header = re.search(r"^Mach header\n.*\n(MH_\w+)\s+(\w+)\s+(\w+)\s", block, re.M)
    assert header, f"no Mach header in:\n{block[:500]}"
    cpu, subtype = header.group(2), header.group(3)
    needed: list[str] = []
    weak: list[str] = []
    rpath: list[str] = []
    install_name = min_os = platform = None
    for command in re.split(r"^Load command \d+$", block, flags=re.M)[1:]:
        cmd_match = re.search(r"^\s*cmd (\w+)$", command, re.M)
        assert cmd_match, f"no cmd in load command:\n{command[:300]}"
        cmd = cmd_match.group(1)
        if cmd in _MACHO_DYLIB_COMMANDS or cmd == "LC_ID_DYLIB":
            name = _field(command, "name")
            if cmd == "LC_ID_DYLIB":
                install_name = install_name or name
            else:
                needed.append(name)
                if cmd == "LC_LOAD_WEAK_DYLIB":
                    weak.append(name)
        elif cmd == "LC_RPATH":
            rpath.append(_field(command, "path"))
        elif cmd == "LC_BUILD_VERSION" and platform is None:
            platform = _field(command, "platform")
            min_os = _field(command, "minos")
        elif cmd in _MACHO_VERSION_MIN and platform is None:
            platform = _MACHO_VERSION_MIN[cmd]
            min_os = _field(command, "version")
    return MachoSlice(
        arch=_MACHO_ARCHS.get((cpu, subtype), f"{cpu}/{subtype}"),
        needed=tuple(needed),
        weak_needed=tuple(weak),
        install_name=install_name,
        rpath=tuple(rpath),
        min_os=min_os,
        os_platform=platform,
    )


def _field(command: str, name: str) -> str:
    """The value of ``name`` in one load command (an lc_str's "(offset N)" suffix removed)."""
    found = re.search(rf"^\s*{name} (.+?)(?: \(offset \d+\))?$", command, re.M)
    assert found, f"no {name} in load command:\n{command[:300]}"
    return found.group(1)


def _parse_dylibs(block: str) -> tuple[str, ...]:
    """otool -L / objdump --dylibs-used: LC_ID_DYLIB and every LC_*_DYLIB, in load-command order."""
    return tuple(re.findall(r"^\t(.+) \(compatibility version [^)]*\)$", block, re.M))


# --------------------------------------------------------------------------- one wheel


@dataclass
class WheelResults:
    """native-doctor's answers and every applicable tool's, for the native files of one wheel."""

    ours: dict[str, BinaryInfo]
    errors: dict[str, str]
    tools: dict[str, ToolRun] = field(default_factory=dict)


def _extract(path: Path, members: list[str], root: Path) -> None:
    with zipfile.ZipFile(path) as archive:
        for member in members:
            archive.extract(member, root)


def _analyse(entry: CorpusWheel) -> WheelResults:
    """Extract ``entry``'s native files, run the reference tools on them, keep only the results."""
    path = ensure(entry)
    artifact = read_wheel(path)
    results = WheelResults(
        ours={n.path: n.info for n in artifact.native if n.info is not None},
        errors={n.path: n.error or "unreadable" for n in artifact.native if n.info is None},
    )
    members = sorted(n.path for n in artifact.native)
    windows = entry.family in WINDOWS_FAMILIES
    jobs: dict[str, Callable[[Path], ToolRun]] = {}

    def job(
        key: str,
        names: tuple[str, ...],
        args: tuple[str, ...],
        split: Callable[[str], dict[str, str]],
        parse: Callable[[str], object],
        files: list[str],
    ) -> None:
        tool = _which(names)
        if tool is None or not files:
            return

        def work(root: Path) -> ToolRun:
            outputs, errors = _run_batched(tool, args, files, root, split)
            return ToolRun({name: parse(text) for name, text in outputs.items()}, errors)

        jobs[key] = work

    if windows:
        job("readobj", READOBJ, ("--file-headers", "--coff-imports"), _split_readobj, _parse_readobj, members)
        if _is_x86_windows(entry):
            job("objdump", OBJDUMP_PE, ("-p", "-h"), _split_objdump_pe, _parse_objdump_pe, members)
    else:
        thin = [m for m in members if m in results.ours and not results.ours[m].slices]
        fat = [m for m in members if m in results.ours and results.ours[m].slices]
        job(
            "private-headers",
            OBJDUMP_MACHO,
            ("--macho", "--arch=all", "--private-headers"),
            _split_macho,
            _parse_private_headers,
            members,
        )
        job("otool", OTOOL, ("-L",), _split_macho, _parse_dylibs, thin)
        job(
            "dylibs-used",
            OBJDUMP_MACHO,
            ("--macho", "--arch=all", "--dylibs-used"),
            _split_macho,
            _parse_dylibs,
            fat,
        )
    with tempfile.TemporaryDirectory(prefix="nd-diff-") as tmp:
        root = Path(tmp)
        _extract(path, members, root)
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = {name: pool.submit(work, root) for name, work in jobs.items()}
            results.tools = {name: future.result() for name, future in futures.items()}
    return results


@pytest.fixture(scope="module")
def analysed() -> Callable[[CorpusWheel], WheelResults]:
    """Per-wheel results, computed on first use and shared by every test of this module."""
    cache: dict[str, WheelResults] = {}

    def get(entry: CorpusWheel) -> WheelResults:
        if entry.filename not in cache:
            cache[entry.filename] = _analyse(entry)
        return cache[entry.filename]

    return get


def _tool(results: WheelResults, key: str, names: tuple[str, ...]) -> ToolRun:
    require(*names)
    run = results.tools.get(key)
    assert run is not None, f"{key} ({names[0]}) did not run"
    return run


def _readable(results: WheelResults, fmt: BinaryFormat) -> dict[str, BinaryInfo]:
    assert not results.errors, f"native-doctor could not read: {results.errors}"
    assert results.ours, "no native files in the wheel"
    assert {info.format for info in results.ours.values()} == {fmt}
    return results.ours


# --------------------------------------------------------------------------- PE


@pytest.mark.parametrize("entry", _params(WINDOWS_FAMILIES))
def test_pe_matches_llvm_readobj(entry: CorpusWheel, analysed: Callable[[CorpusWheel], WheelResults]) -> None:
    """Machine, import table and delay-load table of every PE file, as llvm-readobj 14 lists them."""
    results = analysed(entry)
    ours = _readable(results, BinaryFormat.PE)
    run = _tool(results, "readobj", READOBJ)
    assert not run.errors, f"llvm-readobj could not read: {run.errors}"
    assert set(run.results) == set(ours)
    theirs = {m: ref for m, ref in run.results.items() if isinstance(ref, PeReference)}
    mine = {m: PeReference(info.arch, info.needed, info.delay_needed) for m, info in ours.items()}
    diff = {m: (mine[m], theirs[m]) for m in mine if mine[m] != theirs[m]}
    assert not diff, "ours vs llvm-readobj:\n" + "\n".join(
        f"{m}:\n  {a}\n  {b}" for m, (a, b) in diff.items()
    )


@pytest.mark.parametrize("entry", _params(WINDOWS_FAMILIES, _is_x86_windows))
def test_pe_imports_match_binutils_objdump(
    entry: CorpusWheel, analysed: Callable[[CorpusWheel], WheelResults]
) -> None:
    """Import table of every x86/x86_64 PE file, as binutils objdump 2.40 ``-p`` lists it."""
    results = analysed(entry)
    ours = _readable(results, BinaryFormat.PE)
    run = _tool(results, "objdump", OBJDUMP_PE)
    assert not run.errors, f"objdump could not read: {run.errors}"
    assert set(run.results) == set(ours)
    diff = {}
    for member, info in ours.items():
        ref = run.results[member]
        assert isinstance(ref, ObjdumpImports)
        count = len(ref.needed)
        # Judged binutils limitation (docs/differences.md): the listing stops, with no "DLL Name:",
        # at the first descriptor whose name is outside the import directory's section.
        truncated = ref.stopped_at_foreign_name and ref.rows == count + 1 and count < len(info.needed)
        if ref.needed != (info.needed[:count] if truncated else info.needed):
            diff[member] = (info.needed, ref.needed)
    assert not diff, "ours vs objdump:\n" + "\n".join(f"{m}:\n  {a}\n  {b}" for m, (a, b) in diff.items())


# --------------------------------------------------------------------------- Mach-O


def _slices_of(info: BinaryInfo) -> tuple[BinaryInfo, ...]:
    return info.slices or (info,)


def _by_slice(run: ToolRun, member: str) -> list[object]:
    return [value for key, value in run.results.items() if key.split("\0")[0] == member]


@pytest.mark.parametrize("entry", _params(MACOS_FAMILIES))
def test_macho_load_commands_match_llvm_objdump(
    entry: CorpusWheel, analysed: Callable[[CorpusWheel], WheelResults]
) -> None:
    """Per slice: arch, needed, weak, install name, rpath, platform and minimum OS vs llvm-objdump."""
    results = analysed(entry)
    ours = _readable(results, BinaryFormat.MACHO)
    run = _tool(results, "private-headers", OBJDUMP_MACHO)
    assert not run.errors, f"llvm-objdump could not read: {run.errors}"
    assert {key.split("\0")[0] for key in run.results} == set(ours)
    diff: dict[str, tuple[list[MachoSlice], list[object]]] = {}
    for member, info in ours.items():
        mine = sorted((MachoSlice.of(s) for s in _slices_of(info)), key=lambda s: s.arch)
        theirs = sorted(_by_slice(run, member), key=lambda s: s.arch if isinstance(s, MachoSlice) else "")
        if mine != theirs:
            diff[member] = (mine, theirs)
    assert not diff, "ours vs llvm-objdump:\n" + "\n".join(
        f"{m}:\n  {a}\n  {b}" for m, (a, b) in diff.items()
    )


@pytest.mark.parametrize("entry", _params(MACOS_FAMILIES))
def test_macho_dylibs_match_llvm_otool(
    entry: CorpusWheel, analysed: Callable[[CorpusWheel], WheelResults]
) -> None:
    """Install name then needed dylibs, as ``llvm-otool -L`` (thin) / ``--dylibs-used`` (fat) list them.

    Both print LC_ID_DYLIB among the dylibs, in load-command order (first in every corpus file).
    """
    results = analysed(entry)
    ours = _readable(results, BinaryFormat.MACHO)
    runs: dict[str, ToolRun] = {}
    if any(not info.slices for info in ours.values()):
        runs["thin"] = _tool(results, "otool", OTOOL)
    if any(info.slices for info in ours.values()):
        runs["fat"] = _tool(results, "dylibs-used", OBJDUMP_MACHO)
    diff: dict[str, tuple[object, object]] = {}
    for member, info in ours.items():
        run = runs["fat" if info.slices else "thin"]
        assert member not in run.errors, run.errors[member]
        # LLVM labels a slice "(architecture <arch>)" only when a fat file holds more than one.
        if len(info.slices) > 1:
            mine = {s.arch: _dylibs(s) for s in info.slices}
        else:
            mine = {"": _dylibs(info.slices[0] if info.slices else info)}
        theirs = {k.split("\0")[1]: v for k, v in run.results.items() if k.split("\0")[0] == member}
        if mine != theirs:
            diff[member] = (mine, theirs)
    assert not diff, "ours vs otool -L:\n" + "\n".join(f"{m}:\n  {a}\n  {b}" for m, (a, b) in diff.items())


def _dylibs(info: BinaryInfo) -> tuple[str, ...]:
    return ((info.install_name,) if info.install_name is not None else ()) + info.needed
