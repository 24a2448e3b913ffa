"""The string-literal reader of setup.py inference (issue 15 item 3) against the reader it
replaces: one ``_STRING`` search per part of the text, which is quadratic on unclosed quotes.

The reference below is that reader, kept as the oracle: it is exact by definition and fine on the
short texts hypothesis draws. Every case compares the whole result (offsets and values). Likewise
the comment and bracket finders shared by all scanners, against the lexer loop they replace.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from hypothesis import given, settings
from hypothesis import strategies as st

from native_doctor.deps import infer

_REFERENCE = re.compile(infer._STRING.pattern + r"(?=\s*+(?P<next>.?))", re.DOTALL)


def reference_items(text: str, wanted: Callable[[str], bool] | None = None) -> Iterator[tuple[int, str]]:
    """The reader before issue 15 item 3 was closed (``_string_items``, one ``finditer`` over
    the part of the text it was given)."""
    for m in _REFERENCE.finditer(text):
        prefix, body, after = m.group("prefix", "body", "next")
        if after in {"+", "%"} or (wanted is not None and not wanted(body)):
            continue
        if prefix and ("b" in prefix.lower() or (prefix.lower() == "f" and "{" in body)):
            continue
        start = m.start()
        i = start - 1
        while i >= 0 and text[i].isspace():
            i -= 1
        if i >= 0 and text[i] == "+":
            continue
        yield start, body


def reference_comments(text: str, quotes: str) -> list[tuple[int, int]]:
    """``_hash_comments`` before: every token of the lexer handed to Python."""
    return [m.span() for m in infer._lexer(quotes, True, "").finditer(text) if m.lastgroup == "c"]


def reference_bracket_ends(text: str, opens: list[int], quotes: str) -> dict[int, int]:
    """``_bracket_ends`` before, likewise."""
    ends: dict[int, int] = {}
    stack: list[int] = []
    for m in infer._lexer(quotes, False, "()[]{}").finditer(text):
        if m.lastgroup == "p":
            if text[m.start()] in infer._PAIRS:
                stack.append(m.start())
            elif stack and infer._PAIRS[text[stack[-1]]] == text[m.start()]:
                opened = stack.pop()
                if opened in opens:
                    ends[opened] = m.end()
    for opened in stack:
        if opened in opens:
            line_end = text.find("\n", opened)
            ends[opened] = len(text) if line_end < 0 else line_end
    return ends


def interesting(value: str) -> bool:
    return value.startswith("-l") or value.endswith(("config", "config.exe"))


#: Pieces that make the readers' cases: quotes of both kinds (triple too), escapes, prefixes
#: (bytes, f-strings with a placeholder), concatenation and ``%``, white space (Unicode too),
#: comments, brackets, and the values the whole-file pass looks for.
PIECES = [
    "'", '"', "'''", '"""', "\\", " ", "\n", "\t", "\u00a0", "+", "%", "#", "{", "(", ")", "[", "]",
    "r", "b", "f", "u", "F", "R", "B", "U", "x", "-", "l", "-l", "z", "config", ".exe", "config.exe",
]  # fmt: skip
texts = st.lists(st.sampled_from(PIECES), max_size=40).map("".join)


