"""Fuzz ``deps`` with hostile input: any build-file text gives an inference, and any TOML-shaped
``[external]`` table gives a table or the project's error (longer with
``--hypothesis-profile=hostile``; see docs/security.md)."""

from __future__ import annotations

from types import MappingProxyType

from hypothesis import given
from hypothesis import strategies as st

from native_doctor.deps import defaults, external, infer
from native_doctor.errors import InvalidExternalMetadata

BUILD_FILES = ["pyproject.toml", "setup.py", "setup.cfg", "meson.build", "CMakeLists.txt", "Cargo.toml"]
#: Fragments the scanners look for, so the fuzzer reaches their parsing paths quickly.
FRAGMENTS = st.sampled_from(
    [
        "dependency(",
        "find_package(",
        "pkg_check_modules(",
        "libraries=[",
        "libraries =",
        "[build-system]",
        "[dependencies]",
        "-sys",
        "'",
        '"',
        "#[[",
        "]]",
        "(",
        ")",
        "\n",
        "=",
        "\\",
        "zlib",
    ]
)
TEXT = st.lists(st.one_of(FRAGMENTS, st.text(max_size=20)), max_size=40).map("".join)


@given(name=st.sampled_from(BUILD_FILES), text=TEXT)
def test_fuzz_any_build_file_text_gives_an_inference(name: str, text: str) -> None:
    tree = infer.SourceTree("demo", MappingProxyType({name: text}), (name,))
    result = infer.infer_from_tree(tree)
    assert result is not None


_SCALARS = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["dep:generic/zlib", "dep:virtual/compiler/c", "dep:generic/--version", "pkg:generic/x"]),
    st.integers(),
    st.booleans(),
)
_TOML = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=20), inner, max_size=4),
    max_leaves=20,
)
_KEYS = st.sampled_from([*external.KEYS, "dependency-groups", "unknown"])


@given(table=st.one_of(_TOML, st.dictionaries(_KEYS, _TOML, max_size=5)))
def test_fuzz_any_external_table_parses_or_raises_the_projects_error(table: object) -> None:
    try:
        external.parse_external(table, source="pyproject.toml")
    except InvalidExternalMetadata as exc:
        assert len(str(exc)) < 5000


#: Whole top-level statements, so most combinations parse and reach the evaluator.
PY_STATEMENTS = st.sampled_from(
    [
        "import os\n",
        "d = os.environ.get('D')\n",
        "d = os.getenv('D', None)\n",
        "e = os.path.join(d, 'lib')\n",
        "d = config.get('directories', 'd')\n",
        "X = False\n",
        "if d is not None and e:\n    libraries.append('z')\nelse:\n    pass\n",
        "if not X or os.environ.get('Y') == 'ON':\n    libraries.append('jpeg')\n",
        "class C:\n    vendor = set()\n    def want(self, f):\n        return f in self.vendor\n"
        "    def initialize_options(self):\n        self.opt = None\n",
        "c = C()\n",
        "if c.want('raqm'):\n    libs = ['harfbuzz']\nelif c.opt:\n    pass\n",
        "def enabled():\n    return enabled()\n",
        "if enabled() and m.enabled():\n    libs = ['mpi']\n",
        "if (:\n",
        "class F:\n    required = {'jpeg', 'z'}\n"
        "    def require(self, f):\n        return f in self.required\n",
        "required = ['jpeg']\n",
        "for x in F:\n    if getattr(self, f'disable_{x}'):\n        c.required.discard(x)\n",
        "if c.opt:\n    c.required.remove('z')\n",
        "for f in F:\n    if not c.get(f) and c.require(f):\n        raise E(f)\n",
        "if f in required:\n    sys.exit(1)\n",
        "if c.want('jpeg'):\n    libraries.append('jpeg')\n",
        "w = c.get('webp')\n",
        "if isinstance(w, str):\n    libraries.append('sharpyuv')\n",
    ]
)


@given(
    text=st.lists(PY_STATEMENTS, max_size=12).map("".join),
    helper=st.lists(PY_STATEMENTS, max_size=4).map("".join),
)
def test_fuzz_off_branches_of_any_setup_py(text: str, helper: str) -> None:
    for branch in defaults.off_branches(text, {"m": helper}, defaults.configured_keys(helper)):
        assert 1 <= branch.first <= branch.last


@given(text=st.lists(PY_STATEMENTS, max_size=12).map("".join))
def test_fuzz_required_features_of_any_setup_py(text: str) -> None:
    for name, feature in defaults.required_features(text).items():
        assert name == feature.name and feature.line >= 1 and feature.check >= 1
        assert feature.switch is None or feature.switch.startswith("--")


@given(text=st.lists(PY_STATEMENTS, max_size=12).map("".join))
def test_fuzz_switch_value_branches_of_any_setup_py(text: str) -> None:
    for branch in defaults.switch_value_branches(text):
        assert 1 <= branch.first <= branch.last and branch.name
