"""Read a wheel straight from its zip archive: metadata, file list, and every native member.

Nothing is extracted to disk. Only the native members (found by their magic number) and the
``.dist-info`` metadata are decompressed, each through :class:`ZipMemberSource`, and only as
far as its binary reader asks.
"""

from __future__ import annotations

import os
import threading
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from native_doctor._names import plain_wheel_name
from native_doctor.binary import SNIFF_BYTES, BinaryInfo, read_binary, sniff
from native_doctor.errors import BinaryFormatError, InvalidArchiveError, ReadLimitError
from native_doctor.model import Artifact, ArtifactKind, NativeFile, RecordReport
from native_doctor.sources._archive import InflationBudget, archive_errors, read_small, read_text
from native_doctor.sources._dll_dirs import directories_of, dll_directories, is_hook_file
from native_doctor.sources._headers import Headers, parse_headers
from native_doctor.sources._members import REPAIR_MARKERS, install_path, may_be_native
from native_doctor.sources._record import expected_digests, member_digest
from native_doctor.sources._record import report as record_report
from native_doctor.sources._zip import ZipMemberSource
from native_doctor.sources.contents import MAX_LICENSE_BYTES, MAX_LICENSE_FILES, is_license_file

__all__ = ["ProgressCallback", "optional_extensions", "read_wheel"]

#: Called with (members done, members total) while a wheel is read.
ProgressCallback = Callable[[int, int], None]
_MAX_METADATA = 16 << 20
#: Above this many compressed bytes of candidate members, read them on worker threads.
_PARALLEL_BYTES = 32 << 20
_WORKERS = min(4, os.cpu_count() or 1)


def read_wheel(
    path: str | Path,
    *,
    deep: bool = False,
    verify_record: bool = False,
    licenses: bool | None = None,
    progress: ProgressCallback | None = None,
) -> Artifact:
    """Read a wheel file.

    :param deep: also read symbol tables and section sizes of native members (for checks).
    :param verify_record: hash every member and compare with RECORD (reads the whole wheel).
    :param licenses: also read the license files into ``Artifact.license_texts`` (a bounded
        prefix of each); None means the same as ``deep``.

    :raises InvalidArchiveError: not a zip file, a wheel file name that does not follow the
        spec, no ``.dist-info`` directory, or unreadable metadata. A member that cannot be read is
        a :class:`NativeFile` with an ``error`` instead; what the archive's inflation budget
        stopped is said in ``Artifact.read_limits``.
    """
    path = Path(path)
    name, version, claimed_tags = _parse_file_name(path.name)
    with archive_errors(f"{path}: not a readable zip archive"):
        archive = zipfile.ZipFile(path)
    budget = InflationBudget.for_archive(path.stat().st_size)
    with archive, archive_errors(path.name):
        infos = [info for info in archive.infolist() if not info.is_dir()]
        names = {info.filename for info in infos}
        dist_info = _dist_info_dir(infos, path)
        wheel_meta = _read_headers(archive, f"{dist_info}/WHEEL", budget)
        metadata = _read_headers(archive, f"{dist_info}/METADATA", budget)
        native = _read_native(path, archive, infos, deep, progress, budget)
        reported = {n.path for n in native if n.info is None}  # unreadable members already said (ND002)
        record = (
            _verify_record(path, archive, infos, dist_info, progress, budget, reported)
            if verify_record
            else None
        )
        files = tuple(install_path(info.filename) for info in infos)
        hooks = _read_hooks(archive, infos, budget)
        read_licenses = deep if licenses is None else licenses
        license_texts = _read_licenses(archive, infos, budget) if read_licenses else None
    purelib = wheel_meta.get("Root-Is-Purelib")
    return Artifact(
        kind=ArtifactKind.WHEEL,
        path=str(path),
        name=name,
        version=version,
        claimed_tags=claimed_tags,
        files=files,
        native=native,
        requires_dist=tuple(metadata.get_all("Requires-Dist")),
        root_is_purelib=None if purelib is None else purelib.strip().lower() == "true",
        size=path.stat().st_size,
        markers=tuple(m for m in REPAIR_MARKERS if f"{dist_info}/{m}" in names),
        dll_directories=dll_directories(hooks, directories_of(files)),
        record=record,
        read_limits=(budget.describe(),) if budget.skipped else (),
        license_texts=license_texts,
    )


