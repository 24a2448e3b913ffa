"""Platform policy data and tag logic: what each wheel platform tag promises.

* :mod:`.linux` - manylinux / musllinux policies (allowed libraries, symbol-version ceilings).
* :mod:`.macos` - macOS system libraries and ``macosx_*`` tags.
* :mod:`.windows` - Windows system DLLs, Python DLLs and ``win*`` tags.

The facts live in versioned JSON files under ``data/``, loaded once per process.
"""

from __future__ import annotations
