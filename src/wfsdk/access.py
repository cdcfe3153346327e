"""Least privilege: who may read and write which tables and columns.

Each plugin declares what it owns and what it uses (``declare_access``). An
owner's read-only rule binds everyone; a caller may touch only what it
declared. The six workflow and LLM tables the integration guide marks
read-only are protected here as well, so the rule holds even when the module
owning them has been disabled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from wfsdk.errors import AccessDeniedError, PluginError, ReadOnlyViolationError
from wfsdk.values import Declaration, Operation, OwnedTable

PROTECTED_TABLES = frozenset(
    {
        "workflow_stage_entity",
        "workflow_sub_stage_entity",
        "workflow_step_entity",
        "workflow_field_mapping",
        "llm_action",
        "post_workflow_step_action",
    }
)

HOST = "host"


class AccessPolicy:
    """The merged declarations of every loaded plugin, and the checks made with them."""

    def __init__(self, declarations: Iterable[Declaration]) -> None:
        self.declarations: dict[str, Declaration] = {}
        self.owners: dict[str, tuple[str, OwnedTable]] = {}
        for declaration in declarations:
            if declaration.module in self.declarations:
                raise PluginError(
                    "declared access twice", plugin=declaration.module, distribution=None
                )
            self.declarations[declaration.module] = declaration
            for owned in declaration.owns:
                previous = self.owners.get(owned.name)
                if previous is not None:
                    raise PluginError(
                        f"claims to own table {owned.name!r}, already owned by {previous[0]!r}",
                        plugin=declaration.module,
                        distribution=None,
                    )
                self.owners[owned.name] = (declaration.module, owned)

    def known_tables(self) -> frozenset[str]:
        tables: set[str] = set(self.owners)
        for declaration in self.declarations.values():
            tables |= declaration.reads | set(declaration.writes) | declaration.deletes
        return frozenset(tables)

    def default_host(self) -> Declaration:
        """The host application may read what the modules read, and write nothing."""
        return Declaration(module=HOST, reads=self.known_tables())

    def is_read_only(self, table: str) -> bool:
        owned = self.owners.get(table)
        return table in PROTECTED_TABLES or (owned is not None and owned[1].read_only)

    def check_read(self, caller: Declaration, tables: Iterable[str], sql: str) -> None:
        allowed = caller.reads | set(caller.writes) | caller.deletes
        undeclared = sorted(set(tables) - allowed)
        if undeclared:
            raise AccessDeniedError(
                f"{caller.module!r} may not read {', '.join(undeclared)}: not in its declared "
                f"reads ({', '.join(sorted(allowed)) or 'none'}). Declare the access with the "
                "declare_access hook (or host_access= for the host application).",
                sql=sql,
                reason="undeclared-read",
            )

    def check_write(
        self,
        caller: Declaration,
        table: str,
        operation: Operation | None,
        columns: Iterable[str],
        sql: str,
    ) -> None:
        """Refuse unless the owner allows the write and the caller declared it.

        ``operation`` is ``None`` when the statement's shape is not known (a
        data-modifying CTE, say); then only table-level rules apply here.
        """
        columns = frozenset(columns)
        if self.is_read_only(table):
            owner = self.owners.get(table, ("the integration rules", None))[0]
            raise ReadOnlyViolationError(
                f"table {table!r} is read-only (owner: {owner}); no caller may write to it",
                sql=sql,
                reason="read-only-table",
            )
        owned = self.owners.get(table)
        if owned is not None and owned[1].writable_columns:
            forbidden = sorted(columns - owned[1].writable_columns)
            if forbidden:
                raise ReadOnlyViolationError(
                    f"columns {', '.join(forbidden)} of {table!r} are not writable: its owner "
                    f"{owned[0]!r} allows only {', '.join(sorted(owned[1].writable_columns))}",
                    sql=sql,
                    reason="read-only-column",
                )
        if operation is Operation.DELETE:
            if table not in caller.deletes:
                raise AccessDeniedError(
                    f"{caller.module!r} did not declare deleting from {table!r}",
                    sql=sql,
                    reason="undeclared-delete",
                )
            return
        declared: Mapping[str, frozenset[str]] = caller.writes
        if table not in declared and table not in caller.deletes:
            raise AccessDeniedError(
                f"{caller.module!r} did not declare writing to {table!r}",
                sql=sql,
                reason="undeclared-write",
            )
        undeclared = sorted(columns - declared.get(table, frozenset()))
        if undeclared:
            raise AccessDeniedError(
                f"{caller.module!r} did not declare writing column(s) {', '.join(undeclared)} "
                f"of {table!r} (declared: {', '.join(sorted(declared.get(table, ()))) or 'none'})",
                sql=sql,
                reason="undeclared-column",
            )
