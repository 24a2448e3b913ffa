"""A one-distribution site-packages for the environment caches' tests."""

from __future__ import annotations

import os
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
