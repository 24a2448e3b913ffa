"""The Windows part of the repair: which DLLs stay, how vendored DLLs are named, the import-table
edits, and the loader hook that makes Python find ``<dist>.libs``.

Pure except :func:`locator` (the only part that searches folders). The bytes are rewritten by
``binary.pe_write``.

* Kept outside the wheel: Windows' system DLLs and API sets (``platforms/data/windows.json``),
  the Python DLL and what python.org's CPython installs beside python.exe (``vcruntime140.dll``,
  ``vcruntime140_1.dll``). Other Visual C++ runtimes (``msvcp140.dll``, ``concrt140.dll``,
  ``vcomp140.dll``) are vendored when ``--lib-path`` has them; otherwise they are left to the
  Microsoft Visual C++ Redistributable, with a warning saying so.
* Names: ``name-<8 hex>.dll``, the hash over the DLL's content and the new names of the vendored
  DLLs it imports (so a changed dependency changes its dependents' names too). ``--no-mangle``
  keeps a name; ``--include`` DLLs keep theirs (code loads them by name at run time).
* The hook: ``os.add_dll_directory(<site-packages>/<dist>.libs)`` before any extension module
  loads, then delay-loaded and ``--include`` DLLs preloaded (the delay-load helper and a plain
  ``LoadLibrary`` do not search added directories; a loaded module is found by name). Regular
  packages get it in their ``__init__.py`` (after the docstring and ``__future__`` imports);
  namespace packages and top-level extension modules get it from a ``.pth`` file importing a
  small top-level module (docs/design.md, "The Windows loader hook", says why and its limits).
"""

from __future__ import annotations

import ast
import hashlib
import os
import posixpath
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from native_doctor.binary.model import BinaryFormat, BinaryInfo, FileKind
from native_doctor.model import NativeFile, TargetOS
from native_doctor.platforms import windows
from native_doctor.repair.model import (
    CannotRepair,
    LeftOut,
    LeftReason,
    LocatedLibrary,
    RepairPlan,
)
from native_doctor.repair.plan import LookupResult, libs_dir_of
from native_doctor.repair.rules import PlatformRules
from native_doctor.repair.stages import read_candidate

__all__ = [
    "HOOK_MARK",
    "PeSpec",
    "hook_members",
    "locator",
    "mangle_grafts",
    "plan_edits",
    "redistributables_left",
    "rules",
]

#: First line of the hook the repair writes (a second repair recognises it).
HOOK_MARK = "# start native-doctor DLL hook"
_END_MARK = "# end native-doctor DLL hook"
#: Names that already carry a hash: ours (8 hex) or delvewheel's (32 hex).
_ALREADY_HASHED = re.compile(r"-(?:[0-9a-f]{8}|[0-9a-f]{32})$")
#: Visual C++ runtimes CPython does not install: vendored when found, else the Redistributable's.
_REDISTRIBUTABLE = re.compile(r"^(?:msvcp\d+(?:_\w+)?|concrt\d+|vcomp\d+|vccorlib\d+|vcamp\d+)d?\.dll$", re.I)


def _is_system(name: str) -> bool:
    return windows.is_system_dll(name) or windows.is_python_dll(name) or windows.is_provided_by_python(name)


def rules() -> PlatformRules:
    """The Windows rules; names stay as they are here (:func:`mangle_grafts` names the grafts
    once the whole closure is known, since a name depends on the dependencies' names)."""
    return PlatformRules(
        TargetOS.WINDOWS,
        BinaryFormat.PE,
        _is_system,
        lambda _name: None,
        lambda name, _sha: name,
        libs_dir_of,
    )


# --- locating DLLs ------------------------------------------------------------------------------


def locator(
    lib_paths: Sequence[str], *, arch: str, use_host: bool
) -> Callable[[str, tuple[str, ...]], LookupResult]:
    """``lookup(name, _)`` for DLLs: ``--lib-path`` folders, then (on a Windows host, unless
    ``--no-sys-paths``) ``PATH``; names match case-insensitively, as on Windows. A candidate must
    be a PE DLL of the wheel's architecture."""
    folders = [(d, "--lib-path") for d in lib_paths]
    if use_host and sys.platform == "win32":
        folders += [(d, "PATH") for d in os.environ.get("PATH", "").split(os.pathsep) if d]
    listings: dict[str, dict[str, str]] = {}
    cache: dict[str, LookupResult] = {}

    def listing(folder: str) -> dict[str, str]:
        if folder not in listings:
            try:
                listings[folder] = {p.name.lower(): str(p) for p in sorted(Path(folder).iterdir())}
            except OSError:
                listings[folder] = {}
        return listings[folder]

    def lookup(name: str, _search: tuple[str, ...]) -> LookupResult:
        if name in cache:
            return cache[name]
        rejected: list[tuple[str, str]] = []
        result = LookupResult(None, ())
        for folder, how in folders:
            candidate = listing(folder).get(name.lower())
            if candidate is None:
                continue
            found = _accept(name, candidate, f"{how} {folder}", arch, rejected)
            if found is not None:
                result = LookupResult(found, tuple(rejected))
                break
        else:
            result = LookupResult(None, tuple(rejected))
        cache[name] = result
        return result

    return lookup


