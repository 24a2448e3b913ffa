"""Windows checks (ND5xx): C runtimes, MinGW and MSVC runtime DLLs."""

from __future__ import annotations
