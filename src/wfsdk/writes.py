"""The life of a write.

preview (before and after images, by primary key) → ``before_write`` votes
(deny wins, default-deny, an exception refuses) → one transaction: lock the rows
and check they still equal the preview → ``before_commit`` (backups made
durable) → execute → verify the affected rows equal the preview's after-images
→ commit → ``after_write``. Any failure rolls back and reaches ``on_error``;
nothing is retried.
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
    UnpreviewableWriteError,
    VerificationFailedError,
    WfsdkError,
    WriteDeniedError,
)
from wfsdk.guard import NEW_VALUE_PREFIX, Classification, WriteShape
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


def _commit(
    kernel: Kernel,
    preview: _Preview,
    intent: WriteIntent,
    votes: tuple[Vote, ...],
    sql: str,
    params: dict[str, Any],
) -> QueryResult:
    from wfsdk.kernel import QueryResult

    shape = preview.shape
    receipts: list[Receipt] = []
    prepared = False
    state = "open"
    try:
        with kernel.session(read_only=False) as session:
            if not preview.still_current(kernel, session, params):
                raise ChangedSincePreviewError(
                    f"the rows of {shape.table!r} this write would change are no longer what "
                    "the preview (and the votes) saw; nothing was changed. Preview again."
                )
            faults.checkpoint("after_lock")
            prepared = True
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
            returned = _execute(kernel, session, preview, sql, params)
            faults.checkpoint("after_execute")
            _verify(kernel, session, preview, returned, params)
            faults.checkpoint("after_verify")
            session.commit()
            state = "committed"
            faults.checkpoint("after_commit")
    except WfsdkError as exc:
        _rolled_back(kernel, intent, exc, prepared)
        raise
    except sa.exc.DBAPIError as exc:
        error = kernel.database_error(
            exc, phase="write", caller=intent.caller, statement=sql, parameters=params
        )
        _rolled_back(kernel, intent, error, prepared, reported=True)
        raise error from exc
    assert state == "committed"
    rows = returned if shape.operation is Operation.INSERT else preview.rows
    change = ChangeRecord(
        change_id=intent.change_id,
        caller=intent.caller,
        actor=intent.actor,
        reason=intent.reason,
        table=intent.table,
        operation=intent.operation,
        statement=intent.statement,
        rows=_redacted_rows(kernel, rows),
        votes=votes,
        receipts=tuple(receipts),
        committed_at=dt.datetime.now(dt.UTC).isoformat(),
    )
    kernel.notify("after_write", change=change, journal=kernel.journal)
    faults.checkpoint("after_after_write")
    return QueryResult(change=change, preview=intent, votes=votes, would_commit=True)


def _rolled_back(
    kernel: Kernel, intent: WriteIntent, exc: WfsdkError, prepared: bool, *, reported: bool = False
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
    if prepared:
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


def _execute(
    kernel: Kernel, session: Session, preview: _Preview, sql: str, params: dict[str, Any]
) -> tuple[RowChange, ...]:
    shape = preview.shape
    if shape.operation is Operation.INSERT:
        returning = tuple(dict.fromkeys((*preview.pk, *shape.insert_columns)))
        rows = kernel.run(session, shape.returning_sql(sql, returning), params).rows
        return tuple(
            RowChange(
                key={c: row[c] for c in preview.pk},
                before=None,
                after={c: row[c] for c in shape.insert_columns},
            )
            for row in rows
        )
    result = kernel.run(session, sql, params)
    if result.rowcount != len(preview.rows):
        raise VerificationFailedError(
            f"{shape.operation.value} of {shape.table!r} affected {result.rowcount} rows, "
            f"the preview showed {len(preview.rows)}; rolled back"
        )
    return preview.rows


def _verify(
    kernel: Kernel,
    session: Session,
    preview: _Preview,
    returned: tuple[RowChange, ...],
    params: dict[str, Any],
) -> None:
    shape = preview.shape
    table = kernel.quote(shape.table)
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
    for row in preview.rows:
        where = " AND ".join(f"{kernel.quote(c)} = :__k{i}" for i, c in enumerate(row.key))
        key_params = {f"__k{i}": v for i, v in enumerate(row.key.values())}
        found = kernel.run(session, f"SELECT * FROM {table} WHERE {where}", key_params).rows
        if shape.operation is Operation.DELETE:
            if found:
                problems.append(f"row {dict(row.key)} still exists")
            continue
        if len(found) != 1:
            problems.append(f"row {dict(row.key)} is gone")
            continue
        assert row.after is not None
        # Only the assigned columns: BEFORE UPDATE triggers (updated_at in the blog
        # database) legitimately change others.
        for column in dict.fromkeys(c for c, _ in shape.assignments):
            want = row.after[column]
            if not same(found[0].get(column), want):
                problems.append(
                    f"row {dict(row.key)} column {column!r} is {found[0].get(column)!r}, "
                    f"expected {want!r}"
                )
    if problems:
        raise VerificationFailedError(
            f"{shape.operation.value} of {shape.table!r} not as previewed: "
            + "; ".join(problems[:10])
            + "; rolled back"
        )
