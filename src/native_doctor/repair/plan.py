"""Decide what a repair does: which libraries to graft, link to a provider, or leave to the machine.

Pure: the inspection of the wheel says which needed libraries are external; a ``lookup`` function
(supplied by :mod:`native_doctor.repair.locate`, the only place that touches the file system)
finds each one, and the libraries it needs in turn, until the closure is known. Every decision
carries its reason: who needs the library, through which chain, where it was found.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, NamedTuple

from native_doctor._names import canonical_name
from native_doctor.analysis import Inspection
from native_doctor.binary.model import BinaryFormat, FileKind
from native_doctor.errors import UsageError
from native_doctor.model import NativeFile, Resolution, TargetOS
from native_doctor.platforms import linux
from native_doctor.repair.model import (
    CannotRepair,
    Graft,
    InWheel,
    LeftOut,
    LeftReason,
    Link,
    LocatedLibrary,
    Missing,
    RepairOptions,
    RepairPlan,
)
from native_doctor.repair.rules import PlatformRules

if TYPE_CHECKING:
    from native_doctor.providers import Declared as _Declared
    from native_doctor.providers import Provider

__all__ = [
    "Lookup",
    "LookupResult",
    "build_plan",
    "copies_by_name",
    "exclude_matches",
    "libs_dir_of",
    "mangled_name",
    "place_grafts",
]


class LookupResult(NamedTuple):
    """What the locator answered for one name."""

    found: LocatedLibrary | None
    #: Candidates it skipped: (path, reason).
    rejected: tuple[tuple[str, str], ...] = ()


#: ``lookup(name, search_first)``: find library ``name``; ``search_first`` are absolute folders
#: the requesting binary's own RPATH/RUNPATH names (searched after ``--lib-path``).
Lookup = Callable[[str, tuple[str, ...]], LookupResult]


def exclude_matches(pattern: str, name: str) -> bool:
    """Whether an ``--exclude`` pattern covers ``name``: equal, an fnmatch match, or the family
    (``librocblas.so`` matches ``librocblas.so.5`` and ``librocblas.so.5.1``)."""
    if name == pattern or fnmatch.fnmatchcase(name, pattern):
        return True
    return name.startswith(pattern + ".") and name[len(pattern) + 1 :].replace(".", "").isdigit()


_ALREADY_HASHED = re.compile(r"-[0-9a-f]{8}$")


def mangled_name(name: str, sha256: str) -> str:
    """``libfoo.so.1`` -> ``libfoo-1a2b3c4d.so.1`` (first 8 hex digits of the content hash); a
    name that already carries a hash (``libfoo-89abcdef.so.1``) stays as it is."""
    base, dot, rest = name.partition(".")
    if _ALREADY_HASHED.search(base):
        return name  # grafted before (by us or auditwheel): the name stays stable
    return f"{base}-{sha256[:8]}{dot}{rest}"


def libs_dir_of(wheel_path: str) -> str:
    """``<dist>.libs``, the wheel-root folder for grafted libraries (the file name's first part)."""
    return posixpath.basename(wheel_path.replace("\\", "/")).split("-", 1)[0] + ".libs"


class _Need:
    """A library some binaries need, with who needs it and through which chain."""

    __slots__ = ("chain", "name", "needed_by")

    def __init__(self, name: str, needed_by: list[str], chain: tuple[str, ...]) -> None:
        self.name = name
        self.needed_by = needed_by
        self.chain = chain


def build_plan(
    inspection: Inspection,
    options: RepairOptions,
    lookup: Lookup,
    *,
    rules: PlatformRules,
    extra_providers: Sequence[Provider] = (),
) -> RepairPlan:
    """The plan for one Linux wheel.

    :param extra_providers: providers read from installed distributions named by
        ``--provided-by`` that the built-in data does not know.
    """
    planner = _Planner(inspection, options, lookup, rules, extra_providers)
    for binary in inspection.binaries:
        info = binary.native.info
        if info is None or info.format is not rules.format:
            continue
        search = tuple(e for e in (info.runpath or info.rpath) if e.startswith("/"))
        for dep in binary.dependencies:
            if dep.resolution is Resolution.EXTERNAL:
                planner.need(dep.name, binary.native.path, (binary.native.path,), search)
    for name in options.includes:  # vendored although nothing imports it
        planner.need(name, "--include", ("--include",), ())
    while planner.queue:
        planner.decide(*planner.queue.popleft())
    return planner.plan()


class _Planner:
    """The closure walk: each needed name is decided once; a located library's own needs follow."""

    def __init__(
        self,
        inspection: Inspection,
        options: RepairOptions,
        lookup: Lookup,
        rules: PlatformRules,
        extra: Sequence[Provider],
    ) -> None:
        self.rules = rules
        self.inspection = inspection
        self.options = options
        self.lookup = lookup
        self.extra = extra
        self.libc: linux.Libc = "musl" if inspection.platform.libc == "musl" else "glibc"
        self.declared = _declared(inspection.artifact.requires_dist)
        self.chosen = frozenset(canonical_name(d) for d in options.provided_by)
        self.refused = frozenset(canonical_name(d) for d in options.no_providers)
        self.used_refusals: set[str] = set()
        if self.chosen & self.refused:
            both = ", ".join(sorted(self.chosen & self.refused))
            raise UsageError(f"{both}: both --provided-by and --no-provider")
        self.located: dict[str, LocatedLibrary] = {}
        self.links: dict[str, Link] = {}
        self.in_wheel: dict[str, InWheel] = {}
        self.copies = copies_by_name(inspection, rules.format)
        self.left: dict[str, LeftOut] = {}
        self.missing: dict[str, Missing] = {}
        self.warnings: list[str] = []
        self.used_patterns: set[str] = set()
        self.needs: dict[str, _Need] = {}
        self.queue: deque[tuple[str, tuple[str, ...]]] = deque()

    def need(self, name: str, requester: str, chain: tuple[str, ...], search: tuple[str, ...]) -> None:
        if name in self.needs:
            if requester not in self.needs[name].needed_by:
                self.needs[name].needed_by.append(requester)
            return
        self.needs[name] = _Need(name, [requester], (*chain, name))
        self.queue.append((name, search))

    def decide(self, name: str, search: tuple[str, ...]) -> None:
        entry = self.needs[name]
        requesters = tuple(entry.needed_by)
        fold = self.rules.os is TargetOS.WINDOWS  # DLL names compare case-insensitively
        pattern = next(
            (
                p
                for p in self.options.excludes
                if exclude_matches(p, name) or (fold and exclude_matches(p.lower(), name.lower()))
            ),
            None,
        )
        if pattern is not None:
            self.used_patterns.add(pattern)
            self.left[name] = LeftOut(name, LeftReason.EXCLUDED, f"--exclude {pattern}", requesters)
            return
        reason = self.rules.host_only(name)
        if reason is not None:
            self.left[name] = LeftOut(name, LeftReason.HOST, reason, requesters)
            return
        copy = self.copies.get(name)
        if copy is not None:
            self.in_wheel[name] = InWheel(name, copy.path, posixpath.dirname(copy.install_path), requesters)
            return
        provider, note = _provider(
            name,
            self.chosen,
            self.declared,
            self.extra,
            self.rules.os.value,
            self.refused,
            self.used_refusals,
        )
        if note:
            self.warnings.append(note)
        if provider is not None:
            dist = provider.distribution
            because = "--provided-by" if dist in self.chosen else "built-in provider data"
            declared = _is_declared_by(provider, self.declared)
            self.links[name] = Link(name, dist, provider.directory, requesters, declared, because)
            return
        if "/" in name:
            self.missing[name] = Missing(name, requesters, entry.chain, (("", "a path, not a library name"),))
            return
        result = self.lookup(name, search)
        if result.found is None:
            self.missing[name] = Missing(name, requesters, entry.chain, result.rejected)
            return
        self._follow(name, result.found, entry.chain)

    def _follow(self, name: str, found: LocatedLibrary, chain: tuple[str, ...]) -> None:
        self.located[name] = found
        origin = posixpath.dirname(found.path)
        own = tuple(
            e.replace("$ORIGIN", origin).replace("${ORIGIN}", origin)
            for e in (found.info.runpath or found.info.rpath)
        )
        search = tuple(e for e in own if e.startswith("/"))
        for sub in found.info.needed:
            if not self.rules.is_system(sub):
                self.need(sub, name, chain, search)

    def _libc_of_closure(self) -> linux.Libc:
        """musl when the wheel's binaries say so, or when a library they pull in needs musl's libc
        (an extension that calls no libc function may not name it)."""
        if self.rules.os is not TargetOS.LINUX:
            return self.libc
        musl = linux.loader_names("musl")
        if any(n in musl for lib in self.located.values() for n in lib.info.needed):
            return "musl"
        return self.libc

    def plan(self) -> RepairPlan:
        libs_dir = self.rules.libs_dir(self.inspection.artifact.path)
        grafts = []
        for name in sorted(self.located):
            found = self.located[name]
            new_name = self.rules.mangle(name, found.sha256)
            entry = self.needs[name]
            grafts.append(
                Graft(
                    name=name,
                    new_name=new_name,
                    member=f"{libs_dir}/{new_name}",
                    source=found.path,
                    found_in=found.found_in,
                    size=len(found.data),
                    sha256=found.sha256,
                    needed_by=tuple(entry.needed_by),
                    chain=entry.chain,
                    info=found.info,
                )
            )
        warnings = list(self.warnings)
        warnings += [
            f"--exclude {p} matched no needed library"
            for p in self.options.excludes
            if p not in self.used_patterns
        ]
        warnings += [
            f"--no-provider {d} provides no needed library: nothing changed"
            for d in sorted(self.refused - self.used_refusals)
        ]
        # Requester lists grow while the walk goes on: take them at the end.
        links = tuple(
            replace(lk, needed_by=tuple(self.needs[lk.name].needed_by))
            for lk in (self.links[k] for k in sorted(self.links))
        )
        in_wheel = tuple(
            replace(x, needed_by=tuple(self.needs[x.name].needed_by))
            for x in (self.in_wheel[k] for k in sorted(self.in_wheel))
        )
        left = tuple(
            replace(x, needed_by=tuple(self.needs[x.name].needed_by))
            for x in (self.left[k] for k in sorted(self.left))
        )
        return RepairPlan(
            wheel=self.inspection.artifact.path,
            arch=_arch(self.inspection, self.rules.format),
            libc=self._libc_of_closure(),
            libs_dir=libs_dir,
            grafts=tuple(grafts),
            links=links,
            in_wheel=in_wheel,
            left=left,
            missing=tuple(self.missing[k] for k in sorted(self.missing)),
            warnings=tuple(dict.fromkeys(warnings)),
        )


def copies_by_name(inspection: Inspection, fmt: BinaryFormat) -> dict[str, NativeFile]:
    """ELF shared libraries the wheel ships, by base name (the first by path when several), that
    match the wheel's architecture and may be reached with a RUNPATH entry (inside site-packages)."""
    arch = _arch(inspection, fmt)
    found: dict[str, NativeFile] = {}
    for native in sorted(inspection.artifact.native, key=lambda n: n.path):
        info = native.info
        if info is None or info.format is not fmt or info.arch != arch:
            continue
        if info.kind is not FileKind.SHARED_LIBRARY or native.install_path.startswith("<"):
            continue
        found.setdefault(posixpath.basename(native.install_path), native)
    return found


def _arch(inspection: Inspection, fmt: BinaryFormat) -> str:
    archs = inspection.platform.archs
    if len(archs) == 1:
        return archs[0]
    for binary in inspection.binaries:
        if binary.native.info is not None and binary.native.info.format is fmt:
            return binary.native.info.arch
    return "unknown"


def _declared(requires_dist: Iterable[str]) -> _Declared:
    """What METADATA declares: distribution names, and the components a metapackage's extras
    bring (``cuda-toolkit[cublas]`` declares nvidia-cublas), as the dependency checks read it."""
    from native_doctor.providers import declared as declared_of

    return declared_of(requires_dist)


def _is_declared_by(provider: Provider, declared: _Declared) -> bool:
    from native_doctor.providers import is_declared

    return is_declared(provider, declared)


def _provider(
    name: str,
    chosen: frozenset[str],
    declared: _Declared,
    extra: Sequence[Provider],
    os: str,
    refused: frozenset[str] = frozenset(),
    used_refusals: set[str] | None = None,
) -> tuple[Provider | None, str | None]:
    """The distribution that provides ``name``: one the user chose, else one already declared,
    else the first the built-in data knows (with a note when several could); never one in
    ``refused`` (``--no-provider``; each one that excluded a candidate is added to ``used_refusals``)."""
    from native_doctor.providers import is_declared as _is_declared
    from native_doctor.providers import providers_of

    candidates = [p for p in extra if p.provides(name)] + list(providers_of(name, os))
    if refused:
        kept = [p for p in candidates if p.distribution not in refused]
        if used_refusals is not None:
            used_refusals.update(p.distribution for p in candidates if p.distribution in refused)
        candidates = kept
    if not candidates:
        return None, None
    for provider in candidates:
        if provider.distribution in chosen:
            return provider, None
    for provider in candidates:
        if _is_declared(provider, declared):
            return provider, None
    first = candidates[0]
    others = sorted({p.distribution for p in candidates[1:]} - {first.distribution})
    note = None
    if others:
        note = (
            f"{name} is provided by {first.distribution} and also by {', '.join(others)}: linked to "
            f"{first.distribution} (choose with --provided-by)"
        )
    return first, note


def place_grafts(plan: RepairPlan, inspection: Inspection) -> RepairPlan:
    """Put ``<dist>.libs`` in the install scheme (purelib or platlib) of the binaries that load it.

    ``$ORIGIN``-relative RUNPATHs hold only within one scheme: purelib and platlib are different
    folders on some systems (Fedora's ``lib`` and ``lib64``). The wheel root installs into purelib
    when WHEEL says ``Root-Is-Purelib: true``, else into platlib; a binary under
    ``<dist>.data/platlib/`` (or ``purelib/``) installs into that scheme. When every binary that
    needs a graft installs into a scheme other than the root's, the grafts go under that
    ``.data`` folder (same install path, so the same RUNPATH); when they are split between both,
    no one folder serves them and the repair is refused.

    :raises CannotRepair: binaries needing grafts install into both purelib and platlib.
    """
    if not plan.grafts:
        return plan
    grafted = {g.name for g in plan.grafts}
    root = "purelib" if inspection.artifact.root_is_purelib else "platlib"
    schemes: dict[str, list[str]] = {}
    for binary in inspection.binaries:
        needs = any(d.resolution is Resolution.EXTERNAL and d.name in grafted for d in binary.dependencies)
        if needs:
            data, scheme = _scheme_of(binary.native.path, root)
            schemes.setdefault(scheme, []).append(data or binary.native.path)
    if set(schemes) <= {root}:
        return plan
    if len(schemes) > 1:
        raise CannotRepair(
            "binaries that need grafted libraries install into both purelib "
            f"({schemes['purelib'][0]}) and platlib ({schemes['platlib'][0]}), which can be different "
            "folders: no one <dist>.libs is $ORIGIN-relative to both; move them into one scheme "
            "(Root-Is-Purelib: false and no .data/purelib binaries is the usual layout)"
        )
    ((scheme, where),) = schemes.items()
    prefix = f"{where[0]}/{scheme}/"
    grafts = tuple(replace(g, member=prefix + g.member) for g in plan.grafts)
    return replace(plan, grafts=grafts)


def _scheme_of(member: str, root: str) -> tuple[str | None, str]:
    """(the ``<dist>.data`` folder or None, the scheme) a wheel member installs into."""
    first, _, rest = member.partition("/")
    if first.endswith(".data"):
        return first, rest.partition("/")[0]
    return None, root
