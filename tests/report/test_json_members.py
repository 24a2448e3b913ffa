"""A JSON report encoded member by member (in another process) is the text ``dumps`` writes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from native_doctor.report.json_report import dumps, element, join_members, list_member, member

_NESTED: dict[str, Any] = {
    "schema_version": 1,
    "tool": {"name": "native-doctor", "version": "0.1.0"},
    "environment": {"empty_list": [], "empty_map": {}, "deep": [[1, [2, {"x": None}]], {"y": [True, 1.5]}]},
    "artifacts": [{"path": 'a\nb\t"c"\\', "unicode": "caf\u00e9 \u2603 \U0001f600", "size": 10**20}],
    "findings": [],
}


@pytest.mark.parametrize(
    "doc",
    [
        _NESTED,
        {"only": "one"},
        {"findings": [{"message": "line one\nline two", "locations": ["x"]}]},
        {"a": [], "b": {}, "c": ""},
    ],
    ids=["report-like", "one-member", "line-breaks-in-strings", "empty-values"],
)
def test_members_joined_are_dumps(doc: dict[str, Any]) -> None:
    assert join_members([member(key, value) for key, value in doc.items()]) == dumps(doc)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(), _JSON, min_size=1, max_size=5))
def test_any_document_joins_to_dumps(doc: dict[str, Any]) -> None:
    assert join_members([member(key, value) for key, value in doc.items()]) == dumps(doc)


@pytest.mark.parametrize(
    "values",
    [[], [{}], [[], {"a": [1, {"b": "x\ny"}]}, "s"], _NESTED["artifacts"] * 3],
    ids=["empty", "one-empty-map", "nested", "report-like"],
)
def test_a_list_member_from_its_elements_is_the_member(values: list[Any]) -> None:
    assert list_member("artifacts", [element(v) for v in values]) == member("artifacts", values)


@given(st.text(), st.lists(_JSON, max_size=5))
def test_any_list_member_from_its_elements_is_the_member(key: str, values: list[Any]) -> None:
    assert list_member(key, [element(v) for v in values]) == member(key, values)
