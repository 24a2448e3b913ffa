"""Checks: pure functions over an inspected artifact, each registered with its documentation."""

from native_doctor.checks.registry import Check, Finding, Severity, Status, all_checks, get, run_checks

__all__ = ["Check", "Finding", "Severity", "Status", "all_checks", "get", "run_checks"]
