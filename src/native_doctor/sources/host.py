"""Facts about the host the environment runs on: OS, libc, CPU, Python build, environment kind, GPU driver.

:func:`read_host_facts` does all the I/O; every probe fails soft to None (or an empty value), so a
missing ``/proc`` or an odd interpreter never stops a report. The parsers it uses
(:func:`parse_cpuinfo`, :func:`parse_os_release`, :func:`parse_nvidia_version`,
:func:`x86_64_level`, :func:`max_cuda_for_driver`, :func:`classify_environment`,
:func:`count_installers`) are pure. No process is started.
"""

from __future__ import annotations

import os
import platform
import re
import sys
import sysconfig
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from native_doctor.binary import read_binary
from native_doctor.errors import BinaryFormatError
from native_doctor.sources._file import FileSource

__all__ = [
    "RELEVANT_ENV_VARS",
    "CpuInfo",
    "HostFacts",
    "classify_environment",
    "count_installers",
    "max_cuda_for_driver",
    "parse_cpuinfo",
    "parse_nvidia_version",
    "parse_os_release",
    "read_host_facts",
    "x86_64_level",
]

#: Environment variables that change how native code loads or runs (reported when set).
RELEVANT_ENV_VARS = (
    "LD_LIBRARY_PATH",
    "LD_PRELOAD",
    "KMP_DUPLICATE_LIB_OK",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "MKL_THREADING_LAYER",
    "NUMEXPR_NUM_THREADS",
    "OMP_DISPLAY_ENV",
    "NPY_DISABLE_CPU_FEATURES",
    "NPY_ENABLE_CPU_FEATURES",
    "OPENBLAS_CORETYPE",
    "POLARS_SKIP_CPU_CHECK",
    "CUDA_VISIBLE_DEVICES",
    "CUDA_HOME",
    "CUDA_PATH",
    "TORCH_USE_RTLD_GLOBAL",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONNOUSERSITE",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "PIP_REQUIRE_VIRTUALENV",
)

_EMPTY: Mapping[str, str] = MappingProxyType({})
_MAX_TEXT = 1 << 20


@dataclass(frozen=True, slots=True)
class CpuInfo:
    """The first processor's identity and feature flags from ``/proc/cpuinfo``."""

    #: ``vendor_id`` (x86: ``GenuineIntel``, ``AuthenticAMD``) or ``CPU implementer`` (arm: ``0x41``).
    vendor: str | None = None
    #: ``model name`` (x86, some arm kernels) or ``CPU part`` (arm).
    model: str | None = None
    #: x86 ``flags`` or aarch64 ``Features``, as the kernel names them (``pni`` is SSE3, ``abm`` LZCNT).
    flags: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class HostFacts:
    """What the host offers native code; every field None/empty when its probe failed."""

    os_name: str | None = None  # platform.system(): "Linux", "Darwin", "Windows"
    os_release: str | None = None  # kernel / OS release
    machine: str | None = None  # platform.machine(): "x86_64", "aarch64", "arm64", "AMD64"
    distro_id: str | None = None  # os-release ID ("debian")
    distro_version: str | None = None  # os-release VERSION_ID ("12")
    distro_name: str | None = None  # os-release PRETTY_NAME
    libc_name: str | None = None  # "glibc" or "musl"
    libc_version: str | None = None  # "2.36"
    interpreter_loader: str | None = None  # PT_INTERP of sys.executable
    cpu: CpuInfo = field(default_factory=CpuInfo)
    #: x86-64 microarchitecture level 1-4 computed from the CPU flags (None off x86-64).
    x86_64_level: int | None = None
    python_version: str | None = None  # "3.11.7"
    python_implementation: str | None = None  # "CPython"
    abiflags: str | None = None  # sys.abiflags ("", "t", "d")
    free_threaded: bool | None = None  # Py_GIL_DISABLED
    executable: str | None = None
    prefix: str | None = None
    base_prefix: str | None = None
    #: ``"venv"``, ``"conda"``, ``"system"`` or ``"unknown"`` (see :func:`classify_environment`).
    environment_kind: str = "unknown"
    externally_managed: bool = False
    nvidia_driver: str | None = None  # "535.104.05"
    #: Set environment variables among :data:`RELEVANT_ENV_VARS`.
    env_vars: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    #: INSTALLER file contents across site-packages ("pip", "uv", "conda"...) with counts.
    installers: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def max_cuda(self) -> tuple[int, int] | None:
        """Newest CUDA toolkit the NVIDIA driver fully supports (:func:`max_cuda_for_driver`)."""
        return None if self.nvidia_driver is None else max_cuda_for_driver(self.nvidia_driver)


# --------------------------------------------------------------------------- pure parsers


