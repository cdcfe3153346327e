"""The llm module on real databases: actions, rendering for a post, saving an output, problems."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

import wfsdk
from wfsdk import errors, prompts
from wfsdk.demo import data
from wfsdk.demo import schema as demo_schema
from wfsdk.kernel import Kernel
from wfsdk.modules import llm
from wfsdk.modules.llm import (
    CONTENT_FIELDS,
    WRITABLE_FIELDS,
    ActionNotFoundError,
    LlmApi,
    OutputFieldError,
    PostNotFoundError,
)
from wfsdk.schema import load_contract
from wfsdk.values import Operation, Vote

from kernel_support import SHIPPED_CONTRACT, Recorder, Voter, checksum, raw

TOKEN = "demo-token-not-real"
LLM_TABLES = ["llm_action", "llm_prompt", "llm_provider"]
DEMO_TABLES = sorted(demo_schema.metadata.tables)
NOT_CONTENT = {"id", "post_id", "updated_at"}


@pytest.fixture
def demo_url(db_url: str) -> str:
    data.build(db_url).dispose()
    return db_url


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def connect(url: str, *plugins: object) -> Kernel:
    return wfsdk.connect(url, plugins=[], contract=SHIPPED_CONTRACT, extra_plugins=list(plugins))


@pytest.fixture
def demo(demo_url: str, recorder: Recorder) -> Iterator[LlmApi]:
    with connect(demo_url, recorder) as kernel:
        yield kernel.api(LlmApi)


def add_action(url: str, **values: Any) -> None:
    """Add an llm_action outside wfsdk, broken references allowed (fixture work)."""
    row: dict[str, Any] = {
        "field_name": "Added",
        "prompt_template": "Hello",
        "prompt_template_id": 1,
        "llm_model": "m",
        "provider_id": 1,
        **values,
    }
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                # Lets a fixture hold the dangling provider reference real databases grow.
                conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            conn.execute(demo_schema.llm_action.insert(), row)
    finally:
        engine.dispose()


def documented_columns() -> set[str]:
    columns = load_contract(SHIPPED_CONTRACT).columns_of("post_development")
    assert columns is not None
    return set(columns)


def documented_content_fields() -> set[str]:
    return documented_columns() - NOT_CONTENT


# -- actions, providers, prompt templates ---------------------------------------------------


def test_actions_come_with_their_provider_and_prompt_template(demo: LlmApi) -> None:
    actions = demo.actions()
    assert [a.id for a in actions] == [1, 2, 3]
    first = actions[0]
    assert (first.name, first.model, first.input_field, first.output_field) == (
        "Expand idea",
        "llama3.1:8b",
        "idea_seed",
        "basic_idea",
    )
    assert (first.temperature, first.max_tokens, first.order, first.timeout) == (0.7, 1000, 0, 60)
    assert first.provider is not None and first.provider.name == "Local Ollama"
    assert first.prompt is not None and first.prompt.id == first.prompt_template_id == 1
    assert first.prompt.system_prompt == "You are a friendly gardening writer."
    hosted = demo.action(3)
    assert hosted is not None and hosted.provider is not None and hosted.provider.has_credentials
    assert not first.provider.has_credentials
    assert [p.id for p in demo.providers()] == [1, 2]
    assert [p.name for p in demo.prompt_templates()] == ["Expand idea", "Titles"]
    assert demo.problems() == ()
    assert all(a.problems == () for a in actions)


def test_actions_are_ordered_by_order_then_id(demo_url: str) -> None:
    add_action(demo_url, id=7, order=-1)
    add_action(demo_url, id=6, order=-1)
    with connect(demo_url) as kernel:
        assert [a.id for a in kernel.api(LlmApi).actions()] == [6, 7, 1, 2, 3]


def test_unknown_action(demo: LlmApi) -> None:
    assert demo.action(99) is None
    with pytest.raises(ActionNotFoundError, match="no llm_action with id 99") as raised:
        demo.render_prompt(99, 1)
    assert isinstance(raised.value, LookupError) and isinstance(raised.value, errors.WfsdkError)
    with pytest.raises(ActionNotFoundError):
        demo.save_output(99, 1, "x", actor="ann", reason="t")


@pytest.mark.parametrize("bad", ["1", True, None, 1.0])
def test_ids_must_be_integers(demo: LlmApi, recorder: Recorder, bad: object) -> None:
    for call in (
        lambda: demo.action(bad),  # type: ignore[arg-type]
        lambda: demo.render_prompt(bad, 1),  # type: ignore[arg-type]
        lambda: demo.render_prompt(1, bad),  # type: ignore[arg-type]
        lambda: demo.save_output(bad, 1, "x", actor="a", reason="r"),  # type: ignore[arg-type]
    ):
        with pytest.raises(errors.ConfigurationError, match="must be an integer id"):
            call()
    with pytest.raises(errors.ConfigurationError, match="text must be a str"):
        demo.save_output(1, 1, None, actor="a", reason="r")  # type: ignore[arg-type]
    assert recorder.reads == []


def test_broken_references_are_reported_and_do_not_stop_other_actions(demo_url: str) -> None:
    add_action(
        demo_url,
        id=5,
        provider_id=99,
        prompt_template_id=98,
        input_field="structure_input",
        output_field="basic_idea",
        prompt_template="{{#each tags}} never closed",
    )
    add_action(
        demo_url, id=4, output_field="structure_output", prompt_template="{{title}} {{idea}}"
    )
    with connect(demo_url) as kernel:
        api = kernel.api(LlmApi)
        actions = {a.id: a for a in api.actions()}
        problems = api.problems()
    assert sorted(actions) == [1, 2, 3, 4, 5]
    broken = actions[5]
    assert broken.provider is None and broken.prompt is None
    assert broken.provider_id == 99 and broken.prompt_template_id == 98
    assert [p.kind for p in broken.problems] == [
        "missing-reference",
        "missing-reference",
        "unknown-field",
        "bad-template",
    ]
    assert "llm_provider 99" in broken.problems[0].message
    assert "llm_prompt 98" in broken.problems[1].message
    assert "'structure_input'" in broken.problems[2].message
    assert "never closed" in broken.problems[3].message
    assert [(p.kind, p.message) for p in actions[4].problems] == [
        (
            "unknown-field",
            "llm_action 4 has output_field 'structure_output', which is not a column of "
            "post_development",
        ),
        (
            "unknown-field",
            "the prompt_template of llm_action 4 names {{title}}, {{idea}}, not column(s) of "
            "post_development",
        ),
    ]
    assert {p.row_id for p in problems} == {4, 5}
    assert all(p.table == "llm_action" and p.module == "llm" for p in problems)
    assert problems == (*actions[4].problems, *actions[5].problems)


# -- rendering ------------------------------------------------------------------------------


def test_render_system_and_user_messages_from_data_placeholders(demo: LlmApi) -> None:
    result = demo.render_prompt(1, 1)
    assert result.messages == (
        prompts.Message(prompts.Role.SYSTEM, "You are a friendly gardening writer."),
        prompts.Message(
            prompts.Role.USER, "Expand this idea into one paragraph: Cherry tomatoes in pots"
        ),
    )
    assert result.fields_used == ("idea_seed",) and result.empty_fields == ()


def test_render_field_and_each_placeholders(demo: LlmApi) -> None:
    result = demo.render_prompt(2, 1)
    assert result.text == (
        "Suggest three titles for: Growing cherry tomatoes in containers on a sunny balcony.\n"
        "Work in these tags: tomato balcony containers"
    )
    assert [m.role for m in result.messages] == [prompts.Role.USER]
    assert result.fields_used == ("basic_idea", "tags")


def test_null_fields_render_empty_and_are_listed(demo: LlmApi) -> None:
    result = demo.render_prompt(2, 2)
    assert result.text == "Suggest three titles for: \nWork in these tags:"
    assert result.empty_fields == ("basic_idea", "tags")


def test_unknown_placeholder_lists_the_known_fields(demo_url: str) -> None:
    add_action(demo_url, id=4, prompt_template="[user] {{title}} about [data:idea_seed]")
    with connect(demo_url) as kernel:
        with pytest.raises(prompts.UnknownPlaceholderError) as raised:
            kernel.api(LlmApi).render_prompt(4, 1)
    error = raised.value
    assert error.fields == ("title",)
    assert set(error.known_fields) == documented_content_fields() | NOT_CONTENT
    assert str(error).startswith(
        "the prompt_template of llm_action 4 names field(s) that do not exist: {{title}}"
    )


def test_missing_post_or_development_row(demo_url: str) -> None:
    raw(demo_url, "INSERT INTO post (id, title, slug, status) VALUES (3, 'New', 'new', 'draft')")
    with connect(demo_url) as kernel:
        api = kernel.api(LlmApi)
        with pytest.raises(PostNotFoundError, match="no post with id 99"):
            api.render_prompt(1, 99)
        with pytest.raises(PostNotFoundError, match="post 3 has no post_development row"):
            api.render_prompt(1, 3)


def test_rendering_never_writes(demo_url: str, recorder: Recorder) -> None:
    before = checksum(demo_url, DEMO_TABLES)
    voter = Voter(Vote.allow())
    with connect(demo_url, recorder, voter) as kernel:
        api = kernel.api(LlmApi)
        for action in api.actions():
            for post in (1, 2):
                api.render_prompt(action.id, post)
    assert checksum(demo_url, DEMO_TABLES) == before
    assert voter.seen == [] and recorder.changes == []
    assert recorder.reads and all(e.caller == "llm" for e in recorder.reads)


# -- saving an action's output ------------------------------------------------------------------


def basic_idea_of(url: str, post_id: int) -> Any:
    return raw(url, "SELECT basic_idea FROM post_development WHERE post_id = :p", {"p": post_id})[
        0
    ][0]


def test_save_output_writes_the_output_field_through_the_write_path(
    demo_url: str, recorder: Recorder
) -> None:
    llm_before = checksum(demo_url, LLM_TABLES)
    voter = Voter(Vote.allow())
    with connect(demo_url, recorder, voter) as kernel:
        result = kernel.api(LlmApi).save_output(
            1, 2, "A worm bin that lives under the sink.", actor="ann", reason="generated"
        )
    change = result.change
    assert change is not None and change.caller == "llm" and change.table == "post_development"
    assert change.operation is Operation.UPDATE and change.actor == "ann"
    (row,) = change.rows
    assert row.changed_columns() == ("basic_idea",)
    assert (
        row.after is not None and row.after["basic_idea"] == "A worm bin that lives under the sink."
    )
    assert basic_idea_of(demo_url, 2) == "A worm bin that lives under the sink."
    assert basic_idea_of(demo_url, 1).startswith("Growing cherry tomatoes")
    assert [i.caller for i in voter.seen] == ["llm"] and recorder.changes == [change]
    assert checksum(demo_url, LLM_TABLES) == llm_before


def test_save_output_dry_run_and_default_deny_change_nothing(demo_url: str) -> None:
    before = checksum(demo_url, DEMO_TABLES)
    with connect(demo_url, Voter(Vote.allow())) as kernel:
        result = kernel.api(LlmApi).save_output(
            1, 2, "new", actor="ann", reason="try", dry_run=True
        )
    assert result.change is None and result.would_commit
    assert result.preview is not None and result.preview.rows[0].changed_columns() == (
        "basic_idea",
    )
    with connect(demo_url) as kernel, pytest.raises(errors.WriteDeniedError, match="default-deny"):
        kernel.api(LlmApi).save_output(1, 2, "new", actor="ann", reason="try")
    assert checksum(demo_url, DEMO_TABLES) == before


@pytest.mark.parametrize(
    ("output_field", "message"),
    [
        (None, "has no output_field"),
        ("", "has no output_field"),
        ("section_headings", "post_section"),
        ("sections", "post_section"),
        ("structure_output", "not a content field"),
        ("updated_at", "not a content field"),
        ("post_id", "not a content field"),
    ],
)
def test_save_output_refuses_fields_it_may_not_write(
    demo_url: str, output_field: str | None, message: str
) -> None:
    add_action(demo_url, id=4, output_field=output_field)
    before = checksum(demo_url, DEMO_TABLES)
    voter = Voter(Vote.allow())
    with connect(demo_url, voter) as kernel:
        with pytest.raises(OutputFieldError, match=message):
            kernel.api(LlmApi).save_output(4, 1, "x", actor="ann", reason="t")
    assert voter.seen == []
    assert checksum(demo_url, DEMO_TABLES) == before


def test_save_output_needs_a_development_row(demo: LlmApi) -> None:
    with pytest.raises(PostNotFoundError):
        demo.save_output(1, 99, "x", actor="ann", reason="t")


def test_writable_fields_are_the_content_fields_without_the_trigger_synced_ones() -> None:
    demo_columns = [column.name for column in demo_schema.post_development.columns]
    assert demo_columns == ["id", "post_id", *CONTENT_FIELDS, "updated_at"]
    assert set(CONTENT_FIELDS) == documented_content_fields()
    assert set(CONTENT_FIELDS) - {"section_headings", "sections"} == WRITABLE_FIELDS
    declaration = llm.declare_access()
    assert declaration.writes == {"post_development": WRITABLE_FIELDS}
    assert declaration.owns[0].name == "llm_action" and declaration.owns[0].read_only


def test_the_llm_gateway_cannot_write_section_headings(demo_url: str) -> None:
    with connect(demo_url, Voter(Vote.allow())) as kernel:
        declaration = kernel.access.declarations["llm"]
        sql = "UPDATE post_development SET section_headings = 'x' WHERE post_id = 1"
        # The owner's column rule binds everyone, the host included.
        for caller in (declaration, kernel.access.declarations["host"]):
            with pytest.raises(errors.ReadOnlyViolationError, match="section_headings"):
                kernel.access.check_write(
                    caller, "post_development", Operation.UPDATE, ["section_headings"], sql
                )
        with pytest.raises(errors.ReadOnlyViolationError):
            kernel.access.check_write(
                declaration, "llm_action", Operation.UPDATE, ["prompt_template"], sql
            )


# -- credentials ----------------------------------------------------------------------------------


def test_provider_credentials_never_leave_the_database(
    demo_url: str,
    recorder: Recorder,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fetched: list[tuple[dict[str, Any], ...]] = []
    original_read = Kernel.read

    def spy(self: Kernel, *args: Any, **kwargs: Any) -> tuple[dict[str, Any], ...]:
        rows = original_read(self, *args, **kwargs)
        fetched.append(rows)
        return rows

    monkeypatch.setattr(Kernel, "read", spy)
    caplog.set_level(logging.DEBUG)
    seen: list[object] = []
    failures: list[BaseException] = []
    add_action(demo_url, id=4, provider_id=2, prompt_template="{{no_such_field}}")
    with connect(demo_url, recorder) as kernel:
        api = kernel.api(LlmApi)
        seen += [api, kernel, api.providers(), api.actions(), api.action(3), api.problems()]
        seen.append(api.prompt_templates())
        seen.append(api.render_prompt(3, 1))
        for attempt in (
            lambda: api.render_prompt(4, 1),
            lambda: api.render_prompt(3, 99),
            lambda: api.save_output(3, 1, "x", actor="ann", reason="denied by default"),
            lambda: api.save_output(4, 1, "x", actor="ann", reason="no output field"),
            lambda: kernel.execute_query("SELECT nope FROM llm_provider"),
        ):
            with pytest.raises(errors.WfsdkError) as raised:
                attempt()
            failures.append(raised.value)
    assert recorder.reads and recorder.errors
    texts = [repr(x) for x in (*seen, *recorder.reads, *recorder.errors)]
    texts += [f"{e!s} {e!r}" for e in failures]
    texts += [f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records]
    texts += [repr(rows) for rows in fetched]
    assert not [t for t in texts if TOKEN in t]
    for event in recorder.reads:
        if "auth_token" in event.statement:
            assert "COALESCE(auth_token, '') <> '' AS has_credentials" in event.statement


# -- the real blog database ---------------------------------------------------------------------


def test_real_actions_load_with_every_broken_reference_reported(blog_url: str) -> None:
    prompt_ids = {r[0] for r in raw(blog_url, "SELECT id FROM llm_prompt")}
    provider_ids = {r[0] for r in raw(blog_url, "SELECT id FROM llm_provider")}
    action_count = raw(blog_url, "SELECT count(*) FROM llm_action")[0][0]
    columns = documented_columns()
    with connect(blog_url) as kernel:
        api = kernel.api(LlmApi)
        actions = api.actions()
        problems = api.problems()
    assert len(actions) == action_count > 0
    assert [(a.order, a.id) for a in actions] == sorted((a.order, a.id) for a in actions)
    for action in actions:
        kinds = [p.kind for p in action.problems]
        assert (action.prompt is None) == (action.prompt_template_id not in prompt_ids)
        assert (action.provider is None) == (action.provider_id not in provider_ids)
        broken = (action.prompt is None) + (action.provider is None)
        assert kinds.count("missing-reference") == broken
        unknown_io = sum(
            1 for f in (action.input_field, action.output_field) if f and f not in columns
        )
        field_messages = [p.message for p in action.problems if p.kind == "unknown-field"]
        assert sum("has input_field" in m or "has output_field" in m for m in field_messages) == (
            unknown_io
        )
    assert problems == tuple(p for a in actions for p in a.problems)
    assert any(p.kind == "missing-reference" for p in problems)


def _posts_with_development(url: str) -> list[int]:
    return [r[0] for r in raw(url, "SELECT post_id FROM post_development ORDER BY post_id")]


def test_every_real_action_renders_or_reports_against_every_real_post(
    blog_url: str, recorder: Recorder
) -> None:
    before = checksum(blog_url, LLM_TABLES)
    posts = _posts_with_development(blog_url)
    without_row = sorted({r[0] for r in raw(blog_url, "SELECT id FROM post")} - set(posts))
    engine = sa.create_engine(blog_url)
    with engine.connect() as conn:
        rows = {
            r["post_id"]: r
            for r in conn.execute(sa.text("SELECT * FROM post_development")).mappings()
        }
    engine.dispose()
    voter = Voter(Vote.allow())
    clean: set[int] = set()
    reported: set[int] = set()
    with connect(blog_url, recorder, voter) as kernel:
        api = kernel.api(LlmApi)
        for action in api.actions():
            try:
                found: tuple[prompts.Placeholder, ...] | None = prompts.placeholders(
                    action.prompt_template
                )
            except prompts.TemplateSyntaxError:
                found = None
            for post_id in posts:
                try:
                    result = api.render_prompt(action.id, post_id)
                except prompts.TemplateSyntaxError as error:
                    assert found is None and error.text in action.prompt_template
                    reported.add(action.id)
                    continue
                except prompts.UnknownPlaceholderError as error:
                    assert found is not None
                    assert set(error.known_fields) == documented_columns()
                    assert set(error.fields) == {p.field for p in found} - set(error.known_fields)
                    reported.add(action.id)
                    continue
                assert found is not None
                assert result.fields_used == tuple(dict.fromkeys(p.field for p in found))
                values = [v for v in rows[post_id].values() if isinstance(v, str)]
                for placeholder in found:
                    # Still in the text only where the post's own words hold the same spelling.
                    if placeholder.text in result.text:
                        assert any(placeholder.text in v for v in values)
                for tag in prompts.role_tags(action.prompt_template):
                    assert tag in result.text
                clean.add(action.id)
            for post_id in without_row[:3]:
                with pytest.raises(PostNotFoundError):
                    api.render_prompt(action.id, post_id)
        template_problems = {
            p.row_id
            for p in api.problems()
            if p.kind == "bad-template" or "prompt_template of" in p.message
        }
    assert clean and reported and clean.isdisjoint(reported)
    assert template_problems == reported
    assert checksum(blog_url, LLM_TABLES) == before
    assert voter.seen == [] and recorder.changes == []


def test_real_save_output_changes_one_field_of_one_row(blog_url: str) -> None:
    post_id = _posts_with_development(blog_url)[0]
    watched = [*LLM_TABLES, "post_section", "post"]
    before = checksum(blog_url, watched)
    development_before = raw(blog_url, "SELECT * FROM post_development ORDER BY id")
    with connect(blog_url, Voter(Vote.allow())) as kernel:
        api = kernel.api(LlmApi)
        writable = [a for a in api.actions() if a.output_field in WRITABLE_FIELDS]
        refused = [a for a in api.actions() if a.output_field not in WRITABLE_FIELDS]
        assert writable, "the dump has an action with a writable output field"
        action = writable[0]
        result = api.save_output(action.id, post_id, "Written by the test.", actor="t", reason="t")
        for other in refused:
            with pytest.raises(OutputFieldError):
                api.save_output(other.id, post_id, "x", actor="t", reason="t", dry_run=True)
    assert result.change is not None
    (row,) = result.change.rows
    assert row.changed_columns() == (action.output_field,)
    assert checksum(blog_url, watched) == before
    development_after = raw(blog_url, "SELECT * FROM post_development ORDER BY id")
    changed = [a for a, b in zip(development_after, development_before, strict=True) if a != b]
    assert len(changed) == 1


def test_real_section_headings_trigger_rewrites_post_section(blog_url: str) -> None:
    """Why section_headings is not writable: one UPDATE of it rewrites another table."""
    post_id = _posts_with_development(blog_url)[0]
    before = checksum(blog_url, ["post_section"])
    # Fixture work outside wfsdk, on the test's private copy of the dump.
    raw(
        blog_url,
        "UPDATE post_development SET section_headings = :h WHERE post_id = :p",
        {"h": '["A heading", "Another"]', "p": post_id},
    )
    assert checksum(blog_url, ["post_section"]) != before
    headings = raw(
        blog_url,
        "SELECT section_heading FROM post_section WHERE post_id = :p ORDER BY section_order",
        {"p": post_id},
    )
    assert [h[0] for h in headings][:2] == ['"A heading"', '"Another"']
    assert "section_headings" not in WRITABLE_FIELDS
