"""The Windows loader, simulated for one CPython (3.8+) process: python.exe, then each extension.

:func:`simulate` replays what the loader does when ``python.exe`` starts and CPython then imports
extension modules one after the other with ``LoadLibraryExW(path, NULL,
LOAD_LIBRARY_SEARCH_DEFAULT_DIRS | LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR)``, over a :class:`FileSystem`.
The rules, from Microsoft's "Dynamic-link library search order" and ``LoadLibraryExW`` pages:

* API sets (``api-ms-win-*``, ``ext-ms-*``) are resolved by the OS, before any search.
* "If a DLL with the same module name is already loaded in memory, the system uses the loaded DLL,
  no matter which directory it is in": the loaded-module list is keyed by base name,
  case-insensitively, so the first ``libopenblas.dll`` loaded serves every later import of that
  name. (A full path - the extension itself - is compared as a full path.)
* KnownDLLs: "the system uses its copy of the known DLL (and the known DLL's dependent DLLs, if
  any)", before any directory.
* Then, with the LOAD_LIBRARY_SEARCH flags: "the directory that contains the DLL
  (LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR). This directory is searched only for dependencies of the DLL
  to be loaded"; "the application directory" (python.exe's); "paths explicitly added with the
  AddDllDirectory function" (``os.add_dll_directory``; "the order in which the paths are searched
  is unspecified" - this simulation takes the configured order); "the System directory". The flags
  apply to the whole load: dependencies of dependencies are searched the same way, in the
  extension's directory too. Not PATH, not the current directory (Python 3.8 changelog).
* The Python DLL and ``vcruntime140*.dll`` are in the application directory; when the file system
  does not show them, they are taken to be there (``assume_python_runtime``).
* Delay-load imports are loaded on first call by the delay-load helper with ``LoadLibraryExA(name,
  NULL, 0)`` - the standard search order (loaded modules, KnownDLLs, the application directory,
  System32, the current directory, PATH). They are reported apart, never as load failures.
* A DLL for another machine type fails with ERROR_BAD_EXE_FORMAT, "%1 is not a valid Win32
  application." A failed ``LoadLibraryExW`` unloads what it loaded.

CPython turns a failure into ``ImportError: DLL load failed while importing <module>: <message>``,
without naming the missing DLL; the :class:`LoadFailure` records name it.
"""

from __future__ import annotations

import ntpath
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from native_doctor.binary.model import BinaryInfo
from native_doctor.platforms.process_common import FileSystem, ImportResult, LoadFailure, Note, Resolution
from native_doctor.platforms.windows import (
    is_provided_by_python,
    is_python_dll,
    is_system_dll,
    normalize_arch,
)

__all__ = [
    "KNOWN_DLLS",
    "FileSystem",
    "ImportResult",
    "LoadFailure",
    "Note",
    "ProcessReport",
    "Resolution",
    "WindowsConfig",
    "simulate",
]

#: ``HKLM\\SYSTEM\\CurrentControlSet\\Control\\Session Manager\\KnownDLLs`` of Windows 10/11 (plus
#: ntdll.dll, always loaded first): served from the system, whatever sits next to a module.
KNOWN_DLLS: Final = frozenset(
    {
        "advapi32.dll",
        "clbcatq.dll",
        "combase.dll",
        "comdlg32.dll",
        "coml2.dll",
        "difxapi.dll",
        "gdi32.dll",
        "gdiplus.dll",
        "imagehlp.dll",
        "imm32.dll",
        "kernel32.dll",
        "msctf.dll",
        "msvcrt.dll",
        "normaliz.dll",
        "nsi.dll",
        "ntdll.dll",
        "ole32.dll",
        "oleaut32.dll",
        "psapi.dll",
        "rpcrt4.dll",
        "sechost.dll",
        "setupapi.dll",
        "shcore.dll",
        "shell32.dll",
        "shlwapi.dll",
        "user32.dll",
        "wldap32.dll",
        "ws2_32.dll",
    }
)
_NOT_FOUND: Final = "The specified module could not be found."
_BAD_FORMAT: Final = "%1 is not a valid Win32 application."


@dataclass(frozen=True, slots=True)
class WindowsConfig:
    """The process: its architecture, CPython version and the DLL directories it added."""

    #: The process architecture: ``x86_64``, ``x86`` or ``arm64`` (aliases such as AMD64 accepted).
    arch: str = "x86_64"
    #: CPython's version (which ``vcruntime140*.dll`` it ships); None: any.
    python: tuple[int, int] | None = None
    #: Directories passed to ``os.add_dll_directory``, in call order.
    dll_directories: tuple[str, ...] = ()
    #: ``PATH``: not searched for extension modules; used for delay loads and to explain misses.
    path: tuple[str, ...] = ()
    #: The System directory.
    system32: str = "C:\\Windows\\System32"
    #: Take the Python DLL and the DLLs CPython ships as present in the application directory.
    assume_python_runtime: bool = True


