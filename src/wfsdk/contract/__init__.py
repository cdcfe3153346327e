"""The plugin contract suite: what every wfsdk plugin must pass, as a pytest plugin.

In the ``conftest.py`` at the root of the plugin's repository::

    pytest_plugins = ["wfsdk.contract"]

then::

    pytest --wfsdk-contract=my-plugin-distribution

The suite (:mod:`wfsdk.contract.suite`) runs against each plugin named (a
distribution, an entry point of the ``wfsdk`` group, or a module; the option
may be repeated). Without further paths on the command line only the suite
runs; with paths, the suite runs beside the tests found there. Settings the
plugin reads from its environment are given with the ``wfsdk_contract_env``
fixture (override it in the same conftest), ``--wfsdk-contract-env
NAME=VALUE`` or the ``wfsdk_contract_env`` ini option. The rules, and how to
read a failure, are in the suite's module docstring and in the project's
``contract/README.md``.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

try:
    from hypothesis import HealthCheck, Phase, settings
except ImportError as exc:
    raise ImportError(
        "the wfsdk plugin contract suite needs pytest and Hypothesis: pip install 'wfsdk[test]'"
    ) from exc

from wfsdk.contract import _workspace
from wfsdk.contract._calls import HookRunner
from wfsdk.contract._target import Target, resolve, split_names

DEFAULT_BUDGET_S = 1.0
DEFAULT_EXAMPLES = 25
ENV_POSTGRES = "WFSDK_CONTRACT_POSTGRES"
MARKER = "wfsdk_contract"
SUITE_NODEID = "wfsdk/contract/suite.py"

_TARGETS = pytest.StashKey[list[Target]]()
_RUNNER = pytest.StashKey[HookRunner]()
_SUITE = pytest.StashKey[str]()
_SETTING = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.S)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wfsdk-contract", "wfsdk plugin contract suite")
    group.addoption(
        "--wfsdk-contract",
        action="append",
        default=[],
        metavar="PLUGIN",
        help="run the wfsdk plugin contract suite against PLUGIN: a distribution name, "
        "an entry point of the 'wfsdk' group, or a module (repeat, or separate with commas)",
    )
    group.addoption(
        "--wfsdk-contract-budget",
        type=float,
        default=None,
        metavar="SECONDS",
        help=f"time budget of one hook call (default {DEFAULT_BUDGET_S:g})",
    )
    group.addoption(
        "--wfsdk-contract-examples",
        type=int,
        default=None,
        metavar="N",
        help=f"Hypothesis examples per property (default {DEFAULT_EXAMPLES})",
    )
    group.addoption(
        "--wfsdk-contract-random",
        action="store_true",
        default=False,
        help="draw new examples on every run instead of the same ones (explore, then pin)",
    )
    group.addoption(
        "--wfsdk-contract-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable the plugin under test reads (repeatable)",
    )
    group.addoption(
        "--wfsdk-contract-postgres",
        default=None,
        metavar="URL",
        help="an empty PostgreSQL database the suite may fill with the demo schema, to run "
        f"the secrets check with a real DSN password too (default ${ENV_POSTGRES})",
    )
    parser.addini(
        "wfsdk_contract_env",
        type="linelist",
        default=[],
        help="NAME=VALUE lines: environment of the plugin under test",
    )
    parser.addini(
        "wfsdk_contract_budget",
        type="string",
        default=str(DEFAULT_BUDGET_S),
        help="time budget of one hook call, in seconds",
    )


def suite_path() -> str:
    """The suite's file, found without importing it (it may live in site-packages)."""
    spec = importlib.util.find_spec("wfsdk.contract.suite")
    assert spec is not None and spec.origin is not None
    return str(Path(spec.origin).resolve())


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}: a check of the wfsdk plugin contract suite")
    names = split_names(config.getoption("wfsdk_contract") or [])
    if not names:
        return
    configured_settings(config)  # a malformed NAME=VALUE stops the run here, not per check
    config.stash[_TARGETS] = [resolve(name) for name in names]
    config.stash[_RUNNER] = HookRunner(budget(config))
    # The suite ships inside the package, usually outside the author's rootdir; naming
    # its file as an argument is what makes pytest collect it from there. With no path
    # given, the command means "run the suite", not "run the suite and every test".
    path = config.stash[_SUITE] = suite_path()
    if config.args_source is not pytest.Config.ArgsSource.ARGS:
        config.args[:] = [path]
    elif path not in config.args:
        config.args.append(path)


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makemodule(
    module_path: Path, parent: pytest.Collector
) -> pytest.Module | None:
    # Outside the rootdir pytest would give the suite an empty node id ("::test_..."),
    # and JUnit reports an empty class name; name it after the module instead.
    suite = parent.config.stash.get(_SUITE, None)
    if suite is not None and str(module_path.resolve()) == suite:
        module: pytest.Module = pytest.Module.from_parent(
            parent, path=module_path, nodeid=SUITE_NODEID
        )
        return module
    return None


