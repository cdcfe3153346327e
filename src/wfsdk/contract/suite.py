"""The checks every wfsdk plugin must pass.

Collected by the ``wfsdk.contract`` pytest plugin when ``--wfsdk-contract``
names a plugin; every check runs once per plugin named. A failure message
starts with the rule in brackets, names the plugin and the hook, and says
what to change; for a property, Hypothesis prints the smallest falsifying
example it found below it.

Rules, in the order the checks run:

``discoverable``
    The plugin has an entry point in the ``wfsdk`` group and it loads.
``matches-spec``
    ``wfsdk.plugins.load_plugins`` accepts it: every hook implementation names a
    hook of :mod:`wfsdk.hookspecs` and asks only for that hook's arguments; it
    implements at least one hook; no hook-named function lacks ``@wfsdk.hookimpl``;
    no hook wrappers (the kernel calls implementations one at a time).
``import-side-effects``
    Importing it in a fresh interpreter, in an empty directory, prints nothing,
    creates no file (state directory and database included), starts no thread and
    changes no process-wide logging or signal handling.
``loads-into-kernel``
    ``wfsdk.connect`` succeeds with it loaded beside the built-in modules.
``time-budget``
    Every hook returns within the budget (``--wfsdk-contract-budget``, default
    1 s) on a small, a typical and a large argument: hooks run synchronously on
    the read and write paths.
``observers-accept-every-event``
    ``on_read``, ``after_write``, ``after_rollback``, ``on_schema_mismatch`` and
    ``on_error`` never raise, whatever the event (odd table names, no rows and
    many, unicode, ``NULL`` values).
``hooks-leave-the-database-alone``
    No hook changes the database, not even by connecting on its own through
    ``WFSDK_DSN``.
``before-write-votes``
    ``before_write`` returns ``Vote.allow()``, ``Vote.deny(reason)`` or ``None``;
    a deny has a reason; it votes rather than raising.
``before-write-deterministic``
    The same intent gets the same decision twice.
``before-commit-receipts``
    ``before_commit`` returns a ``Receipt`` or ``None`` (anything else is dropped).
``failure-refuses-the-write``
    With one of the plugin's hooks made to raise, a real write through the kernel
    is refused (``before_write``, ``before_commit``) or reported
    (``after_write``, ``on_read``), the database keeps its rows, and ``on_error``
    hears of it: a failing plugin is never a silent allow.
``no-secret-leaks``
    After a day of real flows with a canary database password and a canary
    credential in ``llm_provider.auth_token``, neither appears in the journal, the
    working, home or temporary directory, any log record, or the output.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import attrs
import pluggy
import pytest
from hypothesis import given, settings

import wfsdk
from wfsdk.contract import _postgres, _secrets
from wfsdk.contract._calls import HookRunner, Outcome, OverBudget
from wfsdk.contract._probe import probe
from wfsdk.contract._samples import SAMPLES
from wfsdk.contract._target import (
    CALLED_HOOKS,
    OBSERVING_HOOKS,
    Target,
    hook_implementations,
    installed_entry_points,
    manager_for,
    plugin_name,
    unmarked_hooks,
)
from wfsdk.contract._workspace import DEMO_CONTRACT, HOST_ACCESS, Workspace
from wfsdk.errors import PluginError, PluginHookError, WfsdkError, WriteDeniedError
from wfsdk.kernel import Kernel
from wfsdk.plugins import load_plugins
from wfsdk.testing.strategies import hook_arguments, write_intents
from wfsdk.values import Decision, ErrorEvent, Receipt, Vote, WriteIntent

pytestmark = pytest.mark.wfsdk_contract

INJECTED = "failure injected by the wfsdk contract suite"
_WRITE = "UPDATE post_workflow_stage SET status = :status WHERE id = :id"
_WRITE_PARAMS = {"status": "review", "id": 2}


class ContractViolation(AssertionError):
    """A rule of the plugin contract was broken; the message names the rule and the hook."""


def violation(rule: str, target: Target, hook: str | None, message: str) -> ContractViolation:
    where = str(target) if hook is None else f"{target}, hook {hook}"
    return ContractViolation(f"[{rule}] {where}: {message}")


def fail(rule: str, target: Target, hook: str | None, message: str) -> NoReturn:
    pytest.fail(str(violation(rule, target, hook, message)), pytrace=False)


# -- the plugin under test -----------------------------------------------------------------


def plugin_objects(target: Target) -> tuple[object, ...]:
    """The plugin's objects; a check that needs them is skipped when they do not load."""
    try:
        return target.load()
    except Exception as exc:
        pytest.skip(
            f"{target} does not load ({type(exc).__name__}: {exc}); "
            "see test_discoverable_through_the_wfsdk_entry_point_group"
        )


