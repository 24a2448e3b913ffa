"""Inference of PEP 725 ``[external]`` tables: parsers on small inline build files, the TOML
rendering, the archive readers, and real sdists and wheels (``corpus``)."""

from __future__ import annotations

import io
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.markers import Marker

from _corpus import ensure as ensure_wheel
from _corpus import wheels
from _sdists import ensure as ensure_sdist
from _sdists import sdists
from native_doctor.analysis import inspect_artifact
from native_doctor.deps.depurl import parse_specifier
from native_doctor.deps.infer import (
    Finding,
    Inference,
    Proposal,
    SourceTree,
    infer_from_tree,
    infer_from_wheel,
    library_stem,
    load_table,
    merge,
    read_sdist,
    read_source_tree,
    scan_cmake,
    scan_meson,
    to_toml,
)
from native_doctor.errors import InvalidArchiveError
from native_doctor.sources.wheel import read_wheel

C = "dep:virtual/compiler/c"
CXX = "dep:virtual/compiler/cxx"
FORTRAN = "dep:virtual/compiler/fortran"
RUST = "dep:virtual/compiler/rust"
CUDA = "dep:virtual/compiler/cuda"
PKG_CONFIG = "dep:generic/pkg-config"
BLAS = "dep:virtual/interface/blas"
LAPACK = "dep:virtual/interface/lapack"
OPENMP = "dep:virtual/interface/openmp"
OPENBLAS = "dep:generic/openblas"


def infer(files: dict[str, str], paths: tuple[str, ...] = ()) -> Inference:
    return infer_from_tree(SourceTree.from_files(files, paths=paths))


def names(inference: Inference, kind: str) -> list[str]:
    return [f.name for f in inference.findings if f.kind == kind]


# --------------------------------------------------------------------------- meson

MESON_CASES = [
    pytest.param(
        "project('x', 'c', 'cpp', 'fortran', 'cython')",
        {"build": {C, CXX, FORTRAN}},
        id="project-languages",
    ),
    pytest.param("project('x', ['c', 'cuda'])", {"build": {C, CUDA}}, id="project-language-list"),
    pytest.param(
        "project('x', 'c')\nadd_languages('fortran', native: false)",
        {"build": {C, FORTRAN}},
        id="add-languages",
    ),
    pytest.param(
        "project('x', 'c')\nblas = dependency(['openblas', 'OpenBLAS'])\nlapack = dependency('lapack')",
        {"build": {C, PKG_CONFIG}, "host": {OPENBLAS, LAPACK}},
        id="dependency-list-and-pkg-config",
    ),
    pytest.param(
        "project('x', 'c')\nz = dependency(\n  'zlib',\n  version: '>=1.2.8',\n)",
        {"build": {C, PKG_CONFIG}, "host": {"dep:generic/zlib"}},
        id="dependency-multiline-version",
    ),
    pytest.param(
        "project('x', 'c')\nomp = dependency('openmp', required: false)",
        {"build": {C}, "optional-host": {OPENMP}, "optional-build": {PKG_CONFIG}},
        id="dependency-not-required",
    ),
    pytest.param(
        "project('x', 'c')\nt = dependency('threads')\npy = dependency('python')\n"
        "np = dependency('numpy')\npb = dependency('pybind11')\nm = cc.find_library('m', required: false)",
        {"build": {C}},
        id="ignored-names",
    ),
    pytest.param(
        "project('x', 'c')\npc = find_program('pkg-config')\ncy = find_program('cython')\n"
        "gen = find_program('tools/gen.py')",
        {"build": {C, PKG_CONFIG}},
        id="find-program",
    ),
    pytest.param(
        "project('x', 'c')\n# dependency('hdf5')\nx = 'dependency(\"gdal\")'",
        {"build": {C}},
        id="comments-and-strings-ignored",
    ),
]


@pytest.mark.parametrize(("text", "expected"), MESON_CASES)
def test_meson(text: str, expected: dict[str, set[str]]) -> None:
    assert _grouped(infer({"meson.build": text})) == expected


def test_meson_version_from_fstring_and_variable() -> None:
    text = "project('x', 'c')\nmin_geos = '3.10'\ngeos = dependency('geos', version: f'>=@min_geos@')"
    proposal = infer({"meson.build": text}).get("dep:generic/geos")
    assert proposal is not None
    assert proposal.url == "dep:generic/geos@>=3.10"
    assert proposal.evidence == ("meson.build:3 dependency('geos', version: f'>=@min_geos@')",)


def test_meson_unknown_name_is_reported_not_guessed() -> None:
    result = infer({"meson.build": "project('x', 'c')\nb = dependency('boost', version: '>=1.80')"})
    assert result.ids("host") == set()
    assert [(f.kind, f.name, f.where) for f in result.unmapped] == [("library", "boost", "meson.build:2")]


def test_meson_subprojects_are_vendored_code() -> None:
    files = {
        "meson.build": "project('x', 'c')",
        "subprojects/highs/meson.build": "project('h', 'cpp')\nadd_languages('cs')\nd = dependency('catch2')",
    }
    assert infer(files).ids() == {C}


# --------------------------------------------------------------------------- CMake

CMAKE_CASES = [
    pytest.param(
        "project(x LANGUAGES C CXX Fortran CUDA)", {"build": {C, CXX, FORTRAN, CUDA}}, id="languages"
    ),
    pytest.param("project(x C)", {"build": {C}}, id="short-languages"),
    pytest.param("project(x VERSION 1.0)", {"build": {C, CXX}}, id="default-languages"),
    pytest.param(
        "project(x LANGUAGES C)\nenable_language(Fortran)\nenable_language(CUDA OPTIONAL)",
        {"build": {C, FORTRAN}, "optional-build": {CUDA}},
        id="enable-language",
    ),
    pytest.param(
        "project(x LANGUAGES C)\nfind_package(OpenSSL REQUIRED)\nfind_package(ZLIB 1.2)\n"
        "find_package(OpenMP)\nfind_package(Python COMPONENTS Interpreter Development.Module REQUIRED)\n"
        "find_package(Threads)",
        {"build": {C}, "host": {"dep:generic/openssl", "dep:generic/zlib", OPENMP}},
        id="find-package",
    ),
    pytest.param(
        "project(x LANGUAGES C)\nfind_package(PkgConfig REQUIRED)\n"
        "pkg_check_modules(DEPS REQUIRED IMPORTED_TARGET libxml-2.0>=2.9 libxslt)",
        {"build": {C, PKG_CONFIG}, "host": {"dep:generic/libxml2", "dep:generic/libxslt"}},
        id="pkg-check-modules",
    ),
    pytest.param(
        "project(x LANGUAGES C)\nfind_library(ZMQ_LIB NAMES zmq libzmq PATHS /opt/lib)\n"
        "find_program(NINJA ninja)",
        {"build": {C, "dep:generic/ninja"}, "host": {"dep:generic/libzmq"}},
        id="find-library-and-program",
    ),
    pytest.param(
        "project(x LANGUAGES C)\n# find_package(HDF5)\n#[[ find_package(GDAL) ]]\n"
        'message("find_package(PROJ)")',
        {"build": {C}},
        id="comments",
    ),
]


@pytest.mark.parametrize(("text", "expected"), CMAKE_CASES)
def test_cmake(text: str, expected: dict[str, set[str]]) -> None:
    assert _grouped(infer({"CMakeLists.txt": text})) == expected


def test_cmake_find_module_read_only_when_asked_for() -> None:
    files = {
        "CMakeLists.txt": "project(x LANGUAGES C)\nfind_package(sodium)",
        "cmake/Findsodium.cmake": "find_package(PkgConfig QUIET)\npkg_check_modules(PC_SODIUM libsodium)",
        "cmake/FindUnused.cmake": "pkg_check_modules(PC_G gdal)",
    }
    result = infer(files)
    assert result.ids() == {C, PKG_CONFIG, "dep:generic/libsodium"}


def test_cmake_fetchcontent_is_a_note() -> None:
    result = infer({"CMakeLists.txt": "project(x C)\nFetchContent_Declare(bundled_zmq URL https://x)"})
    assert len(result.notes) == 1
    assert result.notes[0].startswith("CMakeLists.txt:2 FetchContent_Declare(bundled_zmq")