@settings(max_examples=2000, deadline=None)
@given(texts, st.data())
def test_literals_of_a_part_are_the_reference_reading(text: str, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    for wanted in (None, interesting):
        expected = [(start + offset, value) for offset, value in reference_items(text[start:end], wanted)]
        assert infer._string_literals(text, start, end, wanted) == expected


@settings(max_examples=2000, deadline=None)
@given(texts)
def test_whole_file_pass_is_the_reference_reading(text: str) -> None:
    expected = list(reference_items(text, interesting))
    assert infer._string_literals_like(text, ("-l",), ("config", "config.exe")) == expected
    assert infer._string_literals(text) == list(reference_items(text))


@settings(max_examples=1000, deadline=None)
@given(texts, st.sampled_from(["'\"", "'", '"', ""]), st.data())
def test_comments_and_brackets_are_the_lexers_reading(text: str, quotes: str, data: st.DataObject) -> None:
    assert infer._hash_comments(text, quotes) == reference_comments(text, quotes)
    brackets = [i for i, c in enumerate(text) if c in "([{"]
    opens = data.draw(st.lists(st.sampled_from(brackets), unique=True)) if brackets else []
    assert infer._bracket_ends(text, opens, quotes) == reference_bracket_ends(text, opens, quotes)


def test_a_quote_never_closed_closes_no_later_literal() -> None:
    # The first ' runs to the end unclosed, so every later ' is escaped along its path: the
    # double-quoted literals between are still read, and no ' literal after it.
    text = "x = '\\' \"a\" \\'b\\' \"c\""
    assert infer._string_literals(text) == list(reference_items(text)) == [(8, "a"), (18, "c")]


def test_escaped_quotes_are_read_in_linear_time() -> None:
    # 64 KiB of '\ took 16 s with one search per quote (each ran to the end); linear now.
    text = "'\\" * (32 << 10)
    assert infer._string_literals(text) == []
    assert infer.scan_python("setup.py", text, infer.load_table()) == []


#: The setup.py patterns as they were written before they were made searchable by their word
#: (``\bword`` -> ``word(?<!\wword)``), and the quick tests in front of the others.
ORIGINAL_PATTERNS = {
    "_PY_HAS_HEADER": r"\bhas_header\s*+\(\s*+\[?\s*+['\"]([\w/+-]++)\.h['\"]",
    "_PY_GET_INFO": r"(?<![\w])get_info\s*+\(\s*+['\"](\w++)['\"]",
    "_PY_WHICH": r"(?<![\w])(?:which|find_executable|find_on_path)\s*+\(\s*+(['\"])([^'\"\n]++)\1",
    "_PY_PKGCONFIG_CALL": r"\bpkgconfig\s*+\.\s*+(?:parse|exists|cflags|libs|modversion|variables|installed"
    r"|configure_extension)\s*+\(",
    "_PY_LANG_CXX": r"\blanguage\s*+=\s*+['\"]c\+\+['\"]",
    "_PY_RETURN_LIST": r"\breturn\s*+\[",
    "_PY_PKG_CONFIG_USE": r"['\"](?:pkg-config|pkgconf)['\"]|\bpkgconfig\s*+\.|PKG_CONFIG",
}
WORD_PIECES = [
    "has_header", "get_info", "which", "find_executable", "find_on_path", "pkgconfig", "language",
    "return", "libraries", "libs", "find_library", "x", "_", "é", "1", " ", "\n", "(", "[", "'", '"',
    "=", ".", ":", "c++", "a.h", "parse", "pkg-config", "PKG_CONFIG", "append", "get",
]  # fmt: skip
word_texts = st.lists(st.sampled_from(WORD_PIECES), max_size=30).map("".join)


Matches = list[tuple[tuple[int, int], tuple[str | None, ...]]]


def matches(pattern: re.Pattern[str], text: str, pos: int) -> Matches:
    return [(m.span(), m.groups()) for m in pattern.finditer(text, pos)]


@settings(max_examples=1500, deadline=None)
@given(word_texts, st.integers(0, 5))
def test_patterns_searchable_by_their_word_match_as_before(text: str, pos: int) -> None:
    # from pos too: the word test looks before it, as \b does (_pkg_config_wrapper_calls searches
    # function bodies in place)
    for name, original in ORIGINAL_PATTERNS.items():
        assert matches(getattr(infer, name), text, pos) == matches(re.compile(original), text, pos), name


@settings(max_examples=1500, deadline=None)
@given(word_texts)
def test_quick_tests_never_hide_a_match(text: str) -> None:
    for pattern, words in infer._PY_CALL_WORDS.items():
        if pattern.search(text):
            assert any(word in text for word in words)
    if infer._PY_LIBS_FROM_CALL.search(text):
        assert infer._PY_LIBS_FROM_CALL_TAIL.search(text)


def reference_blank(text: str, spans: list[tuple[int, int]]) -> str:
    """``_blank`` before: every span through the pattern."""
    pieces, last = [], 0
    for start, end in spans:
        pieces.append(text[last:start])
        pieces.append(re.sub(r"[^\n]+", lambda m: " " * len(m.group(0)), text[start:end]))
        last = end
    return "".join([*pieces, text[last:]])


@settings(max_examples=1000, deadline=None)
@given(texts, st.data())
def test_blanking_and_spans_without_quotes_are_as_before(text: str, data: st.DataObject) -> None:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=8)))
    spans = list(zip(cuts[::2], cuts[1::2], strict=False))
    assert infer._blank(text, spans) == reference_blank(text, spans)
    # autoconf's calls: no quote characters, so no strings (the lexer's empty alternative matched
    # at every character, each an empty span that holds nothing)
    lexed = [(m.lastgroup, m.span()) for m in infer._lexer("", True, "").finditer(text)]
    comments, strings = infer._lexical_spans(text, "")
    assert comments == [span for group, span in lexed if group == "c"]
    assert strings == [] and all(a == b for group, (a, b) in lexed if group == "s")


def reference_split_top(args: str) -> list[str]:
    """``_split_top`` before its quick test."""
    parts, depth, start = [], 0, 0
    for m in infer._lexer("'\"", False, "()[]{},").finditer(args):
        c = m.group("p")
        if c in ("(", "[", "{"):
            depth += 1
        elif c in (")", "]", "}"):
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(args[start : m.start()])
            start = m.end()
    parts.append(args[start:])
    return [p.strip() for p in parts if p.strip()]


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from([*PIECES, ",", " , "]), max_size=20).map("".join))
def test_split_top_is_as_before(args: str) -> None:
    assert infer._split_top(args) == reference_split_top(args)