def plugin_manager(target: Target) -> pluggy.PluginManager:
    """The plugin alone in a plugin manager; skipped when it does not match the specs."""
    try:
        return manager_for(plugin_objects(target))
    except pluggy.PluginValidationError as exc:
        pytest.skip(f"{target} does not match the specs ({exc}); see the matches-spec check")


def implementations(target: Target, hook: str) -> list[pluggy.HookImpl]:
    impls = list(getattr(plugin_manager(target).hook, hook).get_hookimpls())
    if not impls:
        pytest.skip(f"{target} does not implement {hook}")
    return impls


def checked_implementations(runner: HookRunner, target: Target, hook: str) -> list[pluggy.HookImpl]:
    """The plugin's implementations of ``hook``; skips if it has none or one is over budget."""
    impls = implementations(target, hook)
    skip_if_over_budget(runner, [key(target, i, hook) for i in impls])
    return impls


def key(target: Target, impl: pluggy.HookImpl, hook: str) -> str:
    return f"{target.id}: {impl.plugin_name}.{hook}"


def skip_if_over_budget(runner: HookRunner, keys: Sequence[str]) -> None:
    for name in keys:
        if name in runner.over_budget:
            pytest.skip(
                f"{name} is over its time budget (see test_hooks_finish_within_the_time_budget); "
                "not checked further"
            )


def call(
    runner: HookRunner, target: Target, impl: pluggy.HookImpl, hook: str, **arguments: Any
) -> Outcome:
    __tracebackhide__ = True
    try:
        return runner.call(key(target, impl, hook), impl, **arguments)
    except OverBudget as exc:
        raise violation("time-budget", target, hook, f"{impl.plugin_name}.{hook} {exc}") from None


def open_kernel(target: Target, url: str, workspace: Workspace, *extra: object) -> Kernel:
    """A kernel with the plugin loaded as a user would load it, and the suite's helpers."""
    if target.whole_distribution:
        assert target.distribution is not None
        plugins: list[str] = [target.distribution]
        objects: tuple[object, ...] = ()
    else:
        plugins, objects = [], plugin_objects(target)
    return wfsdk.connect(
        url,
        contract=DEMO_CONTRACT,
        state_dir=workspace.journal_dir,
        plugins=plugins,
        extra_plugins=[*objects, *extra],
        host_access=HOST_ACCESS,
    )


class AllowAll:
    """Stands in for the approval a deployment would have, so writes reach every hook."""

    @wfsdk.hookimpl
    def before_write(self) -> Vote:
        return Vote.allow("the contract suite allows its own writes", voter="wfsdk-contract")


class ErrorRecorder:
    def __init__(self) -> None:
        self.errors: list[ErrorEvent] = []

    @wfsdk.hookimpl
    def on_error(self, error: ErrorEvent) -> None:
        self.errors.append(error)

    def heard_of(self, marker: str) -> bool:
        return any(marker in e.message or marker in e.traceback for e in self.errors)


class InjectedHookFailure(RuntimeError):
    pass


def _raise(*_args: Any, **_kwargs: Any) -> NoReturn:
    raise InjectedHookFailure(INJECTED)


def _abstain(*_args: Any, **_kwargs: Any) -> None:
    return None


# -- loading ---------------------------------------------------------------------------------


def test_discoverable_through_the_wfsdk_entry_point_group(
    wfsdk_contract_plugin: Target, wfsdk_contract_workspace: Workspace
) -> None:
    __tracebackhide__ = True
    target = wfsdk_contract_plugin
    if not target.entry_points:
        installed = sorted(
            f"{ep.dist.name if ep.dist else '?'}: {ep.name} = {ep.value}"
            for ep in installed_entry_points()
        )
        fail(
            "discoverable",
            target,
            None,
            "no entry point in group 'wfsdk' belongs to this distribution or names this "
            "module, so wfsdk.connect() never loads it. Add to pyproject.toml:\n"
            '    [project.entry-points.wfsdk]\n    my_plugin = "my_plugin"\n'
            "and reinstall. Installed wfsdk plugins: " + ("; ".join(installed) or "none"),
        )
    for ep in target.entry_points:
        try:
            ep.load()
        except Exception as exc:
            fail(
                "discoverable",
                target,
                None,
                f"entry point {ep.name} = {ep.value!r} does not load: {type(exc).__name__}: {exc}",
            )


