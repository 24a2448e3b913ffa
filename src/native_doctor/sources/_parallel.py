"""Run one function over groups of work in forked children (Linux), results pickled back.

The caller's own process does the last group while the children do the others; each child
computes, writes its pickled result to a pipe and leaves with ``os._exit`` (no ``atexit``
handlers, no buffered output flushed, nothing printed: a progress display may be running on a
thread of the parent). Any failure of a child (an exception, a crash, a kill, a result that does
not unpickle or that ``valid`` rejects, a child silent for too long) means the parent does that
group itself, so the results never depend on whether the children worked.

Only where ``os.fork`` is the platform's own way (Linux); elsewhere, with one usable CPU or one
group, everything runs in the calling process.
"""

from __future__ import annotations

import contextlib
import copyreg
import gc
import io
import os
import pickle
import select
import signal
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, TypeVar

__all__ = ["balanced_groups", "can_fork", "run_groups", "share_items", "share_order", "usable_cpus"]

G = TypeVar("G")
R = TypeVar("R")

#: A child that has written nothing for this long after the parent finished its own group
#: (about as much work; the wait is at least five times that) is taken as stuck: killed, its
#: group done by the parent. Long enough for files read from a slow disk for the first time.
MIN_WAIT_SECONDS = 120.0
_CHUNK = 1 << 20


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def can_fork() -> bool:
    """Whether work is split over forked children here (Linux only)."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def balanced_groups(weights: Sequence[int], count: int) -> list[list[int]]:
    """Indices of ``weights`` split into at most ``count`` non-empty groups of about equal total
    weight (the heaviest item first into the lightest group); each group in index order, the
    heaviest group first."""
    count = max(1, min(count, len(weights)))
    groups: list[list[int]] = [[] for _ in range(count)]
    totals = [0] * count
    for index in sorted(range(len(weights)), key=lambda i: (-weights[i], i)):
        lightest = min(range(count), key=lambda g: (totals[g], g))
        groups[lightest].append(index)
        totals[lightest] += weights[index]
    order = sorted(range(count), key=lambda g: (-totals[g], g))
    return [sorted(groups[g]) for g in order if groups[g]]


def share_order(indices: Sequence[int], weights: Sequence[int]) -> list[int]:
    """``indices`` in the order :func:`share_items` shares them best: the heaviest first (the child
    starts on it at once), then the others lightest first, so that this process, coming from
    the back, takes the heavy ones and the two meet among light items (a heavy item last would
    keep one process busy while the other has nothing left)."""
    ranked = sorted(indices, key=lambda i: (-weights[i], i))
    return ranked[:1] + ranked[:0:-1]


def run_groups(
    work: Callable[[G], R],
    groups: Sequence[G],
    valid: Callable[[G, object], bool],
    *,
    preload: Callable[[], None] | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> list[R]:
    """``[work(g) for g in groups]``: the last group here, the others in forked children.

    :param valid: whether what a child sent back for a group is a result of ``work`` for it (else
        the parent redoes the group).
    :param preload: called once before forking (imports the children need: a module being
        imported by another thread at the time of the fork could never be imported in the child).
    :param meanwhile: called once here before this process's own group, while the children work
        (give this process the lightest group: :func:`balanced_groups` puts it last).
    """
    if len(groups) <= 1 or not can_fork():
        if meanwhile is not None:
            meanwhile()
        return [work(group) for group in groups]
    if preload is not None:
        preload()
    others, own = groups[:-1], groups[-1]
    children: list[tuple[int, int] | None] = []
    try:
        for group in others:
            children.append(_spawn(work, group, [c[1] for c in children if c is not None]))
        started = time.monotonic()
        if meanwhile is not None:
            meanwhile()
        mine = work(own)
        wait = max(MIN_WAIT_SECONDS, 5 * (time.monotonic() - started))
        results: list[R] = []
        for number, group in enumerate(others):
            child, children[number] = children[number], None
            found = _collect(child, wait) if child is not None else _FAILED
            results.append(found if found is not _FAILED and valid(group, found) else work(group))  # type: ignore[arg-type]
        return [*results, mine]
    finally:
        for child in children:
            if child is not None:
                _kill(child)


_FAILED = object()


def share_items(
    work: Callable[[int], R],
    count: int,
    valid: Callable[[int, object], bool],
    *,
    children: int = 1,
    sizes: Sequence[int] | None = None,
    preload: Callable[[], None] | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> list[R]:
    """``[work(i) for i in range(count)]``, shared with ``children`` forked children so that
    each process keeps busy until every item is done.

    The items are cut into one consecutive share per child (``sizes``: how many items each share
    holds; default: about as many in each); each child computes its share from the front and
    sends each result as soon as it has it. This process runs ``meanwhile``, then computes from
    the back of the share with the most items left, taking what the children sent on the way,
    until only the items the children are computing are left, and waits for those (put the
    costly items first). ``valid(index, result)``: whether what a child sent is a result of
    ``work`` for that item. A child that fails, dies, sends what does not unpickle or what
    ``valid`` rejects, or is silent for long (at least :data:`MIN_WAIT_SECONDS`, and five times
    what this process took since ``meanwhile``) is ended and its items are done here. ``preload``
    is called once before forking (see :func:`run_groups`).
    """
    children = min(children, count)
    if children < 1 or not can_fork():
        if meanwhile is not None:
            meanwhile()
        return [work(index) for index in range(count)]
    if sizes is None or len(sizes) != children or sum(sizes) != count or min(sizes) < 1:
        sizes = [count * (n + 1) // children - count * n // children for n in range(children)]
    bounds = [sum(sizes[:number]) for number in range(children + 1)]
    if preload is not None:
        preload()
    fronts, backs = bounds[:-1], [bound - 1 for bound in bounds[1:]]  # each share's next items
    found: dict[int, R] = {}
    streams: list[_Stream | None] = []
    try:
        for number in range(children):
            others = [s.descriptor for s in streams if s is not None]
            streams.append(_stream(work, range(bounds[number], bounds[number + 1]), others))
        if meanwhile is not None:
            meanwhile()
        started = time.monotonic()
        while True:
            for number, stream in enumerate(streams):
                if stream is None:
                    continue
                for index, value in stream.take():
                    if index != fronts[number] or not valid(index, value):
                        stream.ended = True
                        break
                    found.setdefault(index, value)
                    fronts[number] += 1
                if stream.ended:
                    streams[number] = None
                    _kill((stream.pid, stream.descriptor))
            # Items of each share not sent yet; a live child's next one is being computed there.
            left = [backs[number] - fronts[number] + 1 for number in range(children)]
            free = [left[n] - (streams[n] is not None and left[n] > 0) for n in range(children)]
            number = max(range(children), key=lambda n: free[n])
            if free[number] > 0:
                found.setdefault(backs[number], work(backs[number]))
                backs[number] -= 1
                continue
            waiting = [s for n, s in enumerate(streams) if s is not None and left[n] > 0]
            if not waiting:
                break
            # Only the items the children are computing are left: wait for one of them (a child
            # silent for long is taken as stuck and its item done here).
            wait = max(MIN_WAIT_SECONDS, 5 * (time.monotonic() - started))
            ready, _, _ = select.select([s.descriptor for s in waiting], [], [], wait)
            if not ready:
                for stream in waiting:
                    stream.ended = True
        return [found[index] for index in range(count)]
    finally:
        for stream in streams:
            if stream is not None:
                _kill((stream.pid, stream.descriptor))


_FRAME = 8  # bytes of an item's header: its index and its pickle's length


class _Stream:
    """A child sending (index, result) frames, read here without waiting."""

    def __init__(self, pid: int, descriptor: int) -> None:
        self.pid, self.descriptor = pid, descriptor
        self.ended = False
        self._buffer = bytearray()

    def take(self) -> list[tuple[int, Any]]:
        """The frames that arrived since the last call (none when the child sent nothing yet);
        ``ended`` once the pipe is closed or what came is not a frame."""
        while not self.ended:
            try:
                ready, _, _ = select.select([self.descriptor], [], [], 0)
                chunk = os.read(self.descriptor, _CHUNK) if ready else None
            except OSError:
                chunk = b""
            if chunk is None:
                break
            if not chunk:
                self.ended = True
            self._buffer += chunk
        frames: list[tuple[int, Any]] = []
        start = 0
        while len(self._buffer) - start >= _FRAME:
            index = int.from_bytes(self._buffer[start : start + 4], "little")
            size = int.from_bytes(self._buffer[start + 4 : start + _FRAME], "little")
            if len(self._buffer) - start - _FRAME < size:
                break
            try:  # from our own forked child
                value = pickle.loads(self._buffer[start + _FRAME : start + _FRAME + size])
            except Exception:  # any garbage: the child's items are done here
                self.ended = True
                break
            frames.append((index, value))
            start += _FRAME + size
        del self._buffer[:start]
        return frames


def _stream(work: Callable[[int], R], items: range, others: Sequence[int]) -> _Stream | None:
    """Fork a child that sends an (index, ``work(index)``) frame for each of ``items`` in turn."""

    def send(write_end: int) -> None:  # pragma: no cover - runs in the child
        for index in items:
            data = dumps(work(index))
            frame = memoryview(index.to_bytes(4, "little") + len(data).to_bytes(4, "little") + data)
            while frame:
                frame = frame[os.write(write_end, frame) :]

    child = _fork(send, others)
    return None if child is None else _Stream(*child)


def _fork(body: Callable[[int], None], others: Sequence[int]) -> tuple[int, int] | None:
    """Fork a child that runs ``body(write end of a pipe)`` quietly: (pid, read end), or None
    when no child could be started."""
    try:
        read_end, write_end = os.pipe()
    except OSError:
        return None
    try:
        with warnings.catch_warnings():
            # Python 3.12+ warns that forking a process with threads may deadlock the child: the
            # child here only computes (its imports were done before the fork) and never takes a
            # lock another thread may hold (no printing, no logging).
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return None
    if pid == 0:  # pragma: no cover - runs in the child, which leaves with os._exit
        code = 1
        try:
            _quiet(read_end, others)
            body(write_end)
            code = 0
        except BaseException:  # the parent does the work instead; nothing may be printed here
            pass
        finally:
            os._exit(code)
    os.close(write_end)
    return pid, read_end


def _quiet(read_end: int, others: Sequence[int]) -> None:  # pragma: no cover - runs in the child
    """A child's set-up. What the parent made is left to it: the collector never walks (and so
    never copies) the inherited objects' pages. Ctrl-C ends the child, not a traceback. Nothing
    reaches the parent's streams: another thread (a progress display) may have held their locks
    when the process forked, and a warning written there would wait forever."""
    gc.freeze()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    warnings.simplefilter("ignore")
    sys.stdout = sys.stderr = _Discard()
    os.close(read_end)
    for descriptor in others:
        with contextlib.suppress(OSError):
            os.close(descriptor)


def _spawn(work: Callable[[G], R], group: G, others: Sequence[int]) -> tuple[int, int] | None:
    """Fork a child that runs ``work(group)`` and writes the pickled result: (pid, pipe), or None
    when no child could be started."""

    def send(write_end: int) -> None:  # pragma: no cover - runs in the child
        data = memoryview(dumps(work(group)))
        while data:
            data = data[os.write(write_end, data) :]

    return _fork(send, others)


class _Discard(io.TextIOBase):
    """A text stream that drops what is written to it."""

    def write(self, text: str) -> int:
        return len(text)


def _collect(child: tuple[int, int], wait: float) -> object:
    """The child's unpickled result, or ``_FAILED`` (it failed, died, was silent for ``wait``
    seconds, or sent what does not unpickle). The child is reaped either way."""
    pid, read_end = child
    chunks: list[bytes] = []
    try:
        while True:
            ready, _, _ = select.select([read_end], [], [], wait)
            if not ready:
                _kill(child)
                return _FAILED
            chunk = os.read(read_end, _CHUNK)
            if not chunk:
                break
            chunks.append(chunk)
    except OSError:
        _kill(child)
        return _FAILED
    os.close(read_end)
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return _FAILED
    if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
        return _FAILED
    try:
        return pickle.loads(b"".join(chunks))  # from our own forked child
    except Exception:  # any garbage: the parent redoes the group
        return _FAILED


def _kill(child: tuple[int, int]) -> None:
    pid, read_end = child
    with contextlib.suppress(OSError):
        os.close(read_end)
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        os.waitpid(pid, 0)


def _proxy(items: dict[Any, Any]) -> Mapping[Any, Any]:
    return MappingProxyType(items)


def _reduce_proxy(proxy: MappingProxyType[Any, Any]) -> tuple[Any, ...]:
    return _proxy, (dict(proxy),)


_DISPATCH = copyreg.dispatch_table.copy()
_DISPATCH[MappingProxyType] = _reduce_proxy


def dumps(value: object) -> bytes:
    """``value`` pickled, read-only mappings (``MappingProxyType``, in the binary models) included."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _DISPATCH
    pickler.dump(value)
    return buffer.getvalue()
