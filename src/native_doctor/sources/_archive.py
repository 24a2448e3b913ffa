"""The one place where archive-level failures become the project's error, and the budgets that
bound every read of an untrusted archive.

An archive from an index is untrusted input: its members may be corrupt deflate or LZMA streams,
encrypted, compressed with a method :mod:`zipfile` does not implement, named with bytes that are
not UTF-8 although flagged so, or tiny on disk and gigabytes once inflated. :func:`archive_errors`
turns every failure the standard library raises for such input (``zlib.error``, ``lzma.LZMAError``,
``RuntimeError``, ``NotImplementedError``, ``UnicodeDecodeError``, ``struct.error``,
``BadZipFile``, ``TarError``...) into :class:`~native_doctor.errors.InvalidArchiveError` naming the
member and the reason; :class:`InflationBudget` caps the bytes one read of an archive may inflate,
and raises :class:`~native_doctor.errors.ReadLimitError` (a limit of native-doctor's, never a defect
of the archive) when it is spent. Wheel, sdist and ``deps`` readers all go through here.
"""

from __future__ import annotations

import lzma
import struct
import sys
import threading
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from native_doctor.errors import InvalidArchiveError, NativeDoctorError, ReadLimitError

__all__ = [
    "ARCHIVE_FAILURES",  # noqa: F822 (made by the module's __getattr__: importing tarfile only for tar)
    "INFLATION_FLOOR",
    "INFLATION_RATIO",
    "MAX_TEXT_MEMBER",
    "InflationBudget",
    "archive_error",
    "archive_errors",
    "read_small",
    "read_text",
    "stream_member",
]

#: Every archive read may inflate at least this many bytes ...
INFLATION_FLOOR = 256 << 20
#: ... and up to this many times the archive's size on disk (real wheels inflate 2-5x, restarts
#: of random access included; a deflate bomb reaches about 1000x).
INFLATION_RATIO = 50
#: A text member (METADATA, WHEEL, RECORD, pyproject.toml, an ``__init__.py``) is read at most this far.
MAX_TEXT_MEMBER = 16 << 20
_BLOCK = 1 << 20

#: What the standard library raises for a malformed archive or member, ``tarfile.TarError`` aside:
#: ``ARCHIVE_FAILURES`` (computed on first use, below) adds it. Importing :mod:`tarfile` costs
#: ~1 ms of every command's start-up, and no tar error can be raised before something imported it.
_FAILURES: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    lzma.LZMAError,
    struct.error,
    EOFError,
    OSError,
    RuntimeError,  # an encrypted zip member (a password is required)
    NotImplementedError,  # a compression method zipfile does not implement
    ValueError,  # UnicodeDecodeError (a member name that is not UTF-8), bad sizes and offsets
    OverflowError,
    KeyError,  # zipfile: a member listed in the central directory but absent
)

_REASONS: tuple[tuple[type[BaseException], str], ...] = (
    (UnicodeDecodeError, "a member name is not valid UTF-8"),
    (zlib.error, "corrupt deflate stream"),
    (lzma.LZMAError, "corrupt LZMA stream"),
    (NotImplementedError, "unsupported compression method"),
    (RuntimeError, "encrypted member (a password is required)"),
    (struct.error, "truncated archive structure"),
    (EOFError, "compressed data ends early"),
    (zipfile.BadZipFile, "corrupt zip structure"),
    (OSError, "read error"),
)


def __getattr__(name: str) -> tuple[type[BaseException], ...]:
    """``ARCHIVE_FAILURES``: everything the standard library raises for a malformed archive or
    member, ``tarfile.TarError`` included (a reader that names it reads tar files)."""
    if name == "ARCHIVE_FAILURES":
        import tarfile

        return (*_FAILURES, tarfile.TarError)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _failures() -> tuple[type[BaseException], ...]:
    """What :func:`archive_errors` catches: tar's errors once :mod:`tarfile` is loaded."""
    tar = sys.modules.get("tarfile")
    return _FAILURES if tar is None else (*_FAILURES, tar.TarError)


_DETAIL = 200


