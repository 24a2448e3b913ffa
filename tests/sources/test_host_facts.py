"""Host facts: pure parsers (table-driven) and the live probe on this machine."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import pytest

from native_doctor.sources.host import (
    CpuInfo,
    HostFacts,
    classify_environment,
    count_installers,
    max_cuda_for_driver,
    parse_cpuinfo,
    parse_nvidia_version,
    parse_os_release,
    read_host_facts,
    x86_64_level,
)

BASE = "fpu cx8 cmov mmx fxsr sse sse2 lm syscall"
V2 = BASE + " cx16 lahf_lm popcnt pni ssse3 sse4_1 sse4_2"
V3 = V2 + " avx avx2 bmi1 bmi2 f16c fma abm movbe xsave"
V4 = V3 + " avx512f avx512bw avx512cd avx512dq avx512vl"


@pytest.mark.parametrize(
    ("flags", "level"),
    [
        ("", 0),
        ("sse sse2", 0),
        (BASE, 1),
        (V2.replace(" popcnt", ""), 1),  # Nehalem-less guest without POPCNT
        (V2, 2),
        (V2.replace("pni", "sse3"), 2),  # the architectural name is accepted too
        (V3.replace(" movbe", ""), 2),
        (V3.replace(" abm", ""), 2),  # no LZCNT
        (V3.replace(" abm", " lzcnt"), 3),
        (V3, 3),
        (V4.replace(" avx512vl", ""), 3),
        (V4, 4),
        (BASE + " avx512f avx512bw avx512cd avx512dq avx512vl", 1),  # levels are cumulative
    ],
)
def test_x86_64_level(flags: str, level: int) -> None:
    assert x86_64_level(set(flags.split())) == level


X86_CPUINFO = """\
processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model name\t: Intel(R) Xeon(R) CPU E5-2680 v2 @ 2.80GHz
flags\t\t: fpu sse2 avx

processor\t: 1
vendor_id\t: GenuineIntel
model name\t: other
flags\t\t: fpu sse2 avx avx2
"""

ARM_FEATURES = (
    "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp"
)
ARM_CPUINFO = f"""\
processor\t: 0
BogoMIPS\t: 243.75
Features\t: {ARM_FEATURES}
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x3
CPU part\t: 0xd0c
CPU revision\t: 1

processor\t: 1
Features\t: fp
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", CpuInfo()),
        (
            X86_CPUINFO,
            CpuInfo(
                vendor="GenuineIntel",
                model="Intel(R) Xeon(R) CPU E5-2680 v2 @ 2.80GHz",
                flags=frozenset({"fpu", "sse2", "avx"}),
            ),
        ),
        (
            ARM_CPUINFO,
            CpuInfo(
                vendor="0x41",
                model="0xd0c",
                flags=frozenset(ARM_FEATURES.split()),
            ),
        ),
        ("garbage without colons\n\n", CpuInfo()),
    ],
    ids=["empty", "x86", "aarch64", "garbage"],
)
def test_parse_cpuinfo(text: str, expected: CpuInfo) -> None:
    assert parse_cpuinfo(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {}),
        (
            'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
            'VERSION_ID="12"\nID=debian\n',
            {
                "PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)",
                "NAME": "Debian GNU/Linux",
                "VERSION_ID": "12",
                "ID": "debian",
            },
        ),
        (
            "# comment\n\nID='alpine'\nVERSION_ID=3.20.1\nbroken line\n",
            {"ID": "alpine", "VERSION_ID": "3.20.1"},
        ),
        ('NAME="a \\"quoted\\" name"\n', {"NAME": 'a "quoted" name'}),
    ],
)
def test_parse_os_release(text: str, expected: dict[str, str]) -> None:
    assert parse_os_release(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("535.104.05\n", "535.104.05"),
        (
            "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC 2023\n"
            "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n",
            "535.104.05",
        ),
        (
            "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  570.86.15  Release Build  "
            "(dvs-builder@U16-I3-B03-4-3)  Thu Jan 23 2025\n",
            "570.86.15",
        ),
        ("", None),
        ("not a version\n", None),
    ],
)
def test_parse_nvidia_version(text: str, expected: str | None) -> None:
    assert parse_nvidia_version(text) == expected


