"""macOS checks (ND4xx): build-machine install names, unresolved @rpath."""

from __future__ import annotations
