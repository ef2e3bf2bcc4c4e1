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


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Test models are tiny and gain nothing from intra-op threads; on a busy 2-core machine
    the threads' spin-waits made a one-second training take ten (measured). Use one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