@pytest.mark.parametrize(
    ("driver", "cuda"),
    [
        ("440.33.01", None),
        ("450.36.06", (11, 0)),
        ("470.82.01", (11, 4)),
        ("520.61.05", (11, 8)),
        ("525.60.13", (12, 0)),
        ("535.104.05", (12, 2)),
        ("550.54.14", (12, 4)),
        ("560.35.03", (12, 6)),
        ("565.57.01", (12, 6)),  # 12.7 never shipped
        ("570.26", (12, 8)),
        ("575.51.03", (12, 9)),
        ("580.65.06", (13, 0)),
        ("590.0", (13, 0)),  # newer than the table: not extrapolated
        ((535, 54, 3), (12, 2)),
        ("abc", None),
        ("", None),
    ],
)
def test_max_cuda_for_driver(driver: str | tuple[int, ...], cuda: tuple[int, int] | None) -> None:
    assert max_cuda_for_driver(driver) == cuda


def test_host_facts_max_cuda_property() -> None:
    assert HostFacts().max_cuda is None
    assert HostFacts(nvidia_driver="535.104.05").max_cuda == (12, 2)


_ENV = {
    "prefix": "/usr",
    "base_prefix": "/usr",
    "has_pyvenv_cfg": False,
    "has_conda_meta": False,
    "conda_prefix": None,
    "externally_managed": False,
    "dist_packages": False,
}


@pytest.mark.parametrize(
    ("changes", "kind"),
    [
        ({}, "unknown"),
        ({"prefix": "/tmp/venv"}, "venv"),
        ({"has_pyvenv_cfg": True}, "venv"),
        ({"prefix": "/tmp/venv", "base_prefix": "/opt/conda", "has_conda_meta": False}, "venv"),
        ({"prefix": "/opt/conda", "base_prefix": "/opt/conda", "has_conda_meta": True}, "conda"),
        ({"prefix": "/opt/conda", "base_prefix": "/opt/conda", "conda_prefix": "/opt/conda/"}, "conda"),
        ({"conda_prefix": "/opt/other"}, "unknown"),
        ({"externally_managed": True}, "system"),
        ({"dist_packages": True}, "system"),
    ],
)
def test_classify_environment(changes: dict[str, object], kind: str) -> None:
    assert classify_environment(**{**_ENV, **changes}) == kind  # type: ignore[arg-type]


def test_count_installers() -> None:
    assert count_installers([]) == {}
    assert count_installers(["pip\n", "uv", "pip", "", "conda\nextra"]) == {
        "conda": 1,
        "pip": 2,
        "uv": 1,
        "unknown": 1,
    }


def test_read_host_facts_live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, installer in (("a-1.dist-info", "pip\n"), ("b-1.dist-info", "uv\n"), ("c-1.dist-info", None)):
        (tmp_path / name).mkdir()
        if installer is not None:
            (tmp_path / name / "INSTALLER").write_text(installer)
    monkeypatch.setenv("KMP_DUPLICATE_LIB_OK", "True")
    monkeypatch.setenv("LD_PRELOAD", "")
    facts = read_host_facts(site_dirs=[tmp_path])
    assert facts.installers == {"pip": 1, "uv": 1, "unknown": 1}
    assert facts.env_vars["KMP_DUPLICATE_LIB_OK"] == "True"
    assert facts.env_vars["LD_PRELOAD"] == ""
    assert facts.python_version == platform.python_version()
    assert facts.python_implementation == platform.python_implementation()
    assert facts.executable == sys.executable
    assert facts.prefix == sys.prefix
    assert facts.base_prefix == sys.base_prefix
    assert facts.free_threaded is (sys.version_info >= (3, 13) and not sys._is_gil_enabled())  # type: ignore[attr-defined]
    assert facts.machine == platform.machine()
    if sys.prefix != sys.base_prefix:
        assert facts.environment_kind == "venv"
    if sys.platform.startswith("linux"):
        assert facts.libc_name in {"glibc", "musl"}
        assert facts.interpreter_loader is not None
        if facts.libc_name == "glibc":
            assert facts.libc_version == os.confstr("CS_GNU_LIBC_VERSION").split()[1]  # type: ignore[union-attr]
        if Path("/proc/cpuinfo").is_file():
            assert facts.cpu.flags
            if facts.machine == "x86_64":
                assert facts.x86_64_level is not None and facts.x86_64_level >= 1
        has_driver = (
            Path("/sys/module/nvidia/version").is_file() or Path("/proc/driver/nvidia/version").is_file()
        )
        assert (facts.nvidia_driver is not None) == has_driver


def test_read_host_facts_defaults_to_this_interpreter() -> None:
    facts = read_host_facts()
    assert isinstance(facts.installers, type(facts.env_vars))  # both read-only mappings
    assert sum(facts.installers.values()) >= 1  # at least native-doctor's own test dependencies
