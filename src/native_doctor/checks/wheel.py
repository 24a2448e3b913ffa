"""Wheel checks (ND1xx): platform tags against binaries, architectures, purity, RECORD, size."""

from __future__ import annotations