def _accept(
    name: str, candidate: str, how: str, arch: str, rejected: list[tuple[str, str]]
) -> LocatedLibrary | None:
    def mismatch(info: BinaryInfo) -> str | None:
        if info.format is not BinaryFormat.PE or info.kind is not FileKind.SHARED_LIBRARY:
            return f"a {info.format.value} {info.kind.value}, not a DLL"
        if windows.normalize_arch(info.arch) != windows.normalize_arch(arch):
            return f"built for {info.arch}, the wheel is {arch}"
        return None

    return read_candidate(
        name,
        candidate,
        how,
        rejected,
        too_large=lambda _size: "too large to be a DLL",
        unreadable_as="DLL",
        mismatch=mismatch,
        located_path=lambda _path: candidate,
    )


# --- deciding -------------------------------------------------------------------------------------


def redistributables_left(plan: RepairPlan) -> RepairPlan:
    """Missing Visual C++ runtimes become "left to the Redistributable" (with a warning), not a
    failure: users install the Microsoft Visual C++ Redistributable."""
    redist = [m for m in plan.missing if _REDISTRIBUTABLE.match(m.name)]
    if not redist:
        return plan
    left = [
        LeftOut(
            m.name,
            LeftReason.HOST,
            "a Visual C++ runtime not found on --lib-path: users need the Microsoft Visual C++ "
            "Redistributable",
            m.needed_by,
        )
        for m in redist
    ]
    warnings = [
        f"{m.name} (needed by {m.needed_by[0]}) is not vendored: pass its folder with --lib-path, "
        "or tell users to install the Microsoft Visual C++ Redistributable"
        for m in redist
    ]
    return replace(
        plan,
        left=tuple(sorted((*plan.left, *left), key=lambda x: x.name)),
        missing=tuple(m for m in plan.missing if m not in redist),
        warnings=(*plan.warnings, *warnings),
    )


def _mangle(name: str, digest: str) -> str:
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    if _ALREADY_HASHED.search(stem):
        return name
    return f"{stem}-{digest[:8]}.{suffix}" if suffix else f"{stem}-{digest[:8]}"


def mangle_grafts(plan: RepairPlan, keep: Iterable[str]) -> RepairPlan:
    """Name every graft ``name-<hash>.dll``, the hash over its content and its grafted
    dependencies' new names (a cycle's members hash their content only); ``keep`` names stay."""
    kept = {k.lower() for k in keep}
    by_name = {g.name.lower(): g for g in plan.grafts}
    names: dict[str, str] = {}
    visiting: set[str] = set()

    def new_name(key: str) -> str:
        if key in names:
            return names[key]
        graft = by_name[key]
        if key in kept:
            names[key] = graft.name
            return graft.name
        visiting.add(key)
        deps = sorted(
            new_name(d.lower())
            for d in (*graft.info.needed, *graft.info.delay_needed)
            if d.lower() in by_name and d.lower() not in visiting
        )
        visiting.discard(key)
        digest = hashlib.sha256("\0".join([graft.sha256, *deps]).encode()).hexdigest()
        names[key] = _mangle(graft.name, digest)
        return names[key]

    grafts = tuple(
        replace(g, new_name=new_name(g.name.lower()), member=f"{plan.libs_dir}/{new_name(g.name.lower())}")
        for g in plan.grafts
    )
    return replace(plan, grafts=grafts)


# --- edits ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PeSpec:
    """One binary's intended edit: its imported and delay-imported names to rename."""

    member: str
    rename: Mapping[str, str]


def plan_edits(
    plan: RepairPlan, files: Sequence[NativeFile], external: Mapping[str, frozenset[str]]
) -> list[PeSpec]:
    """Every rename the plan implies: wheel binaries (names their loader does not find today),
    then the grafts themselves."""
    new = {g.name.lower(): g.new_name for g in plan.grafts}
    specs = []
    for native in files:
        info = native.info
        if info is None or info.format is not BinaryFormat.PE:
            continue
        missing = {n.lower() for n in external.get(native.path, frozenset())}
        rename = {n: new[n.lower()] for n in _imports(info) if n.lower() in missing and n.lower() in new}
        rename = {k: v for k, v in rename.items() if k != v}
        if rename:
            specs.append(PeSpec(native.path, rename))
    for graft in plan.grafts:
        rename = {n: new[n.lower()] for n in _imports(graft.info) if n.lower() in new and new[n.lower()] != n}
        if rename:
            specs.append(PeSpec(graft.member, rename))
    return specs


