"""The Windows system DLL list against delvewheel's (pinned in the ``test`` extra).

``windows.json`` comes from two sources, MinGW-w64's import libraries and the modules Wine
implements (``scripts/gen_windows_dlls.py``). delvewheel 1.13.2 keeps its own lists, one per
architecture, of the DLLs with exports found in System32 (SysWOW64 for x86) on the installation
media of every Windows it supports; its data is read here at test time, never copied.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from _corpus import CorpusWheel, ensure, wheels
from _toolchain import in_ci
from native_doctor.binary.model import BinaryFormat
from native_doctor.platforms import windows
from native_doctor.sources.wheel import read_wheel

DATA = Path(__file__).resolve().parents[2] / "src/native_doctor/platforms/data/windows.json"
DELVEWHEEL = "1.13.2"

#: Wine-only names no delvewheel list has, each judged: delvewheel lists only ``.dll``/``.drv``
#: files that export functions, so control panels, ActiveX controls and resource-only DLLs are
#: missing there by construction.
JUDGED_WINE_ONLY = {
    "appwiz.cpl": "control panel applet in System32 (delvewheel lists .dll/.drv only)",
    "inetcpl.cpl": "control panel applet in System32",
    "irprops.cpl": "control panel applet in System32",
    "joy.cpl": "control panel applet in System32",
    "msscript.ocx": "ActiveX control in System32 (delvewheel lists .dll/.drv only)",
    "wshom.ocx": "ActiveX control (Windows Script Host) in System32",
    "mferror.dll": "resource-only (Media Foundation messages): nothing can import from it",
    "msimsg.dll": "resource-only (Windows Installer messages)",
    "shdoclc.dll": "resource-only (Internet Explorer dialog resources)",
    "tzres.dll": "resource-only (time zone names)",
    "inkobj.dll": "Tablet PC ink COM server in System32; exports only DllGetClassObject and friends",
    "qmgrprxy.dll": "BITS proxy/stub COM server in System32",
    "riched32.dll": "RichEdit 1.0 wrapper in System32 (forwards to riched20.dll)",
    "xpssvcs.dll": "XPS services COM server in System32",
}


def _delvewheel() -> ModuleType:
    try:
        module = importlib.import_module("delvewheel._dll_list")
    except ImportError:
        message = f"needs delvewheel=={DELVEWHEEL} (the test extra)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    from importlib.metadata import version

    assert version("delvewheel") == DELVEWHEEL, "the oracle is pinned: see pyproject.toml"
    return module


@pytest.fixture(scope="module")
def lists() -> dict[str, frozenset[str]]:
    """delvewheel's system DLL names per architecture (BinaryInfo vocabulary)."""
    module = _delvewheel()
    by_machine = module.ignore_names
    machine = module.MachineType
    return {
        "x86": frozenset(by_machine[machine.I386]),
        "x86_64": frozenset(by_machine[machine.AMD64]),
        "arm64": frozenset(by_machine[machine.ARM64]),
    }


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DATA.read_text(encoding="utf-8"))
    return data


def test_webservices_is_a_system_dll_for_both(lists: dict[str, frozenset[str]]) -> None:
    """pyarrow's arrow.dll imports webservices.dll; only the Wine source names it."""
    assert windows.is_system_dll("webservices.dll")
    assert windows.system_dll_sources("webservices.dll") == ("wine",)
    assert all("webservices.dll" in names for names in lists.values())


def test_every_wine_only_name_is_corroborated_or_judged(
    document: dict[str, Any], lists: dict[str, frozenset[str]]
) -> None:
    """A name only Wine gives must be on some delvewheel list, or judged above."""
    wine_only = {dll for dll, named in document["dll_sources"].items() if named == ["wine"]}
    everywhere = frozenset().union(*lists.values())
    assert {dll for dll in wine_only if dll not in everywhere} == set(JUDGED_WINE_ONLY)
    assert len(wine_only & everywhere) > 100


def test_nothing_delvewheel_excludes_is_system(
    document: dict[str, Any], lists: dict[str, frozenset[str]]
) -> None:
    """No Visual C++ redistributable (delvewheel's vc_redist pattern) counts as a system DLL
    here, except the ones Windows itself ships: ucrtbase.dll, msvcrt.dll, and msvcp_win.dll
    (System32 since Windows 10; on delvewheel's arm64 list, its pattern notwithstanding)."""
    vc_redist = _delvewheel().vc_redist
    redist = {dll for dll in document["dlls"] if vc_redist.fullmatch(dll)}
    assert redist == {"ucrtbase.dll", "msvcrt.dll", "msvcp_win.dll"}
    assert "msvcp_win.dll" in lists["arm64"]


def test_the_common_system_dlls_agree(lists: dict[str, frozenset[str]]) -> None:
    """DLLs extension modules commonly import: both lists call them system on x64."""
    common = [
        *("kernel32", "user32", "gdi32", "advapi32", "shell32", "ole32", "oleaut32", "ws2_32", "bcrypt"),
        *("ncrypt", "crypt32", "secur32", "iphlpapi", "dnsapi", "winhttp", "wininet", "userenv"),
        *("setupapi", "cfgmgr32", "dbghelp", "psapi", "version", "shlwapi", "comctl32", "comdlg32"),
        *("imm32", "dwmapi", "uxtheme", "opengl32", "glu32", "d3d11", "dxgi", "d2d1", "dwrite", "mfplat"),
        *("mfreadwrite", "winmm", "dsound", "audioses", "mmdevapi", "avrt", "ksuser", "propsys"),
        *("powrprof", "wtsapi32", "pdh", "cryptbase", "webservices", "kernelbase"),
    ]
    for name in common:
        dll = f"{name}.dll"
        assert windows.is_system_dll(dll), dll
        assert dll in lists["x86_64"], dll
    # delvewheel leaves combase.dll (Windows 8+) to a pattern of its own rather than its lists.
    assert windows.is_system_dll("combase.dll")
    assert any(p.fullmatch("combase.dll") for p in _delvewheel().ignore_regexes)


_WINDOWS = [
    pytest.param(w, id=w.filename) for f in ("win-amd64", "win32", "win-arm64") for w in wheels(family=f)
]
_ARCH = {"win-amd64": "x86_64", "win32": "x86", "win-arm64": "arm64"}


@pytest.mark.corpus
@pytest.mark.parametrize("entry", _WINDOWS)
def test_corpus_imports_agree_with_delvewheel(entry: CorpusWheel, lists: dict[str, frozenset[str]]) -> None:
    """Every DLL a real Windows wheel imports that delvewheel calls a system DLL for its
    architecture is a system DLL here too (else ND201 would be a false error)."""
    theirs = lists[_ARCH[entry.family]]
    artifact = read_wheel(ensure(entry))
    imported = {
        name.lower()
        for native in artifact.native
        if native.info is not None and native.info.format is BinaryFormat.PE
        for name in native.info.all_needed
    }
    assert imported
    missing = sorted(dll for dll in imported if dll in theirs and not windows.is_system_dll(dll))
    assert not missing
