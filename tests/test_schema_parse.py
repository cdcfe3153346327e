"""Reading schema documents as people write them, and reporting what cannot be read."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from wfsdk.errors import ContractError
from wfsdk.schema import (
    Contract,
    ForeignKeySpec,
    SqlType,
    UniqueSpec,
    load_contract,
    parse_contract,
    suggest_column,
    types_match,
)
from wfsdk.schema.compare import diff
from wfsdk.schema.model import FrozenMap
from wfsdk.schema.reflect import LiveColumn, LiveSchema, LiveTable

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "docs" / "database" / "schema.md"


def parse(text: str) -> Contract:
    return parse_contract(textwrap.dedent(text).lstrip("\n"), "doc.md")


def messages(contract: Contract) -> list[str]:
    return [f"{p.source} {p.message}" for p in contract.problems]


def line_of(text: str, needle: str) -> int:
    lines = textwrap.dedent(text).lstrip("\n").splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


REAL_WORLD = """
# Blog schema

## Overview
Every table has an id. This prose states nothing to check.

## Table: workflow_stage_entity
| Column | Type | Description |
|--------|------|-------------|
| id | SERIAL (PK) | Primary key |
| name | VARCHAR(100) | Stage name, unique, NOT NULL |
| stage_order | INTEGER | Position of the stage |
| ... | ... | ... |

## Table: workflow_sub_stage_entity
| TYPE | description | column | Nullable | default |
|---|---|---|---|---|
| SERIAL | Primary key | `id` | NO | |
| INTEGER | References workflow_stage_entity(id) | stage_id | YES | |
| VARCHAR(100) | | name | no | |
| FLOAT | | weight | | `0.5` |

UNIQUE(stage_id, name)

### llm_action

| Column | Type | Description |
| --- | --- | --- |
| id | SERIAL (PK) | Primary key |
| prompt_template_id | INTEGER | FK to llm_prompt(id) |
| created_at | TIMESTAMP | |
| enabled | BOOLEAN | not null |
| config | JSONB | nullable |
| provider_id | INTEGER (FK) | References llm_provider(id) |

## Table: llm_action
| Column | Type | Description |
| --- | --- | --- |
| id | INTEGER | Primary key |
| prompt | TEXT | The template |

### workflow_step_entity

```sql
-- workflow_step_entity
id SERIAL PRIMARY KEY,
stage_id INTEGER REFERENCES workflow_stage_entity(id),
config JSONB
name TEXT NOT NULL
```

## Enum: post_status
- `draft` - a new post
- in_process
- published

## Table: post
```sql
CREATE TABLE public.post (
    id integer NOT NULL,
    status post_status DEFAULT 'draft'::post_status NOT NULL,
    title character varying(200) NOT NULL,
    "order" integer DEFAULT 0,
    CONSTRAINT post_pkey PRIMARY KEY (id),
    CHECK (id > 0)
);
CREATE TYPE provider_type AS ENUM ('openai', 'ollama');
ALTER TABLE ONLY public.post ADD CONSTRAINT post_title_key UNIQUE (title);
SELECT * FROM post ORDER BY id;
```

## Relationships
- post.id -> llm_action.id