def test_cmake_files_ignored_without_a_root_cmakelists() -> None:
    assert infer({"winbuild/fribidi.cmake": "project(f C)\nfind_package(ZLIB)"}).ids() == set()


# --------------------------------------------------------------------------- setup.py / setup.cfg

SETUP_CASES = [
    pytest.param(
        "Extension('m', ['m.c'], libraries=['xml2', 'xslt', 'exslt', 'z', 'm'])",
        {"dep:generic/libxml2", "dep:generic/libxslt", "dep:generic/zlib"},
        id="extension-libraries",
    ),
    pytest.param(
        "settings = {'libraries': ['hdf5', 'hdf5_hl']}\nsettings['libraries'].append('msmpi')",
        {"dep:generic/hdf5", "dep:virtual/interface/mpi"},
        id="dict-and-append",
    ),
    pytest.param(
        "self.libraries.append('pq')\nstandard_libs.append('ssl')\nlibs.extend(['jpeg', 'kernel32'])",
        {"dep:generic/libpq", "dep:generic/openssl", "dep:generic/libjpeg"},
        id="append-extend",
    ),
    pytest.param(
        "libs = [webp, webp + 'mux', webp + 'demux']\nlibs.append(feature.get('tiff'))",
        {"dep:generic/libtiff"},
        id="concatenation-fragments-skipped",
    ),
    pytest.param(
        "ffibuilder.set_source('_x', '#include <ffi.h>', libraries=['ffi'])",
        {"dep:generic/libffi"},
        id="cffi-set-source",
    ),
    pytest.param(
        "if _find_library_file(self, 'z'):\n    pass\nctypes.util.find_library('sodium')",
        {"dep:generic/zlib", "dep:generic/libsodium"},
        id="find-library",
    ),
    pytest.param(
        "flags = subprocess.check_output(['pkg-config', '--cflags', 'libxml-2.0'])\n"
        "out = os.popen('pkg-config --libs --cflags libzmq').read()",
        {"dep:generic/libxml2", "dep:generic/libzmq", PKG_CONFIG},
        id="pkg-config-calls",
    ),
    pytest.param(
        "import pkgconfig\npc = pkgconfig.parse('hdf5')",
        {"dep:generic/hdf5", PKG_CONFIG},
        id="pkgconfig-module",
    ),
    pytest.param(
        "exe = find_on_path('pg_config')\nXML2_CONFIG = os.getenv('XML2_CONFIG', 'xml2-config')",
        {"dep:generic/libpq", "dep:generic/libxml2"},
        id="config-scripts",
    ),
    pytest.param(
        "extra_link_args=['-lgmp', '-lmpfr']", {"dep:generic/gmp", "dep:generic/mpfr"}, id="l-flags"
    ),
    pytest.param("Extension('m', ['m.cpp'], language='c++')", {CXX}, id="language-cxx"),
    pytest.param("# libraries=['gdal']\nprint('pkg-config is needed')", set(), id="comments-and-prose"),
]


@pytest.mark.parametrize(("text", "expected"), SETUP_CASES)
def test_setup_py(text: str, expected: set[str]) -> None:
    assert infer({"setup.py": text}).ids() == expected


def test_setup_py_reads_the_modules_it_imports() -> None:
    files = {
        "setup.py": "import setupinfo\nfrom setuptools import setup",
        "setupinfo.py": "libraries = ['xml2']",
        "unrelated.py": "libraries = ['gdal']",
    }
    assert infer(files).ids() == {"dep:generic/libxml2"}


def test_setup_cfg_libraries() -> None:
    files = {"setup.cfg": "[build_ext]\nlibraries =\n    proj\n    sqlite3\ndefine = X\n"}
    assert infer(files).ids() == {"dep:generic/proj", "dep:generic/sqlite"}


# --------------------------------------------------------------------------- pyproject / Cargo / suffixes


def test_maturin_and_cargo() -> None:
    files = {
        "pyproject.toml": '[build-system]\nrequires = ["maturin>=1"]\nbuild-backend = "maturin"\n',
        "Cargo.toml": '[package]\nname = "x"\n[dependencies]\npyo3 = "0.22"\nopenssl-sys = "0.9"\n'
        'weird-sys = "1"\n[build-dependencies]\ncc = "1"\n',
    }
    result = infer(files)
    assert result.ids("build") == {C, RUST, PKG_CONFIG}
    assert result.ids("host") == {"dep:generic/openssl"}
    assert [f.name for f in result.unmapped] == ["weird-sys"]


def test_pyproject_existing_external_table_is_noted() -> None:
    result = infer({"pyproject.toml": '[external]\nbuild-requires = ["dep:virtual/compiler/c"]\n'})
    assert result.notes == ("pyproject.toml already has an [external] table",)


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        pytest.param(("pkg/a.c", "pkg/b.h"), {C}, id="c"),
        pytest.param(("pkg/a.cc", "pkg/b.cxx"), {CXX}, id="cxx"),
        pytest.param(("pkg/a.f", "pkg/b.F90"), {FORTRAN}, id="fortran"),
        pytest.param(("pkg/a.pyx",), {C}, id="cython-needs-c"),
        pytest.param(("src/lib.rs",), {RUST}, id="rust"),
        pytest.param(("pkg/k.cu",), {CUDA}, id="cuda"),
        pytest.param(
            ("docs/ex.f90", "tests/t.cu", "third_party/x/y.cpp", "pkg/a.py"), set(), id="skipped-dirs"
        ),
    ],
)
def test_source_suffixes(paths: tuple[str, ...], expected: set[str]) -> None:
    assert infer({}, paths).ids() == expected


# --------------------------------------------------------------------------- wheels' library names


@pytest.mark.parametrize(
    ("name", "stem"),
    [
        ("libgfortran-040039e1-0352e75f.so.5.0.0", "libgfortran"),
        ("scipy.libs/libscipy_openblas-c5a9b014.so", "libscipy_openblas"),
        ("libscipy_openblas-64eda39e79589aedb16f58e5547eb599.dll", "libscipy_openblas"),
        ("libopenblas.FB5AE2TYXYH2IJRDKGDGQ3XBKLKTF43H.gfortran-win_amd64.dll", "libopenblas"),
        ("/usr/lib/libc++.1.dylib", "libc++"),
        ("libgmp-10.dll", "libgmp"),
        ("libstdc++.so.6", "libstdc++"),
        ("vcomp140.dll", "vcomp140"),
    ],
)
def test_library_stem(name: str, stem: str) -> None:
    assert library_stem(name) == stem


@pytest.mark.parametrize(
    ("stem", "urls"),
    [
        ("libscipy_openblas64_", (OPENBLAS,)),
        ("libopenblas", (OPENBLAS,)),
        ("libgfortran", (FORTRAN,)),
        ("libquadmath", (FORTRAN,)),
        ("libgomp", (OPENMP,)),
        ("vcomp140", (OPENMP,)),
        ("libstdc++", (CXX,)),
        ("libz", ("dep:generic/zlib",)),
        ("libzmq", ("dep:generic/libzmq",)),
        ("libpng16", ("dep:generic/libpng",)),
        ("libgcc_s", ()),
        ("libunknownthing", None),
    ],
)
def test_runtime_table(stem: str, urls: tuple[str, ...] | None) -> None:
    assert load_table().runtime_urls(stem) == urls


# --------------------------------------------------------------------------- TOML


def _sample() -> Inference:
    return Inference(
        "demo",
        (
            Proposal(C, "build", ("meson.build:1 project('x', 'c')",)),
            Proposal("dep:generic/geos@>=3.10", "host", ("a:1 x", "b:2 y", "c:3 z")),
            Proposal(OPENMP, "host", ("meson.build:4 dependency('openmp', required: false)",), optional=True),
            Proposal("dep:generic/libzmq", "run", ("libzmq.so.5 needed by x.so",)),
        ),
        unmapped=(Finding("library", "boost", "meson.build:9", "dependency('boost')"),),
        notes=("a note",),
    )