def _imports(info: BinaryInfo) -> tuple[str, ...]:
    return (*info.needed, *info.delay_needed)


# --- the loader hook --------------------------------------------------------------------------------


def _hook_code(folders: Sequence[str], levels_up: int, preload: Sequence[str], indent: str = "") -> str:
    """The hook: add ``folders`` (relative to site-packages; the first is ``<dist>.libs``), then
    preload ``preload`` from the first."""
    up = "os.pardir, " * levels_up
    lines = [
        f"{HOOK_MARK} (DLLs in {', '.join(folders)})",
        "def _native_doctor_dll_hook():",
        "    import os",
        "    import sys",
        "",
        '    if sys.platform != "win32":',
        "        return",
        "    here = os.path.dirname(os.path.abspath(__file__))",
        f"    for folder in {tuple(folders)!r}:",
        f"        path = os.path.abspath(os.path.join(here, {up}folder))",
        "        if not os.path.isdir(path):",
        "            continue",
        '        if hasattr(os, "add_dll_directory"):',
        "            os.add_dll_directory(path)",
        "        else:",
        '            os.environ["PATH"] = path + os.pathsep + os.environ.get("PATH", "")',
    ]
    if preload:
        lines += [
            "    import ctypes",
            "",
            "    # delay-loaded and run-time-loaded DLLs: found by name once loaded",
            f"    libs = os.path.abspath(os.path.join(here, {up}{folders[0]!r}))",
            f"    for name in {tuple(preload)!r}:",
            "        ctypes.WinDLL(os.path.join(libs, name))",
        ]
    lines += ["", "", "_native_doctor_dll_hook()", "del _native_doctor_dll_hook", _END_MARK, ""]
    return "\n".join(indent + line if line else line for line in lines)


def _insert_point(source: str, member: str) -> int:
    """Line index after a module docstring and ``from __future__`` imports (else after leading
    comment lines: a shebang, an encoding declaration)."""
    try:
        compile(source, member, "exec", dont_inherit=True)  # what ast.parse lets through (a late __future__)
        tree = ast.parse(source)
    except (SyntaxError, ValueError) as exc:
        raise CannotRepair(f"{member} cannot be parsed to add the DLL hook ({exc})") from None
    lines = source.splitlines()
    after = next((i for i, line in enumerate(lines) if not line.lstrip().startswith("#")), len(lines))
    for index, node in enumerate(tree.body):
        docstring = index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        future = isinstance(node, ast.ImportFrom) and node.module == "__future__"
        if not (docstring or future):
            break
        after = node.end_lineno or node.lineno
    return after


def _patched(source: bytes, member: str, hook: str) -> bytes:
    try:
        text = source.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CannotRepair(f"{member} is not UTF-8: the DLL hook cannot be added to it") from None
    if HOOK_MARK in text:
        return source
    lines = text.splitlines(keepends=True)
    at = _insert_point(text, member)
    if at and not lines[at - 1].endswith("\n"):
        lines[at - 1] += "\n"
    return "".join([*lines[:at], hook, *lines[at:]]).encode("utf-8")


def hook_members(
    plan: RepairPlan,
    dist: str,
    users: Iterable[str],
    members: Iterable[str],
    read: Callable[[str], bytes],
    preload: Sequence[str],
) -> tuple[dict[str, bytes], dict[str, bytes], tuple[str, ...]]:
    """(replaced members, added members, notes) that install the hook for every top-level
    package or module among ``users`` (install paths of the wheel's PE files; ``.data/platlib``
    and ``.data/purelib`` members count where they install)."""
    from native_doctor.sources._members import install_path

    by_install = {install_path(m): m for m in members}
    folders = hook_folders(plan)
    replaced: dict[str, bytes] = {}
    added: dict[str, bytes] = {}
    notes: list[str] = []
    needs_pth: list[str] = []
    tops = {u.split("/", 1)[0] for u in users if not u.startswith((plan.libs_dir + "/", "<"))}
    for top in sorted(tops):
        init = by_install.get(f"{top}/__init__.py")
        if init is not None:
            source = read(init)
            if (
                not preload
                and b"add_dll_directory" in source
                and all(repr(f).encode() in source for f in folders)
            ):
                notes.append(f"{init}: already adds {', '.join(folders)} (an earlier repair's hook): kept")
                continue
            replaced[init] = _patched(source, init, _hook_code(folders, 1, preload))
            notes.append(f"{init}: the DLL hook added (os.add_dll_directory for {', '.join(folders)})")
        else:
            needs_pth.append(top)
    if needs_pth:
        stem = re.sub(r"\W", "_", dist)
        module = f"_{stem}_dll_hook"
        added[f"{module}.py"] = _hook_code(folders, 0, preload).encode()
        added[f"{stem}-dll-hook.pth"] = f"import {module}\n".encode()
        what = ", ".join(needs_pth)
        notes.append(
            f"{stem}-dll-hook.pth imports {module} at interpreter start: {what} has no __init__.py to "
            "carry the DLL hook (a namespace package or a top-level module)"
        )
    return replaced, added, tuple(notes)


