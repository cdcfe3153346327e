"""Developer and CI entry points: ``nox -s tests`` (default), ``contract``, ``lint``, ``typecheck``,
``bench``."""

from __future__ import annotations

import os
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
PYTHON = "3.11"
# Pinned so that a new release cannot turn a green commit red overnight; bump on purpose.
RUFF = "ruff==0.17.6"
MYPY = "mypy==2.4.1"
LINT_PATHS = ("src", "tests", "benchmarks", "contract", "plugins", "conftest.py", "noxfile.py")
# Settings the suite reads; named here so a run under nox behaves like the same run outside it.
PASSTHROUGH_ENV = (
    "WFSDK_REQUIRE_POSTGRES",
    "WFSDK_REQUIRE_DUMP",
    "WFSDK_SHARED_DIR",
    "HYPOTHESIS_PROFILE",
    "WFSDK_CONTRACT_POSTGRES",
    "WFSDK_LOAD_SIZE",
)

nox.options.sessions = ["tests"]
nox.options.default_venv_backend = "venv"


def _plugin_dirs() -> list[str]:
    # Each third-party plugin is its own distribution; installing them makes their entry
    # points visible to the kernel exactly as a user's pip install would.
    return sorted(
        f"./{p.parent.relative_to(ROOT).as_posix()}" for p in ROOT.glob("plugins/*/pyproject.toml")
    )


def _passthrough_env() -> dict[str, str]:
    return {name: os.environ[name] for name in PASSTHROUGH_ENV if name in os.environ}


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole test suite; PostgreSQL is started by the suite itself."""
    # Tests build throwaway plugin distributions offline (--no-build-isolation), which needs
    # a setuptools that builds wheels on its own; the one venv seeds on 3.11 cannot.
    session.install("--upgrade", "pip", "setuptools>=70.1")
    editable: list[str] = ["-e", ".[test]"]
    for plugin in _plugin_dirs():
        editable += ["-e", plugin]
    # One resolver run, so that plugins requiring wfsdk get this checkout, not a release.
    session.install(*editable)
    session.run("pytest", "-p", "no:cacheprovider", *session.posargs, env=_passthrough_env())


@nox.session(python=PYTHON)
def contract(session: nox.Session) -> None:
    """The plugin contract suite: every plugin in plugins/ passes, the broken example fails."""
    session.install("--upgrade", "pip", "setuptools>=70.1")
    editable: list[str] = ["-e", ".[test]"]
    for plugin in _plugin_dirs():
        editable += ["-e", plugin]
    session.install(*editable)
    # contract/conftest.py names every distribution under plugins/.
    session.run("pytest", "contract", *session.posargs, env=_passthrough_env())
    # The suite's own tests: the broken example fails exactly the expected checks.
    session.run(
        "pytest",
        "-p",
        "no:cacheprovider",
        "tests/test_contract_suite.py",
        "tests/test_plugin_authoring.py",
        env=_passthrough_env(),
    )


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff lint and format check."""
    session.install(RUFF)
    paths = [p for p in LINT_PATHS if (ROOT / p).exists()]
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package, against its real dependencies' types."""
    # wfsdk.testing and wfsdk.contract import Hypothesis and pytest: type them too.
    plugins = [arg for path in _plugin_dirs() for arg in ("-e", path)]
    session.install("-e", ".[test]", *plugins, MYPY)
    session.run("mypy", "--strict", "src/wfsdk", *(f"{path}/src" for path in _plugin_dirs()))


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Side-by-side benchmarks against raw psycopg, SQLAlchemy and Alembic."""
    # The write benchmark measures the full path with the policy plugins on.
    editable: list[str] = ["-e", "."]
    for plugin in _plugin_dirs():
        editable += ["-e", plugin]
    session.install(*editable, "alembic")
    session.run("python", "benchmarks/run.py", *session.posargs, env=_passthrough_env())