def test_to_toml_is_valid_and_parses_back() -> None:
    text = to_toml(_sample())
    data = tomllib.loads(text)["external"]
    assert data == {
        "build-requires": [C],
        "host-requires": ["dep:generic/geos@>=3.10"],
        "dependencies": ["dep:generic/libzmq"],
        "optional-host-requires": {"optional": [OPENMP]},
    }
    for entries in (data["build-requires"], data["host-requires"], data["dependencies"]):
        for entry in entries:
            parse_specifier(entry)


def test_to_toml_text() -> None:
    assert to_toml(_sample()) == (
        "# Proposed by native-doctor from demo: review before use.\n"
        "[external]\n"
        "build-requires = [\n"
        "  \"dep:virtual/compiler/c\",  # meson.build:1 project('x', 'c')\n"
        "]\n"
        "host-requires = [\n"
        '  "dep:generic/geos@>=3.10",  # a:1 x; b:2 y (+1 more) [not in the PEP 804 registry]\n'
        "]\n"
        "dependencies = [\n"
        '  "dep:generic/libzmq",  # libzmq.so.5 needed by x.so [not in the PEP 804 registry]\n'
        "]\n"
        "\n"
        "[external.optional-host-requires]\n"
        "optional = [\n"
        "  \"dep:virtual/interface/openmp\",  # meson.build:4 dependency('openmp', required: false)\n"
        "]\n"
        "\n"
        "# Found, but not mapped to a DepURL (add by hand if needed):\n"
        "#   library 'boost': meson.build:9 dependency('boost')\n"
        "\n"
        "# note: a note\n"
    )


def test_to_toml_empty() -> None:
    assert tomllib.loads(to_toml(Inference("x", ()))) == {"external": {}}


def test_ordering_is_stable() -> None:
    files = {
        "meson.build": "project('x', 'fortran', 'c', 'cpp')\nz = dependency('zlib')\nb = dependency('blas')"
    }
    result = infer(files)
    assert [p.url for p in result.proposals] == [C, CXX, FORTRAN, PKG_CONFIG, BLAS, "dep:generic/zlib"]
    assert to_toml(result) == to_toml(infer(dict(reversed(files.items()))))


def test_merge_keeps_one_entry_per_url_and_category() -> None:
    a = Inference("a", (Proposal(C, "build", ("x",)), Proposal(OPENMP, "host", ("y",), optional=True)))
    b = Inference("b", (Proposal(C, "build", ("z",)), Proposal(OPENMP, "host", ("w",), vendored=True)))
    merged = merge(a, b)
    assert merged.proposals == (
        Proposal(C, "build", ("x", "z")),
        Proposal(OPENMP, "host", ("y", "w"), optional=False, vendored=False),
    )


# --------------------------------------------------------------------------- readers


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


MEMBERS = {
    "demo-1.0/pyproject.toml": b'[build-system]\nbuild-backend = "mesonpy"\n',
    "demo-1.0/meson.build": b"project('demo', 'c')\nz = dependency('zlib')\n",
    "demo-1.0/src/meson.build": b"f = dependency('fftw3')\n",
    "demo-1.0/src/demo.c": b"int x;\n",
    "demo-1.0/setupinfo.py": b"x = 1\n",
    "demo-1.0/src/deep.py": b"libraries = ['gdal']\n",
    "../evil/meson.build": b"d = dependency('hdf5')\n",
}


def test_read_sdist_tar(tmp_path: Path) -> None:
    tree = read_sdist(_tar(tmp_path / "demo-1.0.tar.gz", MEMBERS))
    assert tree.name == "demo-1.0.tar.gz"
    assert sorted(tree.files) == ["meson.build", "pyproject.toml", "setupinfo.py", "src/meson.build"]
    assert "src/demo.c" in tree.paths
    assert infer_from_tree(tree).ids() == {C, PKG_CONFIG, "dep:generic/zlib", "dep:generic/fftw"}


def test_read_sdist_zip(tmp_path: Path) -> None:
    path = tmp_path / "demo-1.0.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in MEMBERS.items():
            zf.writestr(name, data)
    assert sorted(read_sdist(path).files) == [
        "meson.build",
        "pyproject.toml",
        "setupinfo.py",
        "src/meson.build",
    ]


def test_read_sdist_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("native_doctor.deps.infer.MAX_FILE_BYTES", 30)
    tree = read_sdist(_tar(tmp_path / "demo-1.0.tar.gz", MEMBERS))
    assert "meson.build" not in tree.files
    assert "meson.build" in tree.skipped


def test_read_sdist_rejects_garbage(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"not an archive")
    with pytest.raises(InvalidArchiveError):
        read_sdist(bad)


def test_read_source_tree(tmp_path: Path) -> None:
    for name, data in MEMBERS.items():
        if name.startswith("demo-1.0/"):
            target = tmp_path / name.removeprefix("demo-1.0/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    tree = read_source_tree(tmp_path)
    assert sorted(tree.files) == ["meson.build", "pyproject.toml", "setupinfo.py", "src/meson.build"]
    assert infer_from_tree(tree).ids() == {C, PKG_CONFIG, "dep:generic/zlib", "dep:generic/fftw"}


# --------------------------------------------------------------------------- real sdists

#: project -> (must be proposed, may also be proposed). Read from each project's build files:
#: scipy meson.build (project c/cpp/cython, add_languages fortran, dependency openblas/cblas);
#: pillow setup.py (zlib and jpeg required, the rest optional features); lxml setupinfo.py;
#: cryptography Cargo.toml (openssl-sys, cc) + maturin; h5py setup_build.py (hdf5; msmpi on
#: Windows); pyproj setup.py (proj); shapely meson.build (geos >= 3.10); pyzmq CMakeLists.txt
#: (LANGUAGES C CXX, ZeroMQ/libzmq via CMake, pkg-config or find_library); psycopg2 setup.py
#: (pg_config, pq; ssl/crypto for static libpq on macOS and Windows).
IMAGING_EXTRAS = {
    "dep:generic/libpng",
    "dep:generic/libtiff",
    "dep:generic/libwebp",
    "dep:generic/freetype",
    "dep:generic/lcms2",
    "dep:generic/openjpeg",
    "dep:generic/libimagequant",
    "dep:generic/libraqm",
    "dep:generic/harfbuzz",
    "dep:generic/fribidi",
    "dep:generic/libavif",
    "dep:generic/libxcb",
    "dep:generic/bzip2",
    "dep:generic/brotli",
    "dep:generic/xz",
}
EXPECTED_SDISTS: dict[str, tuple[set[str], set[str]]] = {
    # qhull_r: asked for only when the use-system-libraries option selects it (the default
    # builds the bundled subproject): bundled, see test_real_sdist_new_scanners
    # zlib: optional in the bundled HiGHS subproject (required: get_option('use_zlib'))
    "scipy": (
        {C, CXX, FORTRAN, PKG_CONFIG, OPENBLAS},
        {BLAS, LAPACK, "dep:generic/qhull", "dep:generic/zlib"},
    ),
    "pillow": ({C, "dep:generic/zlib", "dep:generic/libjpeg"}, {CXX, PKG_CONFIG, *IMAGING_EXTRAS}),
    "lxml": (
        {C, "dep:generic/libxml2", "dep:generic/libxslt"},
        {PKG_CONFIG, "dep:generic/zlib", "dep:generic/libiconv"},
    ),
    "cryptography": ({C, RUST, "dep:generic/openssl"}, {PKG_CONFIG, "dep:generic/libffi"}),
    "h5py": ({C, "dep:generic/hdf5"}, {PKG_CONFIG, "dep:virtual/interface/mpi"}),
    "pyproj": ({C, "dep:generic/proj"}, {PKG_CONFIG}),
    "shapely": ({C, "dep:generic/geos"}, {PKG_CONFIG}),
    "pyzmq": ({C, CXX, "dep:generic/libzmq"}, {PKG_CONFIG, "dep:generic/libsodium"}),
    "psycopg2": ({C, "dep:generic/libpq"}, {"dep:generic/openssl"}),
    # setup.py's lib('libsystemd', ...) -> pkgconfig(name) -> pkg-config --libs
    "systemd-python": ({C, PKG_CONFIG, "dep:generic/libsystemd"}, set()),
    # libraries under platform branches: libiconv on Windows (MinGW) only
    "pymssql": ({C, "dep:generic/freetds"}, {"dep:generic/libiconv", "dep:generic/openssl"}),
    # krb5-config --libs gssapi
    "gssapi": ({C, "dep:generic/krb5"}, set()),
    # src/_argon2_cffi_bindings/_ffi_build.py, a cffi builder setup.py does not import
    "argon2-cffi-bindings": ({C, "dep:generic/argon2"}, set()),
    # pcsc-lite through pkg-config everywhere but Windows and macOS; swig for smartcard/scard/*.i
    "pyscard": ({C, "dep:generic/pcsc-lite", "dep:generic/swig"}, {PKG_CONFIG}),
    # curl and jpeg only when the user points CURL_DIR/JPEG_DIR (or setup.cfg) at them; zlib in
    # the branch taken without nc-config
    "netcdf4": (
        {C, "dep:generic/netcdf", "dep:generic/hdf5"},
        {PKG_CONFIG, "dep:generic/zlib", "dep:generic/libcurl", "dep:generic/libjpeg"},
    ),
    # zlib: one of the tracing libraries' dep_libs, probed in a loop (check_library)
    "mpi4py": ({C, "dep:virtual/interface/mpi"}, {"dep:generic/swig", "dep:generic/zlib"}),
    # libyara bundled (yara/libyara, built unless --dynamic-linking); OpenSSL probed
    "yara-python": ({C}, {"dep:generic/openssl"}),
    # setup.cfg's [_ldap] defines = HAVE_SASL HAVE_TLS: Modules/LDAPObject.c includes sasl/sasl.h
    "python-ldap": ({C, "dep:generic/openldap", "dep:generic/cyrus-sasl"}, set()),
}


@pytest.fixture(scope="module")
def sdist_inferences() -> dict[str, Inference]:
    return {entry.name: infer_from_tree(read_sdist(ensure_sdist(entry))) for entry in sdists()}


def test_every_pinned_sdist_has_expectations() -> None:
    assert {entry.name for entry in sdists()} == set(EXPECTED_SDISTS)


@pytest.mark.corpus
@pytest.mark.parametrize("project", sorted(EXPECTED_SDISTS))
def test_real_sdist(project: str, sdist_inferences: dict[str, Inference]) -> None:
    result = sdist_inferences[project]
    required, allowed = EXPECTED_SDISTS[project]
    found = {p.id for p in result.proposals if not p.bundled}  # bundled: see below
    assert required <= found, f"missing {sorted(required - found)}"
    assert found <= required | allowed, f"unexpected {sorted(found - required - allowed)}"
    toml = tomllib.loads(to_toml(result))["external"]
    assert set(toml) <= {
        "build-requires",
        "host-requires",
        "optional-build-requires",
        "optional-host-requires",
    }


@pytest.mark.corpus
def test_real_sdist_details(sdist_inferences: dict[str, Inference]) -> None:
    scipy = sdist_inferences["scipy"]
    fortran = scipy.get(FORTRAN)
    assert fortran is not None
    assert fortran.evidence[0] == "meson.build:88 add_languages('fortran', native: false)"
    assert {f.name for f in scipy.unmapped} >= {"boost"}
    shapely = sdist_inferences["shapely"].get("dep:generic/geos")
    assert shapely is not None
    assert shapely.url == "dep:generic/geos@>=3.10"
    assert any("FetchContent_Declare(bundled_libzmq" in n for n in sdist_inferences["pyzmq"].notes)
    assert all(p.category == "build" for p in sdist_inferences["cryptography"].proposals if p.id == RUST)


@pytest.mark.corpus
def test_real_sdist_new_scanners(sdist_inferences: dict[str, Inference]) -> None:
    linux, windows = (
        {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix"},
        {
            "sys_platform": "win32",
            "platform_system": "Windows",
            "os_name": "nt",
        },
    )
    iconv = sdist_inferences["pymssql"].get("dep:generic/libiconv")
    assert iconv is not None and iconv.marker is not None
    assert Marker(iconv.marker).evaluate(windows) and not Marker(iconv.marker).evaluate(linux)
    pcsc = sdist_inferences["pyscard"].get("dep:generic/pcsc-lite")
    assert pcsc is not None and pcsc.marker is not None
    assert Marker(pcsc.marker).evaluate(linux) and not Marker(pcsc.marker).evaluate(windows)
    systemd = sdist_inferences["systemd-python"].get("dep:generic/libsystemd")
    assert systemd is not None and any("lib('libsystemd'" in e for e in systemd.evidence)
    bundled = {(name, p.id) for name, i in sdist_inferences.items() for p in i.proposals if p.bundled}
    assert ("h5py", "dep:generic/liblzf") in bundled  # lzf/ in the sdist, built by default
    # meson.build asks for the system's qhull_r only in the branches of an if-chain whose
    # default branch builds subproject('qhull_r'): bundled, optional under the option
    assert ("scipy", "dep:generic/qhull") in bundled
    krb5 = sdist_inferences["gssapi"].get("dep:generic/krb5")
    assert krb5 is not None and any("krb5-config" in e for e in krb5.evidence)
    argon2 = sdist_inferences["argon2-cffi-bindings"].get("dep:generic/argon2")
    assert argon2 is not None and any("_ffi_build.py" in e for e in argon2.evidence)


@pytest.mark.corpus
def test_real_sdist_feature_groups(sdist_inferences: dict[str, Inference]) -> None:
    """Optional libraries are grouped under the build switch they depend on (PEP 725 names the
    groups of optional-host-requires)."""
    pillow = sdist_inferences["pillow"]
    features = {p.id: p.feature for p in pillow.proposals if p.optional and not p.bundled}
    # setup.py: if feature.want("tiff"): ... _find_library_file(self, "libtiff")
    assert features["dep:generic/libtiff"] == "tiff"
    assert features["dep:generic/openjpeg"] == "jpeg2000"
    # harfbuzz: only for the Raqm build from src/thirdparty (else-branch of want_vendor("raqm"))
    assert features["dep:generic/harfbuzz"] == "raqm"
    assert features["dep:generic/libxcb"] == "xcb"
    # webp = feature.get("webp"); if isinstance(webp, str): ... libs.append("sharpyuv") (iOS)
    assert features["dep:generic/libwebp"] == "webp"
    groups = tomllib.loads(to_toml(pillow))["external"]["optional-host-requires"]
    assert "dep:generic/libtiff" in groups["tiff"]
    # pymssql: if LINK_OPENSSL and LINK_FREETDS_STATICALLY: libraries.extend(['ssl', 'crypto'])
    openssl = sdist_inferences["pymssql"].get("dep:generic/openssl")
    assert openssl is not None and openssl.optional and openssl.feature == "link-openssl"
    # scipy: dependency('zlib', required: get_option('use_zlib')) in the HiGHS subproject
    zlib = sdist_inferences["scipy"].get("dep:generic/zlib")
    assert zlib is not None and zlib.optional and zlib.feature == "use-zlib"


@pytest.mark.corpus
def test_real_sdist_required_features(sdist_inferences: dict[str, Inference]) -> None:
    """Pillow looks for jpeg and zlib under ``feature.want(...)`` like its optional codecs, but
    ``required = {"jpeg", "zlib"}`` and ``if not feature.get(f) and feature.require(f): raise
    RequiredDependencyException(f)`` make them required unless turned off (``--disable-jpeg``)."""
    pillow = sdist_inferences["pillow"]
    for url, switch in (("dep:generic/libjpeg", "--disable-jpeg"), ("dep:generic/zlib", "--disable-zlib")):
        proposal = pillow.get(url)
        assert proposal is not None, url
        assert not proposal.optional and proposal.default is None and proposal.marker is None
        assert "required by default: setup.py:327 required" in proposal.evidence[0]
        assert proposal.evidence[0].endswith(f"; off with {switch}]")
    toml = tomllib.loads(to_toml(pillow))["external"]
    assert {"dep:generic/libjpeg", "dep:generic/zlib"} <= set(toml["host-requires"])
    optional = {p.id for p in pillow.proposals if p.optional and not p.bundled}
    assert optional >= {f"dep:generic/{n}" for n in ("libtiff", "freetype", "lcms2", "openjpeg", "libavif")}
    # no other pinned sdist has such a collection: nothing else turns required this way
    assert not [
        (name, e)
        for name, inference in sdist_inferences.items()
        if name != "pillow"
        for p in inference.proposals
        for e in p.evidence
        if "[required by default:" in e
    ]


@pytest.mark.corpus
def test_real_sdist_defaults(sdist_inferences: dict[str, Inference]) -> None:
    """Optional libraries say what a default build does: ``on-if-found`` (probed, used when
    present) or ``off`` (asked for only when the user turns a switch on)."""

    def default(project: str, url: str) -> str | None:
        proposal = sdist_inferences[project].get(url)
        assert proposal is not None, url
        return proposal.default

    # Pillow: harfbuzz and fribidi only for the Raqm build from src/thirdparty, in the else of
    # `if not feature.want_vendor("raqm")` (want_vendor: `feat in self.vendor`, vendor = set())
    assert default("pillow", "dep:generic/harfbuzz") == "off"
    assert default("pillow", "dep:generic/fribidi") == "off"
    for url in ("libtiff", "libxcb", "openjpeg", "lcms2", "freetype", "libavif", "libimagequant"):
        assert default("pillow", f"dep:generic/{url}") == "on-if-found"  # feature.want("x")
    harfbuzz = sdist_inferences["pillow"].get("dep:generic/harfbuzz")
    assert harfbuzz is not None
    assert any("[a branch off by default: feature.want_vendor('raqm')]" in e for e in harfbuzz.evidence)
    # netCDF4: `if jpeg_incdir is not None and jpeg_libdir is not None:`, both from
    # os.environ.get('JPEG_...') with no default, or from setup.cfg keys the sdist leaves empty
    assert default("netcdf4", "dep:generic/libjpeg") == "off"
    assert default("netcdf4", "dep:generic/libcurl") == "off"
    assert default("netcdf4", "dep:generic/netcdf") is None  # required
    # pymssql: LINK_OPENSSL = check_env('LINK_OPENSSL', 'YES'): not decided, so on when found
    assert default("pymssql", "dep:generic/openssl") == "on-if-found"
    # yara-python: libyara linked only with --dynamic-linking (self.dynamic_linking = None);
    # the has_function('MD5_Init', libraries=['crypto']) probe in the default branch
    assert default("yara-python", "dep:generic/yara") == "off"
    assert default("yara-python", "dep:generic/openssl") == "on-if-found"
    # h5py: `if setup_configure.mpi_enabled():` (HDF5_MPI == "ON") asks for mpi4py; the
    # Windows MS-MPI branch reads config.msmpi (another module's object): not decided
    mpi = sdist_inferences["h5py"].get("dep:virtual/interface/mpi")
    assert mpi is not None and mpi.optional
    assert any("[a branch off by default: setup_configure.mpi_enabled()]" in e for e in mpi.evidence)
    # mpi4py: dep_libs = ('dl', 'z', 'otf',) walked by `for libname in dep_libs:` with
    # `if config_cmd.check_library(libname, ...)` (the tracing libraries' dependencies)
    assert default("mpi4py", "dep:generic/zlib") == "on-if-found"
    assert default("mpi4py", "dep:virtual/interface/mpi") is None


MESON_BRANCH_CASES = [
    pytest.param(
        "if host_machine.system() == 'windows'\n  d = dependency('zlib')\nendif\n",
        {"options": {}},
        ("zlib", False, None, "sys_platform == 'win32'"),
        id="host-machine-windows",
    ),
    pytest.param(
        "if host_machine.system() == 'darwin'\n  d = dependency('x')\n"
        "else\n  d = dependency('zlib')\nendif\n",
        {"options": {}},
        ("zlib", False, None, "sys_platform != 'darwin'"),
        id="host-machine-else",
    ),
    pytest.param(
        "if not (host_machine.system() == 'windows')\n  d = dependency('zlib')\nendif\n",
        {"options": {}},
        ("zlib", False, None, None),
        id="parenthesized-test-unknown",
    ),
    pytest.param(
        "sys_libs = get_option('use-system-libraries')\n"
        "if sys_libs.contains('qhull')\n  q = dependency('qhull_r')\n"
        "else\n  q = subproject('qhull_r')\nendif\n",
        {"options": {"use-system-libraries": "none"}},
        ("qhull_r", True, "use-system-libraries", None),
        id="subproject-fallback",
    ),
    pytest.param(
        "if host_machine.system() == 'windows'\n  z = subproject('zlib')\n"
        "else\n  z = dependency('zlib')\nendif\n",
        {"options": {}},
        ("zlib", False, None, "sys_platform != 'win32'"),
        id="platform-subproject-is-not-a-switch",
    ),
    pytest.param(
        "if get_option('fftw')\n  d = dependency('fftw3')\nendif\n",
        {"options": {"fftw": "false"}},
        ("fftw3", True, "fftw", None),
        id="option-off-by-default",
    ),
    pytest.param(
        "if get_option('fftw')\n  d = dependency('fftw3')\nendif\n",
        {"options": {"fftw": "true"}},
        ("fftw3", False, None, None),
        id="option-on-by-default",
    ),
    pytest.param(
        "d = dependency('x11', required: get_option('gui'))\n",
        {"options": {}},
        ("x11", True, "gui", None),
        id="required-option",
    ),
]


@pytest.mark.parametrize(("text", "kwargs", "expected"), MESON_BRANCH_CASES)
def test_meson_branches(text: str, kwargs: dict[str, dict[str, str]], expected: tuple[object, ...]) -> None:
    found = [f for f in scan_meson("meson.build", text, kwargs["options"]) if f.name == expected[0]]
    assert [(f.name, f.optional, f.feature, f.marker) for f in found] == [expected]


MESON_ELIF_CASES = [
    pytest.param(
        "if host_machine.system() == 'windows'\n  d = dependency('x')\n"
        "elif host_machine.system() == 'darwin'\n  d = dependency('zlib')\nendif\n",
        "(sys_platform != 'win32') and (sys_platform == 'darwin')",
        id="elif-platform",
    ),
    pytest.param(
        "if host_machine.system() == 'windows'\n  d = dependency('x')\n"
        "elif host_machine.system() == 'darwin'\n  d = dependency('y')\n"
        "else\n  d = dependency('zlib')\nendif\n",
        "(sys_platform != 'win32') and (sys_platform != 'darwin')",
        id="else-after-two-platforms",
    ),
    pytest.param(
        "if host_machine.system() == 'windows'\n  d = dependency('x')\n"
        "elif get_option('z')\n  d = dependency('zlib')\nendif\n",
        "sys_platform != 'win32'",
        id="elif-option-after-platform",
    ),
]


@pytest.mark.parametrize(("text", "marker"), MESON_ELIF_CASES)
def test_meson_elif_and_else_markers(text: str, marker: str) -> None:
    [zlib] = [f for f in scan_meson("meson.build", text, {"z": "true"}) if f.name == "zlib"]
    assert zlib.marker == marker


@pytest.mark.parametrize(
    ("text", "options", "off"),
    [
        pytest.param(
            "if get_option('fftw')\n  d = dependency('fftw3')\nendif\n", {"fftw": "false"}, True, id="if-off"
        ),
        pytest.param(
            "d = dependency('fftw3', required: get_option('fftw'))\n",
            {"fftw": "disabled"},
            True,
            id="required-disabled",
        ),
        pytest.param(
            "d = dependency('fftw3', required: get_option('fftw'))\n",
            {"fftw": "auto"},
            False,
            id="required-auto",
        ),
        pytest.param("d = dependency('fftw3', required: false)\n", {}, False, id="required-false"),
        pytest.param(
            "s = get_option('use-system')\nif s\n  d = dependency('fftw3')\n"
            "else\n  d = subproject('fftw3')\nendif\n",
            {"use-system": "none"},
            True,
            id="fallback-system-branch",
        ),
    ],
)
def test_meson_off_by_default(text: str, options: dict[str, str], off: bool) -> None:
    [fftw] = [f for f in scan_meson("meson.build", text, options) if f.name == "fftw3"]
    assert fftw.optional and fftw.off_by_default is off


@pytest.mark.parametrize("value", ["enabled", "true"])
def test_meson_required_by_an_option_on_by_default(value: str) -> None:
    text = "d = dependency('fftw3', required: get_option('fftw'))\n"
    [fftw] = scan_meson("meson.build", text, {"fftw": value})
    assert not fftw.optional and not fftw.off_by_default and fftw.feature is None


def test_meson_subproject_fallback_is_bundled() -> None:
    """The system library in a fallback chain is optional; the subproject's sources make the
    proposal bundled (not a host requirement)."""
    files = {
        "meson.build": "project('p', 'c')\nif get_option('system-qhull')\n  q = dependency('qhull_r')\n"
        "else\n  q = subproject('qhull_r')\nendif\n",
        "meson.options": "option('system-qhull', type: 'boolean', value: false)\n",
        "subprojects/qhull_r/meson.build": "project('qhull_r', 'c')\n",
        "subprojects/qhull_r/src/qhull.c": "",
    }
    tree = SourceTree.from_files(files)
    qhull = infer_from_tree(tree).get("dep:generic/qhull")
    assert qhull is not None and qhull.bundled and qhull.feature == "system-qhull"


CMAKE_PLATFORM_CASES = [
    pytest.param(
        "if(WIN32)\n  find_package(ZLIB REQUIRED)\nendif()\n", "sys_platform == 'win32'", id="win32"
    ),
    pytest.param(
        "if(NOT APPLE)\n  find_package(ZLIB REQUIRED)\nendif()\n", "sys_platform != 'darwin'", id="not-apple"
    ),
    pytest.param(
        "if(MSVC)\nelse()\n  find_package(ZLIB REQUIRED)\nendif()\n",
        "sys_platform != 'win32'",
        id="else-msvc",
    ),
    pytest.param(
        'if(CMAKE_SYSTEM_NAME STREQUAL "Linux")\n  find_package(ZLIB REQUIRED)\nendif()\n',
        "sys_platform == 'linux'",
        id="system-name",
    ),
    pytest.param(
        "if(WIN32)\nelseif(APPLE)\n  find_package(ZLIB REQUIRED)\nendif()\n",
        "(sys_platform != 'win32') and (sys_platform == 'darwin')",
        id="elseif",
    ),
    pytest.param(
        "if(WIN32)\nelseif(APPLE)\nelse()\n  find_package(ZLIB REQUIRED)\nendif()\n",
        "(sys_platform != 'win32') and (sys_platform != 'darwin')",
        id="else-after-elseif",
    ),
    pytest.param(
        "if(WIN32)\nelseif(WITH_Z)\n  find_package(ZLIB REQUIRED)\nendif()\n",
        "sys_platform != 'win32'",
        id="elseif-option-after-platform",
    ),
    pytest.param("if(UNIX)\n  find_package(ZLIB REQUIRED)\nendif()\n", "os_name == 'posix'", id="unix"),
    pytest.param(
        "if(UNIX)\nelse()\n  find_package(ZLIB REQUIRED)\nendif()\n", "os_name != 'posix'", id="else-unix"
    ),
]


@pytest.mark.parametrize(("text", "marker"), CMAKE_PLATFORM_CASES)
def test_cmake_platform_branches(text: str, marker: str | None) -> None:
    found, _ = scan_cmake("CMakeLists.txt", text)
    assert [(f.name, f.marker) for f in found] == [("ZLIB", marker)]


def test_cmake_option_feature() -> None:
    text = 'option(WITH_SSL "ssl" OFF)\nif(WITH_SSL)\n  find_package(OpenSSL REQUIRED)\nendif()\n'
    found, _ = scan_cmake("CMakeLists.txt", text)
    assert [(f.name, f.optional, f.feature) for f in found] == [("OpenSSL", True, "WITH_SSL")]
    tree = SourceTree.from_files({"CMakeLists.txt": text})
    groups = tomllib.loads(to_toml(infer_from_tree(tree)))["external"]["optional-host-requires"]
    assert groups == {"with-ssl": ["dep:generic/openssl"]}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            'option(WITH_SSL "ssl" OFF)\nif(WITH_SSL)\n  find_package(OpenSSL REQUIRED)\nendif()\n',
            (True, True, "WITH_SSL"),
            id="if-option-off",
        ),
        pytest.param(
            'option(WITH_SSL "ssl" ON)\nif(WITH_SSL)\n  find_package(OpenSSL REQUIRED)\nendif()\n',
            (False, False, None),
            id="if-option-on",
        ),
        pytest.param(
            'option(BUNDLED "b" ON)\nif(BUNDLED)\n  add_subdirectory(x)\n'
            "else()\n  find_package(OpenSSL REQUIRED)\nendif()\n",
            (True, True, "BUNDLED"),
            id="else-of-option-on",
        ),
        pytest.param(
            'option(A "a" OFF)\noption(B "b" ON)\nif(A)\nelseif(B)\n'
            "else()\n  find_package(OpenSSL REQUIRED)\nendif()\n",
            (True, True, "B"),
            id="else-after-elseif-on",
        ),
        pytest.param(
            'option(A "a" OFF)\noption(B "b" OFF)\nif(A)\n'
            "elseif(B)\n  find_package(OpenSSL REQUIRED)\nendif()\n",
            (True, True, "B"),
            id="elseif-option-off",
        ),
        pytest.param(
            'option(A "a" OFF)\noption(B "b" OFF)\nif(A)\nelseif(B)\n'
            "else()\n  find_package(OpenSSL REQUIRED)\nendif()\n",
            (False, False, None),
            id="else-after-options-off",
        ),
        pytest.param(
            "find_package(OpenSSL)\nif(OpenSSL_FOUND)\nendif()\n", (True, False, None), id="found-test"
        ),
    ],
)
def test_cmake_off_by_default(text: str, expected: tuple[bool, bool, str | None]) -> None:
    [ssl] = [f for f in scan_cmake("CMakeLists.txt", text)[0] if f.name == "OpenSSL"]
    assert (ssl.optional, ssl.off_by_default, ssl.feature) == expected


