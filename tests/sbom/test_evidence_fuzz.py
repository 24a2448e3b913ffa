"""Any byte string gives evidence (possibly none), never an exception."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from native_doctor.sbom.catalog import libraries
from native_doctor.sbom.evidence import _immediates, scan
from native_doctor.sbom.identify import embedded, identify

_ANCHORS = [b"OpenSSL ", b"\x00", b"libxml2", b".debug\x00", b"/zstd-", b"\xb8", b"\xc3", b"21406", b"1.2.3"]
_CHUNKS = st.lists(st.one_of(st.sampled_from(_ANCHORS), st.binary(max_size=24)), max_size=40).map(b"".join)


@given(data=_CHUNKS, index=st.integers(min_value=0, max_value=len(libraries()) - 1))
def test_scan_and_identify_never_raise(data: bytes, index: int) -> None:
    own = libraries()[index]
    evidence = scan(data, own, libraries(), arch="x86_64", soname="libpq.so.5.17")
    found = identify("x.libs/libpq-a17e3caa.so.5.17", None, evidence, own)
    assert found is not None
    assert found.library is own
    assert all(isinstance(e.version, str) for e in evidence)
    assert all(i.library is not own for i in embedded(evidence, own))


def _reference_counts(data: bytes, candidates: list[int]) -> dict[int, int]:
    """One ``find`` loop per candidate, overlapping hits, at most 8 each (the scan's first form)."""
    counts = {}
    for value in candidates:
        needle, count = b"\xb8" + value.to_bytes(4, "little") + b"\xc3", 0
        start = data.find(needle)
        while start >= 0 and count < 8:
            count += 1
            start = data.find(needle, start + 1)
        if count:
            counts[value] = count
    return counts


_WEBP = [(1 << 16) | (b << 8) | c for b in range(10) for c in range(10)]
_BROTLI = [(1 << 24) | (b << 12) | c for b in range(10) for c in range(30)]
_LIBPQ = [16 * 10000 + minor for minor in range(100)]
_MOV_RET = st.sampled_from(_WEBP[:3] + _BROTLI[-3:] + _LIBPQ[:3] + [0x0A0A01, 0xC3B8C3B8]).map(
    lambda v: b"\xb8" + v.to_bytes(4, "little") + b"\xc3"
)
_NOISE = st.sampled_from([b"\xb8", b"\xc3", b"\x01\x00"])
_CODE = st.lists(st.one_of(_MOV_RET, _NOISE, st.binary(max_size=8)), max_size=60)


@given(parts=_CODE, table=st.sampled_from([_WEBP, _BROTLI, _LIBPQ]))
def test_immediates_counts_as_one_find_per_candidate(parts: list[bytes], table: list[int]) -> None:
    data = b"".join(parts)
    assert _immediates(data, table) == _reference_counts(data, table)
