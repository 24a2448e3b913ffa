"""The format dispatcher: magic numbers, and any byte string gives a BinaryInfo or our own error."""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from native_doctor.binary import BinaryFormat, BinaryInfo, read_binary, sniff
from native_doctor.errors import BinaryFormatError

EXAMPLES = int(os.environ.get("NATIVE_DOCTOR_FUZZ_EXAMPLES", "300"))


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        pytest.param(b"\x7fELF\x02\x01\x01\x00", BinaryFormat.ELF, id="elf"),
        pytest.param(b"\xcf\xfa\xed\xfe\x07\x00\x00\x01", BinaryFormat.MACHO, id="macho-64-le"),
        pytest.param(b"\xfe\xed\xfa\xce\x00\x00\x00\x12", BinaryFormat.MACHO, id="macho-32-be"),
        pytest.param(b"\xca\xfe\xba\xbe" + struct.pack(">I", 2), BinaryFormat.MACHO, id="fat-two-slices"),
        pytest.param(b"\xca\xfe\xba\xbe" + struct.pack(">HH", 0, 52), None, id="java-class-file"),
        pytest.param(b"MZ\x90\x00\x03\x00\x00\x00", BinaryFormat.PE, id="pe"),
        pytest.param(b"#!/bin/sh", None, id="script"),
        pytest.param(b"", None, id="empty"),
    ],
)
def test_sniff(head: bytes, expected: BinaryFormat | None) -> None:
    assert sniff(head) is expected


def test_unknown_magic_is_our_error() -> None:
    with pytest.raises(BinaryFormatError, match="unknown magic"):
        read_binary(b"hello world")


MAGICS = [
    b"\x7fELF",
    b"\xcf\xfa\xed\xfe",
    b"\xce\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
    b"\xca\xfe\xba\xbf",
    b"MZ",
]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(magic=st.sampled_from(MAGICS), tail=st.binary(max_size=4096))
def test_any_bytes_give_a_binary_info_or_our_error(magic: bytes, tail: bytes) -> None:
    try:
        info = read_binary(magic + tail)
    except BinaryFormatError:
        return
    assert isinstance(info, BinaryInfo)


@settings(max_examples=EXAMPLES, deadline=None)
@given(data=st.binary(max_size=512))
def test_arbitrary_bytes(data: bytes) -> None:
    try:
        info = read_binary(data)
    except BinaryFormatError:
        return
    assert isinstance(info, BinaryInfo)