### provider (enum)
Values: openai, ollama
"""


@pytest.fixture(scope="module")
def real() -> Contract:
    return parse(REAL_WORLD)


def test_every_form_is_read_without_problems(real: Contract) -> None:
    assert real.problems == ()
    assert list(real.tables) == [
        "workflow_stage_entity",
        "workflow_sub_stage_entity",
        "llm_action",
        "workflow_step_entity",
        "post",
    ]
    assert list(real.enums) == ["post_status", "provider_type", "provider"]


def test_pipe_table_with_markers_in_type_and_description(real: Contract) -> None:
    stage = real.tables["workflow_stage_entity"]
    assert stage.columns["id"].type == SqlType("integer", serial=True)
    assert stage.columns["id"].nullable is False  # a primary key is NOT NULL
    assert stage.columns["name"].type == SqlType("varchar", (100,))
    assert stage.columns["name"].nullable is False
    assert stage.columns["stage_order"].nullable is None  # the document does not say
    assert stage.primary_key is not None and stage.primary_key.columns == ("id",)
    assert stage.uniques == (UniqueSpec(("name",)),)
    assert stage.open and real.is_open("workflow_stage_entity")


def test_header_in_any_order_and_case(real: Contract) -> None:
    sub = real.tables["workflow_sub_stage_entity"]
    assert list(sub.columns) == ["id", "stage_id", "name", "weight"]
    assert sub.columns["weight"].type == SqlType("double precision")  # FLOAT
    assert sub.columns["weight"].default == "0.5"
    assert sub.columns["stage_id"].nullable is True
    assert sub.columns["name"].nullable is False
    assert sub.foreign_keys == (ForeignKeySpec(("stage_id",), "workflow_stage_entity", ("id",)),)
    assert sub.uniques == (UniqueSpec(("stage_id", "name")),)
    assert not sub.open


def test_descriptions_give_keys_and_nullability(real: Contract) -> None:
    action = real.tables["llm_action"]
    assert {fk.ref_table for fk in action.foreign_keys} == {"llm_prompt", "llm_provider"}
    assert action.columns["enabled"].nullable is False
    assert action.columns["config"].nullable is True
    assert action.columns["created_at"].type == SqlType("timestamp")


def test_same_table_twice_is_merged(real: Contract) -> None:
    action = real.tables["llm_action"]
    # INTEGER in the second section only adds less detail than SERIAL in the first.
    assert action.columns["id"].type == SqlType("integer", serial=True)
    assert "prompt" in action.columns
    assert real.columns_of("llm_action") == frozenset(
        {"id", "prompt_template_id", "created_at", "enabled", "config", "provider_id", "prompt"}
    )


def test_sql_column_list_under_a_table_comment(real: Contract) -> None:
    step = real.tables["workflow_step_entity"]
    assert list(step.columns) == ["id", "stage_id", "config", "name"]
    assert step.columns["config"].type == SqlType("jsonb")
    assert step.columns["name"].nullable is False
    assert step.foreign_keys == (ForeignKeySpec(("stage_id",), "workflow_stage_entity", ("id",)),)
    assert step.columns["stage_id"].source == f"doc.md:{line_of(REAL_WORLD, 'stage_id INTEGER')}"


def test_create_table_type_and_alter_statements(real: Contract) -> None:
    post = real.tables["post"]
    assert post.columns["status"].type == SqlType("post_status", user=True)
    assert post.columns["status"].default == "'draft'::post_status"
    assert post.columns["title"].type == SqlType("varchar", (200,))
    assert "order" in post.columns
    assert post.primary_key is not None and post.primary_key.columns == ("id",)
    assert post.uniques == (UniqueSpec(("title",)),)
    assert post.foreign_keys == (ForeignKeySpec(("id",), "llm_action", ("id",)),)
    assert real.enums["provider_type"].labels == ("openai", "ollama")


def test_enum_sections(real: Contract) -> None:
    assert real.enums["post_status"].labels == ("draft", "in_process", "published")
    assert real.enums["post_status"].source == f"doc.md:{line_of(REAL_WORLD, 'Enum: post_status')}"
    assert real.enums["provider"].labels == ("openai", "ollama")


def test_facts_know_their_line(real: Contract) -> None:
    sub = real.tables["workflow_sub_stage_entity"]
    assert sub.source == f"doc.md:{line_of(REAL_WORLD, 'Table: workflow_sub_stage_entity')}"
    assert sub.uniques[0].source == f"doc.md:{line_of(REAL_WORLD, 'UNIQUE(stage_id, name)')}"
    assert sub.foreign_keys[0].source == f"doc.md:{line_of(REAL_WORLD, '| INTEGER | References')}"


def test_constraints_and_references_columns() -> None:
    contract = parse(
        """
        ## Table: t
        | Column | Type | Null | Constraints | References | Description |
        |---|---|---|---|---|---|
        | a | INT4 | | PRIMARY KEY | | References nothing (free text here) |
        | b | BOOL | YES | UNIQUE | other(id) | unique in prose is not read here |
        | c | INT | NO | | other.id, third(x) | |
        | d | TIMESTAMP WITHOUT TIME ZONE | - | NOT NULL, DEFAULT now() | | |

        - PRIMARY KEY (a)
        - `d`: unique
        """
    )
    assert contract.problems == ()
    t = contract.tables["t"]
    assert t.columns["a"].type == SqlType("integer")
    assert t.columns["b"].type == SqlType("boolean")
    assert t.columns["d"].nullable is False and t.columns["d"].default == "now()"
    assert {fk.ref_table for fk in t.foreign_keys} == {"other", "third"}
    assert {u.columns for u in t.uniques} == {("b",), ("d",)}


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("SERIAL (PK)", SqlType("integer", serial=True)),
        ("BIGSERIAL", SqlType("bigint", serial=True)),
        ("INT", SqlType("integer")),
        ("INT4", SqlType("integer")),
        ("INTEGER", SqlType("integer")),
        ("VARCHAR(128)", SqlType("varchar", (128,))),
        ("character varying(128)", SqlType("varchar", (128,))),
        ("TEXT", SqlType("text")),
        ("FLOAT", SqlType("double precision")),
        ("double precision", SqlType("double precision")),
        ("FLOAT(10)", SqlType("real")),
        ("TIMESTAMP", SqlType("timestamp")),
        ("timestamp without time zone", SqlType("timestamp")),
        ("TIMESTAMPTZ", SqlType("timestamptz")),
        ("JSONB", SqlType("jsonb")),
        ("BOOL", SqlType("boolean")),
        ("BOOLEAN", SqlType("boolean")),
        ("NUMERIC(10, 2)", SqlType("numeric", (10, 2))),
        ("INTEGER[]", SqlType("integer", array=1)),
        ("INTEGER GENERATED ALWAYS AS IDENTITY", SqlType("integer", serial=True)),
    ],
)
def test_type_spellings(written: str, expected: SqlType) -> None:
    contract = parse(
        f"""
        ## Table: t
        | Column | Type | Description |
        |---|---|---|
        | c | {written} | |
        """
    )
    assert contract.problems == ()
    assert contract.tables["t"].columns["c"].type == expected


BROKEN = """
## Table: broken
| Column | Type | Colour |
|---|---|---|
| a | VARCHR(12) | red |
| b | INTEGER |
| c | ENUM | |
| d | TEXT (markdown) | |
| e | mood | |