SETUP_SWITCH_CASES = [
    pytest.param(
        "LINK_SSL = os.environ.get('LINK_SSL') == '1'\nlibraries = []\nif LINK_SSL:\n"
        "    libraries.append('ssl')\nsetup(ext_modules=[Extension('m', ['m.c'], libraries=libraries)])\n",
        ("ssl", True, "LINK_SSL"),
        id="constant-switch",
    ),
    pytest.param(
        "libraries = []\nif has_function('MD5_Init', libraries=['crypto']):\n"
        "    libraries.append('crypto')\nsetup(ext_modules=[Extension('m', ['m.c'], libraries=libraries)])\n",
        ("crypto", True, "crypto"),
        id="probe",
    ),
    pytest.param(
        "libraries = []\nif feature.want('raqm'):\n    if hb_dir:\n        libraries.append('harfbuzz')\n"
        "setup(ext_modules=[Extension('m', ['m.c'], libraries=libraries)])\n",
        ("harfbuzz", True, "raqm"),
        id="nested-in-want",
    ),
    pytest.param(
        "libraries = []\nif found:\n    libraries.append('ssl')\n"
        "setup(ext_modules=[Extension('m', ['m.c'], libraries=libraries)])\n",
        ("ssl", False, None),
        id="plain-variable-not-a-switch",
    ),
]


