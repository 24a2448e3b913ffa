"""Time the ELF writer against Debian's patchelf on the same edits of real libraries, in one run.

    python benchmarks/elf_write.py                 # the default libraries, best of 5
    python benchmarks/elf_write.py --repeat 9 /lib/x86_64-linux-gnu/libLLVM-15.so.1

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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from native_doctor.binary import BytesSource
from native_doctor.binary.elf import read_elf
from native_doctor.binary.elf_write import ElfEdit, check_elf_invariants, edit_elf

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


def _best(repeat: int, run: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


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

    t_patchelf = _best(repeat, with_patchelf)
    t_command = _best(repeat, command)
    t_in_process = _best(repeat, in_process)
    result = ours.read_bytes()
    problems = check_elf_invariants(result)
    after = read_elf(BytesSource(result))
    if after.soname != soname or after.needed[0] != new or after.runpath != ("$ORIGIN",):
        problems += ("the edit did not read back",)
    return Row(
        library=path.name,
        size=len(data),
        patchelf=t_patchelf,
        command=t_command,
        in_process=t_in_process,
        ours_added=len(result) - len(data),
        patchelf_added=theirs.stat().st_size - len(data),
        ours_problems=problems,
        patchelf_problems=check_elf_invariants(theirs.read_bytes()),
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("libraries", nargs="*", default=list(DEFAULT_LIBRARIES))
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
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
