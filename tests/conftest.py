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


def pytest_collection_modifyitems(config, items):
    """Slow (end-to-end) tests first, in a stable order: under pytest-xdist the long ones then run
    side by side from the start and the short ones fill both workers at the end, instead of one
    long test running alone after everything else has finished."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