def test_hook_implementations_match_the_specs(
    wfsdk_contract_plugin: Target, wfsdk_contract_workspace: Workspace
) -> None:
    __tracebackhide__ = True
    target = wfsdk_contract_plugin
    try:
        if target.whole_distribution:
            assert target.distribution is not None
            load_plugins([target.distribution], [])
        else:
            load_plugins([], [], extra=plugin_objects(target))
    except PluginError as exc:
        fail(
            "matches-spec",
            target,
            None,
            f"wfsdk refuses to load it: {exc}. Every @wfsdk.hookimpl must be named after a "
            "hook of docs/hooks.md and take only (a subset of) that hook's arguments.",
        )
    objects = plugin_objects(target)
    pm = manager_for(objects)
    implemented = hook_implementations(pm)
    if not implemented:
        fail(
            "matches-spec",
            target,
            None,
            "it implements no hook: decorate hook functions with @wfsdk.hookimpl",
        )
    problems = []
    for index, plugin in enumerate(objects):
        for name in unmarked_hooks(plugin):
            problems.append(
                f"{plugin_name(plugin, index)}.{name} is not decorated with @wfsdk.hookimpl, "
                "so it is never called"
            )
    for name, impl in implemented:
        if impl.wrapper or impl.hookwrapper:
            problems.append(
                f"{impl.plugin_name}.{name} is a hook wrapper; the kernel calls "
                "implementations one at a time, so wrappers are not supported"
            )
    if problems:
        fail("matches-spec", target, None, "; ".join(problems))


def test_import_has_no_side_effects(
    wfsdk_contract_plugin: Target,
    wfsdk_contract_env: Mapping[str, str],
    wfsdk_contract_workspace: Workspace,
    tmp_path: Path,
) -> None:
    __tracebackhide__ = True
    target = wfsdk_contract_plugin
    plugin_objects(target)  # one that does not import at all is the discovery check's finding
    problems = probe(target.import_names, tmp_path / "import", dict(wfsdk_contract_env))
    if problems:
        fail(
            "import-side-effects",
            target,
            None,
            "importing it (as every host, CLI run and batch job does) "
            + "; ".join(problems)
            + ". Do work in hooks, when there is something to do, not at import.",
        )


def test_loads_into_a_kernel(
    wfsdk_contract_plugin: Target, wfsdk_contract_workspace: Workspace
) -> None:
    __tracebackhide__ = True
    target = wfsdk_contract_plugin
    try:
        kernel = open_kernel(target, wfsdk_contract_workspace.url, wfsdk_contract_workspace)
    except WfsdkError as exc:
        fail(
            "loads-into-kernel",
            target,
            None,
            f"wfsdk.connect() with it loaded failed: {type(exc).__name__}: {exc}",
        )
    kernel.close()


# -- hooks called directly -------------------------------------------------------------------


@pytest.mark.parametrize("hook", CALLED_HOOKS)
def test_hooks_finish_within_the_time_budget(
    hook: str,
    wfsdk_contract_plugin: Target,
    wfsdk_contract_workspace: Workspace,
    wfsdk_contract_runner: HookRunner,
) -> None:
    __tracebackhide__ = True
    target = wfsdk_contract_plugin
    journal = wfsdk_contract_workspace.journal()
    for impl in implementations(target, hook):
        for label, arguments in SAMPLES[hook]:
            try:
                wfsdk_contract_runner.call(
                    key(target, impl, hook), impl, journal=journal, **arguments
                )
            except OverBudget as exc:
                slow = exc
            else:
                continue
            fail(
                "time-budget",
                target,
                hook,
                f"{impl.plugin_name}.{hook} {slow.describe(label)}. Hooks run synchronously "
                "on the read and write paths: keep slow work (network, large files) out of "
                "them, or bound it with a timeout shorter than the budget.",
            )


