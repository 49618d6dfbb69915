"""Shared fixtures. Tests are marked by concern so `make test-jax` can pick the
backend-agnostic ones: notebook runs (tests/notebooks/, nbval on solutions/) and the
grader (test_grading*, test_gradescope*, test_nbgrader*) run under TensorFlow only."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Deliberately broken notebooks for the grader tests: never collect them (nbval would try).
collect_ignore_glob = ["fixtures/*"]


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = Path(str(item.fspath))
        if path.suffix == ".ipynb" or "notebooks" in path.parts[len(ROOT.parts):][:2]:
            item.add_marker(pytest.mark.notebook)
        if path.name.startswith(("test_grading", "test_gradescope", "test_nbgrader")):
            item.add_marker(pytest.mark.grading)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT
