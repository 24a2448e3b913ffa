"""The one model every binary reader produces: :class:`BinaryInfo`.

A ``BinaryInfo`` describes one architecture's image. A fat (universal) Mach-O file is a
``BinaryInfo`` whose ``slices`` hold one ``BinaryInfo`` per architecture; its own ``needed`` is
the union of the slices' in first-seen order, its ``arch`` is ``"universal2"`` for
x86_64 + arm64 and the ``+``-joined sorted arch names otherwise.

Field names follow the format's own vocabulary where the concepts differ (``soname`` for ELF,
``install_name`` for Mach-O, ``dll_name`` for PE) and are shared where they coincide
(``needed``: DT_NEEDED entries, LC_LOAD_DYLIB-family install names, PE import-table DLL names).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

__all__ = ["BinaryFormat", "BinaryInfo", "FileKind"]


class BinaryFormat(StrEnum):
    """The executable file format."""

    ELF = "elf"
    MACHO = "macho"
    PE = "pe"


class FileKind(StrEnum):
    """What the loader treats the file as."""

    EXECUTABLE = "executable"  # ELF ET_EXEC / ET_DYN with DF_1_PIE, MH_EXECUTE, PE without IMAGE_FILE_DLL
    SHARED_LIBRARY = "shared_library"  # ELF ET_DYN, MH_DYLIB, PE with IMAGE_FILE_DLL
    BUNDLE = "bundle"  # MH_BUNDLE (how some Mach-O extension modules are linked)
    OBJECT = "object"  # ELF ET_REL, MH_OBJECT, COFF object
    OTHER = "other"  # ET_CORE, MH_CORE, ...


_EMPTY: Mapping[str, tuple[str, ...]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class BinaryInfo:
    """What a loader needs to know about one binary image, read without executing it."""

    format: BinaryFormat
    #: Normalized architecture name: ``x86_64``, ``i686``, ``aarch64`` (ELF), ``arm64`` (Mach-O, PE),
    #: ``armv7l``, ``ppc64le``, ``ppc64``, ``s390x``, ``riscv64``, ``loongarch64``, ``x86`` (PE i386),
    #: ``universal2`` / ``a+b`` for fat files; ``unknown-<number>`` for anything else.
    arch: str
    #: 32 or 64.
    bits: int
    #: ``"little"`` or ``"big"``.
    byteorder: str
    kind: FileKind
    #: Libraries the loader must find, in load order: ELF DT_NEEDED, Mach-O LC_LOAD_DYLIB /
    #: LC_LOAD_WEAK_DYLIB / LC_REEXPORT_DYLIB / LC_LOAD_UPWARD_DYLIB install names, PE import table.
    needed: tuple[str, ...] = ()

    # --- ELF -----------------------------------------------------------------------------------
    #: DT_SONAME.
    soname: str | None = None
    #: DT_RPATH entries (split on ``:``), in order. For Mach-O: the LC_RPATH paths, in order.
    rpath: tuple[str, ...] = ()
    #: DT_RUNPATH entries (split on ``:``), in order.
    runpath: tuple[str, ...] = ()
    #: PT_INTERP (the program interpreter, e.g. ``/lib64/ld-linux-x86-64.so.2``).
    interpreter: str | None = None
    #: Symbol versions needed, per needed file (SHT_GNU_verneed / DT_VERNEED):
    #: ``{"libc.so.6": ("GLIBC_2.14", "GLIBC_2.2.5")}``; versions sorted, files as named in verneed.
    symbol_versions: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _EMPTY)
    #: The subset of ``symbol_versions`` whose Elf_Vernaux carries VER_FLG_WEAK: glibc's loader
    #: only warns when such a version is missing (``_dl_check_map_versions``), so it raises no floor.
    #: GNU ld and lld set the flag on no entry today; a weak *symbol* bound to a version still
    #: needs that version.
    weak_symbol_versions: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _EMPTY)
    #: Versions this file defines (SHT_GNU_verdef / DT_VERDEF), e.g. ``("GLIBCXX_3.4", ...)``;
    #: the file's own base version (the SONAME entry) is left out.
    version_definitions: tuple[str, ...] = ()
    #: PT_GNU_STACK asks for an executable stack (None: no PT_GNU_STACK, the loader's default applies).
    executable_stack: bool | None = None
    #: DT_TEXTREL present or DF_TEXTREL set in DT_FLAGS.
    text_relocations: bool = False
    #: x86 ISA level from the GNU property note (``GNU_PROPERTY_X86_ISA_1_NEEDED``): 1 (baseline),
    #: 2, 3, 4 for x86-64-v2/v3/v4; None when the note is absent or not x86.
    x86_isa_level: int | None = None

    # --- Mach-O --------------------------------------------------------------------------------
    #: LC_ID_DYLIB.
    install_name: str | None = None
    #: Subset of ``needed`` loaded weakly (LC_LOAD_WEAK_DYLIB): their absence is not fatal.
    weak_needed: tuple[str, ...] = ()
    #: Minimum OS version from LC_BUILD_VERSION ``minos`` or LC_VERSION_MIN_* (``"11.0"``).
    min_os: str | None = None
    #: SDK version from the same command, when present.
    sdk: str | None = None
    #: Platform of LC_BUILD_VERSION / LC_VERSION_MIN_*: ``macos``, ``ios``, ... (None if absent).
    os_platform: str | None = None
    #: Per-architecture images of a fat (universal) file; empty for a thin file.
    slices: tuple[BinaryInfo, ...] = ()

    # --- PE ------------------------------------------------------------------------------------
    #: DLLs named in the delay-load import directory (loaded on first call; missing ones fail late).
    delay_needed: tuple[str, ...] = ()
    #: The DLL's own name from its export directory, if any.
    dll_name: str | None = None
    #: Linker version ``"14.38"`` from the optional header (MSVC toolset indicator).
    linker_version: str | None = None
    #: FileVersion of the VERSIONINFO resource's VS_FIXEDFILEINFO, ``"14.51.36260.0"``; None when the
    #: image has no (readable) version resource.
    file_version: str | None = None
    #: PE subsystem (``"windows_gui"``, ``"windows_cui"``, ...).
    subsystem: str | None = None

    # --- deep reading (``read_binary(..., deep=True)``), all formats ---------------------------
    #: True when the symbol tables and section sizes below were read (they are empty otherwise).
    deep: bool = False
    #: Symbols the file imports: ELF undefined dynamic symbols (``.dynsym``, st_shndx == SHN_UNDEF,
    #: without ``@version``), Mach-O undefined external symbols (leading ``_`` removed), PE
    #: import-table names of every DLL (ordinal-only imports as ``#<ordinal>``). Sorted, unique.
    imported_symbols: tuple[str, ...] = ()
    #: ELF only: the subset of ``imported_symbols`` referenced with STB_WEAK binding only (an
    #: optional lookup: the loader binds it to NULL when no loaded object defines it, as Rust's
    #: and libstdc++'s reference to ``__cxa_thread_atexit_impl``).
    weak_imported_symbols: tuple[str, ...] = ()
    #: Symbols the file exports: ELF defined GLOBAL/WEAK/GNU_UNIQUE dynamic symbols of default or
    #: protected visibility, Mach-O defined external
    #: symbols (leading ``_`` removed), PE export-directory names. Sorted, unique.
    exported_symbols: tuple[str, ...] = ()
    #: Bytes of debugging information carried (ELF ``.debug_*``/``.zdebug_*`` sections, Mach-O
    #: ``__DWARF`` segment, PE ``.debug*`` sections and COFF symbol table); None when not read.
    debug_bytes: int | None = None
    #: PE only: imported symbol names per DLL (``{"python3.dll": ("PyArg_ParseTuple", ...)}``).
    imports_by_library: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _EMPTY)

    @property
    def all_needed(self) -> tuple[str, ...]:
        """``needed`` followed by ``delay_needed`` (without repeats)."""
        return tuple(dict.fromkeys(self.needed + self.delay_needed))

    @property
    def required_imported_symbols(self) -> tuple[str, ...]:
        """``imported_symbols`` without the weak ones: the symbols whose absence fails the load."""
        if not self.weak_imported_symbols:
            return self.imported_symbols
        weak = frozenset(self.weak_imported_symbols)
        return tuple(s for s in self.imported_symbols if s not in weak)

    @property
    def required_symbol_versions(self) -> Mapping[str, tuple[str, ...]]:
        """``symbol_versions`` without the VER_FLG_WEAK entries: the versions the loader insists on."""
        if not self.weak_symbol_versions:
            return self.symbol_versions
        required: dict[str, tuple[str, ...]] = {}
        for library, versions in self.symbol_versions.items():
            weak = frozenset(self.weak_symbol_versions.get(library, ()))
            kept = tuple(v for v in versions if v not in weak)
            if kept:
                required[library] = kept
        return MappingProxyType(required)

    @property
    def archs(self) -> tuple[str, ...]:
        """The architectures this file carries: the slices' for a fat file, else ``(arch,)``."""
        return tuple(s.arch for s in self.slices) if self.slices else (self.arch,)
