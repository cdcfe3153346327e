"""Classifying one statement: what it reads, what it writes, and whether it may run at all.

The guard is fail-closed. A statement is accepted only if it is exactly one
statement, parses completely, has an allowed shape at the top (SELECT, set
operation, VALUES, INSERT, UPDATE, DELETE) and nothing forbidden anywhere
inside. Everything else is refused with a short reason code.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import NamedTuple

from sqlglot import exp
from sqlglot.errors import ParseError
from sqlglot.tokenizer_core import Token, TokenType

from wfsdk.errors import ConfigurationError, StatementRefusedError
from wfsdk.guard._model import CacheStats, Classification, StatementKind, WriteShape
from wfsdk.guard._names import SQLITE, fold, fold_identifier, qualified, resolve_dialect
from wfsdk.guard._tokens import Refused, dialect_object, swallowed_command, tokenize
from wfsdk.values import Operation

_WHY = {
    "ddl": "{what} changes the schema; wfsdk never sends DDL, the database stays exactly as "
    "it is (keep new state outside it)",
    "truncate": "TRUNCATE empties a table with no preview and no backup; use a guarded "
    "DELETE ... WHERE",
    "copy": "COPY moves bulk data to or from files outside the guard; read with SELECT and "
    "write with guarded INSERT/UPDATE/DELETE",
    "merge": "MERGE inserts, updates and deletes in one statement that cannot be previewed; "
    "use separate INSERT/UPDATE/DELETE statements",
    "do": "DO runs an anonymous code block the guard cannot inspect",
    "call": "CALL runs a procedure the guard cannot inspect",
    "set": "{what} changes session settings, and the session belongs to wfsdk",
    "show": "SHOW is not run through wfsdk; use SELECT current_setting('name')",
    "lock": "LOCK takes table locks; wfsdk locks the rows of a write itself",
    "transaction": "{what} controls the transaction, and transactions belong to wfsdk "
    "(reads run READ ONLY, each write in its own transaction)",
    "pragma": "PRAGMA can change the database file or the connection's configuration",
    "attach": "{what} changes which databases the connection can reach",
    "explain": "EXPLAIN is not accepted (EXPLAIN ANALYZE executes the statement)",
    "notify": "{what} uses notifications outside the guard",
    "prepared-statement": "{what} manages server-side prepared statements the guard cannot see",
    "cursor": "{what} manages cursors; wfsdk fetches rows itself",
    "replace": "REPLACE INTO deletes and re-inserts rows without a preview; use INSERT or UPDATE",
    "select-into": "SELECT ... INTO creates a table, and wfsdk never creates tables",
    "locking-read": "{what} locks rows; a read must not lock anything (reads run READ ONLY)",
    "opaque-command": "the parser could read {what} only as an opaque command, so the guard "
    "cannot tell what it does",
    "side-effect-function": "{what}() has side effects (sequences, sessions, files, locks, "
    "remote connections or SQL run from a string)",
    "multiple-statements": "the text holds more than one statement; send exactly one per call "
    "(a single trailing ';' is fine)",
    "empty": "there is no statement, only whitespace, comments or ';'",
    "not-allowed": "{what} is not a statement wfsdk runs; only SELECT, VALUES, WITH ... SELECT "
    "and single INSERT, UPDATE or DELETE statements are accepted",
    "ambiguous-name": "{what}: the guard cannot tell which table this names",
}


def _refuse(reason: str, what: str = "") -> Refused:
    return Refused(reason, _WHY[reason].format(what=what))


_DDL_WORDS = (
    "CREATE",
    "ALTER",
    "DROP",
    "COMMENT",
    "GRANT",
    "REVOKE",
    "RENAME",
    "REINDEX",
    "VACUUM",
    "ANALYZE",
    "ANALYSE",
    "CLUSTER",
    "REFRESH",
    "SECURITY",
    "IMPORT",
    "REASSIGN",
)

# First keyword of a statement sqlglot cannot parse into a tree (it falls back
# to an opaque command, or misreads ``CLUSTER t`` as a column with an alias),
# mapped to the reason the caller sees.
_LEADING: dict[str, str] = {
    **dict.fromkeys(_DDL_WORDS, "ddl"),
    "TRUNCATE": "truncate",
    "COPY": "copy",
    "MERGE": "merge",
    "DO": "do",
    "CALL": "call",
    "SET": "set",
    "RESET": "set",
    "SHOW": "show",
    "LOCK": "lock",
    **dict.fromkeys(
        ("BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "SAVEPOINT", "RELEASE"),
        "transaction",
    ),
    "PRAGMA": "pragma",
    "ATTACH": "attach",
    "DETACH": "attach",
    "EXPLAIN": "explain",
    **dict.fromkeys(("LISTEN", "NOTIFY", "UNLISTEN"), "notify"),
    **dict.fromkeys(("PREPARE", "EXECUTE", "DEALLOCATE"), "prepared-statement"),
    **dict.fromkeys(("DECLARE", "FETCH", "MOVE", "CLOSE"), "cursor"),
    **dict.fromkeys(("LOAD", "DISCARD", "CHECKPOINT", "USE"), "not-allowed"),
    "REPLACE": "replace",
}

# Nodes that refuse the statement wherever they appear, even nested in a CTE.
_FORBIDDEN: tuple[tuple[type[exp.Expr], str, str], ...] = (
    (exp.Into, "select-into", "SELECT ... INTO"),
    (exp.Lock, "locking-read", "FOR UPDATE / FOR SHARE"),
    (exp.Command, "opaque-command", ""),
    (exp.Create, "ddl", "CREATE"),
    (exp.Drop, "ddl", "DROP"),
    (exp.Alter, "ddl", "ALTER"),
    (exp.Comment, "ddl", "COMMENT ON"),
    (exp.Grant, "ddl", "GRANT"),
    (exp.Revoke, "ddl", "REVOKE"),
    (exp.Analyze, "ddl", "ANALYZE"),
    (exp.Refresh, "ddl", "REFRESH"),
    (exp.TruncateTable, "truncate", "TRUNCATE"),
    (exp.Copy, "copy", "COPY"),
    (exp.Merge, "merge", "MERGE"),
    (exp.Set, "set", "SET"),
    (exp.Show, "show", "SHOW"),
    (exp.Transaction, "transaction", "BEGIN"),
    (exp.Commit, "transaction", "COMMIT"),
    (exp.Rollback, "transaction", "ROLLBACK"),
    (exp.Pragma, "pragma", "PRAGMA"),
    (exp.Attach, "attach", "ATTACH"),
    (exp.Detach, "attach", "DETACH"),
    (exp.Execute, "prepared-statement", "EXECUTE"),
    (exp.Declare, "cursor", "DECLARE"),
    (exp.Use, "not-allowed", "USE"),
    (exp.Describe, "not-allowed", "DESCRIBE"),
    (exp.Kill, "not-allowed", "KILL"),
    (exp.LoadData, "not-allowed", "LOAD DATA"),
)
_FORBIDDEN_TYPES = tuple(cls for cls, _reason, _what in _FORBIDDEN)

# Defence in depth only: the READ ONLY transaction is the real barrier for
# reads. These are well-known functions whose effect is not a write to a table
# (so READ ONLY may not stop them) or that run SQL given as a string, which the
# guard cannot see into.
SIDE_EFFECT_FUNCTIONS = frozenset(
    {
        "nextval",
        "setval",
        "set_config",
        "pg_terminate_backend",
        "pg_cancel_backend",
        "pg_reload_conf",
        "pg_rotate_logfile",
        "pg_switch_wal",
        "pg_create_restore_point",
        "pg_promote",
        "pg_backup_start",
        "pg_backup_stop",
        "pg_start_backup",
        "pg_stop_backup",
        "pg_logical_emit_message",
        "pg_notify",
        "pg_stat_file",
        "pg_import_system_collations",
        "pg_create_logical_replication_slot",
        "pg_create_physical_replication_slot",
        "pg_drop_replication_slot",
        "ts_stat",
        "loread",
        "lowrite",
        "load_extension",
        "readfile",
        "writefile",
        "edit",
        "fts3_tokenizer",
    }
)
SIDE_EFFECT_PREFIXES = (
    "dblink",
    "lo_",
    "pg_advisory_",
    "pg_try_advisory_",
    "pg_sleep",
    "pg_read_",
    "pg_ls_",
    "pg_file_",
    "pg_stat_reset",
    "pg_replication_origin_",
    "query_to_xml",
    "table_to_xml",
    "cursor_to_xml",
    "schema_to_xml",
    "database_to_xml",
)

_ALLOWED_ROOTS = (
    exp.Select,
    exp.SetOperation,
    exp.Values,
    exp.Subquery,
    exp.Insert,
    exp.Update,
    exp.Delete,
)
_DML = (exp.Insert, exp.Update, exp.Delete)
_SCOPES = (exp.Select, exp.Update, exp.Delete, exp.Insert)
# Columns directly under these (a UNION's ORDER BY, a VALUES row) name output
# columns or nothing, never a column of a table in an enclosing query.
_BARRIERS = (exp.SetOperation, exp.Values)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class _Refusal(NamedTuple):
    reason: str
    message: str


def _excerpt(sql: str, limit: int = 80) -> str:
    flat = " ".join(sql.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 3] + "...")


class Guard:
    """Classifies statements for one dialect, caching the verdict by exact SQL text."""

    def __init__(self, dialect: str, *, cache_size: int = 2048) -> None:
        self._dialect = resolve_dialect(dialect)
        if cache_size < 0:
            raise ConfigurationError(f"cache_size must be 0 or more, not {cache_size}")
        dialect_object(self._dialect)
        self._lookup = functools.lru_cache(maxsize=cache_size)(
            functools.partial(_classify, dialect=self._dialect)
        )

    @property
    def dialect(self) -> str:
        return self._dialect

    def classify(self, sql: str) -> Classification:
        """Classify ``sql`` or raise :class:`~wfsdk.errors.StatementRefusedError`."""
        if not isinstance(sql, str):
            raise TypeError(f"a statement must be str, not {type(sql).__name__}")
        verdict = self._lookup(sql)
        if isinstance(verdict, Classification):
            return verdict
        raise StatementRefusedError(
            f"statement refused ({verdict.reason}): {verdict.message}; statement: {_excerpt(sql)}",
            sql=sql,
            reason=verdict.reason,
        )

    def cache_stats(self) -> CacheStats:
        info = self._lookup.cache_info()
        return CacheStats(
            hits=info.hits, misses=info.misses, size=info.currsize, maxsize=info.maxsize or 0
        )

    def cache_clear(self) -> None:
        self._lookup.cache_clear()


def _classify(sql: str, dialect: str) -> Classification | _Refusal:
    try:
        tree, first_word = _parse_one(sql, dialect)
        return _Analysis(sql, tree, dialect, first_word).classification()
    except Refused as refused:
        return _Refusal(refused.reason, refused.message)
    except RecursionError:
        return _Refusal("unparseable", "it is nested too deeply to analyse")


def _parse_one(sql: str, dialect: str) -> tuple[exp.Expr, str]:
    tokens = tokenize(sql, dialect)
    semicolons = [i for i, token in enumerate(tokens) if token.token_type is TokenType.SEMICOLON]
    if semicolons:
        if len(semicolons) > 1 or semicolons[0] != len(tokens) - 1:
            raise _refuse("multiple-statements")
        tokens = tokens[:-1]
    if not tokens:
        raise _refuse("empty")
    _check_leading(tokens[0])
    if swallowed_command(tokens, dialect) is not None:
        raise _refuse("opaque-command", tokens[0].text.upper())
    try:
        trees = dialect_object(dialect).parser().parse(tokens, sql)
    except ParseError as exc:
        detail = exc.errors[0].get("description") if exc.errors else None
        raise Refused(
            "unparseable", f"the {dialect} parser could not read it ({detail or exc})"
        ) from None
    except Exception as exc:  # a parser bug must refuse, never let the statement through
        message = _ANSI.sub("", str(exc)).splitlines()[0] if str(exc) else type(exc).__name__
        raise Refused(
            "unparseable", f"the {dialect} parser could not read it ({message})"
        ) from None
    if len(trees) != 1 or trees[0] is None:
        raise _refuse("multiple-statements" if len(trees) > 1 else "empty")
    tree = trees[0]
    assert isinstance(tree, exp.Expr)
    return tree, tokens[0].text.upper()


def _check_leading(first: Token) -> None:
    if first.token_type in (TokenType.IDENTIFIER, TokenType.STRING):
        return
    word = first.text.upper()
    reason = _LEADING.get(word)
    if reason is not None:
        raise _refuse(reason, word)


def _function_names(node: exp.Func) -> Iterator[str]:
    if isinstance(node, exp.Anonymous):
        yield node.name
    else:
        yield from type(node).sql_names()


def _is_side_effect(name: str) -> bool:
    name = fold(name, quoted=False, dialect=SQLITE)
    return name in SIDE_EFFECT_FUNCTIONS or name.startswith(SIDE_EFFECT_PREFIXES)


def _is_default(node: exp.Expr) -> bool:
    if isinstance(node, exp.Column) and isinstance(node.this, exp.Identifier):
        return not node.this.quoted and node.name.upper() == "DEFAULT" and not node.table
    return isinstance(node, exp.Var) and node.name.upper() == "DEFAULT"


def _only_args(node: exp.Expr, allowed: frozenset[str]) -> bool:
    """True when every argument outside ``allowed`` is unset (sqlglot stores False or [])."""
    for key, value in node.args.items():
        if key in allowed or value is None or value is False:
            continue
        if isinstance(value, list) and not value:
            continue
        return False
    return True


def _placeholders_as_named(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.Placeholder) and node.name:
        return exp.var(f":{node.name}")
    return node


def _render(node: exp.Expr, dialect: str) -> str:
    # The preview must bind the very parameters of the write, so ``:name`` is kept
    # rather than the dialect's own spelling (``%(name)s`` for PostgreSQL).
    return node.transform(_placeholders_as_named).sql(dialect=dialect, comments=False)


class _Scope:
    __slots__ = ("aliases", "sources")

    def __init__(self) -> None:
        self.aliases: dict[str, str | None] = {}
        self.sources: list[str | None] = []


class _Analysis:
    """One pass over a parsed statement: refusals, tables, columns, and the write shape."""

    def __init__(self, sql: str, tree: exp.Expr, dialect: str, first_word: str) -> None:
        self.sql = sql
        self.first_word = first_word
        self.tree = tree
        self.dialect = dialect
        self._cte_names: dict[int, tuple[str, ...]] = {}

    def classification(self) -> Classification:
        tree = self.tree
        if not isinstance(tree, _ALLOWED_ROOTS):
            self._refuse_node(tree)
            raise _refuse("not-allowed", f"a statement starting with {self.first_word}")
        tables: list[exp.Table] = []
        columns: list[exp.Column] = []
        dml: list[exp.Insert | exp.Update | exp.Delete] = []
        sources: list[exp.Expr] = []
        for node in tree.walk():
            if isinstance(node, _FORBIDDEN_TYPES):
                self._refuse_node(node)
            if isinstance(node, exp.Func):
                for function in _function_names(node):
                    if _is_side_effect(function):
                        raise _refuse("side-effect-function", function)
            elif isinstance(node, exp.Table):
                tables.append(node)
            elif isinstance(node, exp.Column):
                columns.append(node)
            elif isinstance(node, _DML):
                dml.append(node)
            parent = node.parent
            if (isinstance(parent, (exp.From, exp.Join)) and node.arg_key == "this") or (
                isinstance(parent, exp.Delete) and node.arg_key == "using"
            ):
                sources.append(node)

        targets = {id(node): self._target(node) for node in dml}
        target_ids = {id(table) for table in targets.values()}
        real: dict[int, str | None] = {}
        reads: set[str] = set()
        writes: set[str] = set()
        for table in tables:
            name = self._table_name(table)
            if name is None:
                real[id(table)] = None
            elif id(table) in target_ids:
                real[id(table)] = name
                writes.add(name)
            elif table.args.get("db") is None and self._is_cte(
                table, fold_identifier(table.this, self.dialect)
            ):
                real[id(table)] = None
            else:
                real[id(table)] = name
                reads.add(name)

        scopes = self._scopes(sources, dml, targets, real)
        attributed = self._columns(columns, dml, targets, real, scopes)
        write = None
        if len(dml) == 1 and dml[0] is tree:
            (target_name,) = writes
            write = self._write_shape(dml[0], target_name)
        return Classification(
            sql=self.sql,
            kind=StatementKind.WRITE if writes else StatementKind.READ,
            reads=frozenset(reads),
            writes=frozenset(writes),
            columns=attributed,
            write=write,
        )

    # -- refusals ------------------------------------------------------------------

    def _refuse_node(self, node: exp.Expr) -> None:
        for cls, reason, what in _FORBIDDEN:
            if isinstance(node, cls):
                if isinstance(node, exp.Command):
                    what = str(node.this).upper()
                raise _refuse(reason, what)

    # -- tables ------------------------------------------------------------------

    def _target(self, node: exp.Insert | exp.Update | exp.Delete) -> exp.Table:
        target = node.this
        if isinstance(node, exp.Insert) and isinstance(target, exp.Schema):
            target = target.this
        if not isinstance(target, exp.Table) or node.args.get("tables"):
            raise _refuse("not-allowed", f"{type(node).__name__.upper()} of something not a table")
        if not isinstance(target.this, exp.Identifier):
            raise _refuse("ambiguous-name", target.sql(dialect=self.dialect))
        return target

    def _table_name(self, table: exp.Table) -> str | None:
        """The normalised name, or None for a table function such as generate_series()."""
        ident = table.this
        if isinstance(ident, exp.Func):
            return None
        db = table.args.get("db")
        if not isinstance(ident, exp.Identifier) or not (
            db is None or isinstance(db, exp.Identifier)
        ):
            raise _refuse("ambiguous-name", table.sql(dialect=self.dialect))
        name = fold_identifier(ident, self.dialect)
        schema = None if db is None else fold_identifier(db, self.dialect)
        for part in (name, schema):
            # ``"a.b"`` would be indistinguishable from table b in schema a.
            if part is not None and (not part or "." in part):
                raise _refuse("ambiguous-name", table.sql(dialect=self.dialect))
        return qualified(schema, name, self.dialect)

    def _names_of(self, with_: exp.Expr) -> tuple[str, ...]:
        names = self._cte_names.get(id(with_))
        if names is None:
            names = tuple(
                fold_identifier(cte.args["alias"].this, self.dialect)
                for cte in with_.expressions
                if isinstance(cte.args.get("alias"), exp.TableAlias)
            )
            self._cte_names[id(with_)] = names
        return names

    def _is_cte(self, table: exp.Table, name: str) -> bool:
        """Whether the bare name ``name`` at ``table`` refers to a CTE in scope.

        The main query of a WITH sees every CTE. A CTE's own body sees only the
        CTEs before it in PostgreSQL unless the WITH is RECURSIVE, in which case
        it sees all of them; SQLite lets every body see every CTE.
        """
        prev: exp.Expr = table
        node = table.parent
        while node is not None:
            if isinstance(node, exp.With):
                names = self._names_of(node)
                if self.dialect != SQLITE and not node.args.get("recursive"):
                    index = next(
                        (i for i, cte in enumerate(node.expressions) if cte is prev), len(names)
                    )
                    names = names[:index]
                if name in names:
                    return True
            else:
                with_ = node.args.get("with_")
                if with_ is not None and with_ is not prev and name in self._names_of(with_):
                    return True
            prev, node = node, node.parent
        return False

    # -- columns -----------------------------------------------------------------

    @staticmethod
    def _scope_of(node: exp.Expr) -> exp.Expr | None:
        parent = node.parent
        while parent is not None:
            if isinstance(parent, _SCOPES):
                return parent
            if isinstance(parent, _BARRIERS):
                return None
            parent = parent.parent
        return None

    def _scopes(
        self,
        sources: list[exp.Expr],
        dml: list[exp.Insert | exp.Update | exp.Delete],
        targets: dict[int, exp.Table],
        real: dict[int, str | None],
    ) -> dict[int, _Scope]:
        scopes: dict[int, _Scope] = {}

        def add(scope_node: exp.Expr | None, source: exp.Expr, key: str | None) -> None:
            if scope_node is None:
                return
            scope = scopes.setdefault(id(scope_node), _Scope())
            name = real.get(id(source))
            scope.sources.append(name)
            alias = source.args.get("alias")
            if isinstance(alias, exp.TableAlias) and isinstance(alias.this, exp.Identifier):
                key = fold_identifier(alias.this, self.dialect)
            if key is not None:
                scope.aliases[key] = name

        for source in sources:
            key = None
            if isinstance(source, exp.Table) and isinstance(source.this, exp.Identifier):
                key = fold_identifier(source.this, self.dialect)
            add(self._scope_of(source), source, key)
        for node in dml:
            target = targets[id(node)]
            add(node, target, fold_identifier(target.this, self.dialect))
            if isinstance(node, exp.Insert):
                # ON CONFLICT ... DO UPDATE sees the proposed row as ``excluded``.
                scopes[id(node)].aliases.setdefault("excluded", real.get(id(target)))
        return scopes

    def _columns(
        self,
        columns: list[exp.Column],
        dml: list[exp.Insert | exp.Update | exp.Delete],
        targets: dict[int, exp.Table],
        real: dict[int, str | None],
        scopes: dict[int, _Scope],
    ) -> dict[str, frozenset[str]]:
        found: dict[str, set[str]] = {}

        def note(table: str | None, column: str) -> None:
            if table is not None:
                found.setdefault(table, set()).add(column)

        for node in dml:
            if isinstance(node, exp.Insert) and isinstance(node.this, exp.Schema):
                for ident in node.this.expressions:
                    if isinstance(ident, exp.Identifier):
                        note(real.get(id(targets[id(node)])), fold_identifier(ident, self.dialect))

        for column in columns:
            ident = column.this
            if not isinstance(ident, exp.Identifier) or _is_default(column):
                continue
            name = fold_identifier(ident, self.dialect)
            scope_node = self._scope_of(column)
            if scope_node is None:
                continue
            chain = list(self._chain(scope_node))
            qualifier = column.args.get("table")
            if isinstance(qualifier, exp.Identifier):
                note(self._qualified_source(column, qualifier, chain, scopes), name)
            elif isinstance(scope_node, exp.Update) and self._is_assigned(column, scope_node):
                note(real.get(id(targets[id(scope_node)])), name)
            elif not self._is_output_alias(column, scope_node, name):
                for link in chain:
                    scope = scopes.get(id(link))
                    if scope is not None and scope.sources:
                        if len(scope.sources) == 1:
                            note(scope.sources[0], name)
                        break
        return {table: frozenset(cols) for table, cols in found.items()}

    def _chain(self, scope_node: exp.Expr) -> Iterator[exp.Expr]:
        node: exp.Expr | None = scope_node
        while node is not None:
            yield node
            node = self._scope_of(node)

    def _qualified_source(
        self,
        column: exp.Column,
        qualifier: exp.Identifier,
        chain: list[exp.Expr],
        scopes: dict[int, _Scope],
    ) -> str | None:
        key = fold_identifier(qualifier, self.dialect)
        db = column.args.get("db")
        if isinstance(db, exp.Identifier):
            wanted = qualified(fold_identifier(db, self.dialect), key, self.dialect)
            for link in chain:
                scope = scopes.get(id(link))
                if scope is not None and wanted in scope.sources:
                    return wanted
            return None
        for link in chain:
            scope = scopes.get(id(link))
            if scope is not None and key in scope.aliases:
                return scope.aliases[key]
        return None

    @staticmethod
    def _is_assigned(column: exp.Column, update: exp.Update) -> bool:
        eq = column.parent
        return (
            isinstance(eq, exp.EQ)
            and column.arg_key == "this"
            and eq.parent is update
            and eq.arg_key == "expressions"
        )

    def _is_output_alias(self, column: exp.Column, scope_node: exp.Expr, name: str) -> bool:
        """An ORDER BY or GROUP BY naming a select-list alias, not a table column."""
        if not isinstance(scope_node, exp.Select):
            return False
        aliases = {
            fold_identifier(item.args["alias"], self.dialect)
            for item in scope_node.expressions
            if isinstance(item, exp.Alias) and isinstance(item.args.get("alias"), exp.Identifier)
        }
        if name not in aliases:
            return False
        child: exp.Expr = column
        while child.parent is not scope_node and child.parent is not None:
            child = child.parent
        return child.arg_key != "expressions"

    # -- the previewable write ----------------------------------------------------

    def _write_shape(
        self, node: exp.Insert | exp.Update | exp.Delete, table: str
    ) -> WriteShape | None:
        target = self._target(node)
        if node.args.get("with_") or not _only_args(target, frozenset({"this", "db", "catalog"})):
            return None
        where = node.args.get("where")
        where_sql = _render(where.this, self.dialect) if isinstance(where, exp.Where) else None
        if isinstance(node, exp.Update):
            if not _only_args(node, frozenset({"this", "expressions", "where", "returning"})):
                return None
            assignments = []
            for eq in node.expressions:
                lhs = eq.this if isinstance(eq, exp.EQ) else None
                if (
                    not isinstance(lhs, exp.Column)
                    or not isinstance(lhs.this, exp.Identifier)
                    or lhs.args.get("table") is not None
                    or _is_default(eq.expression)
                ):
                    return None
                assignments.append(
                    (fold_identifier(lhs.this, self.dialect), _render(eq.expression, self.dialect))
                )
            return WriteShape(
                Operation.UPDATE,
                table,
                where_sql=where_sql,
                assignments=tuple(assignments),
                dialect=self.dialect,
            )
        if isinstance(node, exp.Delete):
            if not _only_args(node, frozenset({"this", "where", "returning"})):
                return None
            return WriteShape(Operation.DELETE, table, where_sql=where_sql, dialect=self.dialect)
        return self._insert_shape(node, table)

    def _insert_shape(self, node: exp.Insert, table: str) -> WriteShape | None:
        schema, values = node.this, node.expression
        if (
            not _only_args(node, frozenset({"this", "expression", "returning"}))
            or not isinstance(schema, exp.Schema)
            or not isinstance(values, exp.Values)
            or not _only_args(values, frozenset({"expressions"}))
        ):
            return None
        columns = []
        for ident in schema.expressions:
            if not isinstance(ident, exp.Identifier):
                return None
            columns.append(fold_identifier(ident, self.dialect))
        rows = []
        for row in values.expressions:
            items = row.expressions if isinstance(row, exp.Tuple) else None
            if items is None or len(items) != len(columns) or any(map(_is_default, items)):
                return None
            rows.append(tuple(_render(item, self.dialect) for item in items))
        if not columns or not rows:
            return None
        return WriteShape(
            Operation.INSERT,
            table,
            insert_columns=tuple(columns),
            insert_rows=tuple(rows),
            dialect=self.dialect,
        )