@dataclass(frozen=True, slots=True)
class ProcessReport:
    """The process after python.exe started and every extension was imported in order."""

    executable: str
    #: Every module in the process, in load order (system DLLs included, API sets not).
    loaded: tuple[str, ...]
    resolutions: tuple[Resolution, ...]
    #: Delay-load imports, resolved against the final process as the delay-load helper would.
    delayed: tuple[Resolution, ...]
    failures: tuple[LoadFailure, ...]
    notes: tuple[Note, ...]
    imports: tuple[ImportResult, ...]

    @property
    def ok(self) -> bool:
        """Whether everything loaded (missing delay-load DLLs do not count)."""
        return not self.failures

    def resolution(self, name: str, requested_by: str | None = None) -> Resolution | None:
        """The first resolution of ``name`` (case-insensitive; by ``requested_by`` when given)."""
        key = name.casefold()
        for res in (*self.resolutions, *self.delayed):
            if res.name.casefold() == key and requested_by in (None, res.requested_by):
                return res
        return None


def simulate(
    executable: str, extensions: Sequence[str], fs: FileSystem, config: WindowsConfig | None = None
) -> ProcessReport:
    """Start ``executable`` (python.exe) and import each of ``extensions`` in order."""
    process = _Process(executable, fs, config or WindowsConfig())
    imports: list[ImportResult] = []
    if process.launch():
        imports = [process.load_extension(ext) for ext in extensions]
    return process.report(imports)


# --- internals ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Module:
    path: str
    #: None for a system DLL that is not on the simulated disk.
    info: BinaryInfo | None

    @property
    def key(self) -> str:
        return ntpath.basename(self.path).casefold()


@dataclass(frozen=True, slots=True)
class _Found:
    module: _Module
    new: bool
    how: str


@dataclass(frozen=True, slots=True)
class _Failed:
    name: str
    requested_by: str | None
    searched: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class _Search:
    """Where one load looks: ``(directory, how)`` pairs after the loaded list and KnownDLLs."""

    load_dir: str | None
    directories: tuple[tuple[str, str], ...]


