"""At start-up: settle the changes of writers that died before every plugin heard the outcome.

For each write-ahead file (:mod:`wfsdk.writelog`) whose writer is gone, each
change without a ``settled`` line is decided from the database:

- PostgreSQL: ``pg_xact_status`` of the transaction id recorded before the
  commit; a transaction the server still calls in progress is waited for a
  moment (the server notices a dead client on its next read);
- otherwise, or when the server no longer knows the id: the rows. All rows
  equal to their after-images (an insert's rows present, a delete's gone):
  committed. All equal to their before-images: rolled back.

A committed change is delivered to ``after_write`` with ``recovered=True``, a
rolled-back one to ``after_rollback``. Rows that match neither image mean
someone changed them since: the change stays pending, is reported to
``on_error`` and in :class:`RecoveryReport`, and is looked at again at the next
start. Nothing is ever restored or written to the database here.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from wfsdk.errors import WfsdkError
from wfsdk.journal import decode
from wfsdk.plugins import call_impl
from wfsdk.redact import MASK
from wfsdk.values import ChangeRecord, Decision, Operation, RowChange, Vote, WriteIntent
from wfsdk.writelog import DIRECTORY, PENDING, RECOVERED, SETTLED, record_line
from wfsdk.writes import same

if TYPE_CHECKING:
    from wfsdk.kernel import Kernel

COMMITTED = "committed"
ROLLED_BACK = "rolled back"
# How long a dead writer's transaction may still look in progress to the server.
IN_PROGRESS_WAIT_S = 5.0


class RecoveryError(WfsdkError):
    """A change of a dead writer could not be decided; it stays pending."""


@attrs.frozen
class Unsettled:
    """A change whose outcome could not be decided, and why."""

    change_id: str
    table: str
    reason: str


@attrs.frozen
class RecoveryReport:
    """What the start-up found: ids delivered as committed, as rolled back, and undecided."""

    committed: tuple[str, ...] = ()
    rolled_back: tuple[str, ...] = ()
    unsettled: tuple[Unsettled, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.committed or self.rolled_back or self.unsettled)


def _rows(raw: Sequence[Mapping[str, Any]]) -> tuple[RowChange, ...]:
    return tuple(RowChange(key=r["key"], before=r.get("before"), after=r.get("after")) for r in raw)


def _records(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                return  # the writer died mid-line: that line was never fsynced as complete
            try:
                record = decode(json.loads(raw))
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record


def _dead_writers(directory: Path, own: Path | None) -> Iterator[tuple[Path, int]]:
    try:
        paths = sorted(directory.glob("*.jsonl")) if directory.is_dir() else []
    except OSError:
        # A state directory that cannot even be listed holds no writer; writing there
        # reports the problem when it happens.
        return
    for path in paths:
        if own is not None and path == own:
            continue
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)  # alive: its writer holds the lock
            continue
        yield path, fd


def recover(kernel: Kernel) -> RecoveryReport:
    """Settle every change of every dead writer of ``kernel``'s state directory."""
    journal = kernel.journal
    own = kernel.write_log.path
    committed: list[str] = []
    rolled_back: list[str] = []
    unsettled: list[Unsettled] = []
    for path, fd in _dead_writers(journal.directory / DIRECTORY, own):
        try:
            pending: dict[str, dict[str, Any]] = {}
            for record in _records(path):
                if record.get("kind") == PENDING:
                    pending[str(record.get("change_id"))] = record
                elif record.get("kind") == SETTLED:
                    pending.pop(str(record.get("change_id")), None)
            kept = []
            for record in pending.values():
                outcome, why = decide(kernel, record)
                if outcome == COMMITTED and _deliver_commit(kernel, record):
                    committed.append(record["change_id"])
                elif outcome == ROLLED_BACK and _deliver_rollback(kernel, record, why):
                    rolled_back.append(record["change_id"])
                else:
                    kept.append(record)
                    if outcome is None:
                        unsettled.append(Unsettled(record["change_id"], record["table"], why))
            journal.sync()
            if kept:
                # Only what is still open, so the next start looks at nothing else.
                os.ftruncate(fd, 0)
                os.write(fd, b"".join(record_line(r) for r in kept))
                os.fsync(fd)
            else:
                path.unlink()
        except (OSError, WfsdkError) as exc:
            unsettled.append(Unsettled("", "", f"{path}: {exc}"))
        finally:
            os.close(fd)
    for item in unsettled:
        error = RecoveryError(
            f"change {item.change_id or '?'} of {item.table or '?'} by a writer that is gone "
            f"could not be settled: {item.reason}; it stays pending and is looked at again "
            "at the next start"
        )
        kernel.report_error(error, phase="recovery", caller="", change_id=item.change_id or None)
    return RecoveryReport(tuple(committed), tuple(rolled_back), tuple(unsettled))


