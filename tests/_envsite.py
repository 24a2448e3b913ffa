"""A one-distribution site-packages for the environment caches' tests."""

from __future__ import annotations

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
