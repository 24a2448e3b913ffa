"""Linux checks (ND3xx): RPATH leaks, executable stacks, text relocations, debug info, interposition."""

from __future__ import annotations
