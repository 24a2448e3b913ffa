"""Write a repaired wheel: canonical, reproducible, atomic, and at the speed of a copy.

* Members in a stable order: everything outside ``.dist-info`` sorted by name, then the
  ``.dist-info`` files sorted, RECORD last. Directory entries and RECORD signatures (which the
  repair invalidates) are dropped.
* Every member dated ``SOURCE_DATE_EPOCH`` (default 1980-01-01, the earliest zip date); modes
  normalised to 0644, or 0755 when any execute bit was set.
* Untouched members are copied raw: their compressed bytes and CRC go from the input to the output
  without being inflated or deflated again, so the time grows with what changed. Their RECORD
  lines are carried over from the input's RECORD when it has a sha256 line of the right size
  (otherwise the member is hashed).
* A large untouched member (``ALIGN_MIN`` compressed bytes or more) starts at the same offset
  modulo 64 KiB as in the input: a padding field in its local header (extra field ID 0x646E,
  zeros; readers skip extra fields they do not know) makes up the difference. The kernel's copy
  then moves whole page-cache pages onto pages at the same place; at an offset that differs it
  splits every one, which made the raw copy of a 300 MB wheel ~1.5x slower than ``cp`` of the
  same file (measured: docs/performance.md).
* The output goes to a temporary file beside the target and is renamed over it (``os.replace``)
  only when complete; the input is never modified.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import shutil
import struct
import threading
import time
import zipfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NamedTuple

from native_doctor.errors import InvalidArchiveError

__all__ = ["DEFAULT_EPOCH", "copy_atomically", "source_date_epoch", "write_wheel"]

#: 1980-01-01T00:00:00Z: the earliest date a zip header can hold.
DEFAULT_EPOCH = 315532800
_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_EOCD = struct.Struct("<IHHHHIIH")
_EOCD64 = struct.Struct("<IQHHIIQQQQ")
_LOCATOR64 = struct.Struct("<IIQI")
_MAX32 = 0xFFFFFFFF
_CHUNK = 1 << 20
#: Raw copies of at least this many bytes keep their input offset modulo ``_ALIGNMENT`` (at most
#: 64 KiB of padding each, under 0.4 % of such a member).
ALIGN_MIN = 16 << 20
_ALIGNMENT = 1 << 16
#: The zip extra field that holds alignment padding: ID, size, then zeros (a private ID, APPNOTE
#: 4.5.2: IDs from 32 up not listed there are free for third parties).
_PADDING_FIELD = 0x646E
_SIGNATURES = ("RECORD.jws", "RECORD.p7s")

#: Called with (bytes written, bytes total).
Progress = Callable[[int, int], None]


def source_date_epoch() -> int:
    """``SOURCE_DATE_EPOCH`` when set to an integer (clamped to the zip range), else the default."""
    raw = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    try:
        value = int(raw)
    except ValueError:
        return DEFAULT_EPOCH
    return min(max(value, DEFAULT_EPOCH), 4354819199)  # 2107-12-31, the last zip date


class _Entry(NamedTuple):
    """One member of the output wheel: raw-copied from the input, or new bytes."""

    name: str
    method: int
    flags: int
    crc: int
    compressed: int
    size: int
    mode: int
    #: Raw copy: where the compressed bytes start in the input. None for new content.
    source_offset: int | None
    data: bytes | None
    digest: str


def write_wheel(
    source: Path,
    target: Path,
    *,
    dist_info: str,
    replace: Mapping[str, bytes],
    add: Mapping[str, bytes],
    epoch: int | None = None,
    progress: Progress | None = None,
) -> None:
    """Write ``source`` with members replaced and added to ``target`` (atomically).

    :param replace: new contents of existing members.
    :param add: new members (mode 0755 for shared libraries, else 0644).
    :raises InvalidArchiveError: the input cannot be read as a zip archive.
    """
    stamp = _dos_time(source_date_epoch() if epoch is None else epoch)
    record_name = f"{dist_info}/RECORD"
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InvalidArchiveError(f"{source}: not a readable zip archive ({exc})") from exc
    with archive, source.open("rb") as raw:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        seen: set[str] = set()
        for info in infos:
            if info.filename in seen:
                raise InvalidArchiveError(f"{source}: member {info.filename} appears twice")
            seen.add(info.filename)
            if info.flag_bits & 0x1:
                raise InvalidArchiveError(f"{source}: member {info.filename} is encrypted")
        carried = _record_digests(archive, record_name)
        dropped = {record_name, *(f"{dist_info}/{s}" for s in _SIGNATURES)}
        new_content = {**{k: v for k, v in replace.items() if k in seen}, **add}
        packed = _pack_all(new_content)
        entries: list[_Entry] = []
        for info in infos:
            if info.filename in dropped or info.filename in new_content:
                continue
            entries.append(_raw_entry(archive, raw, info, carried.get(info.filename)))
        for name, data in new_content.items():
            mode = _mode_of_new(name) if name in add else _mode(_info_of(infos, name))
            entries.append(_new_entry(name, data, packed[name], mode))
        entries.sort(key=lambda e: _order(e.name, dist_info))
        record = _record(entries, record_name)
        entries.append(_new_entry(record_name, record, _pack(record), 0o100644))
        _write_atomically(target, raw, entries, stamp, progress)


def copy_atomically(source: Path, target: Path) -> None:
    """Copy a file that needs no change to ``target`` (temporary file, then rename)."""
    handle, temporary = _temporary(target)
    os.close(handle)
    try:
        shutil.copyfile(source, temporary)
        Path(temporary).replace(target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# --- members --------------------------------------------------------------------------------------


def _order(name: str, dist_info: str) -> tuple[int, int, str]:
    if name.startswith(dist_info + "/"):
        return (1, 1 if name == f"{dist_info}/RECORD" else 0, name)
    return (0, 0, name)


def _info_of(infos: list[zipfile.ZipInfo], name: str) -> zipfile.ZipInfo:
    return next(i for i in infos if i.filename == name)


def _mode(info: zipfile.ZipInfo) -> int:
    unix = info.external_attr >> 16 if info.create_system == 3 else 0
    return 0o100755 if unix & 0o111 else 0o100644


def _mode_of_new(name: str) -> int:
    base = name.rsplit("/", 1)[-1]
    return 0o100755 if ".so" in base or base.endswith(".dylib") else 0o100644


def _record_digests(archive: zipfile.ZipFile, record_name: str) -> dict[str, tuple[str, int]]:
    """RECORD's sha256 lines: member -> (``sha256=...``, size)."""
    try:
        text = archive.read(record_name).decode("utf-8")
    except (KeyError, zipfile.BadZipFile, OSError, UnicodeDecodeError, zlib.error, EOFError):
        return {}
    digests: dict[str, tuple[str, int]] = {}
    for row in csv.reader(io.StringIO(text)):
        if len(row) >= 3 and row[1].startswith("sha256=") and row[2].isdigit():
            digests[row[0]] = (row[1], int(row[2]))
    return digests


