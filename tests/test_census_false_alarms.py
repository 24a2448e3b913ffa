"""The census's false alarms (docs/census.md), pinned: each real wheel must not get its false finding again.

Each manifest entry tagged ``census-false-alarm`` is a current PyPI wheel on which ``check`` once
reported a finding the census judged false; the table names that finding (code and detail). The
wheels are fetched into the corpus cache like the rest of the corpus; the large ones (pyarrow's
and llvmlite's win_amd64 wheels) only when the large corpus is opted in.
"""

from __future__ import annotations

import fnmatch

import pytest

from _corpus import CorpusWheel, ensure, wheels
from native_doctor.analysis import inspect_artifact
from native_doctor.checks.registry import Finding, run_checks
from native_doctor.checks.selection import select_checks
from native_doctor.sources.wheel import read_wheel

#: filename -> (code, detail pattern) of the false finding, and why it was false.
FALSE_ALARMS: dict[str, tuple[str, str, str]] = {
    "google_crc32c-1.9.0-cp312-cp312-win_amd64.whl": (
        "ND201",
        "crc32c.dll",
        "google_crc32c/__config__.py adds google_crc32c/extra-dll to the DLL search",
    ),
    "rpds_py-2026.9.1-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl": (
        "ND604",
        "*",
        "__cxa_thread_atexit_impl is WEAK UND: an optional lookup, never a forbidden import",
    ),
    "safetensors-0.8.0-cp310-abi3-manylinux_2_17_aarch64.manylinux2014_aarch64.whl": (
        "ND604",
        "*",
        "__cxa_thread_atexit_impl is WEAK UND: an optional lookup, never a forbidden import",
    ),
    "rpds_py-2026.9.1-cp312-cp312-musllinux_1_2_x86_64.whl": (
        "ND201",
        "libc.so",
        "musl's loader maps libc.so onto itself",
    ),
    "jiter-0.19.0-cp312-cp312-musllinux_1_1_aarch64.whl": (
        "ND201",
        "libc.so",
        "musl's loader maps libc.so onto itself",
    ),
    "ujson-6.1.0-cp312-cp312-win32.whl": (
        "ND504",
        "*",
        "the bundled msvcp140.dll's FileVersion is 14.51.36247, not older than the 14.51 toolset",
    ),
    "rapidfuzz-3.14.6-cp312-cp312-win32.whl": (
        "ND504",
        "*",
        "the bundled msvcp140.dll's FileVersion is 14.51.36247, not older than the 14.51 toolset",
    ),
    "pyarrow-26.0.1-cp312-cp312-win_amd64.whl": (
        "ND201",
        "webservices.dll",
        "webservices.dll is a Windows system DLL",
    ),
    "llvmlite-0.50.0-cp312-cp312-win_amd64.whl": (
        "ND002",
        "*",
        "a read past the zip reader's 64 MiB prefix of a compressed member came back short",
    ),
}

_TAG = "census-false-alarm"


def _params() -> list[object]:
    # large ones included: ensure() skips them unless the large corpus is opted in
    return [
        pytest.param(w, id=w.filename, marks=pytest.mark.corpus)
        for w in wheels(tag=_TAG, include_benchmark=True)
    ]


def _findings(entry: CorpusWheel) -> list[Finding]:
    inspection = inspect_artifact(read_wheel(ensure(entry), deep=True, verify_record=True))
    return list(run_checks(inspection, select_checks()))


def test_every_false_alarm_wheel_is_in_the_table() -> None:
    tagged = {w.filename for w in wheels(tag=_TAG, include_benchmark=True)}
    assert set(FALSE_ALARMS) <= tagged
    assert tagged - set(FALSE_ALARMS) == set(), "a census false alarm in the manifest has no test"


@pytest.mark.parametrize("entry", _params())
def test_false_alarm_stays_away(entry: CorpusWheel) -> None:
    code, detail, why = FALSE_ALARMS[entry.filename]
    findings = _findings(entry)
    again = [f for f in findings if f.code == code and fnmatch.fnmatchcase(f.detail or "", detail)]
    assert again == [], why
    assert [f for f in findings if f.severity.value == "error"] == []
