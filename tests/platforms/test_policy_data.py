"""The packaged data files: header, shape validation (bad data -> PolicyDataError), generator."""

from __future__ import annotations

import copy
import importlib.util
import json
import struct
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from _toolchain import host_only, in_ci
from native_doctor.errors import PolicyDataError
from native_doctor.platforms import _data, linux, macos, windows

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

DATA_DIR = Path(linux.__file__).parent / "data"
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gen_windows_dlls.py"
MINGW_LIB = Path("/usr/x86_64-w64-mingw32/lib")


def _document(name: str) -> dict[str, Any]:
    return json.loads((DATA_DIR / f"{name}.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", ["manylinux", "musllinux", "macos", "windows"])
def test_every_data_file_has_a_header(name: str) -> None:
    document = _data.load_data(name)
    assert document["schema_version"] == _data.SCHEMA_VERSION
    assert document["source"]
    assert len(document["date"]) == 10


def test_load_data_is_cached() -> None:
    assert _data.load_data("manylinux") is _data.load_data("manylinux")


def test_load_data_missing_file() -> None:
    with pytest.raises(PolicyDataError, match="cannot be read"):
        _data.load_data("no-such-file")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("{", "not valid JSON", id="bad-json"),
        pytest.param("[]", "expected an object", id="not-object"),
        pytest.param('{"source": "x", "date": "d"}', "schema_version", id="no-version"),
        pytest.param(
            '{"schema_version": true, "source": "x", "date": "d"}', "schema_version", id="bool-version"
        ),
        pytest.param('{"schema_version": 2, "source": "x", "date": "d"}', "is not 1", id="future-version"),
        pytest.param('{"schema_version": 1, "date": "d"}', "source", id="no-source"),
        pytest.param('{"schema_version": 1, "source": "x", "date": ""}', "date", id="empty-date"),
    ],
)
def test_parse_document_rejects_bad_headers(text: str, message: str) -> None:
    with pytest.raises(PolicyDataError, match=message):
        _data.parse_document(text, where="t.json")


def test_expect_str_list() -> None:
    assert _data.expect_str_list(["a", "b"], "w") == ("a", "b")
    with pytest.raises(PolicyDataError, match=r"w\[1\]"):
        _data.expect_str_list(["a", 3], "w")
    with pytest.raises(PolicyDataError, match="expected a list"):
        _data.expect_str_list("ab", "w")


# --- linux documents -----------------------------------------------------------------------------


def _edit_manylinux(edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    document = copy.deepcopy(_document("manylinux"))
    edit(document)
    return document


def _policy(document: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in document["policies"] if p["name"] == name)  # type: ignore[no-any-return]


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    """An edit that sets ``policy-name.key`` (or a top-level key) to ``value``."""

    def edit(document: dict[str, Any]) -> None:
        if "." in path:
            name, key = path.split(".", 1)
            _policy(document, name)[key] = value
        else:
            document[path] = value

    return edit


def _lower_glibc(document: dict[str, Any]) -> None:
    _policy(document, "manylinux_2_28")["ceilings"]["*"]["GLIBC"] = "2.20"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        pytest.param(_set("libc", "musl"), "expected 'glibc'", id="wrong-libc"),
        pytest.param(_set("governed_namespaces", "GLIBC"), "expected a list", id="namespaces-not-list"),
        pytest.param(_set("loaders", {"vax": ["ld.so"]}), "unknown architecture", id="loader-arch"),
        pytest.param(_set("loaders", []), "expected an object", id="loaders-not-object"),
        pytest.param(_set("base_libraries", [1]), "base_libraries", id="library-not-str"),
        pytest.param(_set("policies", []), "non-empty list", id="no-policies"),
        pytest.param(_set("policies", [3]), "policies", id="policy-not-object"),
        pytest.param(_set("manylinux_2_17.priority", "80"), "priority", id="priority-str"),
        pytest.param(_set("manylinux_2_17.priority", 90), "duplicate", id="priority-duplicate"),
        pytest.param(_set("manylinux_2_17.name", "manylinux_2_12"), "duplicate", id="name-duplicate"),
        pytest.param(_set("manylinux_2_17.name", ""), "name", id="name-empty"),
        pytest.param(_set("manylinux_2_17.aliases", "manylinux2014"), "aliases", id="aliases-str"),
        pytest.param(_set("manylinux_2_17.architectures", ["vax"]), "unknown", id="policy-arch"),
        pytest.param(
            _set("manylinux_2_17.ceilings", {"vax": {}}), "unknown architectures", id="ceiling-arch"
        ),
        pytest.param(
            _set("manylinux_2_17.ceilings", {"*": {"OPENSSL": "3"}}), "governed", id="ungoverned-key"
        ),
        pytest.param(
            _set("manylinux_2_17.ceilings", {"*": {"GLIBC": 2.17}}), "string or null", id="ceiling-float"
        ),
        pytest.param(
            _set("manylinux_2_17.ceilings", {"*": {"GLIBC": "2.x"}}), "dotted number", id="ceiling-bad"
        ),
        pytest.param(_set("manylinux_2_17.ceilings", {"*": []}), "expected an object", id="block-not-object"),
        pytest.param(_set("manylinux_2_17.add_libraries", None), "add_libraries", id="add-libraries-null"),
        pytest.param(_lower_glibc, "lowers GLIBC", id="ceiling-decreases"),
    ],
)
def test_build_policies_rejects_bad_data(edit: Callable[[dict[str, Any]], None], message: str) -> None:
    with pytest.raises(PolicyDataError, match=message):
        linux.build_policies(_edit_manylinux(edit), libc="glibc", where="manylinux.json")


