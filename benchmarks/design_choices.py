"""Reproduce the measurements docs/design.md gives for hand-written parts.

    python benchmarks/design_choices.py

1. Reading DT_NEEDED and the version needs of the first 300 system libraries
   (``/usr/lib/x86_64-linux-gnu/*.so.*``, sorted) with pyelftools (a test dependency, via
   auditwheel) against native-doctor's ELF reader, both from disk, one process.
2. How many reads (and bytes) native-doctor's ELF reader makes for libstdc++.so.6.
3. What importing ``email.parser`` costs at start-up (``python -X importtime``), which the
   METADATA header reader avoids; the same for the modules the start-up path avoids
   (``packaging.utils``, ``importlib.resources``, ``tempfile``, ``uuid``, ``tarfile``).
4. The kernel copy the repair's wheel writer makes (``--copy-mb``, default 256; 0 skips it): a file
   of random bytes copied with ``os.copy_file_range`` in one call from offset 0 to 0 (what ``cp``
   does), in one call from an odd input offset to an output offset that differs from it (by 30
   bytes, by 4 KiB), and in calls that end on 1 MiB boundaries of the input into an output offset
   equal to the input's modulo 64 KiB (what the writer does). CPU time, best of 5.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path


def _pyelftools(files: list[Path]) -> float:
    from elftools.common.exceptions import ELFError
    from elftools.elf.dynamic import DynamicSection
    from elftools.elf.elffile import ELFFile
    from elftools.elf.gnuversions import GNUVerNeedSection

    start = time.perf_counter()
    for path in files:
        with path.open("rb") as handle:
            try:
                elf = ELFFile(handle)
                for section in elf.iter_sections():
                    if isinstance(section, DynamicSection):
                        [t.needed for t in section.iter_tags() if t.entry.d_tag == "DT_NEEDED"]
                    elif isinstance(section, GNUVerNeedSection):
                        [(v.name, [a.name for a in aux]) for v, aux in section.iter_versions()]
            except ELFError:
                continue
    return time.perf_counter() - start


def _ours(files: list[Path]) -> float:
    from native_doctor.binary import read_binary
    from native_doctor.errors import BinaryFormatError
    from native_doctor.sources._file import FileSource

    start = time.perf_counter()
    for path in files:
        with FileSource(path) as source:
            try:
                read_binary(source)
            except BinaryFormatError:
                continue
    return time.perf_counter() - start


def _reads(path: Path) -> tuple[int, int, int]:
    """(reads, bytes read, file size) of one ``read_binary`` of ``path``."""
    from native_doctor.binary import read_binary
    from native_doctor.sources._file import FileSource

    class Counting(FileSource):
        __slots__ = ("read_bytes", "reads")

        def read_at(self, offset: int, length: int) -> bytes:
            data = super().read_at(offset, length)
            self.reads += 1
            self.read_bytes += len(data)
            return data

    with Counting(path) as source:
        source.reads = source.read_bytes = 0
        read_binary(source)
        return source.reads, source.read_bytes, source.size


def _import_cost(module: str) -> float:
    """Cumulative microseconds ``python -X importtime`` reports for ``module``, best of 5."""
    best = float("inf")
    for _ in range(5):
        err = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import {module}"],
            capture_output=True,
            text=True,
            check=True,
        ).stderr
        line = [x for x in err.splitlines() if x.rstrip().endswith(f"| {module}")][-1]
        best = min(best, int(re.split(r"\s*\|\s*", line)[1]))
    return best / 1000


def _copy(source: Path, target: Path, start: int, shift: int, step: int) -> float:
    """CPU seconds to copy ``source[start:]`` to ``target`` at ``start + shift`` (calls ending on
    multiples of ``step`` of the input when ``step`` is not 0)."""
    import os

    target.unlink(missing_ok=True)
    size = source.stat().st_size
    src = os.open(source, os.O_RDONLY)
    dst = os.open(target, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.pwrite(dst, bytes(start + shift), 0)
        began = time.process_time()
        done = start
        while done < size:
            want = size - done if not step else min(size - done, step - done % step)
            done += os.copy_file_range(src, dst, want, done, done + shift)
        return time.process_time() - began
    finally:
        os.close(src)
        os.close(dst)


def _copies(megabytes: int) -> None:
    import os
    import tempfile

    with tempfile.TemporaryDirectory(prefix="nd-copy-") as tmp:
        source, target = Path(tmp) / "in", Path(tmp) / "out"
        with source.open("wb") as handle:
            for _ in range(megabytes):
                handle.write(os.urandom(1 << 20))
        cases = {
            "one call, offset 0 to 0 (cp)": (0, 0, 0),
            "one call, from offset 49, output 30 bytes further": (49, 30, 0),
            "one call, from offset 49, output 4 KiB further": (49, 4096, 0),
            "1 MiB calls, from offset 49, output 64 KiB further": (49, 65536, 1 << 20),
        }
        best = dict.fromkeys(cases, float("inf"))
        for _ in range(5):
            for label, (start, shift, step) in cases.items():
                best[label] = min(best[label], _copy(source, target, start, shift, step))
        for label, seconds in best.items():
            print(f"copy_file_range {megabytes} MiB, {label}: {seconds:.3f} s CPU")


def main() -> int:
    """Print the measurements."""
    import argparse

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--copy-mb", type=int, default=256, help="size of the copy measurement (0: skip)")
    args = parser.parse_args()
    files = sorted(p for p in Path("/usr/lib/x86_64-linux-gnu").glob("*.so.*") if p.is_file())[:300]
    _ours(files[:10])  # warm imports
    _pyelftools(files[:10])
    ours = min(_ours(files) for _ in range(3))
    theirs = min(_pyelftools(files) for _ in range(3))
    ratio = theirs / ours
    print(
        f"{len(files)} system libraries: pyelftools {theirs:.3f} s, native-doctor {ours:.3f} s, {ratio:.1f}x"
    )
    libstdcxx = Path("/usr/lib/x86_64-linux-gnu/libstdc++.so.6")
    if libstdcxx.exists():
        reads, read_bytes, size = _reads(libstdcxx)
        print(f"libstdc++.so.6: {reads} reads, {read_bytes / 1024:.0f} KB of {size / 1e6:.1f} MB")
    for module in ("email.parser", "packaging.utils", "importlib.resources", "tempfile", "uuid", "tarfile"):
        print(f"import {module}: {_import_cost(module):.1f} ms (cumulative, best of 5)")
    if args.copy_mb:
        _copies(args.copy_mb)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
