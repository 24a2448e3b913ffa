"""Time the PE import writer against pefile (delvewheel's engine) on real DLLs, in one run.

    python benchmarks/pe_write.py                       # the largest DLL of each cached Windows wheel
    python benchmarks/pe_write.py path/to/some.dll ...

pefile is not a dependency: install it in the same environment to get its column (``pip install
pefile``); without it only native-doctor is timed. For each DLL: native-doctor renames its first
import to a longer (mangled) name, in process (``edit_pe``, output checked with
``check_pe_invariants`` and read back); pefile parses the file and writes it back unchanged (the
least a pefile-based rename costs). Ratios are pefile's time over ours.
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

from _timing import best_seconds

from native_doctor.binary import BytesSource
from native_doctor.binary.pe import read_pe
from native_doctor.binary.pe_write import PeEdit, check_pe_invariants, edit_pe

CORPUS = Path.home() / ".cache" / "native-doctor" / "corpus"


def _corpus_dlls() -> list[tuple[str, bytes]]:
    """The largest DLL or pyd of each cached Windows wheel."""
    found = []
    for wheel in sorted(CORPUS.glob("*-win*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            members = [m for m in archive.infolist() if m.filename.lower().endswith((".dll", ".pyd"))]
            if members:
                biggest = max(members, key=lambda m: m.file_size)
                found.append(
                    (f"{wheel.name.split('-')[0]}:{Path(biggest.filename).name}", archive.read(biggest))
                )
    return found


def _pefile_time(data: bytes, repeat: int) -> float | None:
    try:
        import pefile  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        return None

    def run() -> None:
        pefile.PE(data=data).write()

    return best_seconds(repeat, run)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("dlls", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    inputs = [(p.name, p.read_bytes()) for p in args.dlls] or _corpus_dlls()
    print(f"{'DLL':<58}{'MB':>6}{'pefile':>10}{'ours':>9}{'ratio':>9}  check")
    for name, data in inputs:
        needed = read_pe(BytesSource(data)).needed
        if not needed:
            continue
        old = needed[0]
        stem, _, ext = old.rpartition(".")
        edit = PeEdit(replace_imports={old: f"{stem}-0123abcd.{ext}"}, drop_signature=True)
        ours = best_seconds(args.repeat, lambda: edit_pe(data, edit))  # noqa: B023 - used at once
        result = edit_pe(data, edit)
        ok = (
            not check_pe_invariants(result)
            and read_pe(BytesSource(result)).needed[0] == f"{stem}-0123abcd.{ext}"
        )
        theirs = _pefile_time(data, args.repeat)
        pefile_text = f"{theirs * 1e3:>8.0f}ms" if theirs is not None else f"{'-':>10}"
        ratio = f"{theirs / ours:>8.0f}x" if theirs is not None else f"{'-':>9}"
        row = f"{name[:58]:<58}{len(data) / 1e6:>6.1f}{pefile_text}{ours * 1e3:>7.1f}ms{ratio}"
        print(f"{row}  {'ok' if ok else 'FAILED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
