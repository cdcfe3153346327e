"""Plugin loading from real installed distributions, in a separate interpreter.

Each test builds a tiny distribution, installs it with pip into a directory of
its own, and runs wfsdk in a subprocess that sees that directory, so entry
points are discovered exactly as for a plugin installed from PyPI, and the
suite's own environment is never changed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from wfsdk.errors import PluginError
from wfsdk.plugins import BUILTIN_MODULES, load_plugins

from kernel_support import pip_install_offline

GOOD = """
import wfsdk

SEEN = []

@wfsdk.hookimpl
def on_read(event):
    SEEN.append(event.row_count)
"""

BROKEN_IMPORT = """
raise ImportError("this plugin needs a package that is not installed")
"""

WRONG_SIGNATURE = """
import wfsdk

@wfsdk.hookimpl
def before_write(intent, extra_argument):
    return None
"""

UNKNOWN_HOOK = """
import wfsdk

@wfsdk.hookimpl
def on_reed(event):
    return None
"""


def build_distribution(root: Path, dist: str, module: str, source: str) -> Path:
    project = root / "src" / dist
    (project / module).mkdir(parents=True)
    (project / module / "__init__.py").write_text(textwrap.dedent(source))
    (project / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""
            [build-system]
            requires = ["setuptools"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "{dist}"
            version = "1.2.3"

            [project.entry-points.wfsdk]
            {module} = "{module}"

            [tool.setuptools]
            packages = ["{module}"]
            """
        )
    )
    return project


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("plugins")
    target = root / "site"
    for dist, module, source in (
        ("wfsdk-good-observer", "good_observer", GOOD),
        ("wfsdk-broken-import", "broken_import", BROKEN_IMPORT),
        ("wfsdk-wrong-signature", "wrong_signature", WRONG_SIGNATURE),
        ("wfsdk-unknown-hook", "unknown_hook", UNKNOWN_HOOK),
    ):
        pip_install_offline(build_distribution(root, dist, module, source), target)
    return target


def run_wfsdk(
    site: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("WFSDK_")}
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(site), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", "from wfsdk.cli import main; main()", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_good_installed_plugin_is_discovered_with_its_distribution(site: Path) -> None:
    result = run_wfsdk(
        site, "plugins", "--format", "json", env={"WFSDK_PLUGINS": "wfsdk-good-observer"}
    )
    assert result.returncode == 0, result.stderr
    (plugin,) = json.loads(result.stdout)
    assert plugin == {
        "name": "good_observer",
        "distribution": "wfsdk-good-observer",
        "version": "1.2.3",
        "hooks": ["on_read"],
        "builtin": False,
    }


def test_builtins_are_listed_with_all(site: Path) -> None:
    result = run_wfsdk(site, "plugins", "--all", "--format", "json", env={"WFSDK_PLUGINS": ""})
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert [p["name"] for p in listed] == list(BUILTIN_MODULES)
    assert all(p["builtin"] and "declare_access" in p["hooks"] for p in listed)


def test_empty_selection_loads_no_third_party_plugin(site: Path) -> None:
    result = run_wfsdk(site, "plugins", "--format", "json", env={"WFSDK_PLUGINS": ""})
    assert result.returncode == 0 and json.loads(result.stdout) == []


def test_disable_wins_over_enable(site: Path) -> None:
    result = run_wfsdk(
        site,
        "plugins",
        "--all",
        "--format",
        "json",
        env={
            "WFSDK_PLUGINS": "wfsdk-good-observer",
            "WFSDK_DISABLE_PLUGINS": "wfsdk-good-observer,llm",
        },
    )
    names = [p["name"] for p in json.loads(result.stdout)]
    assert "good_observer" not in names and "wfsdk.modules.llm" not in names
    assert "wfsdk.modules.core" in names


@pytest.mark.parametrize(
    ("dist", "message"),
    [
        ("wfsdk-broken-import", "failed to import"),
        ("wfsdk-wrong-signature", "extra_argument"),
        ("wfsdk-unknown-hook", "on_reed"),
    ],
)
def test_a_bad_plugin_stops_loading_naming_plugin_and_distribution(
    site: Path, dist: str, message: str
) -> None:
    result = run_wfsdk(site, "plugins", "--format", "json", env={"WFSDK_PLUGINS": dist})
    assert result.returncode == 2
    assert dist in result.stderr and message in result.stderr
    # No half-loaded SDK: connect refuses as a whole too.
    code = (
        "import wfsdk\n"
        "try:\n"
        "    wfsdk.connect('sqlite://')\n"
        "except wfsdk.errors.PluginError as e:\n"
        "    print('REFUSED', e.distribution)\n"
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("WFSDK_")}
    environment.update(PYTHONPATH=str(site), WFSDK_PLUGINS=dist)
    out = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=120
    )
    assert out.stdout.strip() == f"REFUSED {dist}", out.stderr


def test_unknown_distribution_is_an_error() -> None:
    with pytest.raises(PluginError, match="not installed"):
        load_plugins(["wfsdk-no-such-plugin"], [])


def test_host_plugin_objects_are_validated_too() -> None:
    import wfsdk

    class Bad:
        @wfsdk.hookimpl
        def after_write(self, change, nonsense):  # type: ignore[no-untyped-def]
            return None

    with pytest.raises(PluginError, match="nonsense"):
        load_plugins([], [], extra=[Bad()])