def archive_error(where: str, exc: BaseException) -> InvalidArchiveError:
    """The project's error for ``exc`` raised while reading ``where`` (an archive or a member)."""
    tar = sys.modules.get("tarfile")
    if tar is not None and isinstance(exc, tar.TarError):
        kind = "corrupt tar structure"
    else:
        kind = next((reason for cls, reason in _REASONS if isinstance(exc, cls)), "malformed archive")
    detail = str(exc)
    if len(detail) > _DETAIL:
        detail = detail[:_DETAIL] + "..."
    return InvalidArchiveError(f"{where}: {kind} ({detail})" if detail else f"{where}: {kind}")


@contextmanager
def archive_errors(where: str) -> Iterator[None]:
    """Re-raise any archive-level failure inside the block as :class:`InvalidArchiveError`.

    The project's own errors (including :class:`ReadLimitError`) pass through unchanged.
    """
    try:
        yield
    except NativeDoctorError:
        raise
    except _failures() as exc:
        raise archive_error(where, exc) from exc


class InflationBudget:
    """How many bytes all reads of one archive may still inflate (shared by threads).

    Once spent, every further read raises :class:`ReadLimitError` at once, and the members that
    were not read are remembered for the one finding that says so.
    """

    __slots__ = ("_lock", "limit", "skipped", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        #: Members whose reading the budget stopped, in the order it happened.
        self.skipped: list[str] = []
        self._lock = threading.Lock()

    @classmethod
    def for_archive(cls, size: int) -> InflationBudget:
        """The budget for an archive of ``size`` bytes on disk."""
        return cls(max(INFLATION_FLOOR, INFLATION_RATIO * size))

    @property
    def spent(self) -> bool:
        return self.used >= self.limit

    def spend(self, member: str, count: int) -> None:
        """Account for ``count`` more inflated bytes of ``member``.

        :raises ReadLimitError: the budget is exhausted (the bytes are not accounted then).
        """
        with self._lock:
            if self.used + count > self.limit:
                self.used = self.limit
                if member not in self.skipped:
                    self.skipped.append(member)
                raise ReadLimitError(self.describe())
            self.used += count

    def describe(self) -> str:
        """What the budget stopped, for a finding or a message."""
        names = ", ".join(self.skipped[:3])
        more = f" and {len(self.skipped) - 3} more" if len(self.skipped) > 3 else ""
        count = f"{len(self.skipped)} member{'s' if len(self.skipped) != 1 else ''}"
        return (
            f"stopped reading at {self.skipped[0] if self.skipped else 'the archive'} after inflating "
            f"{_mib(self.limit)} (the budget per archive: {INFLATION_RATIO} times its size, at least "
            f"{_mib(INFLATION_FLOOR)}); {count} not fully read or not verified against RECORD: {names}{more}"
        )


def _mib(count: int) -> str:
    return f"{count / (1 << 20):.0f} MiB"


def stream_member(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    budget: InflationBudget | None,
    *,
    limit: int | None = None,
) -> Iterator[bytes]:
    """The member's bytes in blocks, at most ``limit`` of them (all when None), charged to ``budget``.

    :raises InvalidArchiveError: the member cannot be read (with the reason).
    :raises ReadLimitError: ``budget`` is spent.
    """
    left = info.file_size if limit is None else limit
    with archive_errors(f"{info.filename}: cannot read member"), archive.open(info) as stream:
        while left > 0:
            block = stream.read(min(_BLOCK, left))
            if not block:
                return
            left -= len(block)
            if budget is not None:
                budget.spend(info.filename, len(block))
            yield block


def read_small(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    budget: InflationBudget | None = None,
    *,
    limit: int = MAX_TEXT_MEMBER,
    truncate: bool = False,
) -> bytes:
    """A small member's bytes, read no further than ``limit``.

    :raises InvalidArchiveError: unreadable, or longer than ``limit`` unless ``truncate``.
    """
    data = b"".join(stream_member(archive, info, budget, limit=limit + 1))
    if len(data) > limit:
        if not truncate:
            raise InvalidArchiveError(f"{info.filename}: larger than {limit} bytes, too large to read whole")
        data = data[:limit]
    return data


def read_text(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    budget: InflationBudget | None = None,
    *,
    limit: int = MAX_TEXT_MEMBER,
    truncate: bool = False,
) -> str:
    """:func:`read_small`, decoded as UTF-8 (undecodable bytes replaced)."""
    return read_small(archive, info, budget, limit=limit, truncate=truncate).decode("utf-8", "replace")
