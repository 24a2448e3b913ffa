"""The shipped PEP 804 registry and ecosystem mappings: structure, coverage, and real Debian names."""

from __future__ import annotations

import json
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from _toolchain import require, unavailable
from native_doctor.deps import mapping
from native_doctor.deps.depurl import parse_depurl

ECOSYSTEMS = (
    "alpine",
    "arch",
    "chocolatey",
    "conda-forge",
    "debian",
    "fedora",
    "homebrew",
    "nix",
    "spack",
    "vcpkg",
    "winget",
)
#: Ecosystems that package libraries: most registry ids must have real package names there.
LIBRARY_ECOSYSTEMS = ("alpine", "arch", "conda-forge", "debian", "fedora", "homebrew", "nix", "spack")


def _raw(name: str) -> dict[str, Any]:
    resource = resources.files("native_doctor.deps").joinpath("data", name)
    data: dict[str, Any] = json.loads(resource.read_text("utf-8"))
    return data


def _canonical_ids() -> list[str]:
    return [e.id for e in mapping.registry().entries.values() if e.is_canonical]


def test_data_files_are_the_registry_and_the_eleven_mappings() -> None:
    folder = resources.files("native_doctor.deps").joinpath("data")
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".json"))
    assert names == sorted(["registry.json", *(f"{e}.mapping.json" for e in ECOSYSTEMS)])
    assert mapping.ecosystems() == ECOSYSTEMS


def test_registry_shape_and_size() -> None:
    raw = _raw("registry.json")
    assert raw["schema_version"] == 1
    ids = [d["id"] for d in raw["definitions"]]
    assert len(ids) == len(set(ids))
    assert len(_canonical_ids()) >= 80
    registry = mapping.registry()
    for definition in raw["definitions"]:
        url = parse_depurl(definition["id"])
        assert url.id == definition["id"], "ids are written in canonical DepURL form"
        assert isinstance(definition.get("description"), str) and definition["description"]
        provides = definition.get("provides", [])
        for target in [provides] if isinstance(provides, str) else provides:
            assert target in registry, f"{definition['id']} provides unknown {target}"
        if url.is_virtual:
            assert "provides" not in definition


def test_every_virtual_interface_has_providers_and_every_alias_a_canonical_target() -> None:
    registry = mapping.registry()
    for entry in registry.entries.values():
        url = parse_depurl(entry.id)
        if url.is_virtual and url.namespace == "interface":
            assert registry.providers(url), entry.id
        if not entry.is_canonical:
            target = registry.canonical(url)
            assert registry.entries[target.id].is_canonical, entry.id


@pytest.mark.parametrize("ecosystem", ECOSYSTEMS)
def test_mapping_shape(ecosystem: str) -> None:
    raw = _raw(f"{ecosystem}.mapping.json")
    assert raw["name"] == ecosystem
    meta = raw["extra_metadata"]
    assert {"source", "date", "verified"} <= set(meta)
    assert raw["package_managers"]
    for pm in raw["package_managers"]:
        for kind in ("install", "query"):
            argv = pm["commands"][kind]["command"]
            assert argv.count("{}") == 1 and sum(a.count("{}") for a in argv) == 1, (pm["name"], kind)
            assert pm["commands"][kind]["multiple_specifiers"] in {"always", "name-only", "never"}
        assert pm["commands"]["query"]["multiple_specifiers"] == "never"
    registry = mapping.registry()
    seen: set[str] = set()
    for entry in raw["mappings"]:
        ident = entry["id"]
        assert parse_depurl(ident).id == ident
        assert ident in registry, f"{ecosystem}: {ident} is not in the registry"
        assert registry.entries[ident].is_canonical, f"{ecosystem}: map the canonical id, not {ident}"
        assert ident not in seen, f"{ecosystem}: {ident} mapped twice"
        seen.add(ident)
        assert ("specs" in entry) != ("specs_from" in entry)
        if "specs_from" in entry:
            continue
        specs = entry["specs"]
        if isinstance(specs, dict):
            assert set(specs) <= {"build", "host", "run"}
            values = list(specs.values())
        else:
            values = [specs]
        for value in values:
            names = [value] if isinstance(value, str) else value
            assert all(isinstance(n, str) and n and n == n.strip() and " " not in n for n in names), (
                ident,
                value,
            )
        if ecosystem == "debian":
            assert entry.get("extra_metadata", {}).get("confidence") is None, "every debian name is verified"
    # the loader accepts it too
    loaded = mapping.get_mapping(ecosystem)
    assert set(loaded.entries) == seen


@pytest.mark.parametrize("ecosystem", ECOSYSTEMS)
def test_every_ecosystem_answers_for_most_of_the_registry(ecosystem: str) -> None:
    ids = _canonical_ids()
    loaded = mapping.get_mapping(ecosystem)
    known = [i for i in ids if loaded.specs(i, "host") is not None]
    assert len(known) > len(ids) * 0.6, f"{ecosystem}: {len(known)}/{len(ids)}"
    if ecosystem in LIBRARY_ECOSYSTEMS:
        packaged = [i for i in ids if loaded.specs(i, "host")]
        assert len(packaged) > len(ids) * 0.75, f"{ecosystem}: {len(packaged)}/{len(ids)}"


def _debian_names() -> list[str]:
    loaded = mapping.get_mapping("debian")
    names: set[str] = set()
    for ident in loaded.entries:
        for category in mapping.CATEGORIES:
            names.update(loaded.specs(ident, category) or ())
    return sorted(names)


def _os_release() -> dict[str, str]:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return {}
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {k: v.strip().strip('"') for k, v in pairs}


def test_every_debian_package_name_exists_in_apt() -> None:
    """Each name of the debian mapping has an install candidate (one batched apt-cache call)."""
    apt_cache = require("apt-cache")
    verified_on = _raw("debian.mapping.json")["extra_metadata"]["verified_on"]  # "debian+12"
    release = _os_release()
    if f"{release.get('ID')}+{release.get('VERSION_ID')}" != verified_on:
        unavailable(f"the debian mapping was verified on {verified_on}; this host is {release.get('ID')}")
    names = _debian_names()
    assert len(names) > 150
    out = subprocess.run(
        [apt_cache, "policy", *names], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    candidates: dict[str, str] = {}
    current = None
    for line in out.splitlines():
        if line and not line[0].isspace() and line.endswith(":"):
            current = line[:-1]
        elif current and line.strip().startswith("Candidate:"):
            candidates[current] = line.split(":", 1)[1].strip()
    missing = [n for n in names if candidates.get(n, "(none)") == "(none)"]
    assert not missing, f"not installable from this host's apt: {missing}"
