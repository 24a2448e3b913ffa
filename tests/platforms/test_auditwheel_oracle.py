"""Differential tests: our Linux policy data against auditwheel's (the reference tool).

auditwheel's policy is read here, at test time, through its own API; nothing of it is copied
into native-doctor. Where we deliberately differ, the difference is listed in
``DELIBERATE_DIFFERENCES`` with its reason.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from _toolchain import require_module
from native_doctor.platforms import linux

if TYPE_CHECKING:
    from auditwheel.policy import Policy, WheelPolicies

auditwheel_policy = require_module("auditwheel.policy")
auditwheel_architecture = require_module("auditwheel.architecture")
auditwheel_libc = require_module("auditwheel.libc")

#: (policy, arch, symbol version) -> why our answer differs from auditwheel's. Empty: none.
DELIBERATE_DIFFERENCES: dict[tuple[str, str, str], str] = {}

_NUMBERS = re.compile(r"\d+(?:\.\d+)*")


@functools.cache
def _wheel_policies(libc: linux.Libc, arch: str, musl_policy: str | None = None) -> WheelPolicies:
    """auditwheel's policies for ``libc``/``arch`` (for musl: the named musllinux policy)."""
    return auditwheel_policy.WheelPolicies(
        libc=auditwheel_libc.Libc.GLIBC if libc == "glibc" else auditwheel_libc.Libc.MUSL,
        arch=auditwheel_architecture.Architecture(arch),
        musl_policy=musl_policy,
    )


@functools.cache
def _auditwheel_policies(libc: linux.Libc, arch: str) -> tuple[Policy, ...]:
    """auditwheel's policies (without the generic ``linux`` one) for ``arch``."""
    if libc == "glibc":
        return tuple(p for p in _wheel_policies(libc, arch) if not p.name.startswith("linux"))
    found: list[Policy] = []
    for policy in linux.policies("musl"):
        if policy.supports_arch(arch):
            found.extend(
                p for p in _wheel_policies(libc, arch, policy.name) if not p.name.startswith("linux")
            )
    return tuple(found)


def _base_name(policy: Policy, arch: str) -> str:
    """``manylinux_2_17_x86_64`` -> ``manylinux_2_17``."""
    return policy.name.removesuffix(f"_{arch}")


def _versions(policy: Policy) -> set[str]:
    """Every full symbol version (``GLIBC_2.17``) auditwheel lists for a policy."""
    return {f"{ns}_{v}" for ns, versions in policy.symbol_versions.items() for v in versions}


@functools.cache
def _known_versions(arch: str) -> frozenset[str]:
    """Every symbol version auditwheel knows for ``arch``, across all its policies."""
    return frozenset().union(*(_versions(p) for p in _auditwheel_policies("glibc", arch)))


def _cases() -> Iterator[object]:
    """(libc, arch) pairs both tools define."""
    for libc in ("glibc", "musl"):
        for arch in linux.ARCHITECTURES:
            if any(p.supports_arch(arch) for p in linux.policies(libc)):
                yield pytest.param(libc, arch, id=f"{libc}-{arch}")


def _ours(libc: linux.Libc, name: str) -> linux.LinuxPolicy:
    """Our policy called ``name``."""
    found = [p for p in linux.policies(libc) if p.name == name]
    assert found, f"auditwheel has {name}, we do not"
    return found[0]


@pytest.mark.parametrize(("libc", "arch"), list(_cases()))
def test_same_policies_and_architectures(libc: linux.Libc, arch: str) -> None:
    theirs = {_base_name(p, arch) for p in _auditwheel_policies(libc, arch)}
    ours = {p.name for p in linux.policies(libc) if p.supports_arch(arch)}
    assert ours == theirs