def _raw_entry(
    archive: zipfile.ZipFile, raw: io.BufferedReader, info: zipfile.ZipInfo, carried: tuple[str, int] | None
) -> _Entry:
    raw.seek(info.header_offset)
    header = raw.read(_LOCAL.size)
    if len(header) != _LOCAL.size or header[:4] != b"PK\x03\x04":
        raise InvalidArchiveError(
            f"member {info.filename}: local header missing (truncated or corrupt wheel)"
        )
    fields = _LOCAL.unpack(header)
    start = info.header_offset + _LOCAL.size + fields[9] + fields[10]
    if carried is not None and carried[1] == info.file_size:
        digest = carried[0]
    else:
        digest = _hash_member(archive, info)
    return _Entry(
        info.filename,
        info.compress_type,
        info.flag_bits & 0b110,
        info.CRC,
        info.compress_size,
        info.file_size,
        _mode(info),
        start,
        None,
        digest,
    )


def _hash_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    sha = hashlib.sha256()
    try:
        with archive.open(info) as stream:
            while block := stream.read(_CHUNK):
                sha.update(block)
    except (zipfile.BadZipFile, OSError, zlib.error, EOFError) as exc:
        raise InvalidArchiveError(f"member {info.filename}: cannot be read ({exc})") from exc
    return "sha256=" + base64.urlsafe_b64encode(sha.digest()).rstrip(b"=").decode()


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


#: Deflate level for new and rewritten members: level 4 is ~2x faster than zlib's default 6 on
#: grafted libraries for ~3% more bytes (measured: docs/design.md).
_LEVEL = 4