def test_added_libraries_are_inherited() -> None:
    document = _edit_manylinux(_set("manylinux_2_12.add_libraries", ["libfoo.so.1"]))
    built = linux.build_policies(document, libc="glibc", where="manylinux.json")
    assert ["libfoo.so.1" in p.libraries for p in built[:3]] == [False, True, True]
    assert all("libfoo.so.1" in p.libraries for p in built[1:])


def test_build_policies_accepts_packaged_data() -> None:
    built = linux.build_policies(_document("musllinux"), libc="musl", where="musllinux.json")
    assert [p.name for p in built] == ["musllinux_1_1", "musllinux_1_2"]


# --- macos / windows documents --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        pytest.param("system_prefixes", "/usr/lib/", "expected a list", id="prefixes-str"),
        pytest.param("system_prefixes", [], "absolute directories", id="prefixes-empty"),
        pytest.param("system_prefixes", ["usr/lib/"], "absolute directories", id="prefixes-relative"),
        pytest.param("unreliable", ["/usr/lib/x"], "expected an object", id="unreliable-list"),
        pytest.param("unreliable", {"/usr/lib/x": 1}, "unreliable", id="unreliable-reason"),
    ],
)
def test_macos_data_rejects_bad_data(key: str, value: object, message: str) -> None:
    document = _document("macos")
    document[key] = value
    with pytest.raises(PolicyDataError, match=message):
        macos.build_macos_data(document, where="macos.json")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        pytest.param("dlls", "kernel32.dll", "expected a list", id="dlls-str"),
        pytest.param("dlls", ["KERNEL32.dll"], "lower-case", id="dlls-upper"),
        pytest.param("patterns", None, "expected a list", id="patterns-missing"),
        pytest.param("python_provided", [], "expected an object", id="provided-list"),
        pytest.param("python_provided", {"x.dll": {"since": "3", "architectures": []}}, "X.Y", id="since"),
        pytest.param(
            "python_provided",
            {"x.dll": {"since": "3.8", "architectures": ["mips"]}},
            "unknown",
            id="provided-arch",
        ),
        pytest.param("dll_sources", {"kernel32.dll": ["wine"]}, "exactly the dlls", id="sources-not-all"),
        pytest.param("sources", None, "expected an object", id="sources-missing"),
    ],
)
def test_windows_data_rejects_bad_data(key: str, value: object, message: str) -> None:
    document = _document("windows")
    document[key] = value
    with pytest.raises(PolicyDataError, match=message):
        windows.build_windows_data(document, where="windows.json")


# --- the windows.json generator ------------------------------------------------------------------


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_windows_dlls", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _ar(*members: tuple[str, bytes]) -> bytes:
    out = bytearray(b"!<arch>\n")
    for name, data in members:
        header = f"{name:<16}{0:<12}{0:<6}{0:<6}{644:<8}{len(data):<10}`\n".encode()
        out += header + data + (b"\n" if len(data) % 2 else b"")
    return bytes(out)


def _coff_with_idata7(content: bytes) -> bytes:
    header = struct.pack("<HHIIIHH", 0x8664, 1, 0, 0, 0, 0, 0)
    pointer = 20 + 40
    section = b".idata$7" + struct.pack("<IIII", 0, 0, len(content), pointer) + bytes(16)
    return header + section + content


def _short_import(symbol: str, dll: str) -> bytes:
    names = symbol.encode() + b"\0" + dll.encode() + b"\0"
    return struct.pack("<HHHHIIHH", 0, 0xFFFF, 0, 0x8664, 0, len(names), 0, 0) + names


def test_generator_reads_both_import_formats(generator: ModuleType, tmp_path: Path) -> None:
    archive = _ar(
        ("/", b"\0\0\0\0"),
        ("libfoot.o/", _coff_with_idata7(b"FOO.dll\0\0")),
        ("libfoos00001.o/", _coff_with_idata7(b"\0\0\0\0")),
        ("bar.dll/", _short_import("BarFunc", "BAR.dll")),
        ("odd.o/", b"x"),
    )
    path = tmp_path / "libfoo.a"
    path.write_bytes(archive)
    assert generator.dlls_of(path) == {"FOO.dll", "BAR.dll"}


