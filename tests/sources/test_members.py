"""Which member names may be native: the fast suffix path agrees with the general rule."""

from __future__ import annotations

import pytest

from native_doctor.sources._members import may_be_native


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("pkg/module.py", False, id="python-source"),
        pytest.param("pkg/__pycache__/m.cpython-311.pyc", False, id="bytecode"),
        pytest.param("pkg/include/api.h", False, id="header"),
        pytest.param("pkg/data.JSON", False, id="upper-case-suffix"),
        pytest.param("pkg/.py", True, id="dot-file-named-like-a-suffix"),
        pytest.param("pkg/..py", True, id="dots-only-name"),
        pytest.param("pkg/a..py", False, id="double-dot-before-suffix"),
        pytest.param("pkg/_core.cpython-311-x86_64-linux-gnu.so", True, id="extension"),
        pytest.param("pkg.libs/libgfortran.so.5.0.0", True, id="versioned-library"),
        pytest.param("pkg-1.0.dist-info/RECORD", False, id="record"),
        pytest.param("pkg/LICENSE.txt", False, id="license"),
    ],
)
def test_may_be_native(path: str, expected: bool) -> None:
    assert may_be_native(path) is expected
