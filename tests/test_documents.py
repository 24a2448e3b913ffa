"""TOML and JSON of untrusted documents: too deep a nesting is a decode error, never RecursionError."""

from __future__ import annotations

import contextlib
import json
import tomllib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from native_doctor._documents import TOO_DEEP, loads_json, loads_toml


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("x = " + "[" * 50_000 + "]" * 50_000, id="arrays"),
        pytest.param("x = " + "{a = " * 50_000 + "1" + "}" * 50_000, id="inline-tables"),
    ],
)
def test_deep_toml_is_a_decode_error(text: str) -> None:
    with pytest.raises(tomllib.TOMLDecodeError, match=TOO_DEEP):
        loads_toml(text)


def test_deep_json_is_a_decode_error() -> None:
    with pytest.raises(json.JSONDecodeError, match=TOO_DEEP):
        loads_json("[" * 100_000 + "]" * 100_000)


def test_shallow_documents_parse_as_before() -> None:
    assert loads_toml("a = [[1]]") == {"a": [[1]]}
    assert loads_json('{"a": [1]}') == {"a": [1]}


_NESTING = st.builds(
    lambda depth, inner: "x = " + "[" * depth + inner + "]" * depth, st.integers(0, 3000), st.text()
)


@given(text=st.one_of(st.text(), _NESTING))
def test_fuzz_toml_gives_a_document_or_a_decode_error(text: str) -> None:
    with contextlib.suppress(tomllib.TOMLDecodeError):
        assert isinstance(loads_toml(text), dict)
