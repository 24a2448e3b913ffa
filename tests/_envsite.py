"""A one-distribution site-packages for the environment caches' tests."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path


def install_demo(site: Path, data: bytes) -> None:
    """Install ``demo`` 1.0 into ``site``: one extension module (``data``) listed by RECORD."""
    dist_info = site / "demo-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (site / "demo").mkdir()
    (site / "demo" / "_ext.cpython-311-x86_64-linux-gnu.so").write_bytes(data)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n")
    (dist_info / "INSTALLER").write_text("pip\n")
    (dist_info / "RECORD").write_text("demo/_ext.cpython-311-x86_64-linux-gnu.so,,\n")


def add_loader_module(site: Path, library: str) -> Path:
    """Give ``demo`` (see :func:`install_demo`) a ``demo/__init__.py`` that loads ``library`` by
    name at import (``ctypes.CDLL``), listed by RECORD; the module's path."""
    module = site / "demo" / "__init__.py"
    module.write_text(f'import ctypes\nctypes.CDLL("{library}")\n')
    record = site / "demo-1.0.dist-info" / "RECORD"
    record.write_text(record.read_text() + "demo/__init__.py,,\n")
    return module


def edit_in_place(path: Path, old: str, new: str) -> None:
    """Replace ``old`` with ``new`` in the file at ``path`` (same inode), as an editor saving in
    place does: the folder's modification time is left as it was, the file's own moves on."""
    folder = path.parent.stat()
    status = path.stat()
    with path.open("r+") as handle:
        text = handle.read().replace(old, new)
        handle.seek(0)
        handle.write(text)
        handle.truncate()
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 1_000_000_000))
    os.utime(path.parent, ns=(folder.st_atime_ns, folder.st_mtime_ns))


def install(
    site: Path,
    name: str,
    files: dict[str, bytes],
    *,
    tag: str = "cp311-cp311-linux_x86_64",
    record: Sequence[str] = (),
) -> Path:
    """Lay out an installed distribution the way an installer would: files plus a .dist-info (its
    path); ``record``: more RECORD lines (files the installer listed that are not in ``files``)."""
    dist_info = site / f"{name}-1.0.dist-info"
    dist_info.mkdir(parents=True)
    for relative, data in files.items():
        target = site / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (dist_info / "WHEEL").write_text(f"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: {tag}\n")
    (dist_info / "INSTALLER").write_text("pip\n")
    lines = [f"{relative},," for relative in files] + list(record)
    lines += [f"{name}-1.0.dist-info/{n},," for n in ("METADATA", "WHEEL", "INSTALLER", "RECORD")]
    (dist_info / "RECORD").write_text("\n".join(lines) + "\n")
    return dist_info


def add_varied_distributions(site: Path, elf_pair: dict[str, bytes]) -> None:
    """Add to ``site`` what each part of the environment read records: a library loaded by name
    from Python, a RECORD entry whose file is gone, a native file no RECORD lists, a DLL-hook
    file, and more distributions than processes (for comparing ``--jobs``)."""
    install(
        site,
        "loader",
        {
            "loader/__init__.py": b'import ctypes\nctypes.CDLL("libnot-here-anywhere.so.9")\n',
            "loader/gone.py": b"",
            "loader/_ext.so": elf_pair["_ext.so"],
        },
    )
    (site / "loader" / "gone.py").unlink()
    install(site, "hooked", {"hooked/__init__.py": b"", "_hooked_delvewheel.py": b"# hook\n"})
    for number in range(5):
        install(site, f"plain{number}", {f"plain{number}/__init__.py": b"x = 1\n" * (number + 1)})
    (site / "stray").mkdir()
    (site / "stray" / "_old.cpython-311-x86_64-linux-gnu.so").write_bytes(elf_pair["_ext.so"])
