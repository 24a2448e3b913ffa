"""The process-level loader simulation against the real one: glibc's ld.so is the oracle.

Synthetic trees are built with gcc once per session. For each case a child Python
``ctypes.CDLL``s the extensions in order (RTLD_LOCAL) and reports, after each, the value the
extension's function returns (which copy of a library it reached), the files of the tree that
are mapped (``/proc/self/maps``) or the ``OSError`` text. The simulation must predict the same
mapped files and the same error messages. Real system binaries are compared with ``ldd`` and
``libtree``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import pytest

from _toolchain import require, run, unavailable
from native_doctor.binary.model import BinaryFormat, BinaryInfo, FileKind
from native_doctor.platforms.process_linux import (
    LinuxLoaderConfig,
    LoadResult,
    Process,
    RealFileSystem,
    config_from_host,
    expand_tokens,
    loader_diagnostics,
    simulate,
)
from native_doctor.sources.ldcache import CacheEntry

pytestmark = pytest.mark.toolchain

SRC = Path(__file__).parent / "process_src"
EXE = os.path.realpath(sys.executable)

# --- building the trees ------------------------------------------------------------------------------


def _so(
    gcc: str,
    out: Path,
    source: str,
    *,
    soname: str | None = None,
    defines: Mapping[str, str] = MappingProxyType({}),
    link: tuple[str, ...] = (),
    rpath: str | None = None,
    runpath: str | None = None,
    extra: tuple[str, ...] = (),
) -> None:
    """Compile one shared object from ``process_src/<source>``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    args: list[str | Path] = [gcc, "-shared", "-fPIC", "-o", out, SRC / source]
    args += [f"-D{k}={v}" for k, v in defines.items()]
    if soname:
        args.append(f"-Wl,-soname,{soname}")
    args += list(link)
    if rpath is not None:
        args.append(f"-Wl,--disable-new-dtags,-rpath,{rpath}")
    if runpath is not None:
        args.append(f"-Wl,--enable-new-dtags,-rpath,{runpath}")
    run(*args, *extra)


def _value_lib(gcc: str, out: Path, soname: str, func: str, value: int, **kw: object) -> None:
    _so(gcc, out, "value.c", soname=soname, defines={"SELF": func, "VALUE": str(value)}, **kw)  # type: ignore[arg-type]


def _ext(gcc: str, out: Path, calls: str, link_dir: Path, lib: str, **kw: object) -> None:
    """An "extension": ``ext_value()`` calls ``calls`` in ``lib`` (linked from ``link_dir``)."""
    link = (f"-L{link_dir}", f"-l:{lib}", f"-Wl,-rpath-link,{link_dir}")
    _so(gcc, out, "forward.c", defines={"SELF": "ext_value", "NEXT": calls}, link=link, **kw)  # type: ignore[arg-type]


def _build_precedence(gcc: str, root: Path) -> None:
    """Three ``libdep.so.1`` copies (1 in rpath/, 2 in runpath/, 3 in llp/) and extensions."""
    for value, sub in enumerate(("rpath", "runpath", "llp"), start=1):
        _value_lib(gcc, root / "prec" / sub / "libdep.so.1", "libdep.so.1", "dep_value", value)
    llp = root / "prec" / "llp"
    _ext(gcc, root / "prec/ext_rpath.so", "dep_value", llp, "libdep.so.1", rpath="$ORIGIN/rpath")
    _ext(gcc, root / "prec/ext_runpath.so", "dep_value", llp, "libdep.so.1", runpath="$ORIGIN/runpath")
    _ext(gcc, root / "prec/ext_none.so", "dep_value", llp, "libdep.so.1")
    _ext(gcc, root / "prec/ext_curly.so", "dep_value", llp, "libdep.so.1", rpath="${ORIGIN}/rpath")


def _build_missing(gcc: str, root: Path) -> None:
    build = root / "missing" / "build"
    _value_lib(gcc, build / "libmissing.so.1", "libmissing.so.1", "gone", 0)
    _ext(gcc, root / "missing/ext_missing.so", "gone", build, "libmissing.so.1", rpath="$ORIGIN")
    (build / "libmissing.so.1").unlink()


