"""Linux platform policies: manylinux (PEP 513/571/599/600) and musllinux (PEP 656).

A :class:`LinuxPolicy` says which shared libraries a wheel may leave to the system
(``libraries``) and, per architecture, the highest symbol version it may need from each
*governed* namespace (GLIBC, GLIBCXX, CXXABI, GCC, LIBATOMIC, ZLIB for manylinux; none for
musllinux). The data lives in ``data/manylinux.json`` and ``data/musllinux.json``.

Symbol versions are read as ``NAMESPACE[_QUALIFIER...][_N.N.N]``: the *key* is everything
before the trailing dotted number (``GLIBCXX`` for ``GLIBCXX_3.4.19``, ``GLIBCXX_LDBL`` for
``GLIBCXX_LDBL_3.4.10``, the whole string for ``CXXABI_FLOAT128`` or ``GLIBC_PRIVATE``) and the
namespace is the text before the first ``_``. A version is allowed when its namespace is not
governed, or when its key has a ceiling for the architecture and its numbers are <= it.
"""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple, TypeAlias, get_args

from native_doctor.errors import PolicyDataError
from native_doctor.platforms._data import (
    expect_int,
    expect_mapping,
    expect_str,
    expect_str_list,
    load_data,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

__all__ = [
    "ARCHITECTURES",
    "Libc",
    "LinuxPolicy",
    "best_policy",
    "forbidden_for",
    "forbidden_symbols",
    "glibc_loader_names",
    "is_reserved_name",
    "is_system_library",
    "loader_names",
    "musl_libc_sonames",
    "parse_linux_platform_tag",
    "parse_symbol_version",
    "policies",
    "policy_by_name",
]

Libc = Literal["glibc", "musl"]

#: Architecture names as used in manylinux/musllinux tags and by auditwheel.
ARCHITECTURES: Final = (
    "x86_64",
    "i686",
    "aarch64",
    "armv7l",
    "ppc64le",
    "ppc64",
    "s390x",
    "riscv64",
    "loongarch64",
)

#: A ceiling: the numbers of the highest allowed version, or None when nothing is allowed.
Ceiling: TypeAlias = tuple[int, ...] | None

_DATA_FILE: Final[Mapping[str, str]] = MappingProxyType({"glibc": "manylinux", "musl": "musllinux"})
_NUMBERS_RE: Final = re.compile(r"\d+(?:\.\d+)*")
_TAG_RE: Final = re.compile(r"(manylinux|musllinux)_(\d+)_(\d+)_([a-z0-9_]+)")
_LEGACY_TAG_RE: Final = re.compile(r"(manylinux1|manylinux2010|manylinux2014)_([a-z0-9_]+)")
_LEGACY_GLIBC: Final[Mapping[str, tuple[int, int]]] = MappingProxyType(
    {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
)


def _no_ceilings() -> Mapping[str, Mapping[str, Ceiling]]:
    """Default for :attr:`LinuxPolicy.ceilings`: nothing allowed anywhere."""
    return MappingProxyType({})


def _no_libraries() -> Mapping[str, frozenset[str]]:
    """Default for :attr:`LinuxPolicy.arch_libraries`."""
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class LinuxPolicy:
    """One manylinux or musllinux policy (``manylinux_2_17``, ``musllinux_1_2``, ...)."""

    name: str
    aliases: tuple[str, ...]
    libc: Libc
    #: Higher is more compatible (older platform), as in auditwheel.
    priority: int
    #: SONAMEs the platform guarantees on some supported architecture, loaders included.
    libraries: frozenset[str]
    #: Architectures the policy is defined for.
    architectures: tuple[str, ...] = ()
    #: Governed symbol-version namespaces (``GLIBC``, ``GLIBCXX``, ...).
    governed: frozenset[str] = frozenset()
    #: Per architecture: version key -> ceiling.
    ceilings: Mapping[str, Mapping[str, Ceiling]] = field(
        default_factory=_no_ceilings, compare=False, hash=False, repr=False
    )
    #: Per architecture: the SONAMEs guaranteed there (loaders of that architecture only).
    arch_libraries: Mapping[str, frozenset[str]] = field(
        default_factory=_no_libraries, compare=False, hash=False, repr=False
    )
    #: Name prefixes the libc's loader answers itself, without a file (musl: ``libc.``, ``libm.``, ...).
    reserved_prefixes: tuple[str, ...] = ()

    @property
    def libc_version(self) -> tuple[int, int]:
        """The libc version the policy's name carries: ``manylinux_2_17`` -> ``(2, 17)``."""
        major, minor = self.name.rsplit("_", 2)[-2:]
        return int(major), int(minor)

    def tag(self, arch: str) -> str:
        """The platform tag for ``arch``: ``manylinux_2_17_x86_64``."""
        return f"{self.name}_{arch}"

    def alias_tags(self, arch: str) -> tuple[str, ...]:
        """The legacy alias tags for ``arch``: ``("manylinux2014_x86_64",)``."""
        return tuple(f"{alias}_{arch}" for alias in self.aliases)

    def supports_arch(self, arch: str) -> bool:
        """Whether this policy is defined for ``arch``."""
        return arch in self.architectures

    def libraries_for(self, arch: str) -> frozenset[str]:
        """The SONAMEs guaranteed on ``arch`` (empty when the architecture is unsupported)."""
        return self.arch_libraries.get(arch, frozenset())

    def ceiling(self, arch: str, key: str) -> Ceiling:
        """The ceiling of version ``key`` (``GLIBCXX``, ``CXXABI_TM``) on ``arch``; None if none."""
        return self.ceilings.get(arch, {}).get(key)

    def allows_version(self, arch: str, version: str) -> bool:
        """Whether a needed symbol ``version`` (``GLIBCXX_3.4.19``) is within this policy on ``arch``.

        Versions of namespaces the policy does not govern are allowed; ``GLIBC_PRIVATE`` and any
        other version of a governed namespace without a ceiling are not. An unsupported
        architecture allows nothing.
        """
        if not self.supports_arch(arch):
            return False
        namespace, _, _ = version.partition("_")
        if namespace not in self.governed:
            return True
        key, numbers = parse_symbol_version(version)
        ceiling = self.ceiling(arch, key)
        if ceiling is None or bool(numbers) != bool(ceiling):
            # No ceiling, or a bare "GLIBC" against a numbered key (or a number on a bare one).
            return False
        return numbers <= ceiling

    def allows_library(self, arch: str, soname: str) -> bool:
        """Whether ``soname`` may stay external (unbundled) on ``arch``: a guaranteed library, or a
        name the loader answers itself (musl's reserved names)."""
        if soname in self.libraries_for(arch):
            return True
        return self.supports_arch(arch) and soname.startswith(self.reserved_prefixes)


def parse_symbol_version(version: str) -> tuple[str, tuple[int, ...]]:
    """Split ``GLIBCXX_LDBL_3.4.10`` into ``("GLIBCXX_LDBL", (3, 4, 10))``.

    A version without a trailing dotted number is all key: ``("GLIBC_PRIVATE", ())``.
    """
    head, sep, tail = version.rpartition("_")
    if sep and head and _NUMBERS_RE.fullmatch(tail):
        return head, tuple(int(part) for part in tail.split("."))
    return version, ()


def policies(libc: Libc) -> tuple[LinuxPolicy, ...]:
    """All policies of ``libc``, most compatible (highest priority) first."""
    if libc not in _DATA_FILE:
        raise ValueError(f"unknown libc {libc!r}; expected one of {get_args(Libc)}")
    return _load_policies(libc)


def policy_by_name(name: str) -> LinuxPolicy | None:
    """The policy called ``name`` or one of its aliases (``manylinux2014``), if any."""
    for libc in get_args(Libc):
        for policy in policies(libc):
            if name == policy.name or name in policy.aliases:
                return policy
    return None


def best_policy(
    arch: str,
    libc: Libc,
    *,
    external: Iterable[str],
    versions: Iterable[str],
    at_least: tuple[int, int] | None = None,
    allowed: Callable[[LinuxPolicy], bool] | None = None,
) -> LinuxPolicy | None:
    """The most compatible policy that allows every ``external`` SONAME and needed ``versions``.

    ``external`` are the libraries not bundled in the wheel; ``versions`` are the symbol versions
    the wheel's binaries need (``GLIBC_2.17``, ``GLIBCXX_3.4.21``, ``GFORTRAN_8``). ``at_least``
    skips policies older than that libc version: musl has no symbol versioning, so binaries cannot
    prove they run on an older musl than the wheel claims. ``allowed`` is a further condition a
    policy must meet (no symbol it forbids imported). Returns None when no policy of ``libc``
    fits (or none supports ``arch``).
    """
    needed_libs = frozenset(external)
    needed_versions = frozenset(versions)
    for policy in policies(libc):
        if not policy.supports_arch(arch) or (at_least is not None and policy.libc_version < at_least):
            continue
        if not all(policy.allows_library(arch, lib) for lib in needed_libs):
            continue
        if not all(policy.allows_version(arch, version) for version in needed_versions):
            continue
        if allowed is None or allowed(policy):
            return policy
    return None


def is_system_library(soname: str, libc: Libc) -> bool:
    """Whether ``soname`` is guaranteed by *any* policy of ``libc`` on any architecture, or is a
    name the loader answers itself (:func:`is_reserved_name`)."""
    return soname in _all_libraries(libc) or is_reserved_name(soname, libc)


def is_reserved_name(soname: str, libc: Libc) -> bool:
    """Whether ``libc``'s loader answers DT_NEEDED ``soname`` itself, before any search and
    without a file: musl's ``libc.so``, ``libm.so.6``, ``libpthread.so.0``, ... (none for glibc)."""
    return soname.startswith(_load_reserved(libc))


def loader_names(libc: Libc, arch: str | None = None) -> frozenset[str]:
    """The dynamic loader (and, for musl, libc) SONAMEs of ``libc``, for ``arch`` or for all."""
    loaders = _load_loaders(libc)
    if arch is None:
        return frozenset().union(*loaders.values())
    return loaders.get(arch, frozenset())


def glibc_loader_names(arch: str | None = None) -> frozenset[str]:
    """glibc's dynamic loader names: ``ld-linux-x86-64.so.2``, ``ld64.so.2``, ..."""
    return loader_names("glibc", arch)


def musl_libc_sonames(arch: str | None = None) -> frozenset[str]:
    """musl's loader/libc names: ``ld-musl-x86_64.so.1`` and Alpine's ``libc.musl-x86_64.so.1``."""
    return loader_names("musl", arch)


class ForbiddenGroup(NamedTuple):
    """Symbols a family's policies forbid importing from one library, up to a policy version."""

    #: The newest policy version that forbids them; None: every known policy and newer ones.
    until: tuple[int, int] | None
    symbols: frozenset[str]


@functools.cache
def forbidden_symbols(family: str) -> Mapping[str, tuple[ForbiddenGroup, ...]]:
    """For ``manylinux`` or ``musllinux``: library SONAME -> its forbidden symbol groups
    (``data/forbidden_symbols.json``, auditwheel's policy 'blacklist')."""
    where = f"forbidden_symbols.json: {family}"
    libraries = expect_mapping(load_data("forbidden_symbols").get(family), where)
    result: dict[str, tuple[ForbiddenGroup, ...]] = {}
    for library, groups in libraries.items():
        entries = []
        for until, names in expect_mapping(groups, f"{where}.{library}").items():
            entry_where = f"{where}.{library}.{until}"
            version = None if until == "*" else _dotted_pair(until, entry_where)
            entries.append(ForbiddenGroup(version, frozenset(expect_str_list(names, entry_where))))
        result[library] = tuple(entries)
    return MappingProxyType(result)


def forbidden_for(family: str, library: str, version: tuple[int, int]) -> frozenset[str]:
    """The symbols the ``family`` policy of ``version`` forbids importing from ``library``."""
    names: set[str] = set()
    for group in forbidden_symbols(family).get(library, ()):
        if group.until is None or version <= group.until:
            names |= group.symbols
    return frozenset(names)


def _dotted_pair(text: str, where: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)\.(\d+)", text)
    if match is None:
        raise PolicyDataError(f"{where}: not a version: {text!r}")
    return int(match.group(1)), int(match.group(2))


def parse_linux_platform_tag(tag: str) -> tuple[Libc, tuple[int, int], str] | None:
    """Split a manylinux/musllinux platform tag into (libc, version, arch).

    ``manylinux2014_x86_64`` -> ``("glibc", (2, 17), "x86_64")``;
    ``musllinux_1_2_aarch64`` -> ``("musl", (1, 2), "aarch64")``; ``linux_x86_64`` -> None.
    The architecture is returned as written, known or not.
    """
    match = _TAG_RE.fullmatch(tag)
    if match is not None:
        family, major, minor, arch = match.groups()
        libc: Libc = "glibc" if family == "manylinux" else "musl"
        return libc, (int(major), int(minor)), arch
    legacy = _LEGACY_TAG_RE.fullmatch(tag)
    if legacy is not None:
        alias, arch = legacy.groups()
        return "glibc", _LEGACY_GLIBC[alias], arch
    return None


# --- data loading -------------------------------------------------------------------------------


@functools.cache
def _load_policies(libc: Libc) -> tuple[LinuxPolicy, ...]:
    """Build (once) the policies of ``libc`` from its data file."""
    return build_policies(load_data(_DATA_FILE[libc]), libc=libc, where=f"{_DATA_FILE[libc]}.json")


@functools.cache
def _load_loaders(libc: Libc) -> Mapping[str, frozenset[str]]:
    """The per-architecture loader names of ``libc`` (once)."""
    document = load_data(_DATA_FILE[libc])
    return _read_loaders(document.get("loaders"), f"{_DATA_FILE[libc]}.json: loaders")


@functools.cache
def _load_reserved(libc: Libc) -> tuple[str, ...]:
    """The reserved name prefixes of ``libc`` (once)."""
    document = load_data(_DATA_FILE[libc])
    where = f"{_DATA_FILE[libc]}.json: reserved_prefixes"
    return expect_str_list(document.get("reserved_prefixes", []), where)


@functools.cache
def _all_libraries(libc: Libc) -> frozenset[str]:
    """Union of every policy's libraries for ``libc``."""
    return frozenset().union(*(policy.libraries for policy in policies(libc)))


def build_policies(document: Mapping[str, Any], *, libc: Libc, where: str) -> tuple[LinuxPolicy, ...]:
    """Validate a policy document and build its policies, most compatible first.

    Raises :class:`PolicyDataError` on a malformed document, a libc mismatch, duplicate names
    or priorities, or a ceiling lower than a more compatible policy's (PEP 600 requires each
    newer policy to be a superset). Libraries are cumulative: ``base_libraries`` plus every
    ``add_libraries`` of this and all more compatible policies.
    """
    if document.get("libc") != libc:
        raise PolicyDataError(f"{where}: libc is {document.get('libc')!r}, expected {libc!r}")
    governed = frozenset(
        expect_str_list(document.get("governed_namespaces"), f"{where}: governed_namespaces")
    )
    loaders = _read_loaders(document.get("loaders"), f"{where}: loaders")
    reserved = expect_str_list(document.get("reserved_prefixes", []), f"{where}: reserved_prefixes")
    libraries = frozenset(expect_str_list(document.get("base_libraries"), f"{where}: base_libraries"))
    raw_policies = document.get("policies")
    if not isinstance(raw_policies, list) or not raw_policies:
        raise PolicyDataError(f"{where}: policies: expected a non-empty list")
    entries = [expect_mapping(raw, f"{where}: policies[{index}]") for index, raw in enumerate(raw_policies)]
    entries.sort(key=lambda entry: -expect_int(entry.get("priority"), f"{where}: priority"))
    state: dict[str, dict[str, Ceiling]] = {arch: {} for arch in ARCHITECTURES}
    built: list[LinuxPolicy] = []
    for entry in entries:
        policy = _build_policy(
            entry,
            libc=libc,
            governed=governed,
            loaders=loaders,
            inherited=libraries,
            state=state,
            where=where,
        )
        policy = replace(policy, reserved_prefixes=reserved)
        libraries = policy.libraries - frozenset().union(*loaders.values())
        built.append(policy)
    _check_unique(built, where)
    _check_monotonic(built, where)
    return tuple(built)


def _build_policy(
    entry: Mapping[str, Any],
    *,
    libc: Libc,
    governed: frozenset[str],
    loaders: Mapping[str, frozenset[str]],
    inherited: frozenset[str],
    state: dict[str, dict[str, Ceiling]],
    where: str,
) -> LinuxPolicy:
    """Build one policy; ``state`` carries the ceilings over from the previous policy."""
    name = expect_str(entry.get("name"), f"{where}: name")
    here = f"{where}: {name}"
    archs = expect_str_list(entry.get("architectures"), f"{here}: architectures")
    for arch in archs:
        if arch not in ARCHITECTURES or arch not in loaders:
            raise PolicyDataError(f"{here}: architecture {arch!r} is unknown or has no loader")
    _apply_ceilings(entry.get("ceilings"), governed, state, here)
    own = inherited | frozenset(expect_str_list(entry.get("add_libraries"), f"{here}: add_libraries"))
    arch_libraries = {arch: own | loaders[arch] for arch in archs}
    return LinuxPolicy(
        name=name,
        aliases=expect_str_list(entry.get("aliases"), f"{here}: aliases"),
        libc=libc,
        priority=expect_int(entry.get("priority"), f"{here}: priority"),
        libraries=own.union(*(loaders[arch] for arch in archs)),
        architectures=archs,
        governed=governed,
        ceilings=MappingProxyType({arch: MappingProxyType(dict(state[arch])) for arch in archs}),
        arch_libraries=MappingProxyType(arch_libraries),
    )


def _apply_ceilings(
    raw: object, governed: frozenset[str], state: dict[str, dict[str, Ceiling]], where: str
) -> None:
    """Update ``state`` with a policy's ``ceilings`` block ('*' first, then each architecture)."""
    blocks = expect_mapping(raw, f"{where}: ceilings")
    unknown = set(blocks) - {"*", *ARCHITECTURES}
    if unknown:
        raise PolicyDataError(f"{where}: ceilings for unknown architectures {sorted(unknown)}")
    order = ["*", *ARCHITECTURES]
    for block_name in (name for name in order if name in blocks):
        block = expect_mapping(blocks[block_name], f"{where}: ceilings[{block_name}]")
        parsed = {
            key: _parse_ceiling(key, value, governed, f"{where}: {block_name}")
            for key, value in block.items()
        }
        targets = ARCHITECTURES if block_name == "*" else (block_name,)
        for arch in targets:
            state[arch].update(parsed)


def _parse_ceiling(key: str, value: object, governed: frozenset[str], where: str) -> Ceiling:
    """Parse one ceiling: ``"3.4.19"`` -> (3, 4, 19), ``""`` -> (), ``null`` -> None."""
    if key.partition("_")[0] not in governed:
        raise PolicyDataError(f"{where}: {key!r} is not in a governed namespace")
    if value is None:
        return None
    if not isinstance(value, str):
        raise PolicyDataError(f"{where}: ceiling of {key!r} must be a string or null, got {value!r}")
    if value == "":
        return ()
    if not _NUMBERS_RE.fullmatch(value):
        raise PolicyDataError(f"{where}: ceiling of {key!r} is not a dotted number: {value!r}")
    return tuple(int(part) for part in value.split("."))


def _read_loaders(raw: object, where: str) -> Mapping[str, frozenset[str]]:
    """Validate the ``loaders`` object: architecture -> list of SONAMEs."""
    block = expect_mapping(raw, where)
    loaders: dict[str, frozenset[str]] = {}
    for arch, names in block.items():
        if arch not in ARCHITECTURES:
            raise PolicyDataError(f"{where}: unknown architecture {arch!r}")
        loaders[arch] = frozenset(expect_str_list(names, f"{where}[{arch}]"))
    return MappingProxyType(loaders)


def _check_unique(built: list[LinuxPolicy], where: str) -> None:
    """Names, aliases and priorities must be unique."""
    names = [name for policy in built for name in (policy.name, *policy.aliases)]
    priorities = [policy.priority for policy in built]
    if len(set(names)) != len(names) or len(set(priorities)) != len(priorities):
        raise PolicyDataError(f"{where}: duplicate policy names, aliases or priorities")


def _check_monotonic(built: list[LinuxPolicy], where: str) -> None:
    """Each policy must allow at least the symbol versions of the more compatible one (PEP 600).

    (Libraries need no check: each policy inherits the previous one's by construction.)
    """
    for older, newer in itertools.pairwise(built):
        for arch in set(older.architectures) & set(newer.architectures):
            for key, ceiling in older.ceilings[arch].items():
                if ceiling is not None and not _covers(newer.ceiling(arch, key), ceiling):
                    raise PolicyDataError(f"{where}: {newer.name} lowers {key} on {arch}")


def _covers(ceiling: Ceiling, other: tuple[int, ...]) -> bool:
    """Whether ``ceiling`` allows everything up to ``other``."""
    return ceiling is not None and other <= ceiling
