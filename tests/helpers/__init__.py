"""Test helpers shared across the suite (import as `helpers.<module>`; `tests/` is on pytest's pythonpath)."""

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
FIXTURES = TESTS / "fixtures"
IDENTITIES = REPO / "data" / "identities"
