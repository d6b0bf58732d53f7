"""Shared test fixtures: quiet TensorFlow, the shared CelebA sample, the tiny config."""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_CELEBA = REPO_ROOT.parent / "shared" / "data" / "celeba_10k_89x109"


@pytest.fixture
def celeba_dir():
    """The shared 89x109 CelebA sample; tests that need it skip where it is absent."""
    if not SHARED_CELEBA.is_dir():
        pytest.skip(f"shared CelebA sample not found at {SHARED_CELEBA}")
    return SHARED_CELEBA