def hook_folders(plan: RepairPlan) -> list[str]:
    """Folders (relative to site-packages) the hook adds: ``<dist>.libs`` when anything is vendored,
    then the wheel's own folders holding DLLs its binaries do not find today."""
    folders = [plan.libs_dir] if plan.grafts else []
    for item in plan.in_wheel:
        if item.directory not in folders:
            folders.append(item.directory)
    return folders


def preloads(plan: RepairPlan, included: Iterable[str], files: Sequence[NativeFile]) -> tuple[str, ...]:
    """New names of the vendored DLLs to preload: --include DLLs and delay-loaded ones."""
    new = {g.name.lower(): g.new_name for g in plan.grafts}
    infos = [n.info for n in files if n.info is not None] + [g.info for g in plan.grafts]
    delayed = {d.lower() for info in infos for d in info.delay_needed}
    wanted = {i.lower() for i in included} | delayed
    return tuple(sorted(new[k] for k in wanted if k in new))


def dist_name(wheel_path: str) -> str:
    """The distribution part of a wheel file name."""
    return posixpath.basename(wheel_path.replace("\\", "/")).split("-", 1)[0]


# --- the process, simulated ---------------------------------------------------------------------

_SITE = "C:\\site-packages"
_PYTHON = "C:\\Python\\python.exe"


@dataclass(frozen=True, slots=True)
class _WheelFiles:
    """The installed wheel as the loader simulation's file system (paths compared case-insensitively)."""

    files: Mapping[str, BinaryInfo]

    def exists(self, path: str) -> bool:
        return path.casefold() in self.files

    def realpath(self, path: str) -> str:
        return path

    def binary(self, path: str) -> BinaryInfo | None:
        return self.files.get(path.casefold())


def _windows_path(install_path: str) -> str:
    return _SITE + "\\" + install_path.replace("/", "\\")


def process_problems(
    natives: Iterable[NativeFile], dll_directories: Sequence[str], preload: Sequence[str], plan: RepairPlan
) -> list[str]:
    """Start python.exe (``platforms.process_windows``), run the hook (``AddDllDirectory`` for each
    folder it adds, its preloads as ``ctypes.WinDLL`` loads them), import every extension module of
    the installed, repaired wheel: what fails to load, and delay-loaded DLLs not found."""
    from native_doctor.platforms.process_windows import WindowsConfig, simulate

    files: dict[str, BinaryInfo] = {}
    extensions = []
    for native in natives:
        if (
            native.info is None
            or native.info.format is not BinaryFormat.PE
            or native.install_path.startswith("<")
        ):
            continue
        path = _windows_path(native.install_path)
        files[path.casefold()] = native.info
        if native.install_path.lower().endswith(".pyd"):
            extensions.append(path)
    python = BinaryInfo(
        BinaryFormat.PE, plan.arch, 64, "little", FileKind.EXECUTABLE, needed=("KERNEL32.dll",)
    )
    files[_PYTHON.casefold()] = python
    config = WindowsConfig(arch=plan.arch, dll_directories=tuple(_windows_path(d) for d in dll_directories))
    preloads = [_windows_path(f"{plan.libs_dir}/{name}") for name in preload]
    report = simulate(_PYTHON, [*preloads, *sorted(extensions)], _WheelFiles(files), config)
    left = {x.name.lower() for x in plan.left}
    problems = [
        f.message + f" ({f.name} not found)"
        for f in report.failures
        if f.name is None or f.name.lower() not in left
    ]
    problems += [
        f"{r.requested_by} delay-loads {r.name}, which the loader would not find at its first call"
        for r in report.delayed
        if r.path is None and r.name.lower() not in left
    ]
    return problems
