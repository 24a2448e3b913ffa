"""The one root error class and its few subclasses.

Every error native-doctor raises on purpose derives from :class:`NativeDoctorError`, and each
subclass also derives from the builtin that best describes it, so callers can catch either.
"""

from __future__ import annotations

__all__ = [
    "BinaryFormatError",
    "InvalidArchiveError",
    "InvalidExternalMetadata",
    "NativeDoctorError",
    "PolicyDataError",
    "ReadLimitError",
    "UsageError",
]


class NativeDoctorError(Exception):
    """Root of every error native-doctor raises on purpose."""


class BinaryFormatError(NativeDoctorError, ValueError):
    """A byte string is not a well-formed ELF, Mach-O or PE/COFF file.

    ``offset`` is where in the file the reader gave up, when known.
    """

    def __init__(self, message: str, *, offset: int | None = None) -> None:
        super().__init__(message)
        self.offset = offset


class InvalidArchiveError(NativeDoctorError, ValueError):
    """A wheel (or other archive) cannot be read: not a zip, bad name, unreadable member."""


class InvalidExternalMetadata(NativeDoctorError, ValueError):
    """A PEP 725 ``[external]`` table, DepURL or PEP 804 mapping file is malformed.

    ``where`` points at the offending entry (``external.host-requires[2]``, ``line 3``), when known.
    """

    def __init__(self, message: str, *, where: str | None = None) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where


class ReadLimitError(NativeDoctorError):
    """One of native-doctor's reading budgets (bytes inflated, members, text size) stopped the work.

    A limit of the reader, not a defect of the input: it becomes a warning saying what was not
    read, never an error finding.
    """


class PolicyDataError(NativeDoctorError, ValueError):
    """The packaged platform policy data is malformed (a bug in native-doctor's data files)."""


class UsageError(NativeDoctorError, ValueError):
    """The user asked for something that cannot be done (bad path, bad option value)."""