def decide(kernel: Kernel, record: Mapping[str, Any]) -> tuple[str | None, str]:
    xid = record.get("txid")
    try:
        if xid and kernel.dialect == "postgresql":
            status = _xact_status(kernel, str(xid))
            if status == "committed":
                return COMMITTED, "the database committed its transaction"
            if status == "aborted":
                return ROLLED_BACK, "the database rolled its transaction back"
            if status == "in progress":
                return None, (
                    f"transaction {xid} is still in progress on the server after "
                    f"{IN_PROGRESS_WAIT_S:.0f} s"
                )
        return _by_rows(kernel, record)
    except sa.exc.DBAPIError as exc:
        return None, f"the database could not be asked ({type(exc.orig).__name__})"


def _xact_status(kernel: Kernel, xid: str) -> str | None:
    deadline = time.monotonic() + IN_PROGRESS_WAIT_S
    while True:
        with kernel.session(read_only=True) as session:
            rows = kernel.run(
                session, "SELECT pg_xact_status(CAST(:xid AS xid8)) AS status", {"xid": xid}
            ).rows
            session.commit()
        status = rows[0]["status"] if rows else None
        if status != "in progress" or time.monotonic() > deadline:
            return None if status is None else str(status)
        time.sleep(0.05)


def _matches(
    image: Mapping[str, Any] | None, found: Mapping[str, Any], columns: Sequence[str]
) -> bool:
    if image is None:
        return False
    # A masked credential cannot be compared; the other columns decide.
    return all(image[c] == MASK or same(found.get(c), image[c]) for c in columns if c in image)


def _by_rows(kernel: Kernel, record: Mapping[str, Any]) -> tuple[str | None, str]:
    table = str(record["table"])
    operation = Operation(record["operation"])
    rows = _rows(record.get("rows") or ())
    after_matches = before_matches = 0
    with kernel.session(read_only=True) as session:
        for row in rows:
            if not row.key:
                return None, "a row has no key to find it by"
            where = " AND ".join(f"{kernel.quote(c)} = :k{i}" for i, c in enumerate(row.key))
            values = {f"k{i}": v for i, v in enumerate(row.key.values())}
            found = kernel.run(
                session, f"SELECT * FROM {kernel.quote(table)} WHERE {where}", values
            ).rows
            current = found[0] if found else None
            if operation is Operation.INSERT:
                after_matches += current is not None and _matches(
                    row.after, current, list(row.after or ())
                )
                before_matches += current is None
            elif operation is Operation.DELETE:
                after_matches += current is None
                before_matches += current is not None and _matches(
                    row.before, current, list(row.before or ())
                )
            else:
                changed = list(record.get("assigned") or row.changed_columns())
                if current is not None:
                    after_matches += _matches(row.after, current, changed)
                    before_matches += bool(changed) and _matches(row.before, current, changed)
        session.commit()
    if after_matches == len(rows):
        return COMMITTED, "every row equals its after-image"
    if before_matches == len(rows):
        return ROLLED_BACK, "every row equals its before-image"
    return None, "the rows match neither the change's before- nor its after-images"


def _described(record: Mapping[str, Any]) -> dict[str, Any]:
    """What a write intent and a change record both say of the change."""
    return {
        "change_id": record["change_id"],
        "caller": record["caller"],
        "actor": record["actor"],
        "reason": record["reason"],
        "table": record["table"],
        "operation": Operation(record["operation"]),
        "statement": record["statement"],
    }


def _intent(record: Mapping[str, Any]) -> WriteIntent:
    return WriteIntent(
        **_described(record),
        parameters=record.get("parameters") or {},
        rows=_rows(record.get("preview") or record.get("rows") or ()),
        dry_run=False,
    )


def _deliver_commit(kernel: Kernel, record: Mapping[str, Any]) -> bool:
    change = ChangeRecord(
        **_described(record),
        rows=_rows(record.get("rows") or ()),
        votes=tuple(
            Vote(Decision(v["decision"]), v["reason"], v.get("voter") or "")
            for v in record.get("votes") or ()
        ),
        receipts=(),
        committed_at=dt.datetime.now(dt.UTC).isoformat(),
        recovered=True,
    )
    return _call_all(kernel, "after_write", record, change=change)


def _deliver_rollback(kernel: Kernel, record: Mapping[str, Any], why: str) -> bool:
    return _call_all(
        kernel,
        "after_rollback",
        record,
        intent=_intent(record),
        reason=f"{RECOVERED}: the writing process ended before it committed ({why})",
    )


def _call_all(kernel: Kernel, hook: str, record: Mapping[str, Any], **kwargs: Any) -> bool:
    """Every implementation once; False (deliver again next start) if any raised."""
    ok = True
    for impl in getattr(kernel.hook, hook).get_hookimpls():
        try:
            call_impl(impl, journal=kernel.journal, **kwargs)
        except Exception as exc:
            ok = False
            kernel.report_error(
                exc,
                phase="recovery",
                caller=record.get("caller", ""),
                change_id=record["change_id"],
            )
    return ok