def test_same_policy_names_aliases_and_order() -> None:
    for libc in ("glibc", "musl"):
        ours = linux.policies(libc)
        theirs = sorted(
            {_base_name(p, "x86_64"): p for p in _auditwheel_policies(libc, "x86_64")}.values(),
            key=lambda p: -p.priority,
        )
        assert [p.name for p in ours] == [_base_name(p, "x86_64") for p in theirs]
        assert [p.aliases for p in ours] == [
            tuple(a.removesuffix("_x86_64") for a in p.aliases) for p in theirs
        ]
        assert [p.priority for p in ours] == [p.priority for p in theirs]


@pytest.mark.parametrize(("libc", "arch"), list(_cases()))
def test_libraries_equal_auditwheel_whitelist_plus_loaders(libc: linux.Libc, arch: str) -> None:
    for theirs in _auditwheel_policies(libc, arch):
        ours = _ours(libc, _base_name(theirs, arch))
        loaders = linux.loader_names(libc, arch)
        # auditwheel never counts the ELF loader as external (it filters it by name); we list it.
        assert ours.libraries_for(arch) == theirs.whitelist | loaders, ours.name


@pytest.mark.parametrize(
    "arch", [a for a in linux.ARCHITECTURES if linux.policies("glibc")[-1].supports_arch(a)]
)
def test_ceilings_accept_listed_and_reject_unlisted_higher(arch: str) -> None:
    problems = []
    for theirs in _auditwheel_policies("glibc", arch):
        ours = _ours("glibc", _base_name(theirs, arch))
        listed = _versions(theirs)
        for version in sorted(_known_versions(arch)):
            expected = version in listed or _is_hole(version, listed)
            if ours.allows_version(arch, version) != expected:
                key = (ours.name, arch, version)
                if key not in DELIBERATE_DIFFERENCES:
                    problems.append(f"{ours.name} {arch} {version}: ours={not expected}")
    assert not problems


def _is_hole(version: str, listed: set[str]) -> bool:
    """An unlisted version below a listed one of the same key (absent on this arch; harmless)."""
    key, numbers = linux.parse_symbol_version(version)
    return any(
        other_key == key and numbers < other_numbers
        for other_key, other_numbers in map(linux.parse_symbol_version, listed)
    )


def _oracle_choice(arch: str, versions: set[str]) -> str | None:
    """auditwheel's symbol-version policy for ``versions`` (None for plain ``linux``)."""
    chosen = _wheel_policies("glibc", arch).versioned_symbols_policy({"libfoo.so": set(versions)})
    return None if chosen.name.startswith("linux") else _base_name(chosen, arch)


def _our_choice(arch: str, versions: set[str]) -> str | None:
    """Our best glibc policy for ``versions`` with nothing external."""
    chosen = linux.best_policy(arch, "glibc", external=(), versions=versions)
    return None if chosen is None else chosen.name


_EXTRA = ("GLIBC_PRIVATE", "GFORTRAN_8", "OPENSSL_3.0.0", "Qt_5", "GLIBC_9.99", "GLIBCXX_3.4.99", "ZLIB_9")


@pytest.mark.parametrize(
    "arch", [a for a in linux.ARCHITECTURES if linux.policies("glibc")[-1].supports_arch(a)]
)
def test_best_policy_matches_auditwheel_for_each_single_version(arch: str) -> None:
    mismatches = []
    for version in sorted(_known_versions(arch)) + list(_EXTRA):
        theirs, ours = _oracle_choice(arch, {version}), _our_choice(arch, {version})
        if theirs != ours:
            mismatches.append(f"{version}: auditwheel={theirs} ours={ours}")
    assert not mismatches


@pytest.mark.parametrize("arch", ["x86_64", "aarch64", "ppc64le"])
def test_best_policy_matches_auditwheel_for_version_mixes(arch: str) -> None:
    import random

    rng = random.Random(f"mix-{arch}")
    pool = sorted(_known_versions(arch)) + list(_EXTRA)
    for _ in range(150):
        versions = set(rng.sample(pool, rng.randint(1, 6)))
        assert _our_choice(arch, versions) == _oracle_choice(arch, versions), sorted(versions)