def _build_chain(gcc: str, root: Path) -> None:
    """ext -> libA.so.1 (no path of its own) -> libB.so.1, all found through ext's entry."""
    for tree, a_runpath in (("chain", None), ("chain2", "$ORIGIN/nowhere")):
        lib = root / tree / "lib"
        _value_lib(gcc, lib / "libB.so.1", "libB.so.1", "b_value", 7)
        link = (f"-L{lib}", "-l:libB.so.1")
        defines = {"SELF": "a_value", "NEXT": "b_value"}
        _so(
            gcc,
            lib / "libA.so.1",
            "forward.c",
            soname="libA.so.1",
            defines=defines,
            link=link,
            runpath=a_runpath,
        )
        _ext(gcc, root / tree / "ext_rpath.so", "a_value", lib, "libA.so.1", rpath="$ORIGIN/lib")
        _ext(gcc, root / tree / "ext_runpath.so", "a_value", lib, "libA.so.1", runpath="$ORIGIN/lib")


def _build_duplicates(gcc: str, root: Path) -> None:
    """Two extensions, each with its own ``libdup.so.1`` (10 in one/, 20 in two/)."""
    for value, sub in ((10, "one"), (20, "two")):
        _value_lib(gcc, root / "dup" / sub / "libdup.so.1", "libdup.so.1", "dup_value", value)
        _ext(
            gcc,
            root / f"dup/ext_{sub}.so",
            "dup_value",
            root / "dup" / sub,
            "libdup.so.1",
            rpath=f"$ORIGIN/{sub}",
        )


def _build_versions(gcc: str, root: Path) -> None:
    """``libv.so.1`` defining V_1.0 (old/) or V_1.0 + V_2.0 (new/), and extensions needing them."""
    ver = root / "ver"
    for sub, extra in (("old", ()), ("new", ("-DNEW",))):
        script = f"-Wl,--version-script={SRC / f'v_{sub}.map'}"
        _so(gcc, ver / sub / "libv.so.1", "v.c", soname="libv.so.1", extra=(script, *extra))
    _ext(gcc, ver / "ext_v.so", "v_new", ver / "new", "libv.so.1", rpath="$ORIGIN/old")
    _ext(gcc, ver / "ext_vnew.so", "v_new", ver / "new", "libv.so.1", rpath="$ORIGIN/new")
    _ext(gcc, ver / "ext_vold.so", "v_old", ver / "old", "libv.so.1", rpath="$ORIGIN/old")


def _build_symlink(gcc: str, root: Path) -> None:
    """link/ext_sym.so -> ../real/ext_sym.so (RPATH $ORIGIN/lib); lib/ copies return 5 (real), 6 (link)."""
    for value, sub in ((5, "real"), (6, "link")):
        _value_lib(gcc, root / "sym" / sub / "lib" / "libdep.so.1", "libdep.so.1", "dep_value", value)
    real = root / "sym/real"
    _ext(gcc, real / "ext_sym.so", "dep_value", real / "lib", "libdep.so.1", rpath="$ORIGIN/lib")
    (root / "sym/link/ext_sym.so").symlink_to("../real/ext_sym.so")


def _build_hwcaps(gcc: str, root: Path) -> None:
    """hw/lib/libdep.so.1 returns 1, hw/lib/glibc-hwcaps/x86-64-v2/libdep.so.1 returns 9."""
    lib = root / "hw" / "lib"
    _value_lib(gcc, lib / "libdep.so.1", "libdep.so.1", "dep_value", 1)
    _value_lib(gcc, lib / "glibc-hwcaps/x86-64-v2/libdep.so.1", "libdep.so.1", "dep_value", 9)
    _ext(gcc, root / "hw/ext_hw.so", "dep_value", lib, "libdep.so.1", rpath="$ORIGIN/lib")


