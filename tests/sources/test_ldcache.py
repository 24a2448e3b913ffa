"""The ld.so.cache reader: synthetic images of every layout, ``ldconfig -p`` as the oracle, fuzzing."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _toolchain import require, run, unavailable
from native_doctor.errors import BinaryFormatError
from native_doctor.sources.ldcache import (
    CacheEntry,
    arch_for_machine,
    entry_type,
    parse_ld_cache,
    read_ld_cache,
)

X86_64 = 0x0303  # FLAG_ELF_LIBC6 | FLAG_X8664_LIB64
AARCH64 = 0x0A03
I386 = 0x0003

#: ``ldconfig -p``'s spelling of the required bits (glibc elf/cache.c, print_entry).
_LDCONFIG_ARCH = {
    "sparc64": ",64bit",
    "ia64": ",IA-64",
    "x86_64": ",x86-64",
    "s390x": ",64bit",
    "ppc64": ",64bit",
    "mips64-n32": ",N32",
    "mips64": ",64bit",
    "x32": ",x32",
    "armhf": ",hard-float",
    "aarch64": ",AArch64",
    "armel": ",soft-float",
    "mips-nan2008": ",nan2008",
    "mips64-n32-nan2008": ",N32,nan2008",
    "mips64-nan2008": ",64bit,nan2008",
    "riscv-soft-float": ",soft-float",
    "riscv-double-float": ",double-float",
    "loongarch-soft-float": ",soft-float",
    "loongarch-double-float": ",double-float",
}
_LINE = re.compile(r"^\t(?P<name>.*) \((?P<flags>[^)]*)\) => (?P<path>.*)$")


# --- synthetic images ---------------------------------------------------------------------------


def _strings(entries: list[tuple[int, str, str]], base: int) -> tuple[bytes, list[tuple[int, int, int]]]:
    table = bytearray()
    rows = []
    for flags, name, path in entries:
        key = base + len(table)
        table += name.encode() + b"\0"
        value = base + len(table)
        table += path.encode() + b"\0"
        rows.append((flags, key, value))
    return bytes(table), rows


def build_new(entries: list[tuple[int, str, str]], *, order: str = "<", endian: int | None = None) -> bytes:
    """A new-format image; ``endian`` is the header's byte-order byte (default: the right one)."""
    start = 48 + 24 * len(entries)
    table, rows = _strings(entries, start)
    if endian is None:
        endian = 2 if order == "<" else 3
    header = b"glibc-ld.so.cache1.1" + struct.pack(order + "IIB3xI12x", len(rows), len(table), endian, 0)
    body = b"".join(struct.pack(order + "iIIIQ", f, k, v, 0, 0) for f, k, v in rows)
    return header + body + table


def build_old(entries: list[tuple[int, str, str]], *, order: str = "<") -> bytes:
    table, rows = _strings(entries, 0)
    header = b"ld.so-1.7.0\0" + struct.pack(order + "I", len(rows))
    return header + b"".join(struct.pack(order + "iII", *row) for row in rows) + table


def build_compat(entries: list[tuple[int, str, str]]) -> bytes:
    """Old entries, then the new part at the next 8-byte boundary; both share the new string table."""
    old_size = 16 + 12 * len(entries)
    pad = (-old_size) % 8
    new = build_new(entries)
    new_header = 48 + 24 * len(entries)  # strings count from the new header in both parts
    _, rows = _strings(entries, new_header)
    old = b"ld.so-1.7.0\0" + struct.pack("<I", len(rows)) + b"".join(struct.pack("<iII", *r) for r in rows)
    return old + b"\0" * pad + new


ENTRIES = [
    (X86_64, "libz.so.1", "/lib/x86_64-linux-gnu/libz.so.1"),
    (AARCH64, "libssl.so.3", "/usr/lib/aarch64-linux-gnu/libssl.so.3"),
    (I386, "libc.so.6", "/lib/i386-linux-gnu/libc.so.6"),
    (0x0001, "libold.so", "/usr/lib/libold.so"),
]
EXPECTED = [
    CacheEntry("libz.so.1", "/lib/x86_64-linux-gnu/libz.so.1", X86_64, "x86_64"),
    CacheEntry("libssl.so.3", "/usr/lib/aarch64-linux-gnu/libssl.so.3", AARCH64, "aarch64"),
    CacheEntry("libc.so.6", "/lib/i386-linux-gnu/libc.so.6", I386, None),
    CacheEntry("libold.so", "/usr/lib/libold.so", 0x0001, None),
]


