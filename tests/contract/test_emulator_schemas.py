"""request_schemas.json is exactly what scripts/emulator_schemas.py makes from the spec."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest
from support import openapi

from gitopsd.emulator import bodies

pytestmark = pytest.mark.reference

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "emulator_schemas.py"


def generator() -> ModuleType:
    """scripts/emulator_schemas.py, imported from its path."""
    spec = importlib.util.spec_from_file_location("emulator_schemas", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_request_schemas_match_the_spec():
    """Regenerating request_schemas.json from atlas-api-v2.yaml gives the committed bytes."""
    reference = Path(os.environ.get(openapi.REFERENCE_ENV) or openapi.DEFAULT_REFERENCE)
    spec_path = reference / "atlas-openapi" / "atlas-api-v2.yaml"
    if not spec_path.is_file():
        openapi.skip_or_fail(f"{spec_path} is missing")
    script = generator()
    expected = script.render(script.generate(script.load(spec_path)))
    assert bodies.SCHEMAS_FILE.read_text(encoding="utf-8") == expected