@pytest.fixture(scope="session")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All synthetic trees under one (real) root."""
    gcc = require("gcc")
    root = Path(os.path.realpath(tmp_path_factory.mktemp("process")))
    for build in (
        _build_precedence,
        _build_missing,
        _build_chain,
        _build_duplicates,
        _build_versions,
        _build_hwcaps,
    ):
        build(gcc, root)
    _build_symlink(gcc, root)
    return root


@pytest.fixture(scope="session")
def diagnostics() -> str | None:
    """``ld.so --list-diagnostics`` of this host (None on glibc < 2.33)."""
    return loader_diagnostics()


# --- the oracle ------------------------------------------------------------------------------------

_CHILD = r"""
import ctypes, json, sys
root = sys.argv[1]

def mapped():
    files = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            parts = line.split(None, 5)
            if len(parts) == 6 and parts[5].strip().startswith(root + "/"):
                files.add(parts[5].strip())
    return sorted(files)

steps = []
for path in sys.argv[2:]:
    try:
        lib = ctypes.CDLL(path)
        steps.append({"value": lib.ext_value(), "error": None, "mapped": mapped()})
    except OSError as exc:
        steps.append({"value": None, "error": str(exc), "mapped": mapped()})
print(json.dumps(steps))
"""


@dataclass(frozen=True)
class Step:
    """What one load gave: the extension's value (None on error), the error text, mapped tree files."""

    value: int | None
    error: str | None
    mapped: tuple[str, ...]


def _environ(root: Path, env: Mapping[str, str]) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in {"LD_LIBRARY_PATH", "LD_PRELOAD"}}
    return base | {k: ":".join(str(root / p) for p in v.split(":")) for k, v in env.items()}


def _reality(root: Path, exts: list[str], environ: dict[str, str]) -> list[Step]:
    args = [sys.executable, "-c", _CHILD, str(root), *exts]
    proc = subprocess.run(args, env=environ, capture_output=True, text=True, check=True, timeout=30)
    return [Step(s["value"], s["error"], tuple(s["mapped"])) for s in json.loads(proc.stdout)]


def _simulation(root: Path, exts: list[str], environ: dict[str, str], diagnostics: str | None) -> list[Step]:
    fs = RealFileSystem()
    process = Process(fs, config_from_host(environ, diagnostics=diagnostics))
    assert process.load(EXE).ok
    steps = []
    for ext in exts:
        result = process.load(ext)
        mapped = sorted({fs.realpath(p) for p in process.loaded} - {EXE})
        inside = tuple(p for p in mapped if p.startswith(f"{root}/"))
        steps.append(Step(None, result.error, inside))
    return steps


# --- the cases -------------------------------------------------------------------------------------