def parse_cpuinfo(text: str) -> CpuInfo:
    """The first processor block of ``/proc/cpuinfo`` text (x86 or arm layouts)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields.get("flags") or fields.get("Features"):
                break  # end of the first processor's block
            continue
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    flags = fields.get("flags") or fields.get("Features") or ""
    return CpuInfo(
        vendor=fields.get("vendor_id") or fields.get("CPU implementer") or None,
        model=fields.get("model name") or fields.get("CPU part") or None,
        flags=frozenset(flags.split()),
    )


_V1 = frozenset({"cmov", "cx8", "fpu", "fxsr", "mmx", "sse", "sse2"})
_V2 = frozenset({"cx16", "lahf_lm", "popcnt", "ssse3", "sse4_1", "sse4_2"})  # + SSE3 ("pni")
_V3 = frozenset({"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "movbe", "xsave"})  # + LZCNT ("abm")
_V4 = frozenset({"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"})


def x86_64_level(flags: Iterable[str]) -> int:
    """The x86-64 psABI level (1-4) the flags satisfy; 0 when not even the baseline is there.

    Uses ``/proc/cpuinfo`` spellings: SSE3 is ``pni`` (``sse3`` also accepted), LZCNT is ``abm``
    (``lzcnt`` also accepted). The kernel lists AVX only when the OS saves the AVX state
    (XSAVE/OSXSAVE), so OS support is implied by the flag.
    """
    have = set(flags)
    if "sse3" in have:
        have.add("pni")
    if "lzcnt" in have:
        have.add("abm")
    level = 0
    for number, required in (
        (1, _V1),
        (2, _V2 | {"pni"}),
        (3, _V3 | {"abm"}),
        (4, _V4),
    ):
        if not required <= have:
            break
        level = number
    return level


def parse_os_release(text: str) -> dict[str, str]:
    """``KEY=value`` lines of ``/etc/os-release``, quotes removed, comments skipped."""
    result: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.isidentifier():
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        result[key] = value
    return result


_DRIVER_RE = re.compile(r"(?<![\d.])(\d{2,4}\.\d{1,3}(?:\.\d{1,3})?)(?![\d.])")


def parse_nvidia_version(text: str) -> str | None:
    """The driver version in ``/proc/driver/nvidia/version`` or ``/sys/module/nvidia/version`` text."""
    for line in text.splitlines():
        if "Kernel Module" in line:
            match = _DRIVER_RE.search(line.split("Kernel Module", 1)[1])
            return match.group(1) if match else None
    stripped = text.strip()
    return stripped if _DRIVER_RE.fullmatch(stripped) else None


# Minimum Linux x86_64 driver for each CUDA toolkit's GA release, from NVIDIA's CUDA Toolkit
# release notes, "CUDA Toolkit and Corresponding Driver Versions" (Table 3). Newer updates of a
# minor release may need a slightly newer driver; a driver below a row still runs that major
# version's toolkits with limited features through minor-version compatibility (>= 450.80.02 for
# 11.x, >= 525.60.13 for 12.x, >= 580 for 13.x), which this table does not model.
_CUDA_MIN_DRIVER: tuple[tuple[tuple[int, int], tuple[int, ...]], ...] = (
    ((11, 0), (450, 36, 6)),
    ((11, 1), (455, 23)),
    ((11, 2), (460, 27, 3)),
    ((11, 3), (465, 19, 1)),
    ((11, 4), (470, 42, 1)),
    ((11, 5), (495, 29, 5)),
    ((11, 6), (510, 39, 1)),
    ((11, 7), (515, 43, 4)),
    ((11, 8), (520, 61, 5)),
    ((12, 0), (525, 60, 13)),
    ((12, 1), (530, 30, 2)),
    ((12, 2), (535, 54, 3)),
    ((12, 3), (545, 23, 6)),
    ((12, 4), (550, 54, 14)),
    ((12, 5), (555, 42, 2)),
    ((12, 6), (560, 28, 3)),
    ((12, 8), (570, 26)),
    ((12, 9), (575, 51, 3)),
    ((13, 0), (580, 65, 6)),
)


def _version_tuple(version: str) -> tuple[int, ...] | None:
    try:
        return tuple(int(part) for part in version.strip().split("."))
    except ValueError:
        return None


def max_cuda_for_driver(driver_version: str | tuple[int, ...]) -> tuple[int, int] | None:
    """The newest CUDA toolkit (major, minor) whose GA driver requirement ``driver_version`` meets.

    None for a driver older than CUDA 11.0's, or an unparsable version. Toolkits newer than the
    table (13.0) are not predicted: a newer driver reports (13, 0).
    """
    parsed = _version_tuple(driver_version) if isinstance(driver_version, str) else tuple(driver_version)
    if not parsed:
        return None
    best: tuple[int, int] | None = None
    for cuda, minimum in _CUDA_MIN_DRIVER:
        if parsed >= minimum:
            best = cuda
    return best


def classify_environment(
    *,
    prefix: str,
    base_prefix: str,
    has_pyvenv_cfg: bool,
    has_conda_meta: bool,
    conda_prefix: str | None,
    externally_managed: bool,
    dist_packages: bool,
) -> str:
    """``"venv"`` (a virtual environment, also one made from a conda Python), ``"conda"``,
    ``"system"`` (an OS-managed interpreter: EXTERNALLY-MANAGED or Debian's dist-packages), or
    ``"unknown"`` (e.g. a self-built interpreter used directly)."""
    if prefix != base_prefix or has_pyvenv_cfg:
        return "venv"
    if has_conda_meta or (conda_prefix is not None and os.path.normpath(conda_prefix) == prefix):
        return "conda"
    if externally_managed or dist_packages:
        return "system"
    return "unknown"


def count_installers(texts: Iterable[str]) -> dict[str, int]:
    """How many distributions each installer put there, from INSTALLER file contents."""
    counts: dict[str, int] = {}
    for text in texts:
        name = text.strip().splitlines()[0].strip() if text.strip() else "unknown"
        counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))


# --------------------------------------------------------------------------- I/O


def _read(path: str | Path) -> str | None:
    try:
        with Path(path).open("rb") as handle:
            return handle.read(_MAX_TEXT).decode("utf-8", "replace")
    except OSError:
        return None


def _libc(interpreter: str | None) -> tuple[str | None, str | None]:
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, ValueError, OSError):
        text = None
    if text:
        name, _, version = text.partition(" ")
        return ("glibc" if name == "glibc" else name), version or None
    if interpreter and "musl" in interpreter:
        return "musl", None
    try:
        name, version = platform.libc_ver()
    except OSError:
        return None, None
    return (name or None), (version or None)


def _interpreter(executable: str) -> str | None:
    try:
        with FileSource(executable) as source:
            return read_binary(source).interpreter
    except (OSError, BinaryFormatError, ValueError):
        return None


def _nvidia_driver() -> str | None:
    for path in ("/sys/module/nvidia/version", "/proc/driver/nvidia/version"):
        text = _read(path)
        if text:
            version = parse_nvidia_version(text)
            if version:
                return version
    return None


def _environment(prefix: str, base_prefix: str) -> tuple[str, bool]:
    stdlib = sysconfig.get_paths().get("stdlib", "")
    externally_managed = bool(stdlib) and Path(stdlib, "EXTERNALLY-MANAGED").is_file()
    kind = classify_environment(
        prefix=prefix,
        base_prefix=base_prefix,
        has_pyvenv_cfg=Path(prefix, "pyvenv.cfg").is_file(),
        has_conda_meta=Path(prefix, "conda-meta").is_dir(),
        conda_prefix=os.environ.get("CONDA_PREFIX"),
        externally_managed=externally_managed,
        dist_packages=any("dist-packages" in p for p in sys.path),
    )
    return kind, externally_managed


def _installers(site_dirs: Iterable[Path]) -> dict[str, int]:
    texts: list[str] = []
    for site in site_dirs:
        try:
            entries = sorted(site.glob("*.dist-info"))
        except OSError:
            continue
        for dist_info in entries:
            text = _read(dist_info / "INSTALLER")
            texts.append(text if text is not None else "")
    return count_installers(texts)


def read_host_facts(*, site_dirs: Iterable[Path] | None = None) -> HostFacts:
    """Probe the running host and interpreter. ``site_dirs`` (default: this interpreter's
    purelib/platlib) are where INSTALLER files are counted."""
    cpu = parse_cpuinfo(_read("/proc/cpuinfo") or "")
    machine = platform.machine() or None
    os_release = parse_os_release(_read("/etc/os-release") or _read("/usr/lib/os-release") or "")
    interpreter = _interpreter(sys.executable) if sys.executable else None
    libc_name, libc_version = _libc(interpreter)
    if site_dirs is None:
        paths = sysconfig.get_paths()
        site_dirs = list(dict.fromkeys(Path(paths[k]) for k in ("purelib", "platlib") if k in paths))
    kind, externally_managed = _environment(sys.prefix, sys.base_prefix)
    gil_disabled = sysconfig.get_config_var("Py_GIL_DISABLED")
    return HostFacts(
        os_name=platform.system() or None,
        os_release=platform.release() or None,
        machine=machine,
        distro_id=os_release.get("ID"),
        distro_version=os_release.get("VERSION_ID"),
        distro_name=os_release.get("PRETTY_NAME"),
        libc_name=libc_name,
        libc_version=libc_version,
        interpreter_loader=interpreter,
        cpu=cpu,
        x86_64_level=x86_64_level(cpu.flags)
        if machine in {"x86_64", "AMD64", "amd64"} and cpu.flags
        else None,
        python_version=platform.python_version(),
        python_implementation=platform.python_implementation(),
        abiflags=getattr(sys, "abiflags", None),
        free_threaded=bool(gil_disabled),  # unset before 3.13: no free-threaded build
        executable=sys.executable or None,
        prefix=sys.prefix,
        base_prefix=sys.base_prefix,
        environment_kind=kind,
        externally_managed=externally_managed,
        nvidia_driver=_nvidia_driver(),
        env_vars=MappingProxyType({k: os.environ[k] for k in RELEVANT_ENV_VARS if k in os.environ}),
        installers=MappingProxyType(_installers(site_dirs)),
    )