@pytest.mark.parametrize("hook", OBSERVING_HOOKS)
def test_observers_accept_every_event(
    hook: str,
    wfsdk_contract_plugin: Target,
    wfsdk_contract_workspace: Workspace,
    wfsdk_contract_runner: HookRunner,
    wfsdk_contract_settings: settings,
) -> None:
    __tracebackhide__ = True
    target = wfsdk_contract_plugin
    impls = checked_implementations(wfsdk_contract_runner, target, hook)
    journal = wfsdk_contract_workspace.journal()

    @wfsdk_contract_settings
    @given(**hook_arguments(hook))
    def observers_accept_every_event(**arguments: Any) -> None:
        __tracebackhide__ = True
        for impl in impls:
            outcome = call(wfsdk_contract_runner, target, impl, hook, journal=journal, **arguments)
            if outcome.error is not None:
                raise violation(
                    "observers-accept-every-event",
                    target,
                    hook,
                    f"{impl.plugin_name}.{hook} raised {type(outcome.error).__name__}: "
                    f"{outcome.error}. An observing hook must accept every event the kernel "
                    "can send (odd names, no rows or many, unicode, NULL values); the "
                    "kernel turns its exception into an error for the caller.",
                ) from outcome.error

    observers_accept_every_event()


@pytest.mark.parametrize("hook", CALLED_HOOKS)
def test_hooks_leave_the_database_alone(
    hook: str,
    wfsdk_contract_plugin: Target,
    wfsdk_contract_workspace: Workspace,
    wfsdk_contract_runner: HookRunner,
    wfsdk_contract_settings: settings,
) -> None:
    __tracebackhide__ = True
    target = wfsdk_contract_plugin
    impls = checked_implementations(wfsdk_contract_runner, target, hook)
    workspace = wfsdk_contract_workspace
    journal = workspace.journal()

    @wfsdk_contract_settings
    @given(**hook_arguments(hook))
    def hooks_leave_the_database_alone(**arguments: Any) -> None:
        __tracebackhide__ = True
        for impl in impls:
            before = workspace.fingerprint()
            call(wfsdk_contract_runner, target, impl, hook, journal=journal, **arguments)
            if workspace.fingerprint() != before:
                raise violation(
                    "hooks-leave-the-database-alone",
                    target,
                    hook,
                    f"{impl.plugin_name}.{hook} changed the database ({workspace.url}, "
                    "which WFSDK_DSN names). A hook never writes the database: every change "
                    "goes through the kernel's write path, where it is voted on, backed up "
                    "and verified.",
                )

    hooks_leave_the_database_alone()


def _invalid_vote(result: object) -> str | None:
    if result is None:
        return None
    if not isinstance(result, Vote):
        return f"returned {type(result).__name__} {result!r:.80}"
    if not isinstance(result.decision, Decision):
        return (
            f"returned a Vote whose decision is {result.decision!r} "
            f"({type(result.decision).__name__}), not a wfsdk.values.Decision; the kernel "
            "counts it as neither an allow nor a deny"
        )
    if result.decision is Decision.DENY and not (isinstance(result.reason, str) and result.reason):
        return "returned a deny without a reason"
    if not isinstance(result.reason, str) or not isinstance(result.voter, str):
        return "returned a Vote whose reason or voter is not a string"
    return None


def test_before_write_returns_a_vote_or_none(
    wfsdk_contract_plugin: Target,
    wfsdk_contract_workspace: Workspace,
    wfsdk_contract_runner: HookRunner,
    wfsdk_contract_settings: settings,
) -> None:
    __tracebackhide__ = True
    target = wfsdk_contract_plugin
    impls = checked_implementations(wfsdk_contract_runner, target, "before_write")
    journal = wfsdk_contract_workspace.journal()

    @wfsdk_contract_settings
    @given(intent=write_intents())
    def before_write_returns_a_vote_or_none(intent: WriteIntent) -> None:
        __tracebackhide__ = True
        for impl in impls:
            outcome = call(
                wfsdk_contract_runner, target, impl, "before_write", intent=intent, journal=journal
            )
            if outcome.error is not None:
                raise violation(
                    "before-write-votes",
                    target,
                    "before_write",
                    f"{impl.plugin_name}.before_write raised {type(outcome.error).__name__}: "
                    f"{outcome.error}. Vote instead: return Vote.deny(reason) to refuse, "
                    "None to abstain; an exception refuses the write with a traceback "
                    "instead of a reason.",
                ) from outcome.error
            problem = _invalid_vote(outcome.value)
            if problem:
                raise violation(
                    "before-write-votes",
                    target,
                    "before_write",
                    f"{impl.plugin_name}.before_write {problem}. Return Vote.allow(), "
                    "Vote.deny(reason) or None (abstain); the kernel refuses the write on "
                    "anything else.",
                )

    before_write_returns_a_vote_or_none()