def test_generator_ignores_non_archives(generator: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "libnot.a"
    path.write_bytes(b"not an archive")
    assert generator.dlls_of(path) == set()


@pytest.mark.parametrize(
    ("dll", "excluded"),
    [
        pytest.param("libwinpthread-1.dll", True, id="mingw"),
        pytest.param("msvcr120.dll", True, id="msvcr"),
        pytest.param("msvcp140.dll", True, id="msvcp"),
        pytest.param("vcruntime140.dll", True, id="vcruntime"),
        pytest.param("d3dx9_43.dll", True, id="d3dx9"),
        pytest.param("d3dcompiler_43.dll", True, id="d3dcompiler_43"),
        pytest.param("d3dcompiler_47.dll", False, id="d3dcompiler_47-kept"),
        pytest.param("xinput1_3.dll", True, id="xinput1_3"),
        pytest.param("xinput1_4.dll", False, id="xinput1_4-kept"),
        pytest.param("xinput9_1_0.dll", False, id="xinput9_1_0-kept"),
        pytest.param("ndis.sys", True, id="kernel-mode"),
        pytest.param("msvcrt.dll", False, id="msvcrt-kept"),
        pytest.param("kernel32.dll", False, id="kernel32"),
    ],
)
def test_generator_exclusions(generator: ModuleType, dll: str, excluded: bool) -> None:
    assert (generator.exclusion_reason(dll) is not None) is excluded


def test_windows_data_rejects_an_unknown_source() -> None:
    document = _document("windows")
    document["dll_sources"] = {**document["dll_sources"], "kernel32.dll": ["hearsay"]}
    with pytest.raises(PolicyDataError, match="expected some of"):
        windows.build_windows_data(document, where="windows.json")


def test_every_system_dll_names_its_sources() -> None:
    document = _document("windows")
    assert set(document["sources"]) == {"mingw-w64", "wine", "added"}
    assert windows.system_dll_sources("KERNEL32.dll") == ("mingw-w64", "wine")
    assert windows.system_dll_sources("webservices.dll") == ("wine",)  # pyarrow's arrow.dll needs it
    assert windows.system_dll_sources("bcryptprimitives.dll") == ("added",)
    assert windows.system_dll_sources("vcruntime140.dll") == ()
    counts = {s: sum(s in named for named in document["dll_sources"].values()) for s in document["sources"]}
    assert counts["mingw-w64"] > 700 and counts["wine"] > 350


def test_generator_reads_a_libwine_listing(generator: ModuleType) -> None:
    listing = "\n".join(
        f"-rw-r--r-- root/root 1 2023-02-18 22:16 ./usr/lib/x86_64-linux-gnu/wine/{path}"
        for path in (
            "x86_64-windows/WebServices.dll",
            "x86_64-windows/winspool.drv",
            "x86_64-windows/wshom.ocx",
            "x86_64-windows/notepad.exe",
            "x86_64-windows/mountmgr.sys",
            "i386-windows/kernel32.dll",
            "x86_64-unix/ntdll.so",
        )
    )
    assert generator.wine_names(listing) == {"webservices.dll", "winspool.drv", "wshom.ocx", "kernel32.dll"}


@host_only(MINGW_LIB.is_dir(), "mingw-w64-x86-64-dev import libraries not installed")
def test_packaged_windows_data_mingw_part_is_reproducible(generator: ModuleType) -> None:
    libdirs = [d for d in generator.DEFAULT_LIBDIRS if d.is_dir()]
    packaged = _document("windows")
    mingw, _ = generator.mingw_names(libdirs)
    from_mingw = {dll for dll, named in packaged["dll_sources"].items() if "mingw-w64" in named}
    assert from_mingw == {dll for dll in mingw if generator.exclusion_reason(dll) is None} - {
        dll for dll in mingw if dll.startswith(("api-ms-win-", "ext-ms-"))
    }


@host_only(MINGW_LIB.is_dir(), "mingw-w64-x86-64-dev import libraries not installed")
def test_packaged_windows_data_is_reproducible(generator: ModuleType) -> None:
    """The whole file from both sources. The libwine package comes from the cache the generator
    fills; under CI the generator downloads it (``apt-get download``: nothing is installed)."""
    cached = sorted(generator.DEB_CACHE.glob("libwine_*.deb"))
    if not cached and not in_ci():
        pytest.skip(
            f"no libwine package in {generator.DEB_CACHE} (python scripts/gen_windows_dlls.py fetches it)"
        )
    deb = cached[-1] if cached else generator.wine_deb(None)
    assert deb is not None, "apt-get download libwine failed"
    libdirs = [d for d in generator.DEFAULT_LIBDIRS if d.is_dir()]
    packaged = _document("windows")
    wine, package = generator.read_wine(deb)
    rebuilt = generator.build(libdirs, "2000-01-01", wine, package)
    assert rebuilt["dlls"] == packaged["dlls"]
    assert rebuilt["dll_sources"] == packaged["dll_sources"]
    assert rebuilt["excluded"] == packaged["excluded"]