def optional_extensions(path: str | Path, extensions: Sequence[str]) -> frozenset[str]:
    """Those of ``extensions`` (installed paths of extension modules in the wheel at ``path``) that
    the package imports only inside a ``try`` that catches ``ImportError``: it goes on without
    them (numba's OpenMP and TBB threading layers). Found in the wheel's Python files, never run;
    an archive that cannot be read, or Python files the inflation budget stops, give none."""
    from native_doctor.sources.loadnames import MAX_SOURCE, conditional_modules, skipped_source
    from native_doctor.sources.runtime import module_of

    by_module = {m: e for e in extensions if (m := module_of(e)) is not None}
    if not by_module:
        return frozenset()
    path = Path(path)
    try:
        with archive_errors(path.name), zipfile.ZipFile(path) as archive:
            budget = InflationBudget.for_archive(path.stat().st_size)
            sources = (  # read one at a time, as they are screened
                (install_path(info.filename), read_small(archive, info, budget, limit=MAX_SOURCE))
                for info in archive.infolist()
                if info.file_size <= MAX_SOURCE and not skipped_source(install_path(info.filename))
            )
            optional = conditional_modules(sources, by_module, strict=True)
    except (InvalidArchiveError, ReadLimitError, OSError):
        return frozenset()
    return frozenset(by_module[m] for m in optional)


def _parse_file_name(filename: str) -> tuple[str, str, tuple[str, ...]]:
    """(canonical name, version, sorted tags) of a wheel file name; ``packaging`` reads (and
    judges) every name that is not plain, so a plain one does not pay for importing it."""
    plain = plain_wheel_name(filename)
    if plain is not None:
        return plain
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename

    try:
        name, version, _build, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename as exc:
        raise InvalidArchiveError(f"{filename}: {exc}") from None
    return str(name), str(version), tuple(sorted(str(tag) for tag in tags))


def _read_licenses(
    archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], budget: InflationBudget
) -> tuple[tuple[str, str], ...]:
    """``(member, text)`` of the license files, each at most ``MAX_LICENSE_BYTES`` (a prefix of a
    longer one) and at most ``MAX_LICENSE_FILES`` of them. An unreadable one is left out; the
    budget stopping ends the reading (said in ``read_limits``)."""
    texts: list[tuple[str, str]] = []
    for info in infos:
        if len(texts) >= MAX_LICENSE_FILES:
            break
        if not is_license_file(info.filename):
            continue
        try:
            texts.append(
                (info.filename, read_text(archive, info, budget, limit=MAX_LICENSE_BYTES, truncate=True))
            )
        except ReadLimitError:
            break
        except InvalidArchiveError:
            continue
    return tuple(texts)


def _read_hooks(
    archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], budget: InflationBudget
) -> list[tuple[str, bytes]]:
    """Contents of the small ``__init__.py``-like files that may add DLL directories.

    One the budget stops adds no directory; one that cannot be read makes the wheel unreadable.
    """
    hooks = []
    for info in infos:
        path = install_path(info.filename)
        if is_hook_file(path) and info.file_size <= _MAX_METADATA:
            try:
                hooks.append((path, read_small(archive, info, budget, limit=_MAX_METADATA)))
            except ReadLimitError:
                continue
    return hooks


def _dist_info_dir(infos: list[zipfile.ZipInfo], path: Path) -> str:
    candidates = sorted(
        {info.filename.split("/", 1)[0] for info in infos if info.filename.count("/") == 1}
        & {info.filename.split("/", 1)[0] for info in infos if info.filename.endswith(".dist-info/WHEEL")}
    )
    if not candidates:
        raise InvalidArchiveError(f"{path.name}: no .dist-info/WHEEL file: not a wheel")
    return candidates[0]


def _read_headers(archive: zipfile.ZipFile, member: str, budget: InflationBudget) -> Headers:
    try:
        info = archive.getinfo(member)
    except KeyError:
        return Headers([])
    return parse_headers(_read_member_text(archive, info, budget))


def _read_member_text(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: InflationBudget) -> str:
    if info.file_size > _MAX_METADATA:
        raise InvalidArchiveError(f"{info.filename}: {info.file_size} bytes is too large for metadata")
    try:
        return read_text(archive, info, budget, limit=_MAX_METADATA)
    except ReadLimitError as exc:
        raise InvalidArchiveError(f"{info.filename}: not read: {exc}") from None


_T = TypeVar("_T")
MemberTask = Callable[[zipfile.ZipFile, zipfile.ZipInfo], _T]