#: (extensions, environment, what the real loader does: the value each extension returns, or an
#: error-message fragment). The environment's paths are relative to the tree.
CASES = [
    pytest.param(
        ["missing/ext_missing.so"], {}, ["libmissing.so.1: cannot open shared object file"], id="missing"
    ),
    pytest.param(["prec/ext_rpath.so"], {}, [1], id="rpath"),
    pytest.param(
        ["prec/ext_rpath.so"], {"LD_LIBRARY_PATH": "prec/llp"}, [1], id="rpath-beats-ld-library-path"
    ),
    pytest.param(["prec/ext_curly.so"], {"LD_LIBRARY_PATH": "prec/llp"}, [1], id="rpath-curly-origin"),
    pytest.param(["prec/ext_runpath.so"], {}, [2], id="runpath"),
    pytest.param(
        ["prec/ext_runpath.so"], {"LD_LIBRARY_PATH": "prec/llp"}, [3], id="ld-library-path-beats-runpath"
    ),
    pytest.param(["prec/ext_none.so"], {"LD_LIBRARY_PATH": "prec/llp"}, [3], id="ld-library-path-only"),
    pytest.param(["prec/ext_none.so"], {}, ["libdep.so.1: cannot open shared object file"], id="no-path"),
    pytest.param(
        ["prec/ext_rpath.so"], {"LD_PRELOAD": "prec/llp/libdep.so.1"}, [3], id="ld-preload-beats-rpath"
    ),
    pytest.param(["chain/ext_rpath.so"], {}, [7], id="rpath-inherited-by-dependency"),
    pytest.param(["chain/ext_runpath.so"], {}, ["libB.so.1: cannot open"], id="runpath-not-inherited"),
    pytest.param(
        ["chain2/ext_rpath.so"], {}, ["libB.so.1: cannot open"], id="requester-runpath-drops-rpath-chain"
    ),
    pytest.param(["dup/ext_one.so", "dup/ext_two.so"], {}, [10, 10], id="first-loaded-wins"),
    pytest.param(["dup/ext_two.so", "dup/ext_one.so"], {}, [20, 20], id="first-loaded-wins-reversed"),
    pytest.param(["ver/ext_v.so"], {}, ["version `V_2.0' not found"], id="version-too-old"),
    pytest.param(["ver/ext_vnew.so", "ver/ext_v.so"], {}, [2, 2], id="version-new-loaded-first"),
    pytest.param(
        ["ver/ext_vold.so", "ver/ext_vnew.so"], {}, [1, "version `V_2.0' not found"], id="version-old-first"
    ),
    pytest.param(
        ["ver/ext_v.so", "ver/ext_vnew.so"], {}, ["version `V_2.0'", 2], id="failed-dlopen-is-undone"
    ),
    pytest.param(["sym/link/ext_sym.so"], {}, [6], id="origin-of-symlinked-library"),
]
if (
    "glibc-hwcaps/x86-64-v2"
    in config_from_host({}, diagnostics=loader_diagnostics(), cache_entries=[]).subdirs
):
    CASES.append(pytest.param(["hw/ext_hw.so"], {}, [9], id="glibc-hwcaps-subdirectory-first"))


@pytest.mark.parametrize(("exts", "env", "expected"), CASES)
def test_matches_real_loader(
    tree: Path, diagnostics: str | None, exts: list[str], env: dict[str, str], expected: list[int | str]
) -> None:
    environ = _environ(tree, env)
    paths = [str(tree / e) for e in exts]
    real = _reality(tree, paths, environ)
    for step, want in zip(real, expected, strict=True):  # the case table describes reality
        if isinstance(want, int):
            assert (step.value, step.error) == (want, None)
        else:
            assert step.error is not None and want in step.error
    predicted = _simulation(tree, paths, environ, diagnostics)
    assert [(s.error, s.mapped) for s in predicted] == [(s.error, s.mapped) for s in real]


def test_resolutions_say_how(tree: Path, diagnostics: str | None) -> None:
    environ = _environ(tree, {"LD_LIBRARY_PATH": "prec/llp"})
    config = config_from_host(environ, diagnostics=diagnostics)
    ext = str(tree / "chain/ext_rpath.so")
    report = simulate(EXE, [ext, str(tree / "prec/ext_runpath.so")], RealFileSystem(), config)
    chain, runpath = report.extensions
    how = {r.name: r.how for r in chain.resolutions}
    assert how["libA.so.1"] == how["libB.so.1"] == f"RPATH of {ext}"
    assert {r.name: r.how for r in runpath.resolutions}["libdep.so.1"] == "LD_LIBRARY_PATH"


def test_second_extension_reuses_first_copy(tree: Path, diagnostics: str | None) -> None:
    config = config_from_host(_environ(tree, {}), diagnostics=diagnostics)
    report = simulate(
        EXE, [str(tree / "dup/ext_one.so"), str(tree / "dup/ext_two.so")], RealFileSystem(), config
    )
    dep = [r for r in report.extensions[1].resolutions if r.name == "libdup.so.1"]
    assert [(r.how, r.path) for r in dep] == [("already loaded", f"{tree}/dup/one/libdup.so.1")]
    assert report.extensions[1].new_objects == (str(tree / "dup/ext_two.so"),)


