"""The runtime import probe: pure parsers, then real child interpreters."""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

import pytest

import _toolchain
from _toolchain import require, run
from native_doctor.sources.runtime import (
    diagnose_output,
    module_of,
    parse_maps,
    probe_import,
    top_level_modules,
)

linux_only = _toolchain.host_only(sys.platform.startswith("linux"), "/proc/self/maps is Linux-only")

MAPS = """\
55d0c0a00000-55d0c0a01000 r--p 00000000 08:01 131 /usr/bin/python3.11
7f1c00000000-7f1c00021000 rw-p 00000000 00:00 0
7f1c0a000000-7f1c0a022000 r--p 00000000 08:01 200 /usr/lib/x86_64-linux-gnu/libc.so.6
7f1c0a022000-7f1c0a1a0000 r-xp 00022000 08:01 200 /usr/lib/x86_64-linux-gnu/libc.so.6
7f1c0b000000-7f1c0b001000 r--p 00000000 08:01 300 /tmp/site/pkg/_ext.cpython-311-x86_64-linux-gnu.so
7f1c0c000000-7f1c0c001000 r--p 00000000 08:01 301 /tmp/site/pkg.libs/libgomp-a34b3233.so.1.0.0 (deleted)
7f1c0d000000-7f1c0d001000 r--p 00000000 08:01 302 /opt/dir with space/libx.so
7f1c0e000000-7f1c0e001000 r--p 00000000 08:01 303 /usr/lib/locale/locale-archive
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
7ffd00100000-7ffd00102000 r-xp 00000000 00:00 0                          [vdso]
short line
"""


def test_parse_maps() -> None:
    assert parse_maps(MAPS) == (
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        "/tmp/site/pkg/_ext.cpython-311-x86_64-linux-gnu.so",
        "/tmp/site/pkg.libs/libgomp-a34b3233.so.1.0.0",
        "/opt/dir with space/libx.so",
    )
    assert parse_maps("") == ()


@pytest.mark.parametrize(
    ("stderr", "signal_name", "notes"),
    [
        ("", None, ()),
        ("", "SIGILL", ("CPU instruction set",)),
        ("Fatal Python error: Illegal instruction\n", None, ("CPU instruction set",)),
        (
            "OMP: Error #15: Initializing libiomp5.dylib, but found libomp.dylib already initialized.\n",
            "SIGABRT",
            ("OpenMP duplicate runtime (Error #15)",),
        ),
        (
            "A module that was compiled using NumPy 1.x cannot be run in\nNumPy 2.0.0 as it may crash.",
            None,
            ("NumPy 1.x-built module under NumPy 2",),
        ),
    ],
)
def test_diagnose_output(stderr: str, signal_name: str | None, notes: tuple[str, ...]) -> None:
    assert diagnose_output(stderr, signal_name) == notes


def test_top_level_modules() -> None:
    record = [
        "numpy/__init__.py",
        "numpy/_core/_multiarray_umath.cpython-311-x86_64-linux-gnu.so",
        "numpy-2.4.6.dist-info/RECORD",
        "numpy.libs/libscipy_openblas64_-32a4b2a6.so",
        "../../bin/f2py",
        "six.py",
        "_cffi_backend.cpython-311-x86_64-linux-gnu.so",
        "__pycache__/six.cpython-311.pyc",
        "pkg.data/scripts/tool",
        "not-a-module/README.txt",
        "__init__.py",
    ]
    assert top_level_modules(record) == ("_cffi_backend", "numpy", "six")


# --------------------------------------------------------------------------- real children