@pytest.mark.parametrize(
    "image",
    [
        pytest.param(build_new(ENTRIES), id="new-le"),
        pytest.param(build_new(ENTRIES, order=">"), id="new-be"),
        pytest.param(build_new(ENTRIES, endian=0), id="new-unset-le"),
        pytest.param(build_new(ENTRIES, order=">", endian=0), id="new-unset-be"),
        pytest.param(build_old(ENTRIES), id="old-le"),
        pytest.param(build_old(ENTRIES, order=">"), id="old-be"),
        pytest.param(build_compat(ENTRIES), id="compat"),
    ],
)
def test_every_layout_gives_the_same_entries(image: bytes) -> None:
    assert parse_ld_cache(image) == EXPECTED


def test_empty_caches_parse() -> None:
    assert parse_ld_cache(build_new([])) == []
    assert parse_ld_cache(build_old([])) == []
    assert parse_ld_cache(build_compat([])) == []


def test_compat_with_a_corrupt_new_part_falls_back_to_the_old_entries() -> None:
    image = bytearray(build_compat(ENTRIES))
    new_start = image.index(b"glibc-ld.so.cache1.1")
    image[new_start + 20 : new_start + 24] = struct.pack("<I", 10**6)  # absurd count
    assert parse_ld_cache(bytes(image)) == EXPECTED


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (b"", "not an ld.so cache"),
        (b"\x7fELF" + b"\0" * 60, "not an ld.so cache"),
        (b"ld.so-1.7.0\0\x01", "truncated"),
        (b"glibc-ld.so.cache1.1" + b"\0" * 10, "truncated"),
        (build_old(ENTRIES)[:40], "too short"),
        (build_new(ENTRIES)[:100], "too short"),
        (build_new(ENTRIES)[:-5], "string table"),
        (build_new(ENTRIES, endian=1), "byte order"),
    ],
)
def test_corrupt_images_raise(image: bytes, message: str) -> None:
    with pytest.raises(BinaryFormatError, match=message):
        parse_ld_cache(image)


def test_a_string_offset_past_the_end_raises() -> None:
    image = bytearray(build_old(ENTRIES))
    image[16 + 4 : 16 + 8] = struct.pack("<I", 1 << 30)  # first entry's key
    with pytest.raises(BinaryFormatError, match="past the end"):
        parse_ld_cache(bytes(image))


def test_an_unterminated_string_raises() -> None:
    image = build_old([(X86_64, "libz.so.1", "/x" * 3000)])[:-1] + b"y"
    with pytest.raises(BinaryFormatError, match="NUL"):
        parse_ld_cache(image)


def test_read_ld_cache(tmp_path: Path) -> None:
    assert read_ld_cache(tmp_path / "missing") == []
    (tmp_path / "cache").write_bytes(build_new(ENTRIES))
    assert read_ld_cache(tmp_path / "cache") == EXPECTED
    (tmp_path / "bad").write_bytes(b"nonsense")
    with pytest.raises(BinaryFormatError):
        read_ld_cache(tmp_path / "bad")


def test_helpers() -> None:
    assert entry_type(X86_64) == "libc6"
    assert entry_type(0x0001) == "ELF"
    assert entry_type(0x00FE) == "unknown"
    assert arch_for_machine("x86_64") == "x86_64"
    assert arch_for_machine("AMD64") == "x86_64"
    assert arch_for_machine("arm64") == "aarch64"
    assert arch_for_machine("i686") is None


# --- fuzzing ------------------------------------------------------------------------------------

_SEEDS = [build_new(ENTRIES), build_old(ENTRIES), build_compat(ENTRIES), build_new(ENTRIES, order=">")]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(_SEEDS),
    edits=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=8),
    cut=st.integers(0, 400),
)
def test_mutated_and_truncated_images_give_a_list_or_our_error(
    seed: bytes, edits: list[tuple[int, int]], cut: int
) -> None:
    image = bytearray(seed)
    for position, byte in edits:
        if position < len(image):
            image[position] = byte
    try:
        entries = parse_ld_cache(bytes(image[: max(cut, 0) or len(image)]))
    except BinaryFormatError:
        return
    assert isinstance(entries, list)
    assert all(isinstance(e, CacheEntry) for e in entries)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([b"ld.so-1.7.0", b"glibc-ld.so.cache1.1"]))
def test_random_bodies_after_a_valid_magic(body: bytes, magic: bytes) -> None:
    with contextlib.suppress(BinaryFormatError):
        assert isinstance(parse_ld_cache(magic + body), list)


# --- differential: ldconfig -p as the oracle ----------------------------------------------------


def _ldconfig() -> str:
    found = shutil.which("ldconfig") or next(
        (p for p in ("/sbin/ldconfig", "/usr/sbin/ldconfig") if Path(p).is_file()), None
    )
    if found is None:
        return require("ldconfig")  # skips locally, fails in CI
    return found


