"""Which PyPI distributions install the libraries other distributions' binaries load.

Shared by the dependency checks (ND202/ND203 explain such libraries) and by repair (which links to
a provider instead of grafting it). The knowledge is ``checks/data/providers.json`` (read from real
wheels' file lists), loaded once on first use; ``Requires-Dist`` lines are read as the checks and
repair both need them (:func:`declared`, :func:`is_declared`). Pure: no filesystem beyond the
package's own data file, and no import of the check registry.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, NamedTuple

from native_doctor._names import canonical_name
from native_doctor._package_data import read_package_text
from native_doctor.model import TargetOS

if TYPE_CHECKING:
    from packaging.requirements import Requirement

__all__ = [
    "Declared",
    "Provider",
    "ProviderTable",
    "declared",
    "is_declared",
    "is_driver_library",
    "known_providers",
    "provided_by",
    "providers_of",
    "requirements",
]


class Provider(NamedTuple):
    """A PyPI distribution that installs a library other distributions' binaries load."""

    distribution: str
    #: ``linux``, ``macos`` or ``windows`` (a :class:`TargetOS` value).
    os: str
    #: Install-path directory (relative to site-packages) the library lands in.
    directory: str
    #: fnmatch patterns over the library's base name.
    libraries: tuple[str, ...]
    #: The CUDA major version the distribution belongs to, for CUDA libraries.
    cuda: int | None = None
    #: The ``cuda-toolkit`` component (extra) that brings it, if any.
    toolkit_component: str | None = None
    #: Importing the distribution loads the library (dependants that import it first find it).
    loaded_on_import: bool = False
    #: Distributions that require this one and load its libraries when imported.
    brought_by: tuple[str, ...] = ()
    source: str = ""

    def provides(self, name: str) -> bool:
        """Whether the library ``name`` (a needed entry; only its base name counts) is one of ours."""
        base = name.replace("\\", "/").rsplit("/", 1)[-1]
        if self.os == TargetOS.WINDOWS:
            folded = os.path.normcase(base.casefold())  # what fnmatch.fnmatch compares
            return any(
                folded.startswith(_literal_prefix(os.path.normcase(p.casefold())))
                and fnmatch.fnmatch(base.casefold(), p.casefold())
                for p in self.libraries
            )
        return any(
            base.startswith(_literal_prefix(p)) and fnmatch.fnmatchcase(base, p) for p in self.libraries
        )


@functools.cache
def _literal_prefix(pattern: str) -> str:
    """What every name ``pattern`` matches starts with: the characters before its first wildcard.
    Names without it are refused before fnmatch compiles the pattern (a regular expression each:
    ~2 ms for the table on a repair's first look-up, for names that match none)."""
    for at, char in enumerate(pattern):
        if char in "*?[":
            return pattern[:at]
    return pattern


class ProviderTable(NamedTuple):
    """The built-in knowledge: every provider, and what metapackage extras bring."""

    providers: tuple[Provider, ...]
    #: metapackage -> extra -> toolkit components it brings.
    metapackages: Mapping[str, Mapping[str, tuple[str, ...]]]

    @property
    def distributions(self) -> frozenset[str]:
        """Canonical names of every known provider distribution."""
        return frozenset(p.distribution for p in self.providers)


@functools.cache
def known_providers() -> ProviderTable:
    """The built-in provider table (``checks/data/providers.json``), read once."""
    text = read_package_text("checks", "data", "providers.json")
    raw = json.loads(text)
    providers = tuple(
        Provider(
            distribution=canonical_name(p["distribution"]),
            os=p["os"],
            directory=p["directory"],
            libraries=tuple(p["libraries"]),
            cuda=p.get("cuda"),
            toolkit_component=p.get("toolkit_component"),
            loaded_on_import=bool(p.get("loaded_on_import", False)),
            brought_by=tuple(canonical_name(d) for d in p.get("brought_by", ())),
            source=p.get("source", ""),
        )
        for p in raw["providers"]
    )
    metapackages = {
        canonical_name(name): {extra: tuple(c) for extra, c in meta["extras"].items()}
        for name, meta in raw.get("metapackages", {}).items()
    }
    return ProviderTable(providers, metapackages)


def providers_of(name: str, os: str | TargetOS | None = None) -> tuple[Provider, ...]:
    """Every known distribution that provides the library ``name`` (on ``os``, if given).

    A name can have several: ``libcudnn.so.9`` comes from ``nvidia-cudnn-cu12`` and from
    ``nvidia-cudnn-cu13``.
    """
    wanted = str(os) if os is not None else None
    return tuple(
        p for p in known_providers().providers if (wanted is None or p.os == wanted) and p.provides(name)
    )


def provided_by(name: str, os: str | TargetOS | None = None) -> Provider | None:
    """The first known distribution that provides the library ``name``, or None.

    ND202/ND203 report such libraries; the generic external-library check (ND201) can skip them.
    """
    found = providers_of(name, os)
    return found[0] if found else None


#: Libraries the GPU driver installs (never a wheel): CUDA driver API, NVML, video codecs, OpenCL's
#: loader, Vulkan's loader. A wheel must not bundle them; the machine's driver provides them.
_DRIVER_LIBRARY = re.compile(
    r"^(?:libcuda\.so(?:\.\d+)*|libnvidia-ml\.so(?:\.\d+)*|libnvcuvid\.so(?:\.\d+)*|libnvidia-encode\.so(?:\.\d+)*"
    r"|libOpenCL\.so(?:\.\d+)*|libvulkan\.so(?:\.\d+)*|nvcuda\.dll|nvml\.dll|nvcuvid\.dll|OpenCL\.dll"
    r"|vulkan-1\.dll)$",
    re.IGNORECASE,
)


def is_driver_library(name: str) -> bool:
    """Whether ``name`` is a GPU driver library (``libcuda.so.1``, ``nvcuda.dll``, ...)."""
    return _DRIVER_LIBRARY.match(name) is not None


# --- what METADATA declares ---------------------------------------------------------------------


class Declared(NamedTuple):
    """What a distribution's ``Requires-Dist`` lines declare."""

    #: Canonical names of every declared distribution (extras and markers count).
    names: frozenset[str]
    #: cuda-toolkit-style components brought by declared metapackage extras.
    components: frozenset[str]


def requirements(requires_dist: Iterable[str]) -> list[Requirement]:
    """The ``Requires-Dist`` lines that parse (a malformed line is another check's business)."""
    lines = list(requires_dist)
    if not lines:
        return []
    from packaging.requirements import InvalidRequirement, Requirement  # on demand: ~5-15 ms to import

    parsed = []
    for line in lines:
        try:
            parsed.append(Requirement(line))
        except InvalidRequirement:
            continue
    return parsed


def declared(requires_dist: Iterable[str]) -> Declared:
    """What METADATA declares: distribution names, and the components a metapackage's extras
    bring (``cuda-toolkit[cublas]`` declares nvidia-cublas)."""
    names: set[str] = set()
    components: set[str] = set()
    metapackages = known_providers().metapackages
    for requirement in requirements(requires_dist):
        name = canonical_name(requirement.name)
        names.add(name)
        extras = metapackages.get(name)
        if extras is not None:
            for extra in requirement.extras:
                components.update(extras.get(extra, ()))
    return Declared(frozenset(names), frozenset(components))


def is_declared(provider: Provider, found: Declared) -> bool:
    """Whether ``provider`` is declared, by name or through a metapackage extra's component."""
    return provider.distribution in found.names or (
        provider.toolkit_component is not None and provider.toolkit_component in found.components
    )
