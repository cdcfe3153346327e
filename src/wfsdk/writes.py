"""The life of a write.

preview (before and after images, by primary key) → ``before_write`` votes
(deny wins, default-deny, an exception refuses) → one transaction: lock the rows
and check they still equal the preview → execute, reading back the written rows
(``RETURNING``) → verify they equal the preview's after-images → the kernel's
write-ahead record, fsynced (:mod:`wfsdk.writelog`) → ``before_commit``
(backups) → commit → ``after_write`` → the write-ahead record settled. Any
failure rolls back and reaches ``on_error``; nothing is retried.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import json
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeGuard

import sqlalchemy as sa

from wfsdk import faults
from wfsdk.engine import Session
from wfsdk.errors import (
    ChangedSincePreviewError,
    ConfigurationError,
    DatabaseError,
    StatementRefusedError,
    UnpreviewableWriteError,
    VerificationFailedError,
    WfsdkError,
    WriteDeniedError,
)
from wfsdk.guard import NEW_VALUE_PREFIX, Classification, WriteShape
from wfsdk.journal import JournalError
from wfsdk.plugins import call_impl
from wfsdk.values import (
    ChangeRecord,
    Decision,
    Operation,
    Receipt,
    RowChange,
    Vote,
    WriteIntent,
)

if TYPE_CHECKING:
    from wfsdk.kernel import Kernel, QueryResult


def new_change_id() -> str:
    # Sortable by time, unique across processes.
    return f"{time.time_ns():x}-{os.getpid():x}-{uuid.uuid4().hex[:8]}"


def _comparable(value: Any) -> Any:
    """Fold the representations one value can take across drivers and affinities."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float | decimal.Decimal):
        return decimal.Decimal(str(value)).normalize()
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        stripped = value.strip()
        if stripped[:1] in ("{", "[") and stripped[-1:] in ("}", "]"):
            try:
                return json.dumps(json.loads(stripped), sort_keys=True, default=str)
            except ValueError:
                return value
        try:
            return decimal.Decimal(stripped).normalize()
        except decimal.InvalidOperation:
            pass
        try:
            return dt.datetime.fromisoformat(stripped).isoformat(sep=" ")
        except ValueError:
            return value
    return value


def same(a: Any, b: Any) -> bool:
    return bool(a == b or _comparable(a) == _comparable(b))


def _same_row(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)


@functools.lru_cache(maxsize=1024)
def _preview_sql(shape: WriteShape, columns: tuple[str, ...]) -> str:
    # Rendering quotes every column through sqlglot; the shape comes from the guard's
    # cache and the columns from the kernel's, so the text is the same every time.
    return shape.preview_sql(columns)


