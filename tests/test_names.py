"""``_names``: the same answers as ``packaging`` for what it accepts, ``None`` for the rest."""

from __future__ import annotations

import pytest
from packaging.utils import canonicalize_name, parse_wheel_filename

from _corpus import load_manifest
from native_doctor._names import canonical_name, plain_wheel_name


@pytest.mark.parametrize(
    "name",
    [
        "Django",
        "oslo.concurrency",
        "a-_b",
        "A__B..c",
        "nvidia-cuda-runtime-cu12",
        "Pillow",
        "zope.interface",
        "",
    ],
)
def test_canonical_name_is_packagings(name: str) -> None:
    assert canonical_name(name) == canonicalize_name(name)


_PLAIN = [
    "demo-1.0-cp311-cp311-linux_x86_64.whl",
    "numpy-2.4.6-cp312-cp312-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
    "Pillow-10.0.0-cp311-cp311-win_amd64.whl",
    "zope.interface-6.0-py2.py3-none-any.whl",
    "six-1.16.0-py2.py3.py3-none-any.whl",  # a repeated tag counts once
    "foo_bar-0.1.0rc1.post2.dev3-py3-none-any.whl",
    "x-0-py3-none-any.whl",
]
_NOT_PLAIN = [
    "torch-2.1.0+cu121-cp311-cp311-linux_x86_64.whl",  # local version
    "foo-01.0-py3-none-any.whl",  # not normalised
    "foo-1.0-1-py3-none-any.whl",  # build tag
    "foo-1!1.0-py3-none-any.whl",  # epoch
    "Foo-1.0-PY3-none-any.whl",  # upper-case tag
    "foo-1.0-py3-none-Any.whl",
    "foo__bar-1.0-py3-none-any.whl",
    "foo-1.0.RC1-py3-none-any.whl",
    "foo-1.0-py3-none.whl",
    "foo-1.0-3py-none-any.whl",
    "foo-1.0-py3-none-any.zip",
]


def _packaging(filename: str) -> tuple[str, str, tuple[str, ...]]:
    name, version, _build, tags = parse_wheel_filename(filename)
    return str(name), str(version), tuple(sorted(str(t) for t in tags))


@pytest.mark.parametrize("filename", _PLAIN)
def test_a_plain_wheel_name_reads_as_packaging_reads_it(filename: str) -> None:
    assert plain_wheel_name(filename) == _packaging(filename)


@pytest.mark.parametrize("filename", _NOT_PLAIN)
def test_anything_else_is_left_to_packaging(filename: str) -> None:
    assert plain_wheel_name(filename) is None


def test_every_corpus_wheel_name_reads_as_packaging_reads_it() -> None:
    names = [w.filename for w in load_manifest()]
    plain = [n for n in names if plain_wheel_name(n) is not None]
    assert len(plain) > len(names) * 0.9  # the fast path is the common one
    for filename in plain:
        assert plain_wheel_name(filename) == _packaging(filename), filename