def _deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(_LEVEL, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


class _Packed(NamedTuple):
    """A new member's bytes deflated, their CRC-32 and their RECORD digest."""

    deflated: bytes
    crc: int
    digest: str


def _pack(data: bytes) -> _Packed:
    return _Packed(_deflate(data), zlib.crc32(data), _digest(data))


#: Below this many bytes of new content, members are packed in the calling thread. Starting and
#: joining a thread costs ~0.1 ms of CPU, what level 4 deflates of ~7 KB (~70 MiB/s on grafted
#: libraries); at 256 KiB (~3.5 ms of deflating) that is under 3 % (docs/performance.md).
_PARALLEL_MIN = 256 << 10


def _pack_all(contents: Mapping[str, bytes]) -> dict[str, _Packed]:
    """Every member packed; with enough bytes, on up to four threads (zlib's deflate and crc32 and
    OpenSSL's sha256 release the GIL). Each member is deflated alone, so the bytes do not depend
    on which thread packs it. ``threading`` is loaded with ``zipfile`` anyway (no pool module)."""
    pending = sorted(contents, key=lambda n: (len(contents[n]), n))  # workers take the largest first
    total = sum(len(data) for data in contents.values())
    workers = min(len(pending), 4, os.cpu_count() or 1) if total >= _PARALLEL_MIN else 1
    packed: dict[str, _Packed] = {}

    def work() -> None:
        while True:
            try:
                name = pending.pop()  # atomic: one thread gets each name
            except IndexError:
                return
            packed[name] = _pack(contents[name])

    threads = [threading.Thread(target=work, daemon=True) for _ in range(workers - 1)]
    for thread in threads:
        thread.start()
    work()
    for thread in threads:
        thread.join()
    for name, data in contents.items():  # one a failed thread left: packed (and its error raised) here
        if name not in packed:
            packed[name] = _pack(data)
    return packed


def _new_entry(name: str, data: bytes, packed: _Packed, mode: int) -> _Entry:
    method, payload = (
        (zipfile.ZIP_DEFLATED, packed.deflated)
        if len(packed.deflated) < len(data)
        else (zipfile.ZIP_STORED, data)
    )
    return _Entry(name, method, 0, packed.crc, len(payload), len(data), mode, None, payload, packed.digest)


def _record(entries: list[_Entry], record_name: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for entry in entries:
        writer.writerow((entry.name, entry.digest, entry.size))
    writer.writerow((record_name, "", ""))
    return out.getvalue().encode("utf-8")


# --- the zip file -----------------------------------------------------------------------------------


def _dos_time(epoch: int) -> tuple[int, int]:
    t = time.gmtime(epoch)
    date = ((t.tm_year - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday
    clock = (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2)
    return clock, date


def _temporary(target: Path) -> tuple[int, str]:
    """A new file beside ``target`` (mode 0600, opened for writing), as ``tempfile.mkstemp`` makes
    one, without importing :mod:`tempfile` (~1.5 ms: it brings :mod:`random`)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for attempt in range(1000):
        name = str(target.parent / f".{target.name}.{os.getpid()}-{attempt}.tmp")
        try:
            return os.open(name, flags, 0o600), name
        except FileExistsError:
            continue
    raise FileExistsError(f"{target.parent}: no free temporary file name for {target.name}")


def _write_atomically(
    target: Path,
    raw: io.BufferedReader,
    entries: list[_Entry],
    stamp: tuple[int, int],
    progress: Progress | None,
) -> None:
    handle, temporary = _temporary(target)
    try:
        umask = os.umask(0)
        os.umask(umask)
        Path(temporary).chmod(0o666 & ~umask)
        out = _Output(handle, raw)
        _write_zip(out, entries, stamp, progress)
        out.flush()
        os.close(handle)
        handle = -1
        Path(temporary).replace(target)
    except BaseException:
        if handle >= 0:
            os.close(handle)
        Path(temporary).unlink(missing_ok=True)
        raise


class _Output:
    """Buffered writes to a file descriptor, and raw copies from the input wheel into it."""

    __slots__ = ("_buffer", "_fd", "_raw", "position")

    def __init__(self, fd: int, raw: io.BufferedReader) -> None:
        self._fd = fd
        self._raw = raw
        self._buffer = bytearray()
        self.position = 0

    def write(self, data: bytes) -> None:
        self._buffer += data
        self.position += len(data)
        if len(self._buffer) >= _CHUNK:
            self.flush()

    def flush(self) -> None:
        with memoryview(self._buffer) as whole:
            view = whole
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            view.release()
        self._buffer.clear()

    def copy(self, offset: int, length: int) -> None:
        """Append ``length`` bytes found at ``offset`` of the input (in the kernel when it can)."""
        self.flush()
        copied = 0
        copy_range = getattr(os, "copy_file_range", None)
        if copy_range is not None:
            try:
                while copied < length:
                    # calls end at 1 MiB boundaries of the input, so all but the first start there
                    # (one call from an odd offset splits every page-cache page it copies)
                    start = offset + copied
                    want = min(length - copied, _CHUNK - start % _CHUNK)
                    n = copy_range(self._raw.fileno(), self._fd, want, start)
                    if n == 0:
                        break
                    copied += n
            except OSError:
                pass  # not supported between these file systems: read and write instead
        self._raw.seek(offset + copied)
        while copied < length:
            block = self._raw.read(min(_CHUNK, length - copied))
            if not block:
                raise InvalidArchiveError("member data ends early (truncated wheel)")
            self.write(block)
            copied += len(block)
            self.position -= len(block)  # counted below with the whole length
        self.position += length


def _write_zip(
    out: _Output, entries: list[_Entry], stamp: tuple[int, int], progress: Progress | None
) -> None:
    clock, date = stamp
    total = sum(e.compressed for e in entries)
    done = 0
    central: list[bytes] = []
    for entry in entries:
        offset = out.position
        name = entry.name.encode("utf-8")
        flags = entry.flags | (0x800 if not entry.name.isascii() else 0)
        big = entry.size >= _MAX32 or entry.compressed >= _MAX32
        extra = struct.pack("<HHQQ", 1, 16, entry.size, entry.compressed) if big else b""
        if entry.source_offset is not None and entry.compressed >= ALIGN_MIN:
            start = offset + _LOCAL.size + len(name) + len(extra)
            extra += _padding(start, entry.source_offset, 0xFFFF - len(extra))
        version = 45 if big or offset >= _MAX32 else 20
        sizes = (_MAX32, _MAX32) if big else (entry.compressed, entry.size)
        fields = (version, flags, entry.method, clock, date, entry.crc, *sizes, len(name), len(extra))
        out.write(_LOCAL.pack(0x04034B50, *fields))
        out.write(name)
        out.write(extra)
        if entry.data is not None:
            out.write(entry.data)
        else:
            assert entry.source_offset is not None
            out.copy(entry.source_offset, entry.compressed)
        done += entry.compressed
        if progress is not None:
            progress(done, total)
        central.append(_central_record(entry, name, flags, version, offset, clock, date))
    cd_offset = out.position
    for record in central:
        out.write(record)
    cd_size = out.position - cd_offset
    count = len(entries)
    if count >= 0xFFFF or cd_offset >= _MAX32 or cd_size >= _MAX32:
        eocd64 = out.position
        out.write(_EOCD64.pack(0x06064B50, _EOCD64.size - 12, 45, 45, 0, 0, count, count, cd_size, cd_offset))
        out.write(_LOCATOR64.pack(0x07064B50, 0, eocd64, 1))
        out.write(_EOCD.pack(0x06054B50, 0, 0, 0xFFFF, 0xFFFF, _MAX32, _MAX32, 0))
    else:
        out.write(_EOCD.pack(0x06054B50, 0, 0, count, count, cd_size, cd_offset, 0))


def _padding(start: int, source_offset: int, room: int) -> bytes:
    """The padding field that moves member data from ``start`` to ``source_offset`` modulo
    ``_ALIGNMENT``; empty when it is there already, or when the field would not fit: it takes at
    least 4 bytes (ID, size) and the local header's extra fields at most ``room`` bytes."""
    missing = (source_offset - start) % _ALIGNMENT
    if missing < 4 or missing > room:
        return b""
    return struct.pack("<HH", _PADDING_FIELD, missing - 4) + bytes(missing - 4)


def _central_record(
    entry: _Entry, name: bytes, flags: int, version: int, offset: int, clock: int, date: int
) -> bytes:
    parts: list[int] = []
    size, compressed, where = entry.size, entry.compressed, offset
    if size >= _MAX32:
        parts.append(size)
        size = _MAX32
    if compressed >= _MAX32:
        parts.append(compressed)
        compressed = _MAX32
    if where >= _MAX32:
        parts.append(where)
        where = _MAX32
    extra = struct.pack(f"<HH{len(parts)}Q", 1, 8 * len(parts), *parts) if parts else b""
    header = _CENTRAL.pack(
        0x02014B50, (3 << 8) | version, version, flags, entry.method, clock, date, entry.crc,
        compressed, size, len(name), len(extra), 0, 0, 0, entry.mode << 16, where,
    )  # fmt: skip
    return header + name + extra