def _oracle(ldconfig: str, cache: Path, *, keep_hwcaps: bool = True) -> list[tuple[str, str, str]]:
    """``ldconfig -p -C cache``, as (name, flags text, path)."""
    rows = []
    proc = subprocess.run([ldconfig, "-p", "-C", str(cache)], capture_output=True, check=True, timeout=60)
    for line in os.fsdecode(proc.stdout).splitlines():
        match = _LINE.match(line)
        if match is None:
            continue  # the "N libs found" header and the "Cache generated by" trailer
        flags = match["flags"]
        if not keep_hwcaps:
            flags = flags.split(", hwcap:")[0]
        rows.append((match["name"], flags, match["path"]))
    return rows


def _as_ldconfig_prints(entries: list[CacheEntry], *, keep_hwcaps: bool = True) -> list[tuple[str, str, str]]:
    rows = []
    for entry in entries:
        flags = entry_type(entry.flags)
        if entry.arch is not None:
            flags += _LDCONFIG_ARCH[entry.arch]
        elif entry.flags & 0xFF00:
            flags += f",{entry.flags & 0xFF00}"
        if keep_hwcaps and entry.hwcaps is not None:
            flags += f', hwcap: "{entry.hwcaps}"'
        elif keep_hwcaps and entry.hwcap:
            flags += f", hwcap: {entry.hwcap:#018x}"
        rows.append((entry.name, flags, entry.path))
    return rows


def test_matches_ldconfig_on_this_host() -> None:
    cache = Path("/etc/ld.so.cache")
    if not cache.is_file():
        unavailable("no /etc/ld.so.cache (not glibc Linux)")
    ldconfig = _ldconfig()
    entries = read_ld_cache(cache)
    assert len(entries) > 10
    assert _as_ldconfig_prints(entries) == _oracle(ldconfig, cache)
    native = arch_for_machine(platform.machine())
    if native is not None:
        assert any(e.arch == native for e in entries)


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny root for ``ldconfig -r``: three libraries, one in a glibc-hwcaps subdirectory."""
    gcc = require("gcc")
    root = tmp_path_factory.mktemp("ldroot")
    libdir = root / "usr/lib"
    hwcaps = libdir / "glibc-hwcaps/x86-64-v3"
    odd = root / "opt/odd dir"
    for directory in (root / "etc", hwcaps, odd):
        directory.mkdir(parents=True)
    (root / "f.c").write_text("int f(void) { return 1; }\n")
    for target, soname in (
        (libdir / "libfoo.so.1", "libfoo.so.1"),
        (hwcaps / "libfoo.so.1", "libfoo.so.1"),
        (odd / "libümlaut.so.3", "libümlaut.so.3"),
        (odd / "libbar.so.2.0.1", "libbar.so.2"),
    ):
        run(gcc, "-shared", "-fPIC", f"-Wl,-soname,{soname}", "-o", target, root / "f.c")
    (root / "etc/ld.so.conf").write_text("/opt/odd dir\n")
    return root


@pytest.mark.parametrize("layout", ["old", "compat", "new"])
def test_matches_ldconfig_on_every_layout(fake_root: Path, layout: str) -> None:
    """``ldconfig -r ROOT -c LAYOUT`` writes each layout inside the fake root (chroot: root only)."""
    ldconfig = _ldconfig()
    if os.geteuid() != 0:
        unavailable("ldconfig -r needs root (chroot)")
    name = f"/etc/ld.so.cache.{layout}"
    # -X: no symlink updates; -r: every path, the aux cache included, stays under the fake root
    subprocess.run(
        [ldconfig, "-r", str(fake_root), "-X", "-c", layout, "-C", name],
        check=True,
        capture_output=True,
        timeout=60,
    )
    cache = fake_root / name.lstrip("/")
    entries = read_ld_cache(cache)
    assert {e.name for e in entries} == {"libfoo.so.1", "libümlaut.so.3", "libbar.so.2"}
    assert {e.path for e in entries} >= {"/usr/lib/libfoo.so.1", "/opt/odd dir/libbar.so.2"}
    # ldconfig -p reads compat hwcaps names from the wrong base and prints garbage: compare without them
    keep = layout != "compat"
    assert _as_ldconfig_prints(entries, keep_hwcaps=keep) == _oracle(ldconfig, cache, keep_hwcaps=keep)
    if layout != "old" and platform.machine() == "x86_64":
        assert [e.hwcaps for e in entries if e.path.startswith("/usr/lib/glibc-hwcaps/")] == ["x86-64-v3"]
