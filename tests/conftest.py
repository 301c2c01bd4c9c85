"""Shared fixtures: write real manifest files into a temporary directory and check them."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from gitopsd import desired

REPO = Path(__file__).resolve().parents[1]
pytest_plugins = ["support.world"]

Write = Callable[[str, str], Path]


@pytest.fixture
def write(tmp_path: Path) -> Write:
    """Write a dedented manifest file under the test's directory; return its path."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return _write


@pytest.fixture
def check(tmp_path: Path) -> Callable[..., desired.Result]:
    """Run the real loader, parser and graph over the test's directory."""

    def _check(**kwargs: object) -> desired.Result:
        return desired.load([str(tmp_path)], **kwargs)  # type: ignore[arg-type]

    return _check
