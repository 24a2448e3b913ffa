"""Time the ELF writer against Debian's patchelf on the same edits of real libraries, in one run.

    python benchmarks/elf_write.py                 # the default libraries, best of 5
    python benchmarks/elf_write.py --repeat 9 /lib/x86_64-linux-gnu/libLLVM-15.so.1
    python benchmarks/elf_write.py --sweep /lib/x86_64-linux-gnu   # + every library there, once

The edit is what a repair does to a grafted library: a new (longer, hash-mangled) SONAME, the
first DT_NEEDED renamed to a mangled name, and RUNPATH set to ``$ORIGIN``. Each tool reads the
input file and writes an output file:

* ``native-doctor (in process)``: read bytes, :func:`edit_elf`, write bytes;
* ``native-doctor (command)``: the same in a fresh ``python -c`` (interpreter start-up and imports
  included, as a repair that shells out would pay them);
* ``patchelf``: ``patchelf --set-soname … --replace-needed … --set-rpath … --output OUT IN``.

Both outputs are checked with :func:`check_elf_invariants` and re-read; the size each tool adds
is reported. Ratios are patchelf's time over native-doctor's.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _timing import best_seconds

from native_doctor.binary import BytesSource
from native_doctor.binary.elf import read_elf
from native_doctor.binary.elf_write import ElfEdit, ElfWriteError, check_elf_invariants, edit_elf

DEFAULT_LIBRARIES = (
    "/lib/x86_64-linux-gnu/libz.so.1",
    "/lib/x86_64-linux-gnu/libstdc++.so.6",
    "/lib/x86_64-linux-gnu/libz3.so.4",
    "/lib/x86_64-linux-gnu/libLLVM-15.so.1",
)
_COMMAND = """
import sys
from pathlib import Path
from native_doctor.binary.elf_write import ElfEdit, edit_elf
src, dst, soname, old, new = sys.argv[1:]
edit = ElfEdit(soname=soname, replace_needed={old: new}, runpath=("$ORIGIN",))
Path(dst).write_bytes(edit_elf(Path(src).read_bytes(), edit))
"""


def _mangled(name: str) -> str:
    stem, dot, rest = name.partition(".so")
    return f"{stem}-1a2b3c4d{dot}{rest}"


@dataclass(frozen=True)
class Row:
    library: str
    size: int
    patchelf: float
    command: float
    in_process: float
    ours_added: int
    patchelf_added: int
    ours_problems: tuple[str, ...]
    patchelf_problems: tuple[str, ...]


def _measure(path: Path, repeat: int, patchelf: str, work: Path) -> Row:
    data = path.read_bytes()
    info = read_elf(BytesSource(data))
    soname = _mangled(info.soname or path.name)
    old = info.needed[0]
    new = _mangled(old)
    edit = ElfEdit(soname=soname, replace_needed={old: new}, runpath=("$ORIGIN",))
    ours, theirs = work / "ours.so", work / "patchelf.so"

    def in_process() -> None:
        ours.write_bytes(edit_elf(path.read_bytes(), edit))

    def command() -> None:
        subprocess.run([sys.executable, "-c", _COMMAND, path, ours, soname, old, new], check=True)

    def with_patchelf() -> None:
        options = ["--set-soname", soname, "--replace-needed", old, new, "--set-rpath", "$ORIGIN"]
        subprocess.run([patchelf, *options, "--output", str(theirs), str(path)], check=True)

    t_patchelf = best_seconds(repeat, with_patchelf)
    t_command = best_seconds(repeat, command)
    t_in_process = best_seconds(repeat, in_process)

    def verify(result: bytes) -> tuple[str, ...]:
        problems = check_elf_invariants(result)
        after = read_elf(BytesSource(result))
        if after.soname != soname:
            problems += (f"SONAME is {after.soname}",)
        if after.needed[0] != new:
            problems += (f"DT_NEEDED is {after.needed[0]}",)
        if after.runpath != ("$ORIGIN",):
            problems += (f"RUNPATH is {':'.join(after.runpath)}",)
        return problems

    result = ours.read_bytes()
    return Row(
        library=path.name,
        size=len(data),
        patchelf=t_patchelf,
        command=t_command,
        in_process=t_in_process,
        ours_added=len(result) - len(data),
        patchelf_added=theirs.stat().st_size - len(data),
        ours_problems=verify(result),
        patchelf_problems=verify(theirs.read_bytes()),
    )


def _line(row: Row) -> str:
    checks = "; ".join(row.ours_problems) or "ours ok"
    if row.patchelf_problems:
        checks += f"; patchelf: {'; '.join(row.patchelf_problems)}"
    return (
        f"{row.library:<24}{row.size / 1e6:>8.1f}{row.patchelf * 1e3:>8.1f}ms{row.command * 1e3:>8.1f}ms"
        f"{row.in_process * 1e3:>8.1f}ms{row.patchelf / row.command:>9.1f}x"
        f"{row.patchelf / row.in_process:>9.1f}x{row.ours_added:>12}{row.patchelf_added:>11}  {checks}"
    )


def sweep(directory: Path) -> str:
    """Give every ELF file of ``directory`` a repair's edit; count sound outputs (no timing)."""
    files = [p for p in sorted(directory.glob("*.so*")) if p.is_file() and not p.is_symlink()]
    edited = sound = refused = 0
    start = time.perf_counter()
    for path in files:
        data = path.read_bytes()
        if data[:4] != b"\x7fELF" or check_elf_invariants(data):
            continue
        info = read_elf(BytesSource(data))
        soname = _mangled(info.soname or path.name)
        replace = {info.needed[0]: _mangled(info.needed[0])} if info.needed else {}
        edit = ElfEdit(soname=soname, replace_needed=replace, runpath=("$ORIGIN/../x.libs",))
        try:
            result = edit_elf(data, edit)
        except ElfWriteError as exc:
            refused += 1
            print(f"refused {path.name}: {exc}")
            continue
        edited += 1
        after = read_elf(BytesSource(result))
        expected = tuple(replace.get(n, n) for n in info.needed)
        if not check_elf_invariants(result) and after.soname == soname and after.needed == expected:
            sound += 1
        else:
            print(f"NOT SOUND {path.name}: {check_elf_invariants(result)}")
    elapsed = time.perf_counter() - start
    return f"{directory}: {edited} ELF files edited, {sound} sound, {refused} refused, {elapsed:.1f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("libraries", nargs="*", default=list(DEFAULT_LIBRARIES))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sweep", type=Path, help="also edit every ELF file of this directory once")
    args = parser.parse_args(argv)
    if args.sweep is not None:
        print(sweep(args.sweep))
    patchelf = shutil.which("patchelf")
    if patchelf is None:
        print("needs patchelf on PATH (apt-get install patchelf)", file=sys.stderr)
        return 2
    version = subprocess.run([patchelf, "--version"], capture_output=True, text=True, check=True).stdout
    print(f"{version.strip()}, Python {sys.version.split()[0]}, best of {args.repeat}")
    header = (
        f"{'library':<24}{'MB':>8}{'patchelf':>10}{'ours cmd':>10}{'ours lib':>10}"
        f"{'ratio cmd':>10}{'ratio lib':>10}{'+bytes ours':>12}{'+bytes pe':>11}  checks"
    )
    print(header)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.libraries:
            path = Path(name)
            if not path.is_file():
                print(f"{path.name:<24} missing, skipped")
                continue
            print(_line(_measure(path, args.repeat, patchelf, Path(tmp))), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
