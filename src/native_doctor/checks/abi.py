"""ABI checks (ND6xx): the stable ABI (abi3), extension suffixes, symbols a policy forbids."""

from __future__ import annotations
