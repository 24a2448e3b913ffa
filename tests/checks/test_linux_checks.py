"""Linux checks ND301-ND305: synthetic inspections, binaries built with gcc/g++, and the corpus."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from _corpus import ensure, wheels
from _toolchain import require, run, unavailable
from _wheels import make_wheel
from native_doctor.analysis import Inspection, inspect_artifact
from native_doctor.binary.model import BinaryFormat, BinaryInfo, FileKind
from native_doctor.checks.linux import (
    debug_size,
    exported_cxx_symbols,
    leaving_rpath_entries,
    vendored_cxx_exports,
)
from native_doctor.checks.registry import Finding, Severity, run_checks
from native_doctor.model import Artifact, ArtifactKind, NativeFile
from native_doctor.sources.wheel import read_wheel

EXT = "demo/_ext.so"
LIB = "demo.libs/libfoo-1a2b3c4d.so.1"
WHEEL = "demo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"


def _elf(**fields: object) -> BinaryInfo:
    base = BinaryInfo(
        BinaryFormat.ELF, "x86_64", 64, "little", FileKind.SHARED_LIBRARY, executable_stack=False
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def _wheel(*files: tuple[str, BinaryInfo], size: int = 100) -> Inspection:
    native = tuple(NativeFile(path, path, size, None, info) for path, info in files)
    artifact = Artifact(
        kind=ArtifactKind.WHEEL,
        path=WHEEL,
        name="demo",
        version="1.0",
        claimed_tags=("cp311-cp311-manylinux_2_17_x86_64",),
        files=tuple(n.install_path for n in native),
        native=native,
    )
    return inspect_artifact(artifact)


def _codes(inspection: Inspection, code: str) -> list[Finding]:
    return [f for f in _all(inspection) if f.code == code]


def _all(inspection: Inspection) -> list[Finding]:
    findings = list(run_checks(inspection))
    findings += exported_cxx_symbols.function(inspection) if exported_cxx_symbols.function else []
    return findings


_PROTOBUF = (
    "_ZN6google8protobuf7Message8CopyFromERKS1_",
    "_ZN6google8protobuf8internal14ArenaStringPtr3SetEv",
)

#: For every Linux check: (an inspection that triggers it, a clean one).
CASES: dict[str, tuple[Callable[[], Inspection], Callable[[], Inspection]]] = {
    "ND301": (
        lambda: _wheel((EXT, _elf(runpath=("/home/runner/work/demo/build/lib",)))),
        lambda: _wheel((EXT, _elf(runpath=("$ORIGIN/../demo.libs", "$ORIGIN/../nvidia/cublas/lib")))),
    ),
    "ND302": (
        lambda: _wheel((EXT, _elf(executable_stack=True))),
        lambda: _wheel((EXT, _elf(executable_stack=False))),
    ),
    "ND303": (
        lambda: _wheel((EXT, _elf(text_relocations=True))),
        lambda: _wheel((EXT, _elf())),
    ),
    "ND304": (
        lambda: _wheel((EXT, _elf(deep=True, debug_bytes=3_000_000)), size=4_000_000),
        lambda: _wheel((EXT, _elf(deep=True, debug_bytes=0)), size=4_000_000),
    ),
    "ND305": (
        lambda: _wheel(
            (EXT, _elf(needed=("libfoo-1a2b3c4d.so.1",), rpath=("$ORIGIN/../demo.libs",))),
            (LIB, _elf(deep=True, exported_symbols=(*_PROTOBUF, "foo_init"))),
        ),
        lambda: _wheel(
            (EXT, _elf(needed=("libfoo-1a2b3c4d.so.1",), rpath=("$ORIGIN/../demo.libs",))),
            (LIB, _elf(deep=True, exported_symbols=("foo_init", "_ZNSt6vectorIiSaIiEE9push_backEOi"))),
        ),
    ),
}


@pytest.mark.parametrize("code", sorted(CASES))
def test_cases(code: str) -> None:
    bad, good = CASES[code]
    assert [f.code for f in _codes(bad(), code)] == [code]
    assert _codes(good(), code) == []


# --- ND301 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("install_path", "entry", "leaks"),
    [
        ("pkg/_ext.so", "$ORIGIN/../pkg.libs", False),
        ("pkg/_ext.so", "${ORIGIN}/../pkg.libs", False),
        ("pkg/_ext.so", "$ORIGIN", False),
        ("pkg/sub/_ext.so", "$ORIGIN/../../nvidia/cublas/lib", False),
        ("pkg/sub/_ext.so", "$ORIGIN/../../../nvidia/cublas/lib", True),
        ("pkg/_ext.so", "$ORIGIN/../..", True),
        ("_ext.so", "$ORIGIN/..", True),
        ("torch/_C.so", "$ORIGIN/../../nvidia/cudnn/lib", True),  # meant for torch/lib/*.so
        ("pkg/core/_ext.so", "$ORIGIN/../../../../", False),  # <prefix>/lib: mkl's data-scheme layout
        ("pkg/_ext.so", "$ORIGIN/../../../../lib", False),  # <prefix>/lib again
        ("pkg/_ext.so", "$ORIGIN/../../../../../lib", True),  # <prefix>/../lib
        ("_ext.so", "$ORIGIN/lib/$PLATFORM", False),
        ("pkg/_ext.so", "$ORIGIN/../lib/../../x", True),
        ("pkg/_ext.so", "$ORIGIN_x/lib", True),  # no token: a relative directory
        ("pkg/_ext.so", "/usr/local/lib", True),
        ("pkg/_ext.so", "lib", True),
        ("pkg/_ext.so", "", True),
    ],
)
def test_rpath_entries(install_path: str, entry: str, leaks: bool) -> None:
    found = leaving_rpath_entries(install_path, _elf(rpath=(entry,)))
    assert bool(found) is leaks, found


def test_rpath_messages_name_the_leak() -> None:
    info = _elf(rpath=("/home/runner/work/x", "/tmp/build", "", "/opt/conda/lib", "/opt/vendor/lib"))
    kinds = [what for _, _, what in leaving_rpath_entries("pkg/_ext.so", info)]
    assert kinds[0].startswith("a home directory")
    assert kinds[1] == "a temporary build directory"
    assert "current working directory" in kinds[2]
    assert kinds[3] == "a conda prefix"
    assert kinds[4] == "an add-on software prefix"


def test_rpath_ignores_other_data_schemes() -> None:
    native = NativeFile(
        "demo-1.0.data/scripts/tool", "<scripts>/tool", 1, None, _elf(rpath=("$ORIGIN/../lib",))
    )
    artifact = Artifact(ArtifactKind.WHEEL, WHEEL, "demo", "1.0", ("cp311-cp311-manylinux_2_17_x86_64",),
                        (native.install_path,), (native,))  # fmt: skip
    assert _codes(inspect_artifact(artifact), "ND301") == []


# --- ND302 / ND303 -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arch", "kind", "stack", "fires"),
    [
        ("x86_64", FileKind.SHARED_LIBRARY, None, True),  # no PT_GNU_STACK: executable by default on x86
        ("aarch64", FileKind.SHARED_LIBRARY, None, False),
        ("aarch64", FileKind.SHARED_LIBRARY, True, True),
        ("x86_64", FileKind.EXECUTABLE, True, False),  # only dlopen refuses
    ],
)
def test_executable_stack_variants(arch: str, kind: FileKind, stack: bool | None, fires: bool) -> None:
    inspection = _wheel((EXT, _elf(arch=arch, kind=kind, executable_stack=stack)))
    assert bool(_codes(inspection, "ND302")) is fires


# --- ND304 / ND305 helpers ---------------------------------------------------------------------


def test_debug_size_needs_deep_reading() -> None:
    assert debug_size(_elf(debug_bytes=5000)) == 0
    assert debug_size(_elf(deep=True, debug_bytes=5000)) == 5000
    assert debug_size(_elf(deep=True)) == 0


def test_debug_info_below_threshold_is_quiet() -> None:
    assert _codes(_wheel((EXT, _elf(deep=True, debug_bytes=1000))), "ND304") == []


def test_debug_info_message_gives_share() -> None:
    (finding,) = _codes(_wheel((EXT, _elf(deep=True, debug_bytes=3_000_000)), size=4_000_000), "ND304")
    assert "3.0 MB" in finding.message and "75% of the file" in finding.message
    assert finding.detail == "3000000"


def test_cxx_exports_without_deep_reading_are_unknown() -> None:
    assert vendored_cxx_exports(_elf(exported_symbols=_PROTOBUF)) == {}
    assert vendored_cxx_exports(_elf(deep=True, exported_symbols=_PROTOBUF)) == {"protobuf": 2}


def test_std_symbols_count_only_for_a_vendored_libstdcxx() -> None:
    std = ("_ZNSt6vectorIiSaIiEE9push_backEOi",)
    assert vendored_cxx_exports(_elf(deep=True, exported_symbols=std)) == {}
    libstdcxx = _elf(deep=True, exported_symbols=std, version_definitions=("GLIBCXX_3.4",))
    assert vendored_cxx_exports(libstdcxx) == {"the C++ standard library (libstdc++)": 1}


def test_cxx_exports_of_the_extension_itself_are_not_reported() -> None:
    inspection = _wheel((EXT, _elf(deep=True, exported_symbols=_PROTOBUF)))
    assert _codes(inspection, "ND305") == []


@pytest.mark.parametrize(
    ("needed", "kind", "platform", "severity"),
    [
        pytest.param((), FileKind.SHARED_LIBRARY, "manylinux_2_17_x86_64", Severity.INFO, id="needs-nothing"),
        pytest.param(
            ("libc.so.6",), FileKind.SHARED_LIBRARY, "manylinux_2_17_x86_64", Severity.INFO, id="libc"
        ),
        pytest.param(
            ("libc.so.6", "ld-linux-x86-64.so.2"),
            FileKind.SHARED_LIBRARY,
            "manylinux_2_17_x86_64",
            Severity.INFO,
            id="libc-and-loader",
        ),
        pytest.param(
            ("libm.so.6", "libc.so.6"),
            FileKind.SHARED_LIBRARY,
            "manylinux_2_17_x86_64",
            Severity.WARNING,
            id="libm-is-searched",
        ),
        pytest.param(
            ("libc.so.6",),
            FileKind.EXECUTABLE,
            "manylinux_2_17_x86_64",
            Severity.WARNING,
            id="executable-searches-for-libc",
        ),
        pytest.param(
            ("libc.so", "libm.so.6"),
            FileKind.SHARED_LIBRARY,
            "musllinux_1_2_x86_64",
            Severity.INFO,
            id="musl-reserved-names",
        ),
        pytest.param(
            ("libgcc_s.so.1", "libc.so"),
            FileKind.SHARED_LIBRARY,
            "musllinux_1_2_x86_64",
            Severity.WARNING,
            id="musl-libgcc",
        ),
    ],
)
def test_rpath_leak_severity_by_effect(
    needed: tuple[str, ...], kind: FileKind, platform: str, severity: Severity
) -> None:
    """An entry no dependency can use is info: Python has loaded libc and ld.so before any module."""
    info = _elf(kind=kind, needed=needed, runpath=("/home/runner/work/demo/build/lib",))
    native = (NativeFile(EXT, EXT, 100, None, info),)
    artifact = Artifact(
        kind=ArtifactKind.WHEEL,
        path=f"demo-1.0-cp311-cp311-{platform}.whl",
        name="demo",
        version="1.0",
        claimed_tags=(f"cp311-cp311-{platform}",),
        files=(EXT,),
        native=native,
    )
    (finding,) = _codes(inspect_artifact(artifact), "ND301")
    assert finding.severity is severity
    assert ("no dependency of it can use the entry" in finding.message) is (severity is Severity.INFO)


# --- real binaries -----------------------------------------------------------------------------

BASE_C = "int base_value(void) { return 42; }\n"


def _build(tmp: Path, name: str, source: str, *args: str, compiler: str = "gcc", suffix: str = ".c") -> bytes:
    cc = require(compiler)
    src = tmp / f"{name}{suffix}"
    src.write_text(source)
    run(cc, "-shared", "-fPIC", *args, "-o", tmp / name, src)
    return (tmp / name).read_bytes()


def _read(tmp: Path, members: dict[str, bytes]) -> Inspection:
    path = make_wheel(tmp, WHEEL, {"demo/__init__.py": b"", **members})
    return inspect_artifact(read_wheel(path, deep=True))


@pytest.mark.toolchain
def test_real_rpath_leak(tmp_path: Path, elf_pair: dict[str, bytes]) -> None:
    leaky = _build(tmp_path, "_ext.so", BASE_C, "-Wl,-rpath,/home/runner/build/lib")
    (finding,) = _codes(_read(tmp_path, {EXT: leaky}), "ND301")
    assert finding.detail == "/home/runner/build/lib" and finding.member == EXT
    clean = {"demo/_ext.so": elf_pair["_ext.so"], "demo.libs/libdep.so.1": elf_pair["libdep.so.1"]}
    (tmp_path / "clean").mkdir()
    assert _codes(_read(tmp_path / "clean", clean), "ND301") == []


@pytest.mark.toolchain
def test_real_rpath_leak_severity_by_effect(tmp_path: Path) -> None:
    """The same build RPATH: info on a module that needs only libc, a warning on one whose
    dependency ld.so looks for there."""
    rpath = "-Wl,-rpath,/home/runner/build/lib"
    _build(tmp_path, "libdep.so.1", BASE_C, "-Wl,-soname,libdep.so.1")
    user = "int base_value(void);\nint twice(void) { return 2 * base_value(); }\n"
    needs_dep = _build(
        tmp_path, "_user.so", user, rpath, "-Wl,--no-as-needed", f"-L{tmp_path}", "-l:libdep.so.1"
    )
    libc_only = _build(
        tmp_path, "_ext.so", "#include <string.h>\nsize_t n(const char *s) { return strlen(s); }\n", rpath
    )
    (tmp_path / "w").mkdir()
    inspection = _read(tmp_path / "w", {EXT: libc_only, "demo/_user.so": needs_dep})
    severity = {f.member: f.severity for f in _codes(inspection, "ND301")}
    assert severity == {EXT: Severity.INFO, "demo/_user.so": Severity.WARNING}


@pytest.mark.toolchain
@pytest.mark.parametrize(("flag", "fires"), [("-Wl,-z,execstack", True), ("-Wl,-z,noexecstack", False)])
def test_real_executable_stack(tmp_path: Path, flag: str, fires: bool) -> None:
    inspection = _read(tmp_path, {EXT: _build(tmp_path, "_ext.so", BASE_C, flag)})
    assert bool(_codes(inspection, "ND302")) is fires


@pytest.mark.toolchain
def test_real_text_relocations(tmp_path: Path) -> None:
    gcc = require("gcc")
    src = tmp_path / "textrel.c"
    src.write_text("int counter;\nint *counter_address(void) { return &counter; }\n")
    args = [
        gcc,
        "-shared",
        "-fno-pic",
        "-mcmodel=large",
        "-Wl,-z,notext",
        str(src),
        "-o",
        str(tmp_path / "t.so"),
    ]
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        unavailable(f"the linker refuses text relocations: {proc.stderr.strip()[-200:]}")
    bad = _read(tmp_path, {EXT: (tmp_path / "t.so").read_bytes()})
    assert [f.member for f in _codes(bad, "ND303")] == [EXT]
    (tmp_path / "pic").mkdir()
    good = _read(tmp_path / "pic", {EXT: _build(tmp_path, "pic.so", src.read_text())})
    assert _codes(good, "ND303") == []


_MANY_FUNCTIONS = "".join(
    f"struct s{i} {{ int a{i}; double b{i}; char c{i}[{i + 1}]; }};\n"
    f"int f{i}(struct s{i} *p, int x) {{ int y = x * {i}; for (int k = 0; k < x; k++) y += p->a{i} + k;"
    f" return y + (int)p->b{i} + p->c{i}[0]; }}\n"
    for i in range(600)
)


@pytest.mark.toolchain
@pytest.mark.parametrize(("flags", "fires"), [(("-g3", "-O0"), True), (("-g0", "-s"), False)])
def test_real_debug_info(tmp_path: Path, flags: tuple[str, ...], fires: bool) -> None:
    data = _build(tmp_path, "_ext.so", _MANY_FUNCTIONS, *flags)
    inspection = _read(tmp_path, {EXT: data})
    info = inspection.binaries[0].native.info
    assert info is not None
    assert info.deep and info.debug_bytes is not None  # check reads deeply: no reason to skip
    assert bool(_codes(inspection, "ND304")) is fires


_FMT_CC = """\
namespace fmt { namespace v10 {
int format_int(int x) { return x * 2; }
struct buffer { virtual ~buffer(); int grow(int n); };
buffer::~buffer() {}
int buffer::grow(int n) { return n + 1; }
} }
extern "C" __attribute__((visibility("default"))) int foo_init(void) { return fmt::v10::format_int(1); }
"""


@pytest.mark.toolchain
@pytest.mark.parametrize(("flags", "fires"), [((), True), (("-fvisibility=hidden",), False)])
def test_real_exported_cxx_symbols(tmp_path: Path, flags: tuple[str, ...], fires: bool) -> None:
    lib = _build(tmp_path, "libfoo.so", _FMT_CC, *flags, "-Wl,-soname,libfoo-1a2b3c4d.so.1", compiler="g++",
                 suffix=".cc")  # fmt: skip
    inspection = _read(tmp_path, {LIB: lib})
    info = inspection.binaries[0].native.info
    assert info is not None
    assert info.deep and info.exported_symbols  # check reads deeply: no reason to skip
    findings = list(exported_cxx_symbols.function(inspection)) if exported_cxx_symbols.function else []
    assert bool(findings) is fires
    if fires:
        assert findings[0].detail == "fmt" and findings[0].member == LIB


# --- corpus ------------------------------------------------------------------------------------


def _corpus_findings(filename: str, code: str) -> list[Finding]:
    (entry,) = [w for w in wheels(include_benchmark=True) if w.filename == filename]
    return _codes(inspect_artifact(read_wheel(ensure(entry), deep=True)), code)


@pytest.mark.corpus
def test_corpus_scipy_aarch64_leaks_a_build_rpath() -> None:
    findings = _corpus_findings(
        "scipy-1.17.1-cp312-cp312-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl", "ND301"
    )
    assert [f.detail for f in findings] == [
        "/opt/_internal/cpython-3.12.11/lib/python3.12/site-packages/scipy_openblas32/lib"
    ]


@pytest.mark.corpus
@pytest.mark.parametrize(
    "filename",
    [
        "numpy-2.4.6-cp312-cp312-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
        "nvidia_cudnn_cu13-9.24.0.43-py3-none-manylinux_2_27_x86_64.whl",
        "cryptography-50.0.2-cp311-abi3-musllinux_1_2_x86_64.whl",
    ],
)
def test_corpus_repaired_wheels_keep_rpaths_inside(filename: str) -> None:
    assert _corpus_findings(filename, "ND301") == []