@pytest.mark.parametrize(("text", "expected"), SETUP_SWITCH_CASES)
def test_setup_py_switches(text: str, expected: tuple[object, ...]) -> None:
    tree = SourceTree.from_files({"setup.py": "import os\nfrom setuptools import setup, Extension\n" + text})
    found = [f for f in infer_from_tree(tree).findings if f.name == expected[0] and f.kind == "library"]
    assert found and {(f.name, f.optional, f.feature) for f in found} == {expected}


PLATFORM_CASES = [
    pytest.param(
        "import sys\nif sys.platform == 'win32':\n    libraries = ['msmpi']\n",
        "sys_platform == 'win32'",
        id="sys-platform",
    ),
    pytest.param(
        "import os\nif os.name == 'nt':\n    pass\nelse:\n    libraries = ['mpi']\n",
        "os_name != 'nt'",
        id="os-name-else",
    ),
    pytest.param(
        "import platform\nWIN = platform.system() == 'Windows'\nif not WIN:\n    libraries = ['mpi']\n",
        "platform_system != 'Windows'",
        id="module-level-name",
    ),
    pytest.param(
        "import sys\nif sys.platform.startswith('win'):\n    libraries = ['msmpi']\n",
        "sys_platform == 'win32'",
        id="startswith",
    ),
    pytest.param(
        "class B:\n    def finalize_darwin(self):\n        self.libraries.append('mpi')\n",
        "sys_platform == 'darwin'",
        id="platform-method",
    ),
    pytest.param(
        "if self.compiler_is_msvc():\n    libraries = ['msmpi']\n",
        "sys_platform == 'win32'",
        id="msvc",
    ),
    pytest.param("if use_mpi:\n    libraries = ['mpi']\n", None, id="not-a-platform-test"),
]