def test_not_found_lists_searched_dirs(tree: Path, diagnostics: str | None) -> None:
    config = config_from_host(_environ(tree, {}), diagnostics=diagnostics)
    report = simulate(EXE, [str(tree / "chain/ext_runpath.so")], RealFileSystem(), config)
    (failure,) = [r for r in report.extensions[0].resolutions if r.path is None]
    assert failure.name == "libB.so.1"
    assert failure.searched[-1] == config.default_dirs[-1]
    assert not any(d.startswith(str(tree)) for d in failure.searched)  # RUNPATH is not inherited


def test_version_failure_fields(tree: Path, diagnostics: str | None) -> None:
    config = config_from_host(_environ(tree, {}), diagnostics=diagnostics)
    ext = str(tree / "ver/ext_v.so")
    (result,) = simulate(EXE, [ext], RealFileSystem(), config).extensions
    (failure,) = result.version_failures
    assert (failure.version, failure.library, failure.required_by) == ("V_2.0", "libv.so.1", ext)
    assert failure.provider_path == f"{tree}/ver/old/libv.so.1"
    assert result.object is None and not result.new_objects


# --- real binaries against ldd and libtree -------------------------------------------------------------

REAL_BINARIES = [
    pytest.param(EXE, id="this-python"),
    pytest.param("/usr/bin/python3.11", id="system-python"),
    pytest.param("/usr/lib/x86_64-linux-gnu/libstdc++.so.6", id="libstdc++"),
]
_LDD_LINE = re.compile(r"^\s*(\S+) => (\S+) \(0x[0-9a-f]+\)$")
_LIBTREE_LINE = re.compile(r"^[\s│├└─]*(/\S+) \[([^\]]+)\]$")
_LIBTREE_LABEL = {"RUNPATH": "runpath", "ld.so cache": "ld.so.conf", "default path": "default path"}


def _start(path: str, diagnostics: str | None) -> tuple[Process, LoadResult]:
    if not Path(path).is_file():
        unavailable(f"{path} is not on this host")
    environ = {k: v for k, v in os.environ.items() if k not in {"LD_LIBRARY_PATH", "LD_PRELOAD"}}
    process = Process(RealFileSystem(), config_from_host(environ, diagnostics=diagnostics))
    result = process.load(path)
    assert result.ok
    return process, result


@pytest.mark.parametrize("path", REAL_BINARIES)
def test_agrees_with_ldd(path: str, diagnostics: str | None) -> None:
    """ldd lists each loaded object as ``first name => path`` (not the executable nor ld.so)."""
    ldd = require("ldd")
    process, result = _start(path, diagnostics)
    env = {k: v for k, v in os.environ.items() if k not in {"LD_LIBRARY_PATH", "LD_PRELOAD"}}
    out = subprocess.run([ldd, path], capture_output=True, text=True, check=True, env=env).stdout
    expected = {m[1]: m[2] for m in map(_LDD_LINE.match, out.splitlines()) if m}
    first_names = {r.name: r.path for r in result.resolutions[1:] if r.how != "already loaded"}
    assert first_names == expected
    interpreter = [o.path for o in process.loaded.values() if o.how == "interpreter"]
    assert interpreter == re.findall(r"^\s*(/\S+) \(0x", out, re.M)


@pytest.mark.parametrize("path", REAL_BINARIES)
def test_agrees_with_libtree(path: str, diagnostics: str | None) -> None:
    """Same files (by real path) as ``libtree -p -vv``, each found the way libtree labels it."""
    libtree = require("libtree")
    process, _ = _start(path, diagnostics)
    out = run(libtree, "-p", "-vv", path)
    labels: dict[str, set[str]] = {}
    for match in filter(None, map(_LIBTREE_LINE.match, out.splitlines())):
        labels.setdefault(os.path.realpath(match[1]), set()).add(match[2])
    loaded = {os.path.realpath(p): o for p, o in process.loaded.items() if o.how != "executable"}
    assert set(loaded) == set(labels)
    for real, obj in loaded.items():
        if obj.how != "interpreter":  # libtree searches for ld.so instead of reusing PT_INTERP
            assert _LIBTREE_LABEL[obj.how] in labels[real]


