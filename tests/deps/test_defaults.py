"""Branches a default build does not take (``deps/defaults.py``): synthetic setup.py files, and
the effect on inference (``Proposal.default``, the TOML flag)."""

from __future__ import annotations

import pytest

from native_doctor.deps.defaults import (
    OffBranch,
    configured_keys,
    off_branches,
    probed_loops,
    required_features,
    switch_value_branches,
)
from native_doctor.deps.infer import SourceTree, infer_from_tree, to_toml

OPTION_CLASS = (
    "class build_ext(_build_ext):\n"
    "    def initialize_options(self):\n"
    "        self.dynamic_linking = None\n"
    "        self.found = None\n"
    "    def run(self):\n"
    "        self.found = probe()\n"
)
VENDOR_CLASS = (
    "class feature:\n"
    "    vendor = set()\n"
    "    def want_vendor(self, feat):\n"
    "        return feat in self.vendor\n"
    "feature = feature()\n"
)

CASES = [
    pytest.param(
        "jpeg_dir = os.environ.get('JPEG_DIR')\nif jpeg_dir is not None:\n    libs.append('jpeg')\n",
        [(3, 3, "jpeg_dir is not None", "JPEG_DIR")],
        id="env-var-without-default",
    ),
    pytest.param(
        "jpeg_dir = os.environ.get('JPEG_DIR')\n"
        "jpeg_libdir = os.environ.get('JPEG_LIBDIR')\n"
        "if jpeg_libdir is None and jpeg_dir is not None:\n    jpeg_libdir = os.path.join(jpeg_dir, 'lib')\n"
        "if jpeg_libdir is not None:\n    libs.append('jpeg')\n",
        [
            (4, 4, "jpeg_libdir is None and jpeg_dir is not None", "JPEG_DIR"),
            (6, 6, "jpeg_libdir is not None", "JPEG_LIBDIR"),
        ],
        id="derived-from-unset-names",
    ),
    pytest.param(
        "d = os.environ.get('D')\nif not d:\n    d = find()\nif d:\n    libs.append('jpeg')\n",
        [],
        id="bound-to-something-else",
    ),
    pytest.param(
        "if os.environ.get('HDF5_MPI') == 'ON':\n    libs.append('mpi')\nelse:\n    libs.append('z')\n",
        [(2, 2, "os.environ.get('HDF5_MPI') == 'ON'", "HDF5_MPI")],
        id="inline-env-lookup",
    ),
    pytest.param(
        "if os.environ.get('SYSTEM', 'ON') == 'ON':\n    libs.append('z')\nelse:\n    libs.append('mpi')\n",
        [(4, 4, "not (os.environ.get('SYSTEM', 'ON') == 'ON')", "SYSTEM")],
        id="env-default-on-else-branch-off",
    ),
    pytest.param(
        OPTION_CLASS + "        if self.dynamic_linking:\n            libs.append('yara')\n"
        "        else:\n            libs.append('crypto')\n"
        "        if self.found:\n            libs.append('z')\n",
        [(8, 8, "self.dynamic_linking", "dynamic_linking")],
        id="command-option-off",
    ),
    pytest.param(
        VENDOR_CLASS + "if not feature.want_vendor('raqm'):\n    libs.append('raqm')\n"
        "else:\n    libs.append('harfbuzz')\n",
        [(9, 9, "feature.want_vendor('raqm')", "raqm")],
        id="membership-in-empty-collection",
    ),
    pytest.param(
        VENDOR_CLASS.replace(
            "    vendor = set()\n",
            "    vendor = set()\n    def __init__(self):\n        self.vendor.add('raqm')\n",
        )
        + "if feature.want_vendor('raqm'):\n    libs.append('harfbuzz')\n",
        [],
        id="collection-filled-unconditionally",
    ),
    pytest.param(
        "DEBUG = False\nif DEBUG:\n    libs.append('efence')\n",
        [(3, 3, "DEBUG", None)],
        id="false-constant",
    ),
    pytest.param(
        "for arg in sys.argv[1:]:\n    if arg == '--with-sasl2':\n        libs.append('sasl2')\n"
        "    elif arg.startswith('--with-zlib='):\n        dirs.append(arg[12:])\n",
        [
            (3, 3, "arg == '--with-sasl2'", "--with-sasl2"),
            (5, 5, "arg.startswith('--with-zlib=')", "--with-zlib="),
        ],
        id="command-line-flag-loop",
    ),
    pytest.param(
        "if '--with-cython' in sys.argv:\n    libs.append('x')\n"
        "if 'build' in sys.argv:\n    libs.append('y')\n",
        [(2, 2, "'--with-cython' in sys.argv", "--with-cython")],
        id="command-line-flag-in-argv",
    ),
    pytest.param("if feature.want('jpeg'):\n    libs.append('jpeg')\n", [], id="probe-is-unknown"),
    pytest.param(
        "if has_function('MD5_Init', libraries=['crypto']):\n    libs.append('crypto')\n",
        [],
        id="has-function",
    ),
    pytest.param("if (:\n", [], id="syntax-error"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_off_branches(text: str, expected: list[tuple[int, int, str, str | None]]) -> None:
    branches = off_branches(text)
    assert [(b.first, b.last, b.test, b.switch) for b in branches if b.first > 1] == expected


def test_one_line_function_of_an_imported_module() -> None:
    """h5py: ``if setup_configure.mpi_enabled():`` with ``return os.environ.get('HDF5_MPI') == "ON"``."""
    helper = "import os\ndef mpi_enabled():\n    return os.environ.get('HDF5_MPI') == \"ON\"\n"
    text = "import setup_configure\nif setup_configure.mpi_enabled():\n    RUN_REQUIRES.append('mpi4py')\n"
    assert off_branches(text, {"setup_configure": helper}) == [
        OffBranch(3, 3, "setup_configure.mpi_enabled()", "HDF5_MPI")
    ]
    assert off_branches(text) == []  # the helper unknown: nothing decided


def test_setup_cfg_keys_the_sdist_sets_are_not_unset() -> None:
    text = (
        "jpeg_dir = os.environ.get('JPEG_DIR')\n"
        "if os.path.exists('setup.cfg'):\n    jpeg_dir = config.get('directories', 'jpeg_dir')\n"
        "if jpeg_dir is not None:\n    libs.append('jpeg')\n"
    )
    assert [b.first for b in off_branches(text)] == [5]
    configured = configured_keys("[directories]\njpeg_dir = /opt/jpeg\nempty =\n")
    assert configured == {("directories", "jpeg_dir")}
    assert off_branches(text, configured=configured) == []
    assert configured_keys("not an ini file [") == frozenset()


def test_proposals_say_what_a_default_build_does() -> None:
    text = (
        "import os\n"
        "curl_dir = os.environ.get('CURL_DIR')\n"
        "libraries = ['netcdf']\n"
        "if curl_dir is not None:\n    libraries.append('curl')\n"
        "if has_function('deflate', libraries=['z']):\n    libraries.append('z')\n"
    )
    result = infer_from_tree(SourceTree.from_files({"setup.py": text}))
    curl, zlib, netcdf = (result.get(f"dep:generic/{n}") for n in ("libcurl", "zlib", "netcdf"))
    assert curl is not None and curl.optional and curl.default == "off" and curl.feature == "curl"
    assert "[a branch off by default: curl_dir is not None]" in curl.evidence[0]
    assert zlib is not None and zlib.optional and zlib.default == "on-if-found"
    assert netcdf is not None and not netcdf.optional and netcdf.default is None
    toml = to_toml(result)
    assert "off unless asked" in next(line for line in toml.splitlines() if "libcurl" in line)
    assert "off unless asked" not in next(line for line in toml.splitlines() if "zlib" in line)


def test_off_and_found_evidence_together_is_on_if_found() -> None:
    text = (
        "import os\nd = os.environ.get('Z_DIR')\n"
        "if d:\n    libraries.append('z')\n"
        "if has_function('deflate'):\n    libraries.append('z')\n"
    )
    zlib = infer_from_tree(SourceTree.from_files({"setup.py": text})).get("dep:generic/zlib")
    assert zlib is not None and zlib.optional and zlib.default == "on-if-found"


LOOP_CASES = [
    pytest.param(
        "def configure(lib, config_cmd):\n"
        "    dep_libs = ('dl', 'z', 'otf',)\n"
        "    libraries = []\n"
        "    for libname in dep_libs:\n"
        "        if config_cmd.check_library(libname, lib.library_dirs, other_libraries=libraries):\n"
        "            libraries.insert(0, libname)\n",
        [(2, 2, {"dl", "z", "otf"})],
        id="mpi4py-dep-libs",
    ),
    pytest.param(
        "for lib in ['ssl', 'crypto']:\n"
        "    if has_function('f', libraries=[lib]):\n        libraries.append(lib)\n",
        [(1, 1, {"ssl", "crypto"})],
        id="probe-argument-in-a-list",
    ),
    pytest.param(
        "for lib in ['ssl', 'crypto']:\n"
        "    if compiler.has_function('f', libraries=lib):\n        libraries.append(lib)\n",
        [(1, 1, {"ssl", "crypto"})],
        id="literal-iterated-directly",
    ),
    pytest.param(
        "names = ('z', 'bz2')\nfor name in names:\n    libraries.append(name)\n",
        [],
        id="no-probe",
    ),
    pytest.param(
        "names = ('z', 'bz2')\nfor name in names:\n"
        "    if config.check_lib(name):\n        libraries.append(name)\n"
        "    extra.append(name)\n",
        [],
        id="used-outside-the-probe",
    ),
    pytest.param(
        "names = (x, 'z')\nfor n in names:\n    if check_lib(n):\n        pass\n", [], id="not-all-literal"
    ),
]


@pytest.mark.parametrize(("text", "expected"), LOOP_CASES)
def test_probed_loops(text: str, expected: list[tuple[int, int, set[str]]]) -> None:
    assert [(p.first, p.last, set(p.names)) for p in probed_loops(text)] == expected


def test_probed_loop_makes_its_libraries_optional_and_on_if_found() -> None:
    text = (
        "import os\nlibraries = ['netcdf']\n"
        "dep_libs = ('z', 'bz2')\n"
        "for libname in dep_libs:\n"
        "    if config_cmd.check_library(libname):\n"
        "        libraries.insert(0, libname)\n"
    )
    result = infer_from_tree(SourceTree.from_files({"setup.py": text}))
    zlib = result.get("dep:generic/zlib")
    assert zlib is not None and zlib.optional and zlib.default == "on-if-found"
    assert "[each probed: config_cmd.check_library(libname)]" in zlib.evidence[0]
    assert not result.get("dep:generic/netcdf").optional  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(
            "ok = False\ndef f():\n    ok = probe()\n    if ok:\n        libs.append('z')\n",
            id="local-shadows-constant",
        ),
        pytest.param(
            "d = os.environ.get('D')\ndef f(d):\n    if d:\n        libs.append('z')\n",
            id="parameter-shadows-unset",
        ),
        pytest.param(
            "d = os.environ.get('D')\nd = d or '/usr'\nif d:\n    libs.append('z')\n", id="or-gives-a-default"
        ),
        pytest.param(
            "d = os.environ.get('D')\nd = os.path.join(d or '/usr', 'lib')\nif d:\n    libs.append('z')\n",
            id="default-inside-a-path",
        ),
    ],
)
def test_names_that_are_not_unset_by_default(text: str) -> None:
    assert off_branches(text) == []


