"""Fixtures for tests outside ``tests/``: the plugins' own suites under ``plugins/*/tests``.

They are the suite's fixtures from ``tests/conftest.py`` (real PostgreSQL and
SQLite databases, no third-party plugin loaded and a private journal per test),
so a plugin is tested exactly as the kernel is. Inside ``tests/`` that conftest
applies directly and takes precedence. This lives at the root rather than in
``plugins/`` because ``tests/`` modules import ``conftest`` by name, and a
second conftest of that name imported after theirs would take its place.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

_TESTS = Path(__file__).resolve().parent / "tests"
if str(_TESTS) not in sys.path:
    sys.path.insert(0, str(_TESTS))  # pgcluster, kernel_support, policy_support


def _suite_conftest() -> ModuleType:
    spec = importlib.util.spec_from_file_location("wfsdk_suite_conftest", _TESTS / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_suite = _suite_conftest()
_isolated_wfsdk_environment = _suite._isolated_wfsdk_environment
pg_cluster = _suite.pg_cluster
pg_url = _suite.pg_url
sqlite_url = _suite.sqlite_url
db_url = _suite.db_url


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The suite's own hook marks its items already; mark the others the same way.
    _suite.pytest_collection_modifyitems([i for i in items if _TESTS not in i.path.parents])
