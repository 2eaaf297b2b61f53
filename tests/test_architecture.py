"""The house rules hold: the import rules of shared/STYLE.md (interfaces -> tasks -> services -> models, never
backwards) and ruff's lint and format rules from pyproject.toml."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")

    result = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True)

    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_finds_nothing_to_fix():
    ruff = Path(sys.executable).with_name("ruff")

    lint = subprocess.run([ruff, "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True)
    format_ = subprocess.run([ruff, "format", "--check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True)

    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert format_.returncode == 0, format_.stdout + format_.stderr
