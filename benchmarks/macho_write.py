"""Time the Mach-O writer (+ ad-hoc signing) against macholib on the same edits, in one run.

    python benchmarks/macho_write.py            # every Mach-O file of the corpus' macOS wheels
    python benchmarks/macho_write.py --repeat 5

The edit is what a macOS repair does to a vendored library: every non-system install name
becomes ``@loader_path/<name>`` and the install id ``@rpath/<name>``. Each tool starts from the
file's bytes and ends with the edited bytes in a file:

* ``native-doctor``: :func:`edit_macho` (load commands rebuilt in the header padding, every
  changed slice signed again: SHA-256 over every page), then one write;
* ``macholib``: copy the file, ``MachO(path).rewriteLoadCommands(...)``, ``write`` the headers
  back (what py2app and repairwheel use). It does not sign: on arm64 the result would be killed
  at load time, so ``codesign`` (or our signer) would still have to run after it.

Ratios are macholib's time over native-doctor's (above 1: native-doctor is faster).
"""

from __future__ import annotations

import argparse
import posixpath
import sys
import tempfile
import zipfile
from pathlib import Path

from native_doctor.binary import read_binary
from native_doctor.binary.macho_write import MachOEdit, MachOWriteError, edit_macho
from native_doctor.platforms.macos import is_system_library

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _timing import best_seconds

from _corpus import ensure, wheels


def _files() -> list[tuple[str, bytes]]:
    found = []
    for entry in wheels():
        if not entry.family.startswith("macos") or entry.benchmark_only:
            continue
        with zipfile.ZipFile(ensure(entry)) as archive:
            for name in archive.namelist():
                if name.endswith((".so", ".dylib")):
                    found.append((f"{entry.filename}:{name}", archive.read(name)))
    return found


def _edit(data: bytes) -> MachOEdit:
    info = read_binary(data)
    names = {n: f"@loader_path/{posixpath.basename(n)}" for n in info.needed if not is_system_library(n)}
    install_id = f"@rpath/{posixpath.basename(info.install_name)}" if info.install_name else None
    return MachOEdit(change_names=names, install_id=install_id, identifier="bench")


def _macholib(data: bytes, edit: MachOEdit, folder: Path) -> None:
    from macholib.MachO import MachO

    path = folder / "m.bin"
    path.write_bytes(data)

    def change(old: str) -> str | None:
        if edit.install_id is not None and old == _id:
            return edit.install_id
        return edit.change_names.get(old)

    _id = read_binary(data).install_name
    macho = MachO(str(path))
    macho.rewriteLoadCommands(change)
    with path.open("r+b") as handle:
        macho.write(handle)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    files = _files()
    total_ours = total_theirs = 0.0
    edited = refused = 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for _label, data in files:
            edit = _edit(data)
            try:
                edit_macho(data, edit)
            except MachOWriteError:
                refused += 1
                continue
            edited += 1
            write = lambda: (folder / "o.bin").write_bytes(edit_macho(data, edit))  # noqa: B023, E731
            total_ours += best_seconds(args.repeat, write)
            total_theirs += best_seconds(args.repeat, lambda: _macholib(data, edit, folder))  # noqa: B023
    size = sum(len(d) for _, d in files) / 1e6
    print(f"{edited} Mach-O files edited ({refused} refused: no header padding), {size:.1f} MB in all")
    print(f"native-doctor (edit + sign): {total_ours * 1000:8.1f} ms")
    print(f"macholib (edit, no signing): {total_theirs * 1000:8.1f} ms")
    print(f"ratio macholib / native-doctor: {total_theirs / total_ours:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