def _decision(outcome: Outcome) -> str:
    if outcome.error is not None:
        return f"raised {type(outcome.error).__name__}"
    if outcome.value is None:
        return "abstain"
    if isinstance(outcome.value, Vote) and isinstance(outcome.value.decision, Decision):
        return outcome.value.decision.value
    return f"returned {type(outcome.value).__name__}"


def test_before_write_is_deterministic(
    wfsdk_contract_plugin: Target,
    wfsdk_contract_workspace: Workspace,
    wfsdk_contract_runner: HookRunner,
    wfsdk_contract_settings: settings,
) -> None:
    __tracebackhide__ = True
    target = wfsdk_contract_plugin
    impls = checked_implementations(wfsdk_contract_runner, target, "before_write")
    journal = wfsdk_contract_workspace.journal()

    @wfsdk_contract_settings
    @given(intent=write_intents())
    def before_write_is_deterministic(intent: WriteIntent) -> None:
        __tracebackhide__ = True
        for impl in impls:
            first, second = (
                call(
                    wfsdk_contract_runner,
                    target,
                    impl,
                    "before_write",
                    intent=intent,
                    journal=journal,
                )
                for _ in range(2)
            )
            if _decision(first) != _decision(second):
                raise violation(
                    "before-write-deterministic",
                    target,
                    "before_write",
                    f"{impl.plugin_name}.before_write decided {_decision(first)!r}, then "
                    f"{_decision(second)!r} for the same intent. A dry run and the write that "
                    "follows must get the same answer; decide from the intent and the "
                    "journal, not from counters, clocks or chance.",
                )

    before_write_is_deterministic()


def test_before_commit_returns_a_receipt_or_none(
    wfsdk_contract_plugin: Target,
    wfsdk_contract_workspace: Workspace,
    wfsdk_contract_runner: HookRunner,
    wfsdk_contract_settings: settings,
) -> None:
    __tracebackhide__ = True
    target = wfsdk_contract_plugin
    impls = checked_implementations(wfsdk_contract_runner, target, "before_commit")
    journal = wfsdk_contract_workspace.journal()

    @wfsdk_contract_settings
    @given(intent=write_intents(dry_run=False))
    def before_commit_returns_a_receipt_or_none(intent: WriteIntent) -> None:
        __tracebackhide__ = True
        for impl in impls:
            outcome = call(
                wfsdk_contract_runner, target, impl, "before_commit", intent=intent, journal=journal
            )
            # Raising is how before_commit refuses (the write rolls back); that is allowed.
            if outcome.error is None and not (
                outcome.value is None or isinstance(outcome.value, Receipt)
            ):
                raise violation(
                    "before-commit-receipts",
                    target,
                    "before_commit",
                    f"{impl.plugin_name}.before_commit returned "
                    f"{type(outcome.value).__name__} {outcome.value!r:.80}; the kernel keeps "
                    "only a wfsdk.values.Receipt (or None) and would drop this silently.",
                )

    before_commit_returns_a_receipt_or_none()


# -- real flows through the kernel -------------------------------------------------------