def test_a_collection_filled_unconditionally_is_not_off() -> None:
    text = (
        "class B:\n    def initialize_options(self):\n        self.extra = []\n"
        "    def run(self):\n        self.extra.append('m')\n"
        "        if self.extra:\n            libs.append('z')\n"
    )
    assert off_branches(text) == []


# --------------------------------------------------------------------------- required features

#: Pillow's shape: a class-level collection of required features, a one-line membership method,
#: a branch that raises when a required feature was not found, and a per-feature opt-out.
FEATURE_CLASS = (
    "class build(build_ext):\n"
    "    class ext_feature:\n"
    "        features = ['zlib', 'jpeg', 'tiff']\n"
    "        required = {'jpeg', 'zlib'}\n"
    "        def require(self, feat):\n"
    "            return feat in self.required\n"
    "        def want(self, feat):\n"
    "            return self._settings[feat] is None\n"
    "    feature = ext_feature()\n"
    "    user_options = [(f'disable-{x}', None, '') for x in feature.features]\n"
    "    def finalize_options(self):\n"
    "        for x in self.feature.features:\n"
    "            if getattr(self, f'disable_{x}'):\n"
    "                self.feature.required.discard(x)\n"
    "    def build_extensions(self):\n"
    "        feature = self.feature\n"
    "        if feature.want('zlib'):\n"
    "            if find_library_file(self, 'z'):\n"
    "                feature.set('zlib', 'z')\n"
    "        if feature.want('jpeg'):\n"
    "            if find_library_file(self, 'jpeg'):\n"
    "                feature.set('jpeg', 'jpeg')\n"
    "        if feature.want('tiff'):\n"
    "            if find_library_file(self, 'tiff'):\n"
    "                feature.set('tiff', 'tiff')\n"
)
FAILS = "        for f in feature.features:\n            if not feature.get(f) and feature.require(f):\n"

