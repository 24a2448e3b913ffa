"""Shared builder for synthetic macOS wheels: a dylib graph built with clang + ld64.lld.

The graph: ``demo/_ext.cpython-312-darwin.so`` needs ``libbar`` by a Homebrew-style absolute
install name and ``libweak`` weakly (``@rpath``, through a build-machine LC_RPATH); ``libbar``
needs ``libfoo`` through ``@rpath`` and its own LC_RPATH, and ``libweak`` weakly. The dylibs land
in a ``lib`` folder outside the wheel (the ``--lib-path`` of the repair).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from _macho_builds import MachOBuilder
from _wheels import make_wheel

__all__ = ["BAR_ID", "MacWheel", "build_mac_wheel"]

BAR_ID = "/opt/homebrew/opt/bar/lib/libbar.dylib"
EXT_SRC = Path(__file__).parent / "repair" / "macos_src" / "ext.c"
PAD = ("-Wl,-headerpad_max_install_names",)
TAGS = {"arm64": "macosx_11_0_arm64", "x86_64": "macosx_10_9_x86_64", "universal2": "macosx_10_9_universal2"}


@dataclass(frozen=True)
class MacWheel:
    wheel: Path
    lib: Path


def _graph(
    b: MachOBuilder,
    arch: str,
    foo_min_os: str | None,
    pad_ext: bool,
    bar_id: str,
    ext_rpaths: tuple[str, ...],
) -> dict[str, Path]:
    system = b.system(arch)
    foo = b.link(
        "libfoo.dylib", "foo.c", arch, install_name="@rpath/libfoo.dylib", min_os=foo_min_os, extra=PAD
    )
    weak = b.link("libweak.dylib", "weak.c", arch, install_name="@rpath/libweak.dylib", extra=PAD)
    bar = b.link(
        "libbar.dylib",
        "bar.c",
        arch,
        install_name=bar_id,
        libs=(foo, system),
        weak=(weak,),
        rpaths=("/opt/homebrew/opt/foo/lib", "@loader_path/../../foo/lib"),
        extra=PAD,
    )
    ext = b.link(
        "_ext.so",
        EXT_SRC,
        arch,
        mode="-bundle",
        libs=(bar, system),
        weak=(weak,),
        rpaths=ext_rpaths,
        extra=PAD if pad_ext else (),
    )
    return {"libfoo.dylib": foo, "libweak.dylib": weak, "libbar.dylib": bar, "ext": ext}


def build_mac_wheel(
    folder: Path,
    arch: str,
    *,
    foo_min_os: str | None = None,
    pad_ext: bool = True,
    bar_id: str = BAR_ID,
    ext_rpaths: tuple[str, ...] = ("/Users/ci/build/lib", "@loader_path"),
) -> MacWheel:
    """A wheel for ``arch`` (``arm64``, ``x86_64`` or ``universal2``) and its ``lib`` folder.

    ``pad_ext=False`` links the extension without ``-headerpad_max_install_names`` (ld64.lld then
    leaves almost no room after the load commands).
    """
    name = "demo"
    b = MachOBuilder(folder / "build")
    lib = folder / "lib"
    lib.mkdir(parents=True, exist_ok=True)
    if arch == "universal2":
        arm = _graph(b, "arm64", foo_min_os, pad_ext, bar_id, ext_rpaths)
        intel = _graph(b, "x86_64", None, pad_ext, bar_id, ext_rpaths)
        files = {k: b.fat(f"fat-{k}", intel[k], arm[k]) for k in arm}
    else:
        files = _graph(b, arch, foo_min_os, pad_ext, bar_id, ext_rpaths)
    for key, path in files.items():
        if key != "ext":
            (lib / key).write_bytes(path.read_bytes())
    members = {f"{name}/__init__.py": b"", f"{name}/_ext.cpython-312-darwin.so": files["ext"].read_bytes()}
    wheel = make_wheel(folder, f"{name}-1.0-cp312-cp312-{TAGS[arch]}.whl", members)
    return MacWheel(wheel, lib)