def _read_native(
    path: Path,
    archive: zipfile.ZipFile,
    infos: list[zipfile.ZipInfo],
    deep: bool,
    progress: ProgressCallback | None,
    budget: InflationBudget,
) -> tuple[NativeFile, ...]:
    """Every native member, in archive order (those the budget stopped are left out)."""
    candidates = [i for i in infos if may_be_native(i.filename) and i.file_size >= SNIFF_BYTES]

    def task(handle: zipfile.ZipFile, info: zipfile.ZipInfo) -> NativeFile | None:
        try:
            return _read_member(handle, info, deep=deep, budget=budget)
        except ReadLimitError:
            return None

    results = _map_members(path, archive, candidates, task, progress)
    return tuple(native for native in results if native is not None)


def _verify_record(
    path: Path,
    archive: zipfile.ZipFile,
    infos: list[zipfile.ZipInfo],
    dist_info: str,
    progress: ProgressCallback | None,
    budget: InflationBudget,
    reported: set[str],
) -> RecordReport:
    """Hash every member RECORD lists and compare (streamed, never extracted).

    A member the budget stops is left unhashed, and so is a native member already reported as
    unreadable; any other unreadable member makes the whole wheel unreadable (pip would fail too).
    """
    record_path = f"{dist_info}/RECORD"
    try:
        record_info = archive.getinfo(record_path)
    except KeyError:
        return RecordReport(present=False)
    text = _read_member_text(archive, record_info, budget)
    expected, malformed, listed = expected_digests(text, record_path)

    def task(handle: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[str, int] | None:
        entry = expected.get(info.filename)
        if entry is None:
            return None
        try:
            return member_digest(handle, info, entry[0], budget)
        except ReadLimitError:
            return None
        except InvalidArchiveError:
            if info.filename in reported:
                return None
            raise

    digests = _map_members(path, archive, infos, task, progress)
    actual = {info.filename: digest for info, digest in zip(infos, digests, strict=True)}
    return record_report(expected, malformed, actual, record_path, listed)


def _map_members(
    path: Path,
    archive: zipfile.ZipFile,
    infos: list[zipfile.ZipInfo],
    task: MemberTask[_T],
    progress: ProgressCallback | None,
) -> list[_T]:
    """``task`` over members, in order. Large wheels are done on a few threads, each with its own
    archive handle: zlib (and hashlib) release the GIL, and inflating is most of the work."""
    if sum(i.compress_size for i in infos) < _PARALLEL_BYTES or _WORKERS < 2:
        results = []
        for done, info in enumerate(infos, 1):
            results.append(task(archive, info))
            if progress is not None:
                progress(done, len(infos))
        return results
    local = threading.local()
    opened: list[zipfile.ZipFile] = []

    def run(info: zipfile.ZipInfo) -> _T:
        handle: zipfile.ZipFile | None = getattr(local, "archive", None)
        if handle is None:
            handle = local.archive = zipfile.ZipFile(path)
            opened.append(handle)
        return task(handle, info)

    from concurrent.futures import ThreadPoolExecutor, as_completed  # big wheels only: ~1 ms to import

    results_by_index: dict[int, _T] = {}
    order = sorted(range(len(infos)), key=lambda n: -infos[n].compress_size)  # biggest first
    try:
        with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
            futures = {pool.submit(run, infos[n]): n for n in order}
            for done, future in enumerate(as_completed(futures), 1):
                results_by_index[futures[future]] = future.result()
                if progress is not None:
                    progress(done, len(infos))
    finally:
        for handle in opened:
            handle.close()
    return [results_by_index[n] for n in range(len(infos))]


def _read_member(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    *,
    deep: bool = False,
    budget: InflationBudget | None = None,
) -> NativeFile | None:
    source = ZipMemberSource(archive, info, budget)
    try:
        try:
            if sniff(source.read_at(0, SNIFF_BYTES)) is None:
                return None
        except InvalidArchiveError as exc:
            return _native(info, None, str(exc))
        try:
            return _native(info, read_binary(source, deep=deep), None)
        except (BinaryFormatError, InvalidArchiveError) as exc:
            if not deep:
                return _native(info, None, str(exc))
            error = f"symbol tables or sections unreadable: {exc}"
        try:  # the headers may still be fine: keep what a plain read gives
            return _native(info, read_binary(source), error)
        except (BinaryFormatError, InvalidArchiveError) as exc:
            return _native(info, None, str(exc))
    finally:
        source.close()


def _native(info: zipfile.ZipInfo, binary: BinaryInfo | None, error: str | None) -> NativeFile:
    return NativeFile(
        path=info.filename,
        install_path=install_path(info.filename),
        size=info.file_size,
        fingerprint=f"{info.CRC:08x}:{info.file_size}",
        info=binary,
        error=error,
    )
