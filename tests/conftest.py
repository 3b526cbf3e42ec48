"""Shared fixtures: the corpus beside the repository (../shared/corpus), temp dirs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("SAUCE_CORPUS", REPO.parent / "shared" / "corpus"))
ET_OPEN = CORPUS / "rules" / "et-open-2024-04-21"
PCAPS = CORPUS / "pcaps"

needs_corpus = pytest.mark.skipif(
    not CORPUS.is_dir(), reason=f"corpus not found at {CORPUS} (set SAUCE_CORPUS)"
)


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"corpus not found at {CORPUS} (set SAUCE_CORPUS)")
    return CORPUS