## Table: twice
| Column | Type | Description |
|---|---|---|
| id | INTEGER | Primary key |
| v | TEXT | NOT NULL |

## Table: twice
| Column | Type | Description |
|---|---|---|
| id | BIGINT | |
| v | TEXT | nullable |
| w | TEXT | Primary key |

## Table: prose
| Column | Type | Description |
|---|---|---|
| p | INTEGER | References the parent stage |
| q | INTEGER | Unique per post |
| r | INTEGER | FK |
| s | TEXT | Nullable, not null |

Each name is unique per post.
UNIQUE(p, nope)

```sql
CREATE TABLE later (
  id SERIAL PRIMARY KEY,
  x INTEGER REFERENCES,
  y TEXT
);
```

## Notes

```sql
loose_column INTEGER
```

## Table: empty
Nothing here yet.

## Enum: nothing
"""


@pytest.fixture(scope="module")
def broken() -> Contract:
    return parse(BROKEN)


def at(needle: str) -> str:
    return f"doc.md:{line_of(BROKEN, needle)}"


@pytest.mark.parametrize(
    ("needle", "fragment"),
    [
        ("| Column | Type | Colour |", "unknown column header 'colour'"),
        ("| a | VARCHR(12)", "unknown type 'VARCHR(12)'"),
        ("| b | INTEGER |", "row has 2 cells, the header has 3"),
        ("| c | ENUM", "ENUM needs the name of the enum type"),
        ("| d | TEXT (markdown)", "not understood"),
        ("| e | mood", "unknown type 'mood'"),
        ("| id | BIGINT", "documented again with another type"),
        ("| v | TEXT | nullable", "documented as nullable here but NOT NULL"),
        ("| w | TEXT | Primary key", "primary key of 'twice' documented as (w)"),
        ("| p | INTEGER", "reference not understood"),
        ("| q | INTEGER", "uniqueness not understood"),
        ("| r | INTEGER | FK", "marked FK"),
        ("| s | TEXT", "it says both"),
        ("Each name is unique per post.", "not understood"),
        ("UNIQUE(p, nope)", "undocumented column(s) nope"),
        ("x INTEGER REFERENCES,", "SQL not understood"),
        ("loose_column INTEGER", "without a table"),
        ("## Table: empty", "documented with no columns"),
        ("## Enum: nothing", "lists no labels"),
    ],
)
def test_problems_name_file_and_line(broken: Contract, needle: str, fragment: str) -> None:
    found = [p.message for p in broken.problems if p.source == at(needle)]
    assert any(fragment in message for message in found), (needle, messages(broken))


def test_what_was_understood_is_kept(broken: Contract) -> None:
    # A column whose type is unknown is still documented (the guard needs its name),
    # its type is simply not compared.
    assert broken.tables["broken"].columns["a"].type is None
    assert "b" not in broken.tables["broken"].columns
    assert broken.tables["later"].columns["y"].type == SqlType("text")
    assert "empty" not in broken.tables


def test_problems_become_differences_so_a_partly_read_document_never_passes(
    broken: Contract,
) -> None:
    live = LiveSchema("postgresql", FrozenMap(), FrozenMap(), ())
    report = diff(broken, live)
    assert not report.ok
    documents = [d for d in report.differences if d.kind == "document"]
    assert len(documents) == len(broken.problems)
    assert documents[0].source == broken.problems[0].source


def test_a_document_with_no_tables() -> None:
    contract = parse("# Notes\n\nNothing about tables.\n")
    assert contract.tables == {}
    assert [p.message for p in contract.problems] == ["the document describes no table"]


def test_load_contract_reads_fresh_and_reports_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "schema.md"
    path.write_text("## Table: t\n| Column | Type | Description |\n|--|--|--|\n| a | INT | |\n")
    assert load_contract(path).columns_of("t") == frozenset({"a"})
    path.write_text("## Table: t\n| Column | Type | Description |\n|--|--|--|\n| b | INT | |\n")
    assert load_contract(str(path)).columns_of("t") == frozenset({"b"})
    with pytest.raises(ContractError, match=re.escape("missing.md")):
        load_contract(tmp_path / "missing.md")
    path.write_text("# Nothing\n")
    with pytest.raises(ContractError, match="describes no table"):
        load_contract(path)
    path.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ContractError, match=re.escape(str(path))):
        load_contract(path)


def test_unlabelled_fences_are_read_only_when_they_read_as_sql() -> None:
    contract = parse(
        """
        ## Table: t
        ```
        a INTEGER NOT NULL
        ```

        ```
        stage -> sub-stage -> step
        ```
        """
    )
    assert contract.problems == ()
    assert contract.tables["t"].columns["a"].nullable is False


def test_generic_headings_and_subsections() -> None:
    contract = parse(
        """
        ## Table: post
        | Column | Type | Description |
        |---|---|---|
        | id | SERIAL | Primary key |
        | slug | TEXT | |

        ### Constraints
        - UNIQUE (slug)

        ## Notes
        ### Indexes
        The slug has a unique index.
        """
    )
    assert contract.problems == ()
    assert list(contract.tables) == ["post"]
    assert contract.tables["post"].uniques == (UniqueSpec(("slug",)),)


def test_columns_of_and_suggestions() -> None:
    contract = load_contract(SHIPPED)
    assert contract.columns_of("nope") is None
    assert contract.columns_of("workflow_stage_entity") == frozenset(
        {"id", "name", "description", "stage_order"}
    )
    assert not contract.is_open("workflow_stage_entity")
    # The integration guide orders stages by a column the table does not have.
    assert "order_index" not in (contract.columns_of("workflow_stage_entity") or ())
    assert suggest_column(contract, "workflow_stage_entity", "order_index") == "stage_order"
    assert suggest_column(contract, "workflow_step_entity", "step_ordr") == "step_order"
    assert suggest_column(contract, "workflow_stage_entity", "name") is None
    assert suggest_column(contract, "workflow_stage_entity", "zzz") is None
    assert suggest_column(contract, "nope", "id") is None


def test_shipped_contract_documents_what_wfsdk_uses() -> None:
    contract = load_contract(SHIPPED)
    assert contract.problems == ()
    assert set(contract.tables) == {
        "workflow_stage_entity",
        "workflow_sub_stage_entity",
        "workflow_step_entity",
        "workflow_field_mapping",
        "llm_action",
        "post_workflow_step_action",
        "post_workflow_stage",
        "post_development",
        "post",
        "llm_provider",
        "llm_prompt",
    }
    assert contract.enums["post_status"].labels == (
        "draft",
        "in_process",
        "published",
        "archived",
        "deleted",
    )
    for table in contract.tables.values():
        assert table.primary_key is not None and table.primary_key.columns == ("id",)
        assert all(c.nullable is not None for c in table.columns.values()), table.name


@pytest.mark.parametrize(
    ("want", "have", "dialect", "match"),
    [
        (SqlType("double precision"), SqlType("double precision"), "postgresql", True),
        (SqlType("double precision"), SqlType("real"), "postgresql", False),
        (SqlType("integer", serial=True), SqlType("integer", serial=True), "postgresql", True),
        (SqlType("integer", serial=True), SqlType("integer"), "postgresql", False),
        (SqlType("integer"), SqlType("integer", serial=True), "postgresql", True),
        (SqlType("varchar", (128,)), SqlType("varchar", (128,)), "postgresql", True),
        (SqlType("varchar", (128,)), SqlType("varchar", (64,)), "postgresql", False),
        (SqlType("varchar"), SqlType("varchar", (64,)), "postgresql", True),
        (SqlType("varchar"), SqlType("text"), "postgresql", False),
        (SqlType("numeric", (10,)), SqlType("numeric", (10, 0)), "postgresql", True),
        (SqlType("post_status", user=True), SqlType("post_status", user=True), "postgresql", True),
        (SqlType("post_status", user=True), SqlType("varchar", (32,)), "postgresql", False),
        (SqlType("jsonb"), SqlType("json"), "postgresql", False),
        (SqlType("integer", serial=True), SqlType("integer"), "sqlite", True),
        (SqlType("bigint"), SqlType("integer"), "sqlite", True),
        (SqlType("double precision"), SqlType("real"), "sqlite", True),
        (SqlType("jsonb"), SqlType("json"), "sqlite", True),
        (SqlType("jsonb"), SqlType("jsonb"), "sqlite", True),
        (SqlType("jsonb"), SqlType("text"), "sqlite", True),
        (SqlType("jsonb"), SqlType("integer"), "sqlite", False),
        (SqlType("post_status", user=True), SqlType("varchar", (11,)), "sqlite", True),
        (SqlType("timestamptz"), SqlType("numeric"), "sqlite", True),
        (SqlType("text"), SqlType("numeric"), "sqlite", False),
        (SqlType("integer"), SqlType("text"), "sqlite", False),
    ],
)
def test_type_aliases_per_dialect(want: SqlType, have: SqlType, dialect: str, match: bool) -> None:
    assert types_match(want, have, dialect) is match


def test_open_table_and_unsaid_nullability_are_information() -> None:
    contract = parse(
        """
        ## Table: t
        | Column | Type | Description |
        |---|---|---|
        | a | INTEGER | |
        | ... | | |
        """
    )
    live = LiveSchema(
        "postgresql",
        FrozenMap(
            {
                "t": LiveTable(
                    "t",
                    FrozenMap(
                        {
                            "a": LiveColumn("a", SqlType("integer"), True),
                            "b": LiveColumn("b", SqlType("text"), True),
                        }
                    ),
                )
            }
        ),
        FrozenMap(),
        ("t",),
    )
    report = diff(contract, live)
    assert report.ok
    assert any("open table" in item and "b" in item for item in report.information)
    assert any("nullability not documented for a" in item for item in report.information)


def test_heading_notes_comments_and_inverted_null_headers() -> None:
    contract = parse(
        """
        <!--
        ## Table: hidden
        | Column | Type | Description |
        |---|---|---|
        | a | INT | |
        -->
        ## Table: workflow_stage_entity (read-only)
        | **Column** | **Type** | Not Null | Notes |
        |:--|:--|:-:|---|
        | `id` | `SERIAL` | ✓ | Primary<br>key |
        | name | VARCHAR(100) | | |

        ## Table: post — blog posts
        | Field | Data Type | Required |
        |---|---|---|
        | id | integer | yes |
        | title | text | no |

        ## 2. `llm_action`
        | Column | Type |
        |---|---|
        | id | INT |

        ## Table: two words here
        """
    )
    assert [p.message for p in contract.problems] == [
        "heading 'two words here' does not name one table or type"
    ]
    assert list(contract.tables) == ["workflow_stage_entity", "post", "llm_action"]
    stage = contract.tables["workflow_stage_entity"]
    assert stage.primary_key is not None and stage.columns["id"].nullable is False
    assert stage.columns["name"].nullable is None
    assert contract.tables["post"].columns["id"].nullable is False
    assert contract.tables["post"].columns["title"].nullable is True