@pytest.mark.parametrize(("text", "marker"), PLATFORM_CASES)
def test_setup_py_platform_branches_give_markers(text: str, marker: str | None) -> None:
    result = infer({"setup.py": text})
    (proposal,) = [p for p in result.proposals if p.id == "dep:virtual/interface/mpi"]
    assert proposal.marker == marker
    if marker is not None:
        assert proposal.specifier == f"dep:virtual/interface/mpi; {marker}"
        toml = tomllib.loads(to_toml(result))["external"]
        assert toml["host-requires"] == [f"dep:virtual/interface/mpi; {marker}"]


def test_marker_and_its_negation_make_an_unconditional_proposal() -> None:
    text = "import sys\nif sys.platform == 'win32':\n    libraries = ['z']\nelse:\n    libraries = ['z']\n"
    assert infer({"setup.py": text}).get("dep:generic/zlib").marker is None  # type: ignore[union-attr]


def test_libraries_from_a_helper_function_and_pkg_config_wrappers() -> None:
    text = (
        "def _libs(platform):\n    if platform == 'win32':\n        return ['libssl']\n"
        "    return ['ssl', 'crypto']\n\n"
        "def pc(name):\n    return call('pkg-config', '--libs', name)\n\n"
        "def lib(*names):\n    return [pc(n) for n in names]\n\n"
        "ffi.set_source('x', '', libraries=_libs(sys.platform))\n"
        "Extension('y', **lib('libsystemd'))\n"
    )
    assert infer({"setup.py": text}).ids("host") == {"dep:generic/openssl", "dep:generic/libsystemd"}


def test_build_helpers_are_read_even_if_not_imported() -> None:
    files = {
        "setup.py": "from setuptools import setup\nsetup(cffi_modules=['src/_cffi_src/build_x.py:ffi'])\n",
        "src/_cffi_src/build_x.py": "ffi.set_source('x', '', libraries=['sodium'])\n",
        "tests/build_fake.py": "ffi.set_source('x', '', libraries=['png'])\n",
    }
    assert infer(files).ids("host") == {"dep:generic/libsodium"}


BUNDLED_CASES = [
    pytest.param("src/libsodium/crypto.c", {"dep:generic/libsodium"}, id="src-libsodium"),
    pytest.param("vendor/libuv/src/unix/core.c", {"dep:generic/libuv"}, id="vendor-libuv"),
    pytest.param("internal-complibs/lz4-1.9.3/lz4.c", {"dep:generic/lz4"}, id="versioned"),
    pytest.param("lzf/lzf_c.c", {"dep:generic/liblzf"}, id="top-level"),
    pytest.param("lz4/block/_block.c", set(), id="python-package-of-that-name"),
    pytest.param("docs/libuv/x.c", set(), id="not-a-vendor-folder"),
    pytest.param("lz4/c-blosc/blosc.c", {"dep:generic/blosc"}, id="inside-a-python-package"),
]


@pytest.mark.parametrize(("path", "expected"), BUNDLED_CASES)
def test_bundled_sources_are_not_host_requirements(path: str, expected: set[str]) -> None:
    files = {"setup.py": "# SODIUM_INSTALL=system uses the system's copy\n"}
    paths = (path, "lz4/__init__.py")
    result = infer(files, paths)
    bundled = {p.id for p in result.proposals if p.bundled}
    assert bundled == expected
    toml = to_toml(result)
    assert "host-requires" not in tomllib.loads(toml)["external"]
    if expected:
        assert "# Bundled in the sdist" in toml
        assert any("SODIUM_INSTALL" in n for n in result.notes)


def test_bundled_and_asked_for_is_a_host_requirement() -> None:
    files = {"setup.py": "Extension('x', [], libraries=['uv'])\n"}
    result = infer(files, ("vendor/libuv/uv.c",))
    libuv = result.get("dep:generic/libuv")
    assert libuv is not None and not libuv.bundled


def test_meson_option_defaults_resolve_dependency_names() -> None:
    files = {
        "meson.build": (
            "project('x', 'c')\nblas_name = get_option('blas')\n"
            "blas = dependency(blas_name)\nlapack = dependency(get_option('lapack'))\n"
        ),
        "meson.options": (
            "option('blas', type: 'string', value: 'openblas')\n"
            "option('lapack', type: 'combo', choices: ['a'], value: 'flexiblas')\n"
        ),
    }
    assert infer(files).ids("host") == {"dep:generic/openblas", "dep:virtual/interface/blas"}


@pytest.mark.parametrize(
    "constant",
    ["GEOS_MIN_VERSION = '3.10'", "MIN_GEOS_VERSION = Version('3.10')", 'GEOS_MINIMUM_VERSION = "3.10"'],
)
def test_min_version_constants_become_version_constraints(constant: str) -> None:
    text = f"{constant}\nExtension('x', [], libraries=['geos_c'])\n"
    assert infer({"setup.py": text}).get("dep:generic/geos").url == "dep:generic/geos@>=3.10"  # type: ignore[union-attr]


def test_library_list_items_that_are_variables_bound_to_strings() -> None:
    text = (
        "if os.name == 'nt':\n    libname = 'librdkafka'\nelse:\n    libname = 'rdkafka'\n"
        "Extension('cimpl', [], libraries=[libname])\n"
    )
    assert infer({"setup.py": text}).ids("host") == {"dep:generic/librdkafka"}


def test_meson_subprojects_the_build_calls_are_read() -> None:
    files = {
        "meson.build": "project('x', 'c')\ngmain = subproject('dbus-gmain')\n",
        "subprojects/dbus-gmain/meson.build": "project('g', 'c')\ndependency('glib-2.0')\n",
        "subprojects/dbus-gmain/tests/meson.build": "dependency('dbus-1')\n",
        "subprojects/unused/meson.build": "dependency('libpng')\n",
    }
    assert infer(files).ids("host") == {"dep:generic/glib"}


def test_setup_cfg_feature_macros_of_known_libraries() -> None:
    cfg = "[_ldap]\ndefines = HAVE_SASL HAVE_TLS\n[other]\ndefine = PSYCOPG_DEBUG HAVE_ZLIB\n"
    result = infer({"setup.cfg": cfg})
    assert result.ids("host") == {"dep:generic/cyrus-sasl", "dep:generic/zlib"}
    sasl = result.get("dep:generic/cyrus-sasl")
    assert sasl is not None and not sasl.optional
    assert sasl.evidence == ("setup.cfg:2 defines = HAVE_SASL HAVE_TLS (code built with HAVE_SASL)",)
    assert result.unmapped == ()  # HAVE_TLS names no library: not reported


def test_autoconf_pkg_check_modules_and_check_lib() -> None:
    text = (
        "dnl PKG_CHECK_MODULES([X], [ignored])\n"
        "PKG_CHECK_MODULES(DBUS, [dbus-1 >= 1.8])\n"
        "PKG_CHECK_MODULES([GLIB], [glib-2.0 >= 2.40 gobject-2.0], [], [have_glib=no])\n"
        "AC_CHECK_LIB([z], [inflate])\n"
    )
    result = infer({"configure.ac": text})
    assert result.get("dep:generic/dbus").url == "dep:generic/dbus@>=1.8"  # type: ignore[union-attr]
    assert result.get("dep:generic/glib").optional  # type: ignore[union-attr]
    assert result.ids("host") == {"dep:generic/dbus", "dep:generic/glib", "dep:generic/zlib"}