class _Process:
    """The loaded-module list and what happened to it."""

    def __init__(self, executable: str, fs: FileSystem, config: WindowsConfig) -> None:
        self.executable = executable
        self.app_dir = ntpath.dirname(executable)
        self.fs = fs
        self.config = config
        self.arch = normalize_arch(config.arch) or config.arch
        self.modules: list[_Module] = []
        self.resolutions: list[Resolution] = []
        self.delayed: list[tuple[str, str]] = []
        self.failures: list[LoadFailure] = []
        self.notes: list[Note] = []

    # --- start and imports -------------------------------------------------------------------

    def launch(self) -> bool:
        """python.exe and its static imports (application directory, then the system)."""
        info = self.fs.binary(self.executable) if self.fs.exists(self.executable) else None
        if info is None or not self._machine_ok(info):
            reason = "not found" if info is None else "is not a valid application for this machine"
            message = f"{self.executable} {reason}"
            self.failures.append(LoadFailure(self.executable, self.executable, None, (), message))
            return False
        exe = self._add(self.executable, info)
        search = _Search(None, ((self.app_dir, "application directory"),))
        failed = self._load_imports(exe, search)
        if failed is not None:
            self.modules.clear()
            message = (
                f"The code execution cannot proceed because {failed.name} was not found."
                if failed.reason == _NOT_FOUND
                else f"{failed.name}: {failed.reason}"
            )
            self.failures.append(
                LoadFailure(self.executable, failed.name, failed.requested_by, failed.searched, message)
            )
            return False
        return True

    def load_extension(self, extension: str) -> ImportResult:
        """``LoadLibraryExW(extension, NULL, DEFAULT_DIRS | DLL_LOAD_DIR)`` - all of it, or nothing."""
        mark = len(self.modules)
        loaded = self._loaded_path(extension)
        if loaded is not None:
            self.resolutions.append(Resolution(extension, self.executable, loaded.path, "already loaded"))
            return ImportResult(extension, (), None)
        failed = self._open_extension(extension)
        if failed is None:
            module = self.modules[-1]
            failed = self._load_imports(module, self._extension_search(extension))
        if failed is not None:
            del self.modules[mark:]
            message = f"DLL load failed while importing {_module_name(extension)}: {failed.reason}"
            self.failures.append(
                LoadFailure(extension, failed.name, failed.requested_by, failed.searched, message)
            )
            return ImportResult(extension, (), message)
        return ImportResult(extension, tuple(m.path for m in self.modules[mark:]), None)

    def _open_extension(self, extension: str) -> _Failed | None:
        info = self.fs.binary(extension) if self.fs.exists(extension) else None
        if info is None:
            return _Failed(extension, None, (extension,), _NOT_FOUND)
        if not self._machine_ok(info):
            return _Failed(extension, None, (extension,), _BAD_FORMAT)
        module = self._add(extension, info)
        self.resolutions.append(Resolution(extension, self.executable, module.path, "full path"))
        return None

    def _extension_search(self, extension: str) -> _Search:
        """LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR, _APPLICATION_DIR, _USER_DIRS (then _SYSTEM32)."""
        dirs = [(self.app_dir, "application directory")]
        dirs += [(d, "add_dll_directory") for d in self.config.dll_directories]
        return _Search(ntpath.dirname(extension), tuple(dirs))

    # --- the import graph --------------------------------------------------------------------

    def _load_imports(self, module: _Module, search: _Search) -> _Failed | None:
        """Resolve ``module``'s import table, then the imports of each newly loaded DLL."""
        assert module.info is not None
        for name in module.info.delay_needed:
            self.delayed.append((name, module.path))
        new: list[_Module] = []
        for name in module.info.needed:
            found, searched, failed = self._find(name, module, search)
            if failed is not None:
                self.resolutions.append(Resolution(name, module.path, None, "not found", searched))
                return failed
            assert found is not None
            self.resolutions.append(Resolution(name, module.path, found.module.path, found.how, searched))
            if found.new and found.module.info is not None:
                new.append(found.module)
        for dependency in new:
            failed = self._load_imports(dependency, search)
            if failed is not None:
                return failed
        return None

    def _find(
        self, name: str, requester: _Module, search: _Search
    ) -> tuple[_Found | None, tuple[str, ...], _Failed | None]:
        """One imported DLL: (what satisfies it, paths rejected, the failure)."""
        early = self._before_directories(name, requester, search)
        if early is not None:
            return early, (), None
        searched: list[str] = []
        for directory, how in self._directories(requester, search):
            path = ntpath.join(directory, name)
            if not self.fs.exists(path):
                searched.append(path)
                continue
            info = self.fs.binary(path)
            if info is None or not self._machine_ok(info):
                searched.append(path)
                return None, tuple(searched), _Failed(name, requester.path, tuple(searched), _BAD_FORMAT)
            return _Found(self._add(path, info), True, how), tuple(searched), None
        system = self._system(name, searched)
        if system is not None:
            return system, tuple(searched), None
        self._note_on_path(name, requester)
        return None, tuple(searched), _Failed(name, requester.path, tuple(searched), _NOT_FOUND)

    def _before_directories(self, name: str, requester: _Module, search: _Search) -> _Found | None:
        """API sets, the loaded-module list (by base name), KnownDLLs."""
        lowered = name.casefold()
        if lowered.startswith(("api-ms-win-", "ext-ms-")):
            return _Found(_Module(ntpath.join(self.config.system32, name), None), False, "system (API set)")
        loaded = self._loaded_name(name)
        if loaded is not None:
            self._note_shadowed(name, requester, search, loaded)
            return _Found(loaded, False, "already loaded")
        if lowered in KNOWN_DLLS:
            return _Found(
                self._add(ntpath.join(self.config.system32, name), None), True, "system (KnownDLLs)"
            )
        return None

    def _directories(self, requester: _Module, search: _Search) -> list[tuple[str, str]]:
        """The directories searched for ``requester``'s imports, in order."""
        dirs: list[tuple[str, str]] = []
        if search.load_dir is not None:
            same = ntpath.dirname(requester.path).casefold() == search.load_dir.casefold()
            dirs.append((search.load_dir, "same directory" if same else "DLL load directory"))
        dirs += search.directories
        return dirs

    def _system(self, name: str, searched: list[str]) -> _Found | None:
        """System32: a file there, a DLL Windows provides, or CPython's own runtime DLLs."""
        path = ntpath.join(self.config.system32, name)
        if self.fs.exists(path) or is_system_dll(name, self.arch):
            return _Found(self._add(path, None), True, "system")
        searched.append(path)
        if self.config.assume_python_runtime and (
            is_python_dll(name) or is_provided_by_python(name, arch=self.arch, python=self.config.python)
        ):
            how = "application directory (ships with CPython)"
            return _Found(self._add(ntpath.join(self.app_dir, name), None), True, how)
        return None

    # --- the loaded-module list --------------------------------------------------------------

    def _loaded_name(self, name: str) -> _Module | None:
        key = name.casefold()
        return next((m for m in self.modules if m.key == key), None)

    def _loaded_path(self, path: str) -> _Module | None:
        real = self.fs.realpath(path).casefold() if self.fs.exists(path) else path.casefold()
        for module in self.modules:
            if module.path.casefold() in (path.casefold(), real):
                return module
        return None

    def _add(self, path: str, info: BinaryInfo | None) -> _Module:
        module = _Module(path, info)
        self.modules.append(module)
        return module

    def _machine_ok(self, info: BinaryInfo) -> bool:
        return (normalize_arch(info.arch) or info.arch) == self.arch

    # --- notes -------------------------------------------------------------------------------

    def _note_shadowed(self, name: str, requester: _Module, search: _Search, loaded: _Module) -> None:
        """First loaded wins: note when the requester's own search would find another file."""
        for directory, _ in self._directories(requester, search):
            path = ntpath.join(directory, name)
            if not self.fs.exists(path):
                continue
            if self.fs.realpath(path).casefold() != self.fs.realpath(loaded.path).casefold():
                message = (
                    f"{requester.path} imports {name}: {loaded.path} was loaded first and is used "
                    f"(the loader matches loaded modules by base name); {path} is never loaded"
                )
                self.notes.append(Note("first_loaded_wins", message, (loaded.path, path)))
            return

    def _note_on_path(self, name: str, requester: _Module) -> None:
        """A missing DLL that sits on PATH: Python 3.8+ does not search PATH for extensions."""
        for directory in self.config.path:
            path = ntpath.join(directory, name)
            if self.fs.exists(path):
                message = (
                    f"{name} (imported by {requester.path}) is at {path} on PATH, which Python 3.8+ "
                    "does not search for extension modules' DLLs: add the directory with "
                    "os.add_dll_directory()"
                )
                self.notes.append(Note("path_not_searched", message, (path,)))
                return

    # --- report ------------------------------------------------------------------------------

    def report(self, imports: list[ImportResult]) -> ProcessReport:
        delayed = self._resolve_delayed()
        return ProcessReport(
            executable=self.executable,
            loaded=tuple(m.path for m in self.modules),
            resolutions=tuple(self.resolutions),
            delayed=tuple(delayed),
            failures=tuple(self.failures),
            notes=tuple(self.notes),
            imports=tuple(imports),
        )

    def _resolve_delayed(self) -> list[Resolution]:
        """Delay-load imports of the modules still loaded, as ``LoadLibraryExA(name, NULL, 0)``."""
        present = {m.path for m in self.modules}
        result = []
        for name, requester in dict.fromkeys(self.delayed):
            if requester not in present:
                continue
            res = self._delay_load(name, requester)
            result.append(res)
            if res.path is None:
                message = f"{requester} delay-loads {name}, which is not found: the first call into it fails"
                self.notes.append(Note("delay_load_missing", message, (requester,)))
        return result

    def _delay_load(self, name: str, requester: str) -> Resolution:
        """The standard search order: loaded modules, KnownDLLs, app directory, System32, PATH."""
        loaded = self._loaded_name(name)
        if loaded is not None:
            return Resolution(name, requester, loaded.path, "already loaded", (), delayed=True)
        system32 = ntpath.join(self.config.system32, name)
        if name.casefold() in KNOWN_DLLS or is_system_dll(name, self.arch) or self.fs.exists(system32):
            return Resolution(name, requester, system32, "system", (), delayed=True)
        searched: list[str] = []
        places = [(self.app_dir, "application directory")] + [(d, "PATH") for d in self.config.path]
        for directory, how in places:
            path = ntpath.join(directory, name)
            if self.fs.exists(path):
                return Resolution(name, requester, path, how, tuple(searched), delayed=True)
            searched.append(path)
        return Resolution(name, requester, None, "not found", tuple(searched), delayed=True)


def _module_name(extension: str) -> str:
    """The module name CPython puts in the ImportError: ``_umath.cp312-win_amd64.pyd`` -> ``_umath``."""
    return ntpath.basename(extension).split(".", 1)[0]
