"""Build small wheels at test time from a mapping of member names to bytes."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from collections.abc import Mapping
from pathlib import Path

__all__ = ["make_wheel"]


def make_wheel(
    directory: Path,
    filename: str,
    members: Mapping[str, bytes],
    *,
    root_is_purelib: bool = False,
    requires_dist: tuple[str, ...] = (),
    compression: int = zipfile.ZIP_DEFLATED,
    extra_dist_info: Mapping[str, bytes] | None = None,
) -> Path:
    """Write a wheel with the given members plus WHEEL, METADATA and RECORD; return its path."""
    name, version, *_ = filename[: -len(".whl")].split("-")
    tags = filename[: -len(".whl")].split("-")[-3:]
    dist_info = f"{name}-{version}.dist-info"
    wheel_text = "Wheel-Version: 1.0\nGenerator: native-doctor-tests\n"
    wheel_text += f"Root-Is-Purelib: {'true' if root_is_purelib else 'false'}\n"
    for platform in tags[2].split("."):
        wheel_text += f"Tag: {tags[0]}-{tags[1]}-{platform}\n"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires_dist)
    files = dict(members)
    files[f"{dist_info}/WHEEL"] = wheel_text.encode()
    files[f"{dist_info}/METADATA"] = metadata.encode()
    for member, data in (extra_dist_info or {}).items():
        files[f"{dist_info}/{member}"] = data
    record = []
    for member, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{member},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    path = directory / filename
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for member, data in files.items():
            archive.writestr(member, data)
    return path