class _Preview:
    """The rows a write will change, computed by the database itself."""

    def __init__(
        self,
        shape: WriteShape,
        sql: str,
        table_info: tuple[tuple[str, ...], tuple[str, ...]],
    ) -> None:
        self.shape = shape
        pk, columns = table_info
        if not columns:
            raise UnpreviewableWriteError(
                f"table {shape.table!r} does not exist or has no columns",
                sql=sql,
                reason="unknown-table",
            )
        if not pk:
            raise UnpreviewableWriteError(
                f"table {shape.table!r} has no primary key, so the rows this write changes "
                "cannot be identified; wfsdk refuses writes it cannot preview",
                sql=sql,
                reason="no-primary-key",
            )
        if shape.operation is not Operation.INSERT and not shape.where_sql:
            raise UnpreviewableWriteError(
                f"{shape.operation.value} of {shape.table!r} without a WHERE clause would touch "
                "every row; name the rows (for example by primary key)",
                sql=sql,
                reason="unbounded-where",
            )
        self.pk = pk
        self.columns = columns
        self.preview_sql = _preview_sql(shape, columns)
        self.rows: tuple[RowChange, ...] = ()
        # Verify by reading the rows again (triggers may change them after RETURNING).
        self.read_again = False

    def compute(self, kernel: Kernel, session: Session, params: dict[str, Any], sql: str) -> None:
        self.rows = self._compute(kernel, session, params, lock=False)
        if len(self.rows) > kernel.max_write_rows:
            raise UnpreviewableWriteError(
                f"this write would change {len(self.rows)} rows of {self.shape.table!r}, more than "
                f"the limit of {kernel.max_write_rows} (connect(max_write_rows=...))",
                sql=sql,
                reason="too-many-rows",
            )

    def _compute(
        self, kernel: Kernel, session: Session, params: dict[str, Any], *, lock: bool
    ) -> tuple[RowChange, ...]:
        sql = self.preview_sql
        if lock and kernel.dialect == "postgresql" and self.shape.operation is not Operation.INSERT:
            sql += " FOR UPDATE"
        result = kernel.run(session, sql, params).rows
        shape = self.shape
        changes = []
        if shape.operation is Operation.INSERT:
            for row in result:
                inserted = {c: row[c] for c in shape.insert_columns}
                key = {c: inserted[c] for c in self.pk if c in inserted}
                changes.append(RowChange(key=key, before=None, after=inserted))
        else:
            for row in result:
                before = {c: row[c] for c in self.columns}
                key = {c: before[c] for c in self.pk}
                after: dict[str, Any] | None = None
                if shape.operation is Operation.UPDATE:
                    after = dict(before)
                    for index, (column, _expr) in enumerate(shape.assignments):
                        after[column] = row[f"{NEW_VALUE_PREFIX}{index}"]
                changes.append(RowChange(key=key, before=before, after=after))
        changes.sort(key=lambda change: tuple(str(v) for v in change.key.values()))
        return tuple(changes)

    def still_current(self, kernel: Kernel, session: Session, params: dict[str, Any]) -> bool:
        if self.shape.operation is Operation.INSERT:
            return True
        current = self._compute(kernel, session, params, lock=True)
        return len(current) == len(self.rows) and all(
            _same_row(a.before, b.before) and _same_row(a.after, b.after)
            for a, b in zip(current, self.rows, strict=True)
        )


def _vote(kernel: Kernel, intent: WriteIntent) -> tuple[tuple[Vote, ...], list[str], bool]:
    """Ask every ``before_write`` separately, so one plugin's failure cannot hide another's vote."""
    votes: list[Vote] = []
    denials: list[str] = []
    for impl in reversed(kernel.hook.before_write.get_hookimpls()):
        name = impl.plugin_name
        try:
            result = call_impl(impl, intent=intent, journal=kernel.journal)
        except Exception as exc:
            kernel.report_error(
                exc,
                phase="before_write",
                caller=intent.caller,
                change_id=intent.change_id,
                statement=intent.statement,
                parameters=intent.parameters,
            )
            vote = Vote.deny(f"{name} raised {type(exc).__name__}: {exc}", voter=name)
        else:
            if result is None:
                continue
            if not isinstance(result, Vote):
                vote = Vote.deny(
                    f"{name} returned {type(result).__name__}, not a Vote or None", voter=name
                )
            else:
                vote = Vote(result.decision, result.reason, result.voter or name)
        votes.append(vote)
        if vote.decision is Decision.DENY:
            denials.append(f"{vote.voter}: {kernel.redactor.text(vote.reason)}")
    allowed = any(v.decision is Decision.ALLOW for v in votes)
    if not denials and not allowed:
        denials.append(
            "no policy plugin allowed this write (default-deny); install and configure an "
            "approval plugin, or register one with connect(extra_plugins=...)"
        )
    return tuple(votes), denials, not denials