def _env(path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(path), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


@linux_only
def test_probe_json() -> None:
    probe = probe_import("json")
    assert probe.ok, probe
    assert probe.returncode == 0
    assert probe.signal is None and probe.error is None and not probe.timed_out
    assert probe.duration > 0
    names = [Path(p).name for p in probe.loaded]
    if sysconfig.get_config_var("Py_ENABLE_SHARED"):
        assert any(n.startswith("libpython") for n in names), names
    assert any(n.startswith(("libc.so", "ld-")) for n in names), names


def test_probe_import_error(tmp_path: Path) -> None:
    (tmp_path / "broken_mod.py").write_text(
        "raise ImportError('libfoo.so.1: cannot open shared object file')\n"
    )
    probe = probe_import("broken_mod", env=_env(tmp_path))
    assert not probe.ok
    assert probe.returncode == 0
    assert probe.error == "ImportError: libfoo.so.1: cannot open shared object file"
    assert probe.notes == ()


def test_probe_missing_module() -> None:
    probe = probe_import("no_such_module_for_native_doctor")
    assert not probe.ok
    assert probe.error == "ModuleNotFoundError: No module named 'no_such_module_for_native_doctor'"


@_toolchain.host_only(hasattr(os, "kill") and sys.platform != "win32", "POSIX signals")
def test_probe_sigill(tmp_path: Path) -> None:
    (tmp_path / "sigill_mod.py").write_text("import os, signal\nos.kill(os.getpid(), signal.SIGILL)\n")
    probe = probe_import("sigill_mod", env=_env(tmp_path))
    assert not probe.ok
    assert probe.signal == "SIGILL"
    assert probe.returncode == -4
    assert probe.notes == ("CPU instruction set",)
    assert probe.error == "Fatal Python error: Illegal instruction"  # from -X faulthandler
    assert "sigill_mod" in probe.stderr


def test_probe_omp_error_text(tmp_path: Path) -> None:
    (tmp_path / "omp_mod.py").write_text(
        "import os, sys\n"
        "sys.stderr.write('OMP: Error #15: Initializing libomp.so, but found libiomp5.so already init\\n')\n"
        "sys.stderr.flush()\n"
        "os.abort()\n"
    )
    probe = probe_import("omp_mod", env=_env(tmp_path))
    assert not probe.ok
    assert probe.signal == "SIGABRT"
    assert "OpenMP duplicate runtime (Error #15)" in probe.notes


def test_probe_timeout(tmp_path: Path) -> None:
    (tmp_path / "slow_mod.py").write_text("import time\ntime.sleep(30)\n")
    probe = probe_import("slow_mod", env=_env(tmp_path), timeout=1)
    assert probe.timed_out
    assert not probe.ok
    assert probe.returncode is None
    assert probe.error is not None and "1 s" in probe.error
    assert probe.duration < 20


def test_probe_kmp_variable_and_stdout_noise(tmp_path: Path) -> None:
    (tmp_path / "setter_mod.py").write_text(
        "import os\nprint('noise {\"ok\": false}')\nos.environ.setdefault('KMP_DUPLICATE_LIB_OK', 'True')\n"
    )
    probe = probe_import("setter_mod", env=_env(tmp_path))
    assert probe.ok, probe
    assert probe.kmp_duplicate_lib_ok == "True"


def test_probe_bad_python(tmp_path: Path) -> None:
    probe = probe_import("json", python=str(tmp_path / "no-python"))
    assert not probe.ok
    assert probe.returncode is None
    assert probe.error is not None and probe.error.startswith("cannot run")


@linux_only
def test_probe_sees_gcc_built_library(tmp_path: Path) -> None:
    gcc = require("gcc")
    (tmp_path / "probe.c").write_text("int probe_value(void) { return 7; }\n")
    run(gcc, "-shared", "-fPIC", "-o", tmp_path / "libprobe_nd.so.1", tmp_path / "probe.c")
    (tmp_path / "loader_mod.py").write_text(
        f"import ctypes\nassert ctypes.CDLL({str(tmp_path / 'libprobe_nd.so.1')!r}).probe_value() == 7\n"
    )
    probe = probe_import("loader_mod", env=_env(tmp_path))
    assert probe.ok, probe
    assert str(tmp_path / "libprobe_nd.so.1") in probe.loaded
    assert any(Path(p).name.startswith("_ctypes") for p in probe.loaded)


def test_a_chained_exception_reports_its_root_cause(tmp_path: Path) -> None:
    (tmp_path / "chained_demo.py").write_text(
        "try:\n"
        "    raise ValueError('numpy.dtype size changed, may indicate binary incompatibility')\n"
        "except ValueError as exc:\n"
        "    raise ImportError('cannot import chained_demo') from exc\n"
    )
    probe = probe_import("chained_demo", env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert not probe.ok and probe.error == "ImportError: cannot import chained_demo"
    assert probe.root_cause == "ValueError: numpy.dtype size changed, may indicate binary incompatibility"


@pytest.mark.parametrize(
    ("path", "module"),
    [
        ("sklearn/tree/_tree.cpython-311-x86_64-linux-gnu.so", "sklearn.tree._tree"),
        ("pyzbar/zbar_library.py", "pyzbar.zbar_library"),
        ("sounddevice.py", "sounddevice"),
        ("pkg/__init__.py", "pkg"),
        ("../../bin/tool", None),
        ("numpy.libs/libgfortran-040039e1.so.5.0.0", None),
    ],
)
def test_module_of(path: str, module: str | None) -> None:
    assert module_of(path) == module
