"""Dependency checks (ND2xx): libraries other distributions provide, duplicates, OpenMP, BLAS, CUDA."""

from __future__ import annotations
