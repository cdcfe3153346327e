"""Run the plugin contract suite over every plugin distribution in ``plugins/``.

``pytest contract`` (from the repository root) checks each of them; name plugins with
``--wfsdk-contract=NAME`` to check only those. Each plugin runs with the settings below,
chosen so that it is unattended and deterministic. The secrets check also runs on a
private PostgreSQL server when its programs are installed (``tests/pgcluster.py``), so the
DSN password is a real one; ``WFSDK_REQUIRE_POSTGRES=1`` turns its absence into a failure.
"""

from __future__ import annotations

import os
import sys
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    # Imported only for types: importing the plugin here, before pytest_plugins loads
    # it, would keep pytest from rewriting its asserts.
    from wfsdk.contract._target import Target

pytest_plugins = ["wfsdk.contract"]

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parent

#: Per distribution: the environment that makes the plugin unattended and deterministic.
SETTINGS: Mapping[str, Mapping[str, str]] = {
    "wfsdk-approval": {
        "WFSDK_APPROVAL_MODE": "rules",
        "WFSDK_APPROVAL_RULES": str(HERE / "approval-rules.toml"),
    },
    # Its log lines too, so that the secrets check reads what it logs as well as what it keeps.
    "wfsdk-audit": {"WFSDK_AUDIT_LOGGING": "1"},
}


def plugin_distributions() -> list[str]:
    return sorted(
        tomllib.loads(path.read_text(encoding="utf-8"))["project"]["name"]
        for path in REPOSITORY.glob("plugins/*/pyproject.toml")
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # Before the suite's own pytest_configure, which reads the option.
    if not config.getoption("wfsdk_contract"):
        config.option.wfsdk_contract = plugin_distributions()


@pytest.fixture
def wfsdk_contract_env(wfsdk_contract_plugin: Target) -> Mapping[str, str]:
    return SETTINGS.get(wfsdk_contract_plugin.distribution or "", {})


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@pytest.fixture(scope="session")
def wfsdk_contract_postgres(pytestconfig: pytest.Config) -> Iterator[str | None]:
    from wfsdk.contract import ENV_POSTGRES
    from wfsdk.contract._postgres import prepare

    given = pytestconfig.getoption("wfsdk_contract_postgres") or os.environ.get(ENV_POSTGRES)
    if given:
        yield prepare(given)
        return
    sys.path.insert(0, str(REPOSITORY / "tests"))
    from pgcluster import PgCluster, PostgresNotFound, find_binaries

    try:
        find_binaries()
    except PostgresNotFound as exc:
        if _truthy(os.environ.get("WFSDK_REQUIRE_POSTGRES")):
            pytest.fail(f"{exc}; WFSDK_REQUIRE_POSTGRES=1 forbids skipping", pytrace=False)
        yield None
        return
    cluster = PgCluster()
    try:
        cluster.start()
        name = cluster.create_database(cluster.unique_database_name("contract"))
        yield prepare(cluster.url(name))
    finally:
        cluster.cleanup()