def pytest_unconfigure(config: pytest.Config) -> None:
    runner = config.stash.get(_RUNNER, None)
    if runner is not None:
        runner.close()


def pytest_report_header(config: pytest.Config) -> list[str]:
    targets = config.stash.get(_TARGETS, [])
    if not targets:
        return []
    return [
        f"wfsdk contract suite ({suite_path()}): "
        + ", ".join(str(t) for t in targets)
        + f"; time budget {budget(config):g} s per hook call; "
        + f"{examples(config)} examples per property"
        + ("" if config.getoption("wfsdk_contract_random") else " (fixed seed)")
    ]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "wfsdk_contract_plugin" in metafunc.fixturenames:
        targets = metafunc.config.stash.get(_TARGETS, [])
        metafunc.parametrize("wfsdk_contract_plugin", targets, ids=[t.id for t in targets])


def budget(config: pytest.Config) -> float:
    value = config.getoption("wfsdk_contract_budget")
    if value is None:
        value = float(str(config.getini("wfsdk_contract_budget")))
    if value <= 0:
        raise pytest.UsageError("--wfsdk-contract-budget must be a positive number of seconds")
    return float(value)


def examples(config: pytest.Config) -> int:
    value = config.getoption("wfsdk_contract_examples")
    return DEFAULT_EXAMPLES if value is None else max(1, int(value))


def parse_settings(lines: list[str], where: str) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for line in lines:
        match = _SETTING.match(line.strip())
        if not match:
            raise pytest.UsageError(f"{where}: expected NAME=VALUE, got {line!r}")
        parsed[match.group(1)] = match.group(2)
    return parsed


def configured_settings(config: pytest.Config) -> dict[str, str]:
    merged = parse_settings(list(config.getini("wfsdk_contract_env")), "wfsdk_contract_env")
    merged.update(
        parse_settings(config.getoption("wfsdk_contract_env") or [], "--wfsdk-contract-env")
    )
    return merged


# -- fixtures --------------------------------------------------------------------------


@pytest.fixture
def wfsdk_contract_env(request: pytest.FixtureRequest) -> Mapping[str, str]:
    """Environment variables the plugin under test runs with (its settings).

    Override this fixture in the conftest that loads the suite to run the
    plugin in a deterministic mode; it may ask for ``wfsdk_contract_plugin``
    to give each plugin its own settings. The default comes from the
    ``wfsdk_contract_env`` ini option and ``--wfsdk-contract-env`` (which wins).
    """
    return configured_settings(request.config)


@pytest.fixture
def wfsdk_contract_plugin(request: pytest.FixtureRequest) -> Target:
    """The plugin under test (parametrized over every ``--wfsdk-contract`` given)."""
    target: Target = request.param
    return target


@pytest.fixture(scope="session")
def wfsdk_contract_budget(pytestconfig: pytest.Config) -> float:
    """Seconds one hook call may take (``--wfsdk-contract-budget``)."""
    return budget(pytestconfig)


@pytest.fixture(scope="session")
def wfsdk_contract_runner(pytestconfig: pytest.Config) -> HookRunner:
    runner = pytestconfig.stash.get(_RUNNER, None)
    if runner is None:
        runner = pytestconfig.stash[_RUNNER] = HookRunner(budget(pytestconfig))
    return runner


@pytest.fixture(scope="session")
def wfsdk_contract_settings(pytestconfig: pytest.Config) -> settings:
    """Hypothesis settings of the suite's properties."""
    return settings(
        max_examples=examples(pytestconfig),
        deadline=None,
        derandomize=not pytestconfig.getoption("wfsdk_contract_random"),
        database=None,
        print_blob=False,
        suppress_health_check=list(HealthCheck),
        # The explain phase re-runs a failing hook many times to annotate the example;
        # seconds per failure, for a hint the rule's message already gives.
        phases=[p for p in Phase if p is not Phase.explain],
    )


@pytest.fixture(scope="session")
def wfsdk_contract_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _workspace.build_template(tmp_path_factory.mktemp("wfsdk-contract-template"))


@pytest.fixture
def wfsdk_contract_workspace(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    wfsdk_contract_template: Path,
    wfsdk_contract_plugin: Target,
    wfsdk_contract_env: Mapping[str, str],
) -> Iterator[_workspace.Workspace]:
    """A fresh demo database, journal and empty directories; the process pointed at them."""
    workspace = _workspace.create(tmp_path / "workspace", wfsdk_contract_template)
    _workspace.enter(
        monkeypatch,
        workspace,
        plugins=wfsdk_contract_plugin.distribution or "",
        settings=dict(wfsdk_contract_env),
    )
    yield workspace


@pytest.fixture(scope="session")
def wfsdk_contract_postgres(pytestconfig: pytest.Config) -> str | None:
    """URL of the PostgreSQL database for the secrets check, filled once; None without one."""
    url = pytestconfig.getoption("wfsdk_contract_postgres") or os.environ.get(ENV_POSTGRES)
    if not url:
        return None
    from wfsdk.contract._postgres import prepare

    return prepare(url)