def _named(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and bool(value.strip())


def _redacted_rows(kernel: Kernel, rows: Sequence[RowChange]) -> tuple[RowChange, ...]:
    r = kernel.redactor
    return tuple(
        RowChange(
            key=r.mapping(row.key),
            before=None if row.before is None else r.mapping(row.before),
            after=None if row.after is None else r.mapping(row.after),
        )
        for row in rows
    )


def execute_write(
    kernel: Kernel,
    *,
    caller: str,
    sql: str,
    params: dict[str, Any],
    classification: Classification,
    actor: str | None,
    reason: str | None,
    dry_run: bool,
) -> QueryResult:
    from wfsdk.kernel import QueryResult

    shape = classification.write
    try:
        if not _named(actor) or not _named(reason):
            raise ConfigurationError(
                "every write needs actor= (who asks) and reason= (why), each a non-empty "
                "string; both go into the change record"
            )
        if not isinstance(dry_run, bool):
            raise ConfigurationError(f"dry_run must be True or False, not {dry_run!r}")
        if shape is None:
            raise UnpreviewableWriteError(
                "only a single plain INSERT ... VALUES, UPDATE or DELETE can be previewed; "
                "data-modifying CTEs, INSERT ... SELECT, ON CONFLICT, UPDATE ... FROM and "
                "DELETE ... USING are refused",
                sql=sql,
                reason="unpreviewable",
            )
    except WfsdkError as exc:
        kernel.report_error(exc, phase="write", caller=caller, statement=sql, parameters=params)
        raise

    change_id = new_change_id()
    try:
        # Reflected before the preview's transaction opens, so that one write never holds
        # two pooled connections at once.
        table_info = kernel.table_info(shape.table)
        preview = _Preview(shape, sql, table_info)
        preview.read_again = shape.operation is not Operation.INSERT and (
            kernel.rewrites_written_rows(shape.table)
        )
        with kernel.session(read_only=True) as session:
            preview.compute(kernel, session, params, sql)
            session.commit()
    except sa.exc.DBAPIError as exc:
        raise kernel.database_error(
            exc, phase="preview", caller=caller, statement=sql, parameters=params
        ) from exc
    except WfsdkError as exc:
        kernel.report_error(exc, phase="preview", caller=caller, statement=sql, parameters=params)
        raise

    intent = WriteIntent(
        change_id=change_id,
        caller=caller,
        actor=actor,
        reason=reason,
        table=shape.table,
        operation=shape.operation,
        statement=kernel.redactor.text(sql),
        parameters=kernel.redactor.mapping(params),
        rows=_redacted_rows(kernel, preview.rows),
        dry_run=dry_run,
    )
    faults.checkpoint("after_preview")
    votes, denials, ok = _vote(kernel, intent)
    faults.checkpoint("after_votes")
    if dry_run:
        return QueryResult(preview=intent, votes=votes, would_commit=ok)
    if not ok:
        error = WriteDeniedError(
            f"write to {shape.table!r} refused: " + "; ".join(denials), reasons=denials
        )
        kernel.report_error(
            error,
            phase="before_write",
            caller=caller,
            statement=sql,
            parameters=params,
            change_id=change_id,
        )
        raise error
    return _commit(kernel, preview, intent, votes, sql, params)


# The transaction id, read back with the written rows, by which a later start asks
# PostgreSQL whether the change committed.
_XID = "__wfsdk_xid"


def _ahead(
    kernel: Kernel,
    shape: WriteShape,
    intent: WriteIntent,
    votes: tuple[Vote, ...],
    rows: tuple[RowChange, ...],
    xid: str | None,
) -> dict[str, Any]:
    """The write-ahead record: enough to deliver either outcome after this process is gone."""

    def images(changes: Sequence[RowChange]) -> list[dict[str, Any]]:
        return [{"key": r.key, "before": r.before, "after": r.after} for r in changes]

    return {
        "change_id": intent.change_id,
        "caller": intent.caller,
        "actor": intent.actor,
        "reason": intent.reason,
        "table": intent.table,
        "operation": intent.operation.value,
        "statement": intent.statement,
        "parameters": dict(intent.parameters),
        "preview": images(intent.rows),
        "rows": images(rows),
        "votes": [
            {"decision": v.decision.value, "reason": v.reason, "voter": v.voter} for v in votes
        ],
        # What an update sets: what a later start compares when it decides by the rows.
        "assigned": list(dict.fromkeys(c for c, _ in shape.assignments)),
        "dialect": kernel.dialect,
        "txid": xid,
    }


def _outcome_heard(kernel: Kernel) -> bool:
    """Whether any plugin listens for how a write ends; only then is a write-ahead record kept."""
    hook = kernel.hook
    return bool(
        hook.before_commit.get_hookimpls()
        or hook.after_write.get_hookimpls()
        or hook.after_rollback.get_hookimpls()
    )


def _commit(
    kernel: Kernel,
    preview: _Preview,
    intent: WriteIntent,
    votes: tuple[Vote, ...],
    sql: str,
    params: dict[str, Any],
) -> QueryResult:

    shape = preview.shape
    receipts: list[Receipt] = []
    ahead: dict[str, Any] | None = None
    committing = False
    try:
        with kernel.session(read_only=False) as session:
            if not preview.still_current(kernel, session, params):
                raise ChangedSincePreviewError(
                    f"the rows of {shape.table!r} this write would change are no longer what "
                    "the preview (and the votes) saw; nothing was changed. Preview again."
                )
            faults.checkpoint("after_lock")
            returned, xid, read_back = _execute(kernel, session, preview, sql, params)
            faults.checkpoint("after_execute")
            _verify(kernel, session, preview, returned, read_back)
            faults.checkpoint("after_verify")
            # As the hooks see them: the preview's (already redacted), or an insert's own.
            rows = (
                _redacted_rows(kernel, returned)
                if shape.operation is Operation.INSERT
                else intent.rows
            )
            if _outcome_heard(kernel):
                record = _ahead(kernel, shape, intent, votes, rows, xid)
                try:
                    kernel.write_log.pending(record)
                except JournalError as exc:
                    raise WriteDeniedError(
                        f"the write-ahead record could not be made durable ({exc}); without it "
                        "the plugins could not be told how this write ended, so it is refused",
                        reasons=[f"wfsdk: {exc}"],
                    ) from exc
                ahead = record
            for impl in reversed(kernel.hook.before_commit.get_hookimpls()):
                try:
                    receipt = call_impl(impl, intent=intent, journal=kernel.journal)
                except Exception as exc:
                    raise WriteDeniedError(
                        f"{impl.plugin_name} could not prepare the change "
                        f"({type(exc).__name__}: {exc}); rolled back",
                        reasons=[f"{impl.plugin_name}: {exc}"],
                    ) from exc
                if isinstance(receipt, Receipt):
                    receipts.append(receipt)
            faults.checkpoint("after_before_commit")
            committing = True
            session.commit()
            faults.checkpoint("after_commit")
    except WfsdkError as exc:
        _rolled_back(kernel, intent, exc, ahead)
        raise
    except sa.exc.DBAPIError as exc:
        error = kernel.database_error(
            exc, phase="write", caller=intent.caller, statement=sql, parameters=params
        )
        if committing and ahead is not None and _committed_after_all(kernel, ahead, error):
            return _committed(kernel, intent, votes, receipts, rows, logged=ahead is not None)
        _rolled_back(kernel, intent, error, ahead, reported=True)
        raise error from exc
    return _committed(kernel, intent, votes, receipts, rows, logged=ahead is not None)


def _committed_after_all(kernel: Kernel, ahead: dict[str, Any], error: WfsdkError) -> bool:
    """Whether a COMMIT that raised (the connection lost on the way) committed all the same.

    Asked of the database on a new connection. When even that cannot tell, the
    change stays pending in the write-ahead file and the next start decides it.
    """
    from wfsdk.recovery import COMMITTED, ROLLED_BACK, decide

    outcome, why = decide(kernel, ahead)
    if outcome == COMMITTED:
        return True
    if outcome == ROLLED_BACK:
        return False
    # Not settled: the write-ahead record stays for the next start to decide.
    raise DatabaseError(
        f"{error} — and whether the change committed is unknown ({why}); the next start "
        "of wfsdk on this state directory decides it and tells the plugins"
    ) from error


def _committed(
    kernel: Kernel,
    intent: WriteIntent,
    votes: tuple[Vote, ...],
    receipts: list[Receipt],
    rows: tuple[RowChange, ...],
    *,
    logged: bool,
) -> QueryResult:
    from wfsdk.kernel import QueryResult

    change = ChangeRecord(
        change_id=intent.change_id,
        caller=intent.caller,
        actor=intent.actor,
        reason=intent.reason,
        table=intent.table,
        operation=intent.operation,
        statement=intent.statement,
        rows=rows,
        votes=votes,
        receipts=tuple(receipts),
        committed_at=dt.datetime.now(dt.UTC).isoformat(),
    )
    try:
        kernel.notify("after_write", change=change, journal=kernel.journal)
    finally:
        if logged:
            kernel.write_log.settled(intent.change_id)
    faults.checkpoint("after_after_write")
    return QueryResult(change=change, preview=intent, votes=votes, would_commit=True)


def _rolled_back(
    kernel: Kernel,
    intent: WriteIntent,
    exc: WfsdkError,
    ahead: dict[str, Any] | None,
    *,
    reported: bool = False,
) -> None:
    if not reported:
        kernel.report_error(
            exc,
            phase="write",
            caller=intent.caller,
            statement=intent.statement,
            parameters=intent.parameters,
            transaction_state="rolled back",
            change_id=intent.change_id,
        )
    if ahead is None:
        return
    try:
        for impl in kernel.hook.after_rollback.get_hookimpls():
            try:
                call_impl(impl, intent=intent, reason=str(exc), journal=kernel.journal)
            except Exception as hook_exc:
                kernel.report_error(
                    hook_exc,
                    phase="after_rollback",
                    caller=intent.caller,
                    change_id=intent.change_id,
                )
    finally:
        kernel.write_log.settled(intent.change_id)


@functools.lru_cache(maxsize=1024)
def _returning_sql(shape: WriteShape, sql: str, columns: tuple[str, ...], xid: bool) -> str:
    extra = (f"pg_current_xact_id()::text AS {_XID}",) if xid else ()
    return shape.returning_sql(sql, columns, extra)


def _execute(
    kernel: Kernel, session: Session, preview: _Preview, sql: str, params: dict[str, Any]
) -> tuple[tuple[RowChange, ...], str | None, list[dict[str, Any]] | None]:
    """Run the write; the rows it wrote (as the database returned them), and the transaction id.

    The written rows come back with the statement itself (``RETURNING``), so
    verifying them costs no further statement. A statement with a RETURNING of
    its own, or on a table whose triggers or rules act after the row is formed,
    is run as it is and verified by reading its rows again.
    """
    shape = preview.shape
    postgres = kernel.dialect == "postgresql"
    if shape.operation is Operation.INSERT:
        columns = tuple(dict.fromkeys((*preview.pk, *shape.insert_columns)))
    elif shape.operation is Operation.UPDATE:
        columns = tuple(dict.fromkeys((*preview.pk, *(c for c, _ in shape.assignments))))
    else:
        columns = preview.pk
    text: str | None = None
    if not preview.read_again:
        try:
            text = _returning_sql(shape, sql, columns, postgres)
        except StatementRefusedError:
            # The caller's own RETURNING: an insert needs ours; anything else is read again.
            if shape.operation is Operation.INSERT:
                raise
    read_back: list[dict[str, Any]] | None
    if text is None:
        result = kernel.run(session, sql, params)
        count, read_back = result.rowcount, None
    else:
        read_back = kernel.run(session, text, params).rows
        count = len(read_back)
    xid: str | None = None
    if postgres:
        if read_back:
            xid = read_back[0][_XID]
        else:
            xid = kernel.run(session, f"SELECT pg_current_xact_id()::text AS {_XID}").rows[0][_XID]
    if shape.operation is Operation.INSERT:
        assert read_back is not None
        return (
            tuple(
                RowChange(
                    key={c: row[c] for c in preview.pk},
                    before=None,
                    after={c: row[c] for c in shape.insert_columns},
                )
                for row in read_back
            ),
            xid,
            read_back,
        )
    if count != len(preview.rows):
        raise VerificationFailedError(
            f"{shape.operation.value} of {shape.table!r} affected {count} rows, "
            f"the preview showed {len(preview.rows)}; rolled back"
        )
    return preview.rows, xid, read_back


def _verify(
    kernel: Kernel,
    session: Session,
    preview: _Preview,
    returned: tuple[RowChange, ...],
    read_back: list[dict[str, Any]] | None,
) -> None:
    """The written rows against the preview: ``read_back`` is what ``RETURNING`` gave, or
    ``None`` when the rows are to be read again."""
    shape = preview.shape
    pk = preview.pk
    problems: list[str] = []
    if shape.operation is Operation.INSERT:
        if len(returned) != len(preview.rows):
            problems.append(
                f"inserted {len(returned)} rows, the preview showed {len(preview.rows)}"
            )
        for got, want in zip(returned, preview.rows, strict=False):
            if not _same_row(got.after, want.after):
                problems.append(f"row {got.key} holds {got.after}, expected {want.after}")
        if problems:
            raise VerificationFailedError(
                f"insert into {shape.table!r} not as previewed: {'; '.join(problems)}; rolled back"
            )
        return
    if shape.operation is Operation.DELETE:
        if read_back is None:
            remaining = {_key(pk, row) for row in _read_again(kernel, session, preview)}
            problems = [
                f"row {dict(r.key)} still exists"
                for r in preview.rows
                if _key(pk, r.key) in remaining
            ]
        else:
            deleted = {_key(pk, row) for row in read_back}
            problems = [
                f"row {dict(r.key)} was not deleted"
                for r in preview.rows
                if _key(pk, r.key) not in deleted
            ]
    else:
        if read_back is None:
            read_back = _read_again(kernel, session, preview)
        by_key = {_key(pk, row): row for row in read_back}
        for row in preview.rows:
            found = by_key.get(_key(pk, row.key))
            if found is None:
                problems.append(f"row {dict(row.key)} is gone")
                continue
            assert row.after is not None
            # Only the assigned columns: BEFORE UPDATE triggers (updated_at in the blog
            # database) legitimately change others.
            for column in dict.fromkeys(c for c, _ in shape.assignments):
                want = row.after[column]
                if not same(found.get(column), want):
                    problems.append(
                        f"row {dict(row.key)} column {column!r} is {found.get(column)!r}, "
                        f"expected {want!r}"
                    )
    if problems:
        raise VerificationFailedError(
            f"{shape.operation.value} of {shape.table!r} not as previewed: "
            + "; ".join(problems[:10])
            + "; rolled back"
        )


def _key(pk: Sequence[str], row: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(_comparable(row.get(c)) for c in pk)


def _read_again(kernel: Kernel, session: Session, preview: _Preview) -> list[dict[str, Any]]:
    table = kernel.quote(preview.shape.table)
    rows: list[dict[str, Any]] = []
    for row in preview.rows:
        where = " AND ".join(f"{kernel.quote(c)} = :__k{i}" for i, c in enumerate(row.key))
        key_params = {f"__k{i}": v for i, v in enumerate(row.key.values())}
        rows += kernel.run(session, f"SELECT * FROM {table} WHERE {where}", key_params).rows
    return rows