REQUIRED_CASES = [
    pytest.param(
        FEATURE_CLASS + FAILS + "                raise RequiredDependencyException(f)\n",
        {"jpeg": "--disable-jpeg", "zlib": "--disable-zlib"},
        id="class-collection-method-raise-getattr-opt-out",
    ),
    pytest.param(
        FEATURE_CLASS + FAILS + "                if f == 'jpeg':\n                    raise A(f)\n"
        "                raise B(f)\n",
        {"jpeg": "--disable-jpeg", "zlib": "--disable-zlib"},
        id="last-statement-raises",
    ),
    pytest.param(
        "REQUIRED = ('hdf5',)\nfor lib in LIBS:\n    if lib in REQUIRED and not found(lib):\n"
        "        sys.exit('missing ' + lib)\n",
        {"hdf5": None},
        id="module-tuple-sys-exit-no-switch",
    ),
    pytest.param(
        "class C:\n    required = set(['gmp'])\n    def initialize_options(self):\n"
        "        if self.without_gmp:\n            self.required.remove('gmp')\n"
        "    def run(self):\n        for f in F:\n            if f in self.required:\n"
        "                raise E(f)\n",
        {"gmp": "--without-gmp"},
        id="set-call-option-attribute",
    ),
    pytest.param(
        FEATURE_CLASS + FAILS + "                print('missing', f)\n",
        {},
        id="a-warning-is-not-a-failure",
    ),
    pytest.param(
        FEATURE_CLASS + "        for f in feature.features:\n"
        "            if not feature.get(f) or feature.require(f):\n                raise E(f)\n",
        {},
        id="or-is-not-evidence",
    ),
    pytest.param(
        FEATURE_CLASS + "        for f in feature.features:\n"
        "            if not feature.require(f):\n                raise E(f)\n",
        {},
        id="negated-membership",
    ),
    pytest.param(
        "optional = {'tiff'}\nfor f in F:\n    if f not in optional and not found(f):\n        raise E(f)\n",
        {},
        id="not-in-an-optional-collection",
    ),
    pytest.param(FEATURE_CLASS, {}, id="collection-never-checked"),
    pytest.param(
        "required = {'a'}\nrequired = {'b'}\nif x in required:\n    raise E(x)\n",
        {},
        id="rebound-differently",
    ),
    pytest.param(
        "REQUIRED = ['a']\nREQUIRED = compute()\nif x in REQUIRED:\n    raise E(x)\n",
        {},
        id="also-bound-to-something-else",
    ),
    pytest.param("def f(:\n", {}, id="syntax-error"),
]