@pytest.mark.parametrize("hook", ("before_write", "before_commit", "after_write", "on_read"))
def test_a_failing_hook_never_lets_a_write_through(
    hook: str,
    wfsdk_contract_plugin: Target,
    wfsdk_contract_workspace: Workspace,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    __tracebackhide__ = True
    target = wfsdk_contract_plugin
    implementations(target, hook)
    objects = plugin_objects(target)
    workspace = wfsdk_contract_workspace
    recorder = ErrorRecorder()
    rule = "failure-refuses-the-write"
    with open_kernel(target, workspace.url, workspace, AllowAll(), recorder) as kernel:
        for name in ("before_write", hook):
            for impl in getattr(kernel.hook, name).get_hookimpls():
                if any(impl.plugin is plugin for plugin in objects):
                    # The hook under test raises; the plugin's own vote steps aside so the
                    # write reaches later hooks whatever policy the plugin enforces.
                    monkeypatch.setattr(impl, "function", _raise if name == hook else _abstain)
        before = workspace.fingerprint()
        error: WfsdkError | None = None
        try:
            if hook == "on_read":
                kernel.execute_query("SELECT id, status FROM post_workflow_stage WHERE id = 2")
            else:
                kernel.execute_query(
                    _WRITE, _WRITE_PARAMS, actor="wfsdk-contract", reason="failure injection"
                )
        except WfsdkError as exc:
            error = exc
    if error is None:
        fail(
            rule,
            target,
            hook,
            f"{hook} raised, yet the {'read' if hook == 'on_read' else 'write'} returned as "
            "if nothing had happened: a failing plugin must never be a silent allow",
        )
    expected: type[WfsdkError] = (
        WriteDeniedError if hook in ("before_write", "before_commit") else PluginHookError
    )
    if not isinstance(error, expected):
        fail(
            rule,
            target,
            hook,
            f"with {hook} raising, the caller got {type(error).__name__} ({error}), "
            f"expected {expected.__name__}",
        )
    if hook != "after_write" and workspace.fingerprint() != before:
        fail(rule, target, hook, f"with {hook} raising, the database changed anyway")
    if not recorder.heard_of(INJECTED):
        fail(
            rule,
            target,
            hook,
            f"with {hook} raising, on_error never heard of the failure "
            f"(it saw: {[e.error_type for e in recorder.errors]})",
        )


def _plant_credential_sqlite(database: Path, credential: str) -> None:
    # Fixture work on the suite's own copy of the demo database, outside the kernel.
    with sqlite3.connect(database) as conn:
        conn.execute("UPDATE llm_provider SET auth_token = ? WHERE id = 2", (credential,))
    conn.close()


def _run_bounded(function: Any, timeout_s: float) -> tuple[bool, Any, BaseException | None]:
    """Run ``function`` on a daemon thread; (finished, result, exception)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = function()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="wfsdk-contract-flows", daemon=True)
    thread.start()
    thread.join(timeout_s)
    return (not thread.is_alive(), box.get("result"), box.get("error"))


@pytest.mark.parametrize("database", ("sqlite", "postgresql"))
def test_no_secret_leaks(
    database: str,
    wfsdk_contract_plugin: Target,
    wfsdk_contract_workspace: Workspace,
    wfsdk_contract_runner: HookRunner,
    wfsdk_contract_budget: float,
    wfsdk_contract_postgres: str | None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    __tracebackhide__ = True
    target = wfsdk_contract_plugin
    workspace = wfsdk_contract_workspace
    skip_if_over_budget(
        wfsdk_contract_runner,
        [key(target, impl, name) for name, impl in hook_implementations(plugin_manager(target))],
    )
    canaries = _secrets.Canaries.fresh()
    if database == "postgresql":
        if wfsdk_contract_postgres is None:
            pytest.skip(
                "no PostgreSQL database given (--wfsdk-contract-postgres URL or "
                "$WFSDK_CONTRACT_POSTGRES); checked on SQLite only"
            )
        url, password = _postgres.with_password(wfsdk_contract_postgres, canaries.password)
        canaries = attrs.evolve(canaries, password=password)
        _postgres.plant_credential(url, canaries.credential)
        monkeypatch.setenv("WFSDK_DSN", url)
        password_known = True
    else:
        url = workspace.url
        _plant_credential_sqlite(workspace.database, canaries.credential)
        # An SQLite DSN cannot hold a password; a PostgreSQL host keeps it here instead.
        monkeypatch.setenv("PGPASSWORD", canaries.password)
        password_known = False
    caplog.set_level(logging.DEBUG)
    capfd.readouterr()

    def flows() -> list[str]:
        with open_kernel(target, url, workspace, AllowAll(), ErrorRecorder()) as kernel:
            return _secrets.run_flows(kernel, canaries, password_known=password_known)

    limit = max(60.0, 50 * wfsdk_contract_budget)
    finished, happened, error = _run_bounded(flows, limit)
    out, err = capfd.readouterr()
    if not finished:
        fail("time-budget", target, None, f"the flows did not finish within {limit:g} s")
    if error is not None:
        raise error
    leaks: list[_secrets.Leak] = []
    for label, directory in workspace.watched_directories().items():
        leaks.extend(_secrets.find_in_directory(directory, label, canaries))
    leaks.extend(_secrets.find_in_records(caplog.records, canaries))
    leaks.extend(_secrets.find_in_text(out, "standard output", canaries))
    leaks.extend(_secrets.find_in_text(err, "standard error", canaries))
    if leaks:
        fail(
            "no-secret-leaks",
            target,
            None,
            "a secret given to the kernel was written down:\n  "
            + "\n  ".join(str(leak) for leak in leaks)
            + "\nThe kernel hands plugins redacted values only; a plugin that finds a secret "
            "on its own (WFSDK_DSN, PGPASSWORD, the database) must not record it. Flows run: "
            + "; ".join(happened or []),
        )
