"""Shared builders for the repair tests: libraries and extension modules compiled with gcc/g++,
packed into wheels whose external libraries live in a folder no loader searches."""

from __future__ import annotations

import sysconfig
from dataclasses import dataclass
from pathlib import Path

from _toolchain import require, run
from _wheels import make_wheel

__all__ = [
    "LIBRARIES",
    "BuiltWheel",
    "build_demo_wheel",
    "build_extension_wheel",
    "build_libraries",
    "build_library",
    "compile_extension",
    "extension_source",
]

#: name -> (source file name, source, SONAME, needed -l names, extra flags)
LIBRARIES: dict[str, tuple[str, str, str, tuple[str, ...], tuple[str, ...]]] = {
    "base": ("base.c", "int base_value(void) { return 40; }\n", "libbase.so.1", (), ()),
    "chain": (
        "chain.c",
        "int base_value(void);\nint chain_value(void) { return base_value() + 2; }\n",
        "libchain.so.2",
        ("base",),
        (),
    ),
    "ver": (
        "ver.c",
        "int ver_value(void) { return 7; }\n",
        "libver.so.1",
        (),
        ("-Wl,--version-script=ver.map",),
    ),
    "cxx": (
        "cxx.cpp",
        "#include <string>\n"
        'extern "C" int cxx_len(void) { std::string s("hello, c++"); return (int)s.size(); }\n',
        "libcxx.so.1",
        (),
        (),
    ),
    "zuse": (
        "zuse.c",
        "#include <zlib.h>\n"
        'int zuse_value(void) { return (int)crc32(0L, (const unsigned char*)"abc", 3) & 0xff; }\n',
        "libzuse.so.1",
        ("z",),
        (),
    ),
}
_VER_MAP = "VER_1.0 { global: ver_value; local: *; };\n"


def extension_source(module: str, declaration: str, call: str) -> str:
    return f"""#define PY_SSIZE_T_CLEAN
#include <Python.h>
{declaration}
static PyObject *call(PyObject *self, PyObject *args) {{ return PyLong_FromLong({call}); }}
static PyMethodDef methods[] = {{{{"call", call, METH_NOARGS, NULL}}, {{NULL, NULL, 0, NULL}}}};
static struct PyModuleDef module = {{PyModuleDef_HEAD_INIT, "{module}", NULL, -1, methods}};
PyMODINIT_FUNC PyInit_{module}(void) {{ return PyModule_Create(&module); }}
"""


#: module -> (declaration, call expression, libraries, expected value)
MODULES: dict[str, tuple[str, str, tuple[str, ...], int]] = {
    "_chain": ("int chain_value(void);", "chain_value()", ("chain", "base"), 42),
    "_ver": ("int ver_value(void);", "ver_value()", ("ver",), 7),
    "_cxx": ("int cxx_len(void);", "cxx_len()", ("cxx",), 10),
    "_zuse": ("int zuse_value(void);", "zuse_value()", ("zuse",), 0xC2),
}


def build_libraries(folder: Path, *, cc: str = "gcc", cxx: str = "g++") -> Path:
    """Compile every library of :data:`LIBRARIES` into ``folder/libs``; return that folder."""
    libs = folder / "libs"
    libs.mkdir(parents=True, exist_ok=True)
    (libs / "ver.map").write_text(_VER_MAP)
    for name, (source_name, source, soname, needed, flags) in LIBRARIES.items():
        source_path = libs / source_name
        source_path.write_text(source)
        compiler = cxx if source_name.endswith(".cpp") else cc
        real = libs / soname
        run(compiler, "-shared", "-fPIC", "-O1", f"-Wl,-soname,{soname}", *flags, "-o", real, source_path,
            f"-L{libs}", *(f"-l{n}" for n in needed), cwd=libs)  # fmt: skip
        link = libs / f"lib{name}.so"
        if not link.exists():
            link.symlink_to(soname)
    return libs


def compile_extension(
    folder: Path,
    module: str,
    libs: Path,
    *,
    cc: str = "gcc",
    include: str | None = None,
    rpath: str | None = None,
) -> Path:
    """Build extension module ``module`` of :data:`MODULES` against ``libs``."""
    declaration, call, needed, _ = MODULES[module]
    source = folder / f"{module}.c"
    source.write_text(extension_source(module, declaration, call))
    out = folder / f"{module}.so"
    include = include or sysconfig.get_paths()["include"]
    extra = [f"-Wl,-rpath,{rpath}"] if rpath else []
    run(cc, "-shared", "-fPIC", "-O1", f"-I{include}", "-o", out, source, f"-L{libs}",
        *(f"-l{n}" for n in needed[:1]), *extra)  # fmt: skip
    return out


@dataclass(frozen=True)
class BuiltWheel:
    wheel: Path
    libs: Path
    #: module -> expected return value of ``call()``.
    expected: dict[str, int]


def build_demo_wheel(folder: Path, *, modules: tuple[str, ...] = tuple(MODULES)) -> BuiltWheel:
    """A ``demo`` wheel (``linux_x86_64``) with one extension per module, built by the host gcc;
    ``_chain`` carries an absolute RUNPATH to the build folder (a build-machine entry)."""
    require("gcc")
    require("g++")
    libs = build_libraries(folder)
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    tag = f"cp{sysconfig.get_python_version().replace('.', '')}"
    members: dict[str, bytes] = {"demo/__init__.py": b""}
    for module in modules:
        rpath = str(libs) if module == "_chain" else None
        built = compile_extension(folder, module, libs, rpath=rpath)
        members[f"demo/{module}{suffix}"] = built.read_bytes()
    wheel = make_wheel(folder, f"demo-1.0-{tag}-{tag}-linux_x86_64.whl", members)
    return BuiltWheel(wheel, libs, {m: MODULES[m][3] for m in modules})


def build_library(
    folder: Path, soname: str, source: str, *, needed: tuple[str, ...] = (), cc: str = "gcc"
) -> Path:
    """One shared library ``folder/soname`` from C ``source``, linked against ``needed`` file names."""
    folder.mkdir(parents=True, exist_ok=True)
    src = folder / f"{soname}.c"
    src.write_text(source)
    out = folder / soname
    run(cc, "-shared", "-fPIC", "-O1", f"-Wl,-soname,{soname}", "-o", out, src, f"-L{folder}",
        *(f"-l:{n}" for n in needed))  # fmt: skip
    return out


def build_extension_wheel(
    folder: Path,
    libs: Path,
    needed: tuple[str, ...],
    *,
    declaration: str,
    call: str,
    module: str = "_ext",
    cc: str = "gcc",
    platform: str = "linux_x86_64",
    requires_dist: tuple[str, ...] = (),
    include: str | None = None,
) -> Path:
    """A ``demo`` wheel with one extension ``module`` whose ``call()`` returns ``call``, linked
    against the library file names ``needed`` in ``libs``."""
    source = folder / f"{module}.c"
    source.write_text(extension_source(module, declaration, call))
    out = folder / f"{module}.so"
    include = include or sysconfig.get_paths()["include"]
    run(cc, "-shared", "-fPIC", "-O1", f"-I{include}", "-o", out, source, f"-L{libs}",
        *(f"-l:{n}" for n in needed))  # fmt: skip
    tag = f"cp{sysconfig.get_python_version().replace('.', '')}"
    suffix = sysconfig.get_config_var("EXT_SUFFIX") if platform.endswith("x86_64") else ".so"
    members = {"demo/__init__.py": b"", f"demo/{module}{suffix}": out.read_bytes()}
    return make_wheel(folder, f"demo-1.0-{tag}-{tag}-{platform}.whl", members, requires_dist=requires_dist)