@pytest.mark.parametrize(("text", "expected"), REQUIRED_CASES)
def test_required_features(text: str, expected: dict[str, str | None]) -> None:
    assert {name: r.switch for name, r in required_features(text).items()} == expected


def test_required_feature_says_where() -> None:
    text = FEATURE_CLASS + FAILS + "                raise RequiredDependencyException(f)\n"
    jpeg = required_features(text)["jpeg"]
    assert (jpeg.collection, jpeg.line, jpeg.check) == ("required", 4, 27)


def test_required_features_are_host_requirements_and_the_rest_stay_optional() -> None:
    text = FEATURE_CLASS + FAILS + "                raise RequiredDependencyException(f)\n"
    result = infer_from_tree(SourceTree.from_files({"setup.py": text}))
    jpeg, zlib, tiff = (result.get(f"dep:generic/{n}") for n in ("libjpeg", "zlib", "libtiff"))
    assert jpeg is not None and zlib is not None and tiff is not None
    assert not jpeg.optional and jpeg.default is None and jpeg.feature is None
    assert not zlib.optional
    assert tiff.optional and tiff.feature == "tiff" and tiff.default == "on-if-found"
    assert jpeg.evidence[0] == (
        "setup.py:21 find_library_file(self, 'jpeg') [required by default: setup.py:4 required,"
        " missing fails the build at setup.py:27; off with --disable-jpeg]"
    )
    toml = to_toml(result)
    host = toml.split("[external.optional-host-requires]")[0]
    assert '"dep:generic/libjpeg"' in host and '"dep:generic/zlib"' in host
    assert '"dep:generic/libtiff"' not in host


