"""Shared test fixtures."""

import os
from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def data_dir() -> Path:
    """The real datasets (SEQATTN_DATA_DIR); tests that need them skip when absent."""
    root = os.environ.get("SEQATTN_DATA_DIR")
    if not root or not Path(root).is_dir():
        pytest.skip("SEQATTN_DATA_DIR is not set or not a directory: real datasets absent")
    return Path(root)
