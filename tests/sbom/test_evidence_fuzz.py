"""Any byte string gives evidence (possibly none), never an exception."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from native_doctor.sbom.catalog import libraries
from native_doctor.sbom.evidence import scan
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