def test_without_the_failing_branch_the_features_stay_optional() -> None:
    result = infer_from_tree(SourceTree.from_files({"setup.py": FEATURE_CLASS}))
    jpeg = result.get("dep:generic/libjpeg")
    assert jpeg is not None and jpeg.optional and jpeg.feature == "jpeg"


# --------------------------------------------------------------------------- switch values

SWITCH_VALUE_CASES = [
    pytest.param(
        "def build(feature):\n    webp = feature.get('webp')\n    if isinstance(webp, str):\n"
        "        libs = [webp, 'sharpyuv']\n    else:\n        remove()\n",
        [(4, 4, "webp")],
        id="isinstance-of-a-bound-switch-value",
    ),
    pytest.param(
        "x = opts.want('x')\nif x is not None:\n    libs.append('x')\nif not x:\n    pass\n",
        [(3, 3, "x"), (5, 5, "x")],
        id="module-level-is-not-none-and-not",
    ),
    pytest.param(
        "def f(feature):\n    webp = feature.get('webp')\n    webp = webp or 'webp'\n"
        "    if webp:\n        libs.append('webp')\n",
        [],
        id="rebound-to-something-else",
    ),
    pytest.param(
        "def f(webp):\n    if webp:\n        libs.append('webp')\n", [], id="a-parameter-is-not-a-switch"
    ),
    pytest.param(
        "def f(d):\n    v = d.get(key)\n    if v:\n        libs.append('z')\n", [], id="not-a-literal-feature"
    ),
    pytest.param(
        "def f(feature):\n    webp = feature.get('webp')\n    def g(webp):\n"
        "        if webp:\n            libs.append('z')\n",
        [],
        id="shadowed-in-a-nested-function",
    ),
]


@pytest.mark.parametrize(("text", "expected"), SWITCH_VALUE_CASES)
def test_switch_value_branches(text: str, expected: list[tuple[int, int, str]]) -> None:
    assert [(b.first, b.last, b.name) for b in switch_value_branches(text)] == expected


def test_a_library_under_a_switch_value_is_optional_under_that_feature() -> None:
    text = (
        "def build(feature):\n    webp = feature.get('webp')\n    if isinstance(webp, str):\n"
        "        libs = ['sharpyuv']\n    libraries = ['z']\n"
    )
    result = infer_from_tree(SourceTree.from_files({"setup.py": text}))
    webp, zlib = result.get("dep:generic/libwebp"), result.get("dep:generic/zlib")
    assert webp is not None and webp.optional and webp.feature == "webp" and webp.default == "on-if-found"
    assert zlib is not None and not zlib.optional