# --- unit tests over a fake file system -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("$ORIGIN/lib", "/o/lib", id="origin"),
        pytest.param("${ORIGIN}/../lib", "/o/../lib", id="curly-origin-not-normalized"),
        pytest.param("$ORIGIN_X", "$ORIGIN_X", id="identifier-char-after-is-no-token"),
        pytest.param("/opt/$LIB/$PLATFORM", "/opt/lib64/haswell", id="lib-and-platform"),
        pytest.param("/opt/${LIB}x", "/opt/lib64x", id="curly-lib-before-letters"),
        pytest.param("/opt/$FOO", "/opt/$FOO", id="unknown-token-literal"),
    ],
)
def test_expand_tokens(text: str, expected: str) -> None:
    assert expand_tokens(text, "/o", "lib64", "haswell") == expected


def test_expand_tokens_without_origin_drops_entry() -> None:
    assert expand_tokens("$ORIGIN/x", None, "lib", "x86_64") is None


class FakeFS:
    """Files as a dict of path -> BinaryInfo (None: not an ELF file); no symbolic links."""

    def __init__(self, files: dict[str, BinaryInfo | None]) -> None:
        self.files = files
        self.reads: list[str] = []

    def exists(self, path: str) -> bool:
        return path in self.files

    def realpath(self, path: str) -> str:
        return os.path.normpath(path)

    def binary(self, path: str) -> BinaryInfo | None:
        self.reads.append(path)
        return self.files[path]


def _elf(
    *needed: str, soname: str | None = None, bits: int = 64, arch: str = "x86_64", **kw: object
) -> BinaryInfo:
    kind = FileKind.SHARED_LIBRARY
    return BinaryInfo(BinaryFormat.ELF, arch, bits, "little", kind, needed=needed, soname=soname, **kw)  # type: ignore[arg-type]


def _fake_config(**kw: object) -> LinuxLoaderConfig:
    return LinuxLoaderConfig(default_dirs=("/usr/lib",), **kw)  # type: ignore[arg-type]


def test_wrong_class_and_machine_are_skipped() -> None:
    fs = FakeFS(
        {
            "/exe": _elf("libx.so"),
            "/a/libx.so": _elf(soname="libx.so", bits=32, arch="i686"),
            "/b/libx.so": _elf(soname="libx.so", arch="aarch64"),
            "/usr/lib/libx.so": _elf(soname="libx.so"),
        }
    )
    config = _fake_config(ld_library_path=("/a", "/b"))
    assert simulate("/exe", [], fs, config).executable.resolutions[1].path == "/usr/lib/libx.so"
    del fs.files["/usr/lib/libx.so"]
    assert simulate("/exe", [], fs, config).executable.error == "libx.so: wrong ELF class: ELFCLASS32"


def test_not_an_elf_file_stops_the_search() -> None:
    fs = FakeFS({"/exe": _elf("libx.so"), "/a/libx.so": None, "/usr/lib/libx.so": _elf()})
    report = simulate("/exe", [], fs, _fake_config(ld_library_path=("/a",)))
    assert report.executable.error == "/a/libx.so: invalid ELF header"


def test_cache_before_default_dirs_and_binaries_read_once() -> None:
    files: dict[str, BinaryInfo | None] = {
        "/exe": _elf("liby.so", "libz.so"),
        "/c/liby.so": _elf("libz.so"),
        "/usr/lib/liby.so": _elf(),
    }
    files["/usr/lib/libz.so"] = _elf()
    fs = FakeFS(files)
    report = simulate("/exe", [], fs, _fake_config(cache=MappingProxyType({"liby.so": "/c/liby.so"})))
    assert [(r.path, r.how) for r in report.executable.resolutions[1:]] == [
        ("/c/liby.so", "ld.so cache"),
        ("/usr/lib/libz.so", "default path"),
        ("/usr/lib/libz.so", "already loaded"),
    ]
    assert sorted(fs.reads) == sorted(set(fs.reads))


