"""Shared fixtures: small native libraries built from source with the host's gcc."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

from _toolchain import require, run

# The longer fuzz campaign the README names: `python -m pytest tests -k fuzz --hypothesis-profile=hostile`.
# Tests that fix their own ``max_examples`` keep it; the fuzz tests of hostile input (the zip layer,
# TOML and DepURL parsers, build-file scanners: the tests named test_fuzz_*) take the profile's.
settings.register_profile(
    "hostile", max_examples=20_000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

LIB_C = "int dep_value(void) { return 42; }\n"
EXT_C = """\
#include <stdio.h>
extern int dep_value(void);
int PyInit__ext(void) { puts("x"); return dep_value(); }
"""


@pytest.fixture(autouse=True, scope="session")
def _env_scan_cache_in_a_temporary_folder(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The environment doctor's scan cache goes to a temporary folder, not the user's cache
    (child processes inherit the variable)."""
    import os

    os.environ["NATIVE_DOCTOR_ENV_CACHE"] = str(tmp_path_factory.mktemp("env-scan-cache"))


@pytest.fixture(scope="session")
def elf_pair(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """``libdep.so.1`` and ``_ext.so`` needing it, with ``RPATH $ORIGIN/../demo.libs``."""
    gcc = require("gcc")
    out = tmp_path_factory.mktemp("elf_pair")
    (out / "dep.c").write_text(LIB_C)
    (out / "ext.c").write_text(EXT_C)
    run(gcc, "-shared", "-fPIC", "-Wl,-soname,libdep.so.1", "-o", out / "libdep.so.1", out / "dep.c")
    run(
        gcc,
        "-shared",
        "-fPIC",
        "-o",
        out / "_ext.so",
        out / "ext.c",
        f"-L{out}",
        "-l:libdep.so.1",
        "-Wl,--disable-new-dtags,-rpath,$ORIGIN/../demo.libs",
    )
    return {name: (out / name).read_bytes() for name in ("libdep.so.1", "_ext.so")}


@pytest.fixture
def demo_wheel_members(elf_pair: dict[str, bytes]) -> dict[str, bytes]:
    """A repaired-looking wheel layout: the extension finds its library through RPATH."""
    return {
        "demo/__init__.py": b"",
        "demo/_ext.cpython-311-x86_64-linux-gnu.so": elf_pair["_ext.so"],
        "demo.libs/libdep.so.1": elf_pair["libdep.so.1"],
    }