def test_numpy_distutils_get_info_and_own_libraries() -> None:
    files = {
        "setup.py": "from numpy.distutils.core import setup\n",
        "pkg/linalg/setup.py": (
            "def configuration(parent_package='', top_path=None):\n"
            "    config.add_library('quadpack', sources=['q.f'])\n"
            "    lapack = get_info('lapack_opt')\n"
            "    config.add_extension('_x', libraries=['quadpack'], extra_info=lapack)\n"
        ),
    }
    result = infer(files)
    assert result.ids("host") == {"dep:virtual/interface/lapack"}
    assert not result.unmapped


CMAKE_BRANCH_TEXT = """\
option(PREFER_EXTERNAL_LZ4 "use the system's lz4" OFF)
option(WITH_ZLIB "zlib support" ON)
if(PREFER_EXTERNAL_LZ4)
  find_package(LZ4)
else()
  find_package(Threads REQUIRED)
endif()
if(NOT WITH_ZLIB)
  find_package(PNG REQUIRED)
endif()
find_package(Snappy)
if(SNAPPY_FOUND)
endif()
find_package(ZLIB REQUIRED)
"""


def test_cmake_option_defaults_and_found_tests_make_finds_optional() -> None:
    found = {f.name: f.optional for f in scan_cmake("CMakeLists.txt", CMAKE_BRANCH_TEXT)[0]}
    assert found == {"LZ4": True, "Threads": False, "PNG": True, "Snappy": True, "ZLIB": False}


def test_bundled_library_with_an_opt_in_system_copy_stays_bundled() -> None:
    result = infer({"CMakeLists.txt": CMAKE_BRANCH_TEXT}, ("internal-complibs/lz4-1.9.3/lz4.c",))
    lz4 = result.get("dep:generic/lz4")
    assert lz4 is not None and lz4.bundled


def test_mpi4py_means_optional_mpi_and_library_name_tables() -> None:
    text = (
        "if mpi_enabled():\n    RUN_REQUIRES.append('mpi4py >=3.0.2')\n"
        "_platdep = {'HDF5': ['hdf5'], 'LZO2': ['lzo2'], 'NOTALIB': ['x'], 'BZ2': ['bz2']}\n"
    )
    result = infer({"setup.py": text})
    mpi = result.get("dep:virtual/interface/mpi")
    assert mpi is not None and mpi.optional
    assert result.ids("host") == {
        "dep:virtual/interface/mpi",
        "dep:generic/hdf5",
        "dep:generic/lzo",
        "dep:generic/bzip2",
    }


def test_feature_switch_makes_a_library_optional_and_msmpi_is_windows_only() -> None:
    text = (
        "if config.msmpi:\n    settings['libraries'].append('msmpi')\n"
        "if use_system_libuv:\n    libraries = ['uv']\n"
        "if debug:\n    libraries = ['z']\n"
    )
    result = infer({"setup.py": text})
    mpi = result.get("dep:virtual/interface/mpi")
    assert mpi is not None and mpi.optional and mpi.marker == "sys_platform == 'win32'"
    assert result.get("dep:generic/libuv").optional  # type: ignore[union-attr]
    assert not result.get("dep:generic/zlib").optional  # type: ignore[union-attr]


def test_pkg_config_wrapper_minimum_version() -> None:
    text = (
        "def pkg_config(pkg, cflags=True, min_ver=None):\n    return run(['pkg-config', pkg])\n\n"
        "link_args = pkg_config('fuse3', cflags=False, min_ver='3.2.0')\n"
    )
    assert infer({"setup.py": text}).get("dep:generic/libfuse").url == "dep:generic/libfuse@>=3.2.0"  # type: ignore[union-attr]


def test_swig_interface_files_mean_swig_as_a_build_tool() -> None:
    result = infer({"setup.py": ""}, ("SWIG/_m2crypto.i", "tests/x.i"))
    swig = result.get("dep:generic/swig", "build")
    assert swig is not None and swig.evidence == ("SWIG/_m2crypto.i (1 SWIG interface file(s))",)


def test_has_header_of_a_known_library() -> None:
    text = "if not self.has_header(['fftw3.h'], include_dirs=x):\n    raise CompileError\n"
    assert infer({"setup.py": text}).ids("host") == {"dep:generic/fftw"}
    assert infer({"setup.py": "self.has_header(['stdint.h'])\n"}).unmapped == ()


def test_bundle_inside_a_bundle_goes_with_it() -> None:
    paths = ("vendor/c-blosc/blosc.c", "vendor/c-blosc/internal-complibs/lz4-1.9.3/lz4.c")
    result = infer({"setup.py": ""}, paths)
    assert {p.id for p in result.proposals if p.bundled} == {"dep:generic/blosc"}


def test_version_like_names_are_not_reported_unmapped() -> None:
    result = infer({"setup.py": "os.system('pkg-config --atleast-version 3.2.0 fuse3')\nx = 'pkg-config'\n"})
    assert all(f.name[:1].isalpha() for f in result.unmapped)


# --------------------------------------------------------------------------- real wheels


def _wheel_inference(name: str, family: str) -> Inference:
    (entry,) = wheels(name=name, family=family)
    return infer_from_wheel(inspect_artifact(read_wheel(ensure_wheel(entry))))


@pytest.mark.corpus
def test_wheel_scipy_manylinux() -> None:
    result = _wheel_inference("scipy", "manylinux-aarch64")
    assert result.ids("build") == {C, CXX, FORTRAN}
    assert result.ids("host") == {OPENBLAS}
    openblas = result.get(OPENBLAS)
    assert openblas is not None
    assert openblas.vendored
    assert openblas.evidence[0].startswith("scipy.libs/libscipy_openblas-")
    assert result.ids("run") == set()


@pytest.mark.corpus
@pytest.mark.parametrize("family", ["manylinux-x86_64", "macos-arm64", "win-amd64"])
def test_wheel_scikit_learn_openmp(family: str) -> None:
    result = _wheel_inference("scikit-learn", family)
    assert result.ids("host") == {OPENMP}
    assert {C, CXX} <= result.ids("build")


@pytest.mark.corpus
def test_wheel_lxml_static_note() -> None:
    result = _wheel_inference("lxml", "manylinux-x86_64")
    assert result.ids() == {C}
    assert result.notes == (
        "no vendored or external libraries: native dependencies, if any, are linked statically",
    )


def _grouped(result: Inference) -> dict[str, set[str]]:
    groups: dict[str, set[str]] = {}
    for p in result.proposals:
        key = f"optional-{p.category}" if p.optional else p.category
        groups.setdefault(key, set()).add(p.id)
    return groups


SWITCH_VALUE_SETUP = (
    'from setuptools import setup, Extension\nlibs = []\nif feature.want("jpeg2000"):\n{probe}'
    'if feature.get("jpeg2000"):\n    libs.append(feature.get("jpeg2000"))\n'
    'setup(ext_modules=[Extension("m", ["m.c"], libraries=libs)])\n'
)


@pytest.mark.parametrize(
    ("probe", "unmapped"),
    [
        pytest.param(
            '    if _find_library_file(self, "openjp2"):\n        feature.set("jpeg2000", "openjp2")\n',
            [],
            id="switch-group-mapped",
        ),
        pytest.param("    pass\n", ["jpeg2000"], id="switch-group-empty"),
    ],
)
def test_switch_value_is_not_an_unmapped_library(probe: str, unmapped: list[str]) -> None:
    """``libs.append(feature.get("jpeg2000"))`` appends what the switch found: the switch's name
    is reported as unmapped only when nothing else in its group was mapped (Pillow's jpeg2000, lcms)."""
    inference = infer_from_tree(SourceTree.from_files({"setup.py": SWITCH_VALUE_SETUP.format(probe=probe)}))
    assert [f.name for f in inference.unmapped] == unmapped
    if not unmapped:
        assert [(p.url, p.feature) for p in inference.proposals if "generic" in p.url] == [
            ("dep:generic/openjpeg", "jpeg2000")
        ]