def test_executable_rpath_applies_to_extensions_runpath_does_not() -> None:
    files: dict[str, BinaryInfo | None] = {"/ext.so": _elf("libx.so"), "/r/libx.so": _elf()}
    with_rpath = FakeFS(files | {"/exe": _elf(rpath=("/r",))})
    (result,) = simulate("/exe", ["/ext.so"], with_rpath, _fake_config()).extensions
    assert [(r.path, r.how) for r in result.resolutions] == [
        ("/ext.so", "path"),
        ("/r/libx.so", "RPATH of /exe"),
    ]
    with_runpath = FakeFS(files | {"/exe": _elf(runpath=("/r",))})
    (result,) = simulate("/exe", ["/ext.so"], with_runpath, _fake_config()).extensions
    assert result.error == "libx.so: cannot open shared object file: No such file or directory"


def test_relative_entries_need_a_working_directory() -> None:
    fs = FakeFS({"/exe": _elf("libx.so", rpath=("lib",)), "/w/lib/libx.so": _elf()})
    assert simulate("/exe", [], fs, _fake_config()).executable.error is not None
    found = simulate("/exe", [], fs, _fake_config(cwd="/w")).executable.resolutions[1]
    assert (found.path, found.how) == ("/w/lib/libx.so", "RPATH of /exe")


def test_object_count_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import native_doctor.platforms.process_linux as module

    monkeypatch.setattr(module, "MAX_OBJECTS", 3)
    names = [f"lib{i}.so" for i in range(5)]
    files: dict[str, BinaryInfo | None] = {"/exe": _elf(*names)}
    files |= {f"/usr/lib/{n}": _elf() for n in names}
    result = simulate("/exe", [], FakeFS(files), _fake_config()).executable
    assert len([r for r in result.resolutions if r.path]) == 3
    assert result.error is not None and "more than 3 objects" in result.error


def test_config_from_host_reads_diagnostics_and_cache() -> None:
    diagnostics = "\n".join(
        [
            'dl_dst_lib="lib/x86_64-linux-gnu"',
            'dl_hwcaps_subdirs="x86-64-v4:x86-64-v3:x86-64-v2"',
            "dl_hwcaps_subdirs_active=0x6",
            'dl_platform="haswell"',
            'path.system_dirs[0x0]="/lib/x86_64-linux-gnu/"',
            'path.system_dirs[0x1]="/usr/lib/"',
        ]
    )
    entries = [
        CacheEntry("libfoo.so.1", "/usr/lib/libfoo.so.1", 0x303, "x86_64"),
        CacheEntry(
            "libfoo.so.1",
            "/usr/lib/glibc-hwcaps/x86-64-v3/libfoo.so.1",
            0x303,
            "x86_64",
            1 << 62,
            "x86-64-v3",
        ),
        CacheEntry(
            "libfoo.so.1",
            "/usr/lib/glibc-hwcaps/x86-64-v4/libfoo.so.1",
            0x303,
            "x86_64",
            1 << 62,
            "x86-64-v4",
        ),
        CacheEntry("libbar.so.1", "/usr/lib32/libbar.so.1", 0x3, None),
    ]
    environ = {"LD_LIBRARY_PATH": "/a:/b;/c", "LD_PRELOAD": "/p/libp.so libq.so"}
    config = config_from_host(environ, diagnostics=diagnostics, cache_entries=entries, machine="x86_64")
    assert config.ld_library_path == ("/a", "/b", "/c")
    assert config.preload == ("/p/libp.so", "libq.so")
    assert config.default_dirs == ("/lib/x86_64-linux-gnu", "/usr/lib")
    assert (config.lib, config.platform) == ("lib/x86_64-linux-gnu", "haswell")
    assert config.subdirs == ("glibc-hwcaps/x86-64-v3", "glibc-hwcaps/x86-64-v2")
    assert dict(config.cache) == {"libfoo.so.1": "/usr/lib/glibc-hwcaps/x86-64-v3/libfoo.so.1"}
