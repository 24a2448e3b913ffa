"""Verify a wheel's RECORD against its members, streaming each member once (never extracted)."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import zipfile

from native_doctor.model import RecordReport
from native_doctor.sources._archive import InflationBudget, stream_member

__all__ = ["Digest", "expected_digests", "member_digest", "report"]

#: (hash name, digest as in RECORD: urlsafe base64 without padding, size or None).
Digest = tuple[str, str, int | None]
_SIGNATURES = ("RECORD.jws", "RECORD.p7s")


def expected_digests(
    record_text: str, record_path: str
) -> tuple[dict[str, Digest], list[str], set[str] | None]:
    """RECORD's usable entries by path, the lines that cannot be used, and every path RECORD
    names (None when RECORD is not CSV at all, so nothing can be said about unlisted files)."""
    entries: dict[str, Digest] = {}
    malformed: list[str] = []
    try:
        rows = list(csv.reader(io.StringIO(record_text)))
    except csv.Error as exc:
        return {}, [f"RECORD is not valid CSV: {exc}"], None
    listed = {row[0] for row in rows if row}
    for row in rows:
        if not row:
            continue
        path = row[0]
        if len(row) != 3:
            malformed.append(",".join(row))
            continue
        hash_field, size_field = row[1], row[2]
        if path == record_path or path.endswith(_SIGNATURES):
            continue
        algorithm, sep, digest = hash_field.partition("=")
        if not sep or algorithm not in hashlib.algorithms_guaranteed or algorithm in {"md5", "sha1"}:
            malformed.append(",".join(row))
            continue
        try:
            size = int(size_field) if size_field else None
        except ValueError:
            malformed.append(",".join(row))
            continue
        entries[path] = (algorithm, digest, size)
    return entries, malformed, listed


def member_digest(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, algorithm: str, budget: InflationBudget | None = None
) -> tuple[str, int]:
    """(urlsafe-base64 digest without padding, size) of one member, read as a stream.

    :raises InvalidArchiveError: the member cannot be read (corrupt, encrypted, unsupported).
    :raises ReadLimitError: ``budget`` ran out.
    """
    hasher = hashlib.new(algorithm)
    size = 0
    for block in stream_member(archive, info, budget):
        hasher.update(block)
        size += len(block)
    return base64.urlsafe_b64encode(hasher.digest()).rstrip(b"=").decode("ascii"), size


def report(
    expected: dict[str, Digest],
    malformed: list[str],
    actual: dict[str, tuple[str, int] | None],
    record_path: str,
    listed: set[str] | None = None,
) -> RecordReport:
    """Compare RECORD with what was read: ``actual`` maps every member to (digest, size), or None
    for members that were not hashed because RECORD has no entry for them."""
    mismatched: list[tuple[str, str]] = []
    for path, (algorithm, digest, size) in expected.items():
        got = actual.get(path)
        if got is None:
            continue
        if got[0] != digest:
            mismatched.append((path, f"{algorithm} digest differs"))
        elif size is not None and got[1] != size:
            mismatched.append((path, f"size is {got[1]}, RECORD says {size}"))
    named = set(expected) if listed is None else listed
    unlisted = [
        path
        for path in actual
        if path not in named and path != record_path and not path.endswith(_SIGNATURES)
    ]
    if listed is None and malformed:
        unlisted = []  # RECORD could not be read as CSV: every file would look unlisted
    missing = [path for path in expected if path not in actual]
    return RecordReport(
        True, tuple(mismatched), tuple(sorted(unlisted)), tuple(sorted(missing)), tuple(malformed)
    )
