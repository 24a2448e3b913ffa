"""The provider table and Requires-Dist reading shared by the dependency checks and repair."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from _repair_build import build_extension_wheel, build_library
from _toolchain import require
from native_doctor import providers
from native_doctor.checks import dependencies


@pytest.mark.parametrize(
    ("library", "os", "expected"),
    [
        ("libcublas.so.13", "linux", {"nvidia-cublas"}),
        ("libcublas.so.12", "linux", {"nvidia-cublas-cu12"}),
        ("lib/x/libcublas.so.12", "linux", {"nvidia-cublas-cu12"}),  # only the base name counts
        ("libcublas.so.13", "windows", set()),
        ("libfoo.so.1", None, set()),
    ],
    ids=["cu13", "cu12", "path", "other-os", "unknown"],
)
def test_providers_of(library: str, os: str | None, expected: set[str]) -> None:
    assert {p.distribution for p in providers.providers_of(library, os)} == expected


@pytest.mark.parametrize(
    ("requires_dist", "library", "expected"),
    [
        (["nvidia-cublas-cu12>=12"], "libcublas.so.12", True),
        (["NVIDIA_cublas_CU12 ; extra == 'gpu'"], "libcublas.so.12", True),  # canonical names, extras count
        (["cuda-toolkit[cublas]==13.*"], "libcublas.so.13", True),  # a metapackage extra's component
        (["cuda-toolkit[cudart]==13.*"], "libcublas.so.13", False),
        (["numpy", "this is not a requirement"], "libcublas.so.12", False),
    ],
    ids=["by-name", "canonical-extra", "metapackage-extra", "other-extra", "undeclared"],
)
def test_is_declared(requires_dist: list[str], library: str, expected: bool) -> None:
    (provider,) = providers.providers_of(library, "linux")
    assert providers.is_declared(provider, providers.declared(requires_dist)) is expected


def test_the_table_is_read_once_and_names_are_canonical() -> None:
    table = providers.known_providers()
    assert table is providers.known_providers()
    assert "nvidia-cublas-cu12" in table.distributions
    assert all(name == name.lower() and "_" not in name for name in table.distributions)


def test_the_dependency_checks_use_the_same_table() -> None:
    assert dependencies.Provider is providers.Provider
    assert dependencies.providers_of is providers.providers_of


def test_importing_it_does_not_load_the_check_registry() -> None:
    code = "import sys, native_doctor.providers; print('native_doctor.checks.registry' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


#: Modules a repair does not need and that cost start-up time (docs/performance.md, "Start-up"):
#: the check registry, rich, packaging (``packaging.utils`` imports ``packaging.tags``, which imports
#: subprocess, logging and platform; the names it compares are read by ``_names``), the resource
#: readers (data files are read from beside the modules), and what only rare paths need.
_NOT_ON_THE_REPAIR_PATH = (
    "native_doctor.checks.registry",
    "rich",
    "jsonschema",
    "packaging.requirements",
    "packaging.utils",
    "packaging.tags",
    "subprocess",
    "logging",
    "platform",
    "importlib.resources",
    "tempfile",
    "concurrent.futures",
    "traceback",
    "uuid",
    "heapq",
    "tarfile",
    "native_doctor.platforms.windows",
    "native_doctor.platforms.macos",
)


@pytest.mark.parametrize(
    "module",
    [
        "native_doctor.repair.run",
        "native_doctor.cli",
        "native_doctor.sbom.pep770",
        "native_doctor.report.repair",
        "native_doctor.binary.elf_write",
    ],
)
def test_the_repair_import_path_stays_light(module: str) -> None:
    """Start-up dominates repairing a small wheel: repair's modules load none of the modules above."""
    heavy = _NOT_ON_THE_REPAIR_PATH
    code = f"import sys, {module}; print(' '.join(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_a_whole_repair_stays_light(tmp_path: Path) -> None:
    """A real repair (gcc-built wheel, two libraries grafted, SBOM written) as the command runs it:
    what the run imports on the way, not only at import time, stays off the list above."""
    require("gcc")
    libs = tmp_path / "libs"
    build_library(libs, "libone.so.1", "int one_value(void) { return 1; }\n")
    wheel = build_extension_wheel(
        tmp_path, libs, ("libone.so.1",), declaration="int one_value(void);", call="one_value()"
    )
    out = tmp_path / "out"
    argv = ["repair", "-w", str(out), "--lib-path", str(libs), "--no-sys-paths", str(wheel)]
    code = (
        "import sys\n"
        "from native_doctor.cli import main\n"
        f"code = main({argv!r})\n"
        f"print(code, ' '.join(m for m in {_NOT_ON_THE_REPAIR_PATH!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1].strip() == "0"
    assert len(list(out.glob("*.whl"))) == 1


@pytest.mark.parametrize(
    "name",
    [
        "libcudart.so.12",
        "libcudnn.so.9",
        "libsmalla.so.1",
        "cudart64_12.dll",
        "CUDART64_12.DLL",
        "Torch_CPU.DLL",
        "c10.dll",
        "libtorch_cpu.dylib",
        "libtorch_cpu.so",
        "libarrow.so.1800",
        "/usr/lib/libcublas.so.12",
        "lib\\cublas64_12.dll",
        "",
    ],
)
def test_the_prefix_filter_gives_fnmatchs_answer(name: str) -> None:
    import fnmatch

    from native_doctor.model import TargetOS

    for provider in providers.known_providers().providers:
        base = name.replace("\\", "/").rsplit("/", 1)[-1]
        if provider.os == TargetOS.WINDOWS:
            expected = any(fnmatch.fnmatch(base.casefold(), p.casefold()) for p in provider.libraries)
        else:
            expected = any(fnmatch.fnmatchcase(base, p) for p in provider.libraries)
        assert provider.provides(name) is expected, (provider.distribution, name)


@pytest.mark.parametrize(
    ("pattern", "prefix"),
    [
        ("libcudart.so.*", "libcudart.so."),
        ("lib?x", "lib"),
        ("[ab]c", ""),
        ("plain.so", "plain.so"),
        ("", ""),
    ],
)
def test_literal_prefix(pattern: str, prefix: str) -> None:
    assert providers._literal_prefix(pattern) == prefix
