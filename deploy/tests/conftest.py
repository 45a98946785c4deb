"""Offline checks of deploy/ (no cluster): the helpers live in deploy_support.py next to this file."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# --import-mode=importlib does not put test folders on sys.path; the helper modules have unique names.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from deploy_support import Rendered, render_all


@pytest.fixture(scope="session")
def rendered() -> Rendered:
    return render_all()
