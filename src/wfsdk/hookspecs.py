"""The whole extension surface of wfsdk.

Each hook is a bare function whose docstring is its contract: when it is
called, what it receives, what it may return, and what an exception raised in
it does. Arguments are frozen attrs value objects from :mod:`wfsdk.values`, so
fields can be added without breaking plugins. Observing and voting hooks also
receive ``journal``, the connection's :class:`~wfsdk.journal.Journal` (its
state directory outside the database), for plugins that must keep records.
A plugin implements any subset, with any subset of the arguments, using
``wfsdk.hookimpl``.

Built-in modules (``wfsdk.modules.core``, ``.workflow``, ``.llm``) implement
these hooks exactly as a pip-installed plugin does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from wfsdk.gateway import Gateway
    from wfsdk.journal import Journal
    from wfsdk.values import (
        ChangeRecord,
        Declaration,
        ErrorEvent,
        MismatchReport,
        ReadEvent,
        Receipt,
        Vote,
        WriteIntent,
    )

hookspec = pluggy.HookspecMarker("wfsdk")


@hookspec
def declare_access() -> Declaration | None:
    """Declare the tables this plugin owns and the access it needs.

    Called once per plugin while ``connect`` loads plugins, before any
    statement runs. Return a :class:`~wfsdk.values.Declaration` or ``None``
    (a plugin that never touches the database, such as a logging policy).

    Ownership: an owner that marks a table ``read_only`` makes every write to it
    refused, whoever declares it; no other plugin can override that rule.
    Access: a plugin's gateway may read only the tables in ``reads`` and write
    only the tables and columns in ``writes`` (least privilege).

    Two plugins owning the same table, or a declaration naming a table twice
    with different rules, stop loading with :class:`~wfsdk.errors.PluginError`.
    An exception stops loading too.
    """


@hookspec
def register_api(gateway: Gateway) -> object | None:
    """Offer a typed domain API to host applications.

    Called once per plugin after every declaration is known. ``gateway`` is
    bound to this plugin's own declaration: every statement it runs is guarded
    and checked against that declaration. Return the API object (host code
    reaches it with ``kernel.api(TypeOfTheObject)`` or ``kernel.apis[name]``)
    or ``None``. An exception stops loading.
    """


@hookspec
def on_read(event: ReadEvent, journal: Journal) -> None:
    """Observe a read after its rows have been fetched.

    Called once per read statement, after it returned. ``event`` names the
    caller, the tables read, the statement, the row count and the duration.
    The return value is ignored. An exception is reported to ``on_error``
    and then raised to the caller as :class:`~wfsdk.errors.PluginHookError`;
    the read itself changed nothing.
    """


@hookspec
def before_write(intent: WriteIntent, journal: Journal) -> Vote | None:
    """Vote on a write before it happens.

    Called once per write, after its preview and before any transaction is
    opened (also on a dry run). ``intent`` carries who asks (``actor``), why
    (``reason``), the table, the statement with redacted parameters and the
    previewed rows, each with its before and after image. Nothing has been
    changed yet.

    Return ``Vote.allow()``, ``Vote.deny(reason)``, or ``None`` to abstain.
    Any deny refuses the write (every reason is reported); if no plugin allows,
    the write is refused (default-deny). An exception refuses the write and is
    reported to ``on_error``. Must not write to the database itself. On a dry
    run (``intent.dry_run``) the votes are collected and returned, nothing more.
    """


@hookspec
def before_commit(intent: WriteIntent, journal: Journal) -> Receipt | None:
    """Make something durable inside the write's transaction, before it commits.

    Called once the rows were locked and found equal to the preview, the
    statement executed and its rows verified, and the kernel's write-ahead
    record of the change made durable; then the transaction commits. For
    example, to keep a backup of the before-images. Whatever happens next,
    the plugin hears the outcome (``after_write`` or ``after_rollback``), from
    this process or, if it dies, from the next start, so records written here
    need not be fsynced one by one (``sync=False``): the kernel syncs the
    journal before it forgets the write-ahead record. Return a
    :class:`~wfsdk.values.Receipt` (kept in the change record) or ``None``. An
    exception rolls the transaction back, calls ``after_rollback`` and
    ``on_error``, and refuses the write.
    """


@hookspec
def after_write(change: ChangeRecord, journal: Journal) -> None:
    """Observe a change once it has committed.

    ``change`` holds the change id, the rows before and after, who asked and
    why, every vote and every receipt (the backup id among them). Called only
    after a successful commit. The return value is ignored. An exception is
    reported to ``on_error`` and raised to the caller as
    :class:`~wfsdk.errors.PluginHookError` naming the change, which stays
    committed.

    Delivery is at least once. If the writing process ends between the commit
    and the kernel's note that every ``after_write`` returned, the next
    ``connect`` on the same state directory delivers the change again with
    ``change.recovered`` set (and no receipts): a plugin that keys its records
    by ``change.change_id`` skips a change it already holds. Because of that
    redelivery, records written here may use ``journal.append(..., sync=False)``.
    """


@hookspec
def after_rollback(intent: WriteIntent, reason: str, journal: Journal) -> None:
    """Observe a write that was rolled back after ``before_commit`` had run.

    Called with the intent and the reason of the rollback. Lets a plugin
    mark what it made durable (a backup) as rolled back. The return value is
    ignored; an exception is reported to ``on_error`` only.

    A write whose process ended before it committed is delivered here by the
    next ``connect`` on the same state directory, with a ``reason`` that
    starts with ``wfsdk.values.RECOVERED`` ("recovered at start-up"); it may
    repeat a rollback the plugin already saw.
    """


@hookspec
def on_schema_mismatch(report: MismatchReport, journal: Journal) -> None:
    """Observe a live schema that differs from the documented contract.

    Called before :class:`~wfsdk.errors.SchemaMismatchError` is raised.
    Plugins observe and report; neither the return value nor an exception can
    turn the stop off (an exception is reported to ``on_error``).
    """


@hookspec
def on_error(error: ErrorEvent, journal: Journal) -> None:
    """Observe every database, guard, policy or plugin error before it is raised.

    ``error`` has the statement, redacted parameters, the transaction state
    and the traceback. The return value is ignored. Every implementation is
    called even if another raises; an exception here is logged and otherwise
    ignored, so the original error is never masked. Must not retry or repair
    anything.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add subcommands to the ``wfsdk`` command line.

    Called when the command line starts, before arguments are parsed. Add
    commands with ``cli.command()`` or ``cli.add_command``; the return value is
    ignored. An exception stops
    the command line with the plugin named.
    """
