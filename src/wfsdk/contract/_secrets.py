"""Real flows through the kernel with planted secrets, and the search for them afterwards.

Two canaries, unique per check: a database password (in the DSN on
PostgreSQL; in ``PGPASSWORD`` beside an SQLite DSN, which cannot hold one)
and a provider credential stored in ``llm_provider.auth_token``, which the
flows read. The kernel redacts both from everything it hands to plugins, so
finding either in the journal, the logs or the output means a plugin went and
fetched it (from the environment, or from the database on its own) and wrote
it down.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from wfsdk.errors import WfsdkError
from wfsdk.kernel import Kernel

ACTOR = "wfsdk-contract"
REASON = "plugin contract suite: a flow with planted secrets"
_CONTEXT = 40


@attrs.frozen
class Canaries:
    password: str
    credential: str

    @classmethod
    def fresh(cls) -> Canaries:
        return cls(
            password=f"pw-canary-{secrets.token_hex(10)}",
            credential=f"tok-canary-{secrets.token_hex(10)}",
        )

    def named(self) -> dict[str, str]:
        return {
            "the database password": self.password,
            "the llm_provider.auth_token credential": self.credential,
        }


@attrs.frozen
class Leak:
    secret: str
    where: str
    context: str

    def __str__(self) -> str:
        return f"{self.secret} found in {self.where}: ...{self.context}..."


def find_in_text(text: str, where: str, canaries: Canaries) -> list[Leak]:
    leaks = []
    for label, value in canaries.named().items():
        index = text.find(value)
        if index >= 0:
            start = max(0, index - _CONTEXT)
            context = text[start : index + len(value) + _CONTEXT].replace("\n", "\\n")
            leaks.append(Leak(label, where, context))
    return leaks


def find_in_directory(directory: Path, label: str, canaries: Canaries) -> list[Leak]:
    leaks: list[Leak] = []
    if not directory.exists():
        return leaks
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        text = path.read_bytes().decode("utf-8", errors="replace")
        where = f"{label} ({path.relative_to(directory).as_posix()})"
        leaks.extend(find_in_text(text, where, canaries))
    return leaks


def find_in_records(records: Iterable[logging.LogRecord], canaries: Canaries) -> list[Leak]:
    leaks: list[Leak] = []
    for record in records:
        try:
            message = record.getMessage()
        except Exception:  # a plugin's malformed log call must not hide what it logged
            message = f"{record.msg!r} % {record.args!r}"
        # Extras and exception text too: structured logging puts values there.
        text = "\n".join([message, record.exc_text or "", repr(vars(record))])
        where = f"a log record of logger {record.name!r} ({record.levelname})"
        leaks.extend(find_in_text(text, where, canaries))
    return leaks


def run_flows(kernel: Kernel, canaries: Canaries, *, password_known: bool) -> list[str]:
    """What a host application does in a day, secrets included; returns what happened.

    A refusal is an answer, not a failure here: a policy may deny writes, and
    several of these steps are refused by the kernel on purpose (they are
    there so that plugins see errors whose parameters held a secret).
    ``password_known``: the kernel was given the password (in its DSN), so it
    may appear in values the kernel redacts by value rather than by name.
    """
    happened: list[str] = []

    def step(label: str, action: Callable[[], Any]) -> Any:
        try:
            result = action()
        except WfsdkError as exc:
            happened.append(f"{label}: {type(exc).__name__}")
            return None
        happened.append(f"{label}: done")
        return result

    def run(
        sql: str,
        params: Mapping[str, Any] | None = None,
        *,
        write: bool = False,
        dry_run: bool = False,
    ) -> Callable[[], Any]:
        if write:
            return lambda: kernel.execute_query(
                sql, params, actor=ACTOR, reason=REASON, dry_run=dry_run
            )
        return lambda: kernel.execute_query(sql, params)

    step(
        "read every provider with its credential",
        run("SELECT id, name, api_url, auth_token FROM llm_provider ORDER BY id"),
    )
    step(
        "look a provider up by its credential",
        run(
            "SELECT id, name FROM llm_provider WHERE auth_token = :auth_token",
            {"auth_token": canaries.credential},
        ),
    )
    rows = step(
        "read a stage status",
        run("SELECT id, status FROM post_workflow_stage WHERE id = :id", {"id": 2}),
    )
    original = rows[0]["status"] if rows else "in_progress"
    update = "UPDATE post_workflow_stage SET status = :status WHERE id = :id"
    step(
        "preview a status change",
        run(update, {"status": "review", "id": 2}, write=True, dry_run=True),
    )
    step("change a status", run(update, {"status": "review", "id": 2}, write=True))
    step("change it back", run(update, {"status": original, "id": 2}, write=True))
    content = "UPDATE post_development SET basic_idea = :idea WHERE id = :id"
    step(
        "write an LLM output field",
        run(content, {"idea": "A worm bin under the sink, explained", "id": 2}, write=True),
    )
    step("clear it again", run(content, {"idea": None, "id": 2}, write=True))
    step(
        "write a read-only table, the password as a value",
        run(
            "UPDATE llm_action SET prompt_template = :password WHERE id = 1",
            {"password": canaries.password},
            write=True,
        ),
    )
    # Redacted by value only: handed over only when the kernel knows the value is a secret.
    status = canaries.password if password_known else "review"
    step(
        "write without saying who asks",
        lambda: kernel.execute_query(update, {"status": status, "id": 2}),
    )
    step("send DDL", run("DROP TABLE post"))
    step(
        "a statement the database rejects, the password bound",
        run("SELECT id FROM post WHERE id = :password", {"password": canaries.password}),
    )
    return happened
