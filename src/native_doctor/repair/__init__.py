"""Repair wheels: graft what is missing, link to what other wheels provide, verify, write.

One core shared by the platforms -- :mod:`.plan` (decide), :mod:`.locate` (find files),
:mod:`.verify` (re-read and simulate), :mod:`.wheelfile` (canonical, atomic output) and
:mod:`.run` (the stages in order) -- with a thin part per platform (:mod:`.linux`).
"""

from __future__ import annotations

from native_doctor.repair.model import CannotRepair, RepairOptions, RepairPlan, RepairResult
from native_doctor.repair.run import repair_wheel

__all__ = ["CannotRepair", "RepairOptions", "RepairPlan", "RepairResult", "repair_wheel"]
