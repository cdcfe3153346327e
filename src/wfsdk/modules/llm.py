"""Built-in module ``llm``: LLM actions, their providers and prompt templates.

Owns ``llm_action`` (read-only: prompt templates are never modified), reads
``llm_provider`` and ``llm_prompt``, and writes an action's output into the
content fields of ``post_development``. See ``docs/llm.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from wfsdk import hookimpl
from wfsdk.errors import ConfigurationError, WfsdkError
from wfsdk.prompts import RenderedPrompt, TemplateSyntaxError, placeholders, render
from wfsdk.values import DataProblem, Declaration, OwnedTable

if TYPE_CHECKING:
    from wfsdk.gateway import Gateway
    from wfsdk.kernel import QueryResult

NAME = "llm"
POST_DEVELOPMENT = "post_development"

# The content fields of post_development: every column but its key, its post and
# the timestamp a trigger keeps current.
CONTENT_FIELDS = (
    "basic_idea",
    "provisional_title",
    "idea_scope",
    "topics_to_cover",
    "interesting_facts",
    "tartans_products",
    "section_planning",
    "section_headings",
    "section_order",
    "main_title",
    "subtitle",
    "intro_blurb",
    "conclusion",
    "basic_metadata",
    "tags",
    "categories",
    "image_captions",
    "seo_optimization",
    "self_review",
    "peer_review",
    "final_check",
    "scheduling",
    "deployment",
    "verification",
    "feedback_collection",
    "content_updates",
    "version_control",
    "platform_selection",
    "content_adaptation",
    "distribution",
    "engagement_tracking",
    "summary",
    "idea_seed",
    "provisional_title_primary",
    "concepts",
    "facts",
    "outline",
    "allocated_facts",
    "sections",
    "title_order",
    "expanded_idea",
)
# A trigger rewrites post_section when section_headings changes, and sections
# holds the same structure: a write of either would reach beyond the previewed
# row (docs/llm.md).
TRIGGER_SYNCED_FIELDS = frozenset({"section_headings", "sections"})
WRITABLE_FIELDS = frozenset(CONTENT_FIELDS) - TRIGGER_SYNCED_FIELDS

_ACTION_COLUMNS = (
    "id, field_name, prompt_template, prompt_template_id, llm_model, temperature, max_tokens, "
    '"order", input_field, output_field, provider_id, timeout'
)
_ACTIONS = f'SELECT {_ACTION_COLUMNS} FROM llm_action ORDER BY "order", id'
_ACTION = f"SELECT {_ACTION_COLUMNS} FROM llm_action WHERE id = :id"
# The credential is tested in the database and never fetched, so no token ever
# reaches this process, its rows, its logs or a hook.
_PROVIDERS = (
    "SELECT id, name, type, api_url, description, "
    "COALESCE(auth_token, '') <> '' AS has_credentials FROM llm_provider ORDER BY id"
)
_PROMPTS = "SELECT id, name, description, prompt_text, system_prompt FROM llm_prompt ORDER BY id"
_DEVELOPMENT = "SELECT * FROM post_development WHERE post_id = :p"
_POST = "SELECT id FROM post WHERE id = :p"

# A read: ``Gateway.read``, or ``Reads.read`` inside one transaction.
_Read = Callable[..., tuple[dict[str, Any], ...]]


@attrs.frozen
class Provider:
    """A provider of LLM models. Its credential is never read: only whether it has one."""

    id: int
    name: str
    type: str
    api_url: str | None
    description: str | None
    has_credentials: bool


@attrs.frozen
class PromptTemplate:
    """A row of ``llm_prompt``, the prompt an action's template was made from."""

    id: int
    name: str
    description: str | None
    prompt_text: str | None
    system_prompt: str | None


@attrs.frozen
class LlmAction:
    """An LLM action with its provider and prompt template, as far as they exist.

    A reference that leads nowhere leaves ``provider`` or ``prompt`` ``None``
    and is described in ``problems``.
    """

    id: int
    name: str
    prompt_template: str
    prompt_template_id: int | None
    model: str
    temperature: float | None
    max_tokens: int | None
    order: int
    input_field: str | None
    output_field: str | None
    provider_id: int | None
    timeout: int | None
    provider: Provider | None
    prompt: PromptTemplate | None
    problems: tuple[DataProblem, ...] = ()


class ActionNotFoundError(WfsdkError, LookupError):
    """No ``llm_action`` has the id asked for."""


class PostNotFoundError(WfsdkError, LookupError):
    """The post does not exist, or has no ``post_development`` row to render from or write to."""


class OutputFieldError(WfsdkError):
    """An action's ``output_field`` is not a field its output may be written to."""


def _require_id(what: str, value: object) -> int:
    # bool is an int to Python, never an id to the database.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(f"{what} must be an integer id, not {value!r}")
    return value


class LlmApi:
    """LLM actions, prompt rendering for a post, and saving an action's output.

    Reached by host code with ``kernel.api(LlmApi)``. Every read is fresh: the
    CMS may change actions and providers at any time.
    """

    name = NAME
    __slots__ = ("_gateway",)

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    def __repr__(self) -> str:
        return f"<wfsdk LlmApi via {self._gateway!r}>"

    # -- reading ------------------------------------------------------------------------

    def providers(self) -> tuple[Provider, ...]:
        return _providers(self._gateway.read(_PROVIDERS))

    def prompt_templates(self) -> tuple[PromptTemplate, ...]:
        return _templates(self._gateway.read(_PROMPTS))

    def actions(self) -> tuple[LlmAction, ...]:
        """Every action, ordered by ``order`` then id.

        The actions, providers and templates are read in one transaction, so
        they come from one snapshot of the database.
        """
        with self._gateway.reading() as reads:
            rows = reads.read(_ACTIONS)
            providers = _providers(reads.read(_PROVIDERS))
            templates = _templates(reads.read(_PROMPTS))
        return self._load(rows, providers, templates)

    def action(self, action_id: int) -> LlmAction | None:
        params = {"id": _require_id("action_id", action_id)}
        with self._gateway.reading() as reads:
            rows = reads.read(_ACTION, params)
            if not rows:
                return None
            providers = _providers(reads.read(_PROVIDERS))
            templates = _templates(reads.read(_PROMPTS))
        return self._load(rows, providers, templates)[0]

    def problems(self) -> tuple[DataProblem, ...]:
        """What is wrong with the actions: broken references, unknown fields, bad templates."""
        return tuple(problem for action in self.actions() for problem in action.problems)

    # -- rendering and saving -----------------------------------------------------------

    def render_prompt(self, action_id: int, post_id: int) -> RenderedPrompt:
        """The action's template filled in from the post's ``post_development`` fields.

        Raises :class:`~wfsdk.prompts.UnknownPlaceholderError` for a placeholder
        naming no field, :class:`~wfsdk.prompts.TemplateSyntaxError` for a form
        wfsdk does not render. Reads only; the template is never changed.
        """
        _require_id("post_id", post_id)
        _require_id("action_id", action_id)
        # The template and the post's fields from one snapshot.
        with self._gateway.reading() as reads:
            (row,) = _action_rows(reads.read, action_id)
            fields = self._fields(reads.read, post_id)
        return render(
            row["prompt_template"], fields, source=f"the prompt_template of llm_action {action_id}"
        )

    def save_output(
        self,
        action_id: int,
        post_id: int,
        text: str,
        *,
        actor: str,
        reason: str,
        dry_run: bool = False,
    ) -> QueryResult:
        """Write ``text`` into the action's output field of the post, through the write path.

        The write is previewed, voted on by the policy plugins (default-deny),
        checked and verified like every other; ``dry_run`` returns the preview
        and the votes and changes nothing.
        """
        if not isinstance(text, str):
            raise ConfigurationError(f"text must be a str, not {type(text).__name__}")
        _require_id("post_id", post_id)
        _require_id("action_id", action_id)
        # The checks share one transaction, which ends before the write begins its own.
        with self._gateway.reading() as reads:
            (row,) = _action_rows(reads.read, action_id)
            field = self._output_field(action_id, row["output_field"])
            # Without a row the update would match nothing and pass as a write of nothing.
            self._fields(reads.read, post_id)
        return self._gateway.update(
            POST_DEVELOPMENT,
            {"post_id": post_id},
            {field: text},
            actor=actor,
            reason=reason,
            dry_run=dry_run,
        )

    # -- internals ----------------------------------------------------------------------

    def _documented(self) -> frozenset[str] | None:
        return self._gateway.documented_columns(POST_DEVELOPMENT)

    def _fields(self, read: _Read, post_id: int) -> dict[str, Any]:
        """The post's ``post_development`` row, limited to the documented columns."""
        rows = read(_DEVELOPMENT, {"p": _require_id("post_id", post_id)})
        if not rows:
            if read(_POST, {"p": post_id}):
                raise PostNotFoundError(f"post {post_id!r} has no post_development row")
            raise PostNotFoundError(f"no post with id {post_id!r}")
        documented = self._documented() or frozenset()
        # Undocumented live columns are not relied on, here as in every statement.
        return {name: value for name, value in rows[0].items() if name in documented}

    def _output_field(self, action_id: int, field: str | None) -> str:
        if not field:
            raise OutputFieldError(f"llm_action {action_id} has no output_field to write to")
        if field in TRIGGER_SYNCED_FIELDS:
            raise OutputFieldError(
                f"llm_action {action_id} writes {field!r}, part of the section structure the "
                "CMS keeps in post_section (a trigger rewrites post_section when "
                "section_headings changes); writing it would change rows beyond the previewed "
                "one, so it is not writable through wfsdk (see docs/llm.md)"
            )
        if field not in WRITABLE_FIELDS or field not in (self._documented() or ()):
            raise OutputFieldError(
                f"llm_action {action_id} has output_field {field!r}, which is not a content "
                f"field of post_development; writable: {', '.join(sorted(WRITABLE_FIELDS))}"
            )
        return field

    def _load(
        self,
        rows: Iterable[Mapping[str, Any]],
        providers: Iterable[Provider],
        templates: Iterable[PromptTemplate],
    ) -> tuple[LlmAction, ...]:
        by_provider = {p.id: p for p in providers}
        by_template = {p.id: p for p in templates}
        columns = self._documented()
        return tuple(_action(row, by_provider, by_template, columns) for row in rows)


def _action_rows(read: _Read, action_id: int) -> tuple[dict[str, Any], ...]:
    rows = read(_ACTION, {"id": _require_id("action_id", action_id)})
    if not rows:
        raise ActionNotFoundError(f"no llm_action with id {action_id!r}")
    return rows


def _providers(rows: Iterable[Mapping[str, Any]]) -> tuple[Provider, ...]:
    return tuple(
        Provider(
            id=row["id"],
            name=row["name"],
            type=row["type"],
            api_url=row["api_url"],
            description=row["description"],
            has_credentials=bool(row["has_credentials"]),
        )
        for row in rows
    )


def _templates(rows: Iterable[Mapping[str, Any]]) -> tuple[PromptTemplate, ...]:
    return tuple(PromptTemplate(**row) for row in rows)


def _action(
    row: Mapping[str, Any],
    providers: Mapping[int, Provider],
    templates: Mapping[int, PromptTemplate],
    columns: frozenset[str] | None,
) -> LlmAction:
    action_id = row["id"]
    provider = providers.get(row["provider_id"])
    prompt = templates.get(row["prompt_template_id"])
    found: list[DataProblem] = []

    def problem(kind: str, message: str) -> None:
        found.append(DataProblem(kind, "llm_action", action_id, message, module=NAME))

    if provider is None:
        problem(
            "missing-reference",
            f"llm_action {action_id} references llm_provider {row['provider_id']!r}, "
            "which does not exist",
        )
    if prompt is None:
        problem(
            "missing-reference",
            f"llm_action {action_id} references llm_prompt {row['prompt_template_id']!r} "
            "(prompt_template_id), which does not exist",
        )
    if columns is not None:
        for role in ("input_field", "output_field"):
            field = row[role]
            if field and field not in columns:
                problem(
                    "unknown-field",
                    f"llm_action {action_id} has {role} {field!r}, which is not a column of "
                    "post_development",
                )
    found.extend(_template_problems(action_id, row["prompt_template"], columns))
    return LlmAction(
        id=action_id,
        name=row["field_name"],
        prompt_template=row["prompt_template"],
        prompt_template_id=row["prompt_template_id"],
        model=row["llm_model"],
        temperature=row["temperature"],
        max_tokens=row["max_tokens"],
        order=row["order"],
        input_field=row["input_field"],
        output_field=row["output_field"],
        provider_id=row["provider_id"],
        timeout=row["timeout"],
        provider=provider,
        prompt=prompt,
        problems=tuple(found),
    )


def _template_problems(
    action_id: int, template: str, columns: frozenset[str] | None
) -> Iterable[DataProblem]:
    source = f"the prompt_template of llm_action {action_id}"
    try:
        found = placeholders(template, source=source)
    except TemplateSyntaxError as exc:
        yield DataProblem("bad-template", "llm_action", action_id, str(exc), module=NAME)
        return
    if columns is None:
        return
    unknown = tuple(dict.fromkeys(p.text for p in found if p.field not in columns))
    if unknown:
        yield DataProblem(
            "unknown-field",
            "llm_action",
            action_id,
            f"{source} names {', '.join(unknown)}, not column(s) of post_development",
            module=NAME,
        )


@hookimpl
def declare_access() -> Declaration:
    return Declaration(
        module=NAME,
        # Owning post_development's content fields makes the exclusion of the
        # trigger-synced columns bind every caller, the host included.
        owns=(
            OwnedTable("llm_action", read_only=True),
            OwnedTable(POST_DEVELOPMENT, read_only=False, writable_columns=WRITABLE_FIELDS),
        ),
        reads=frozenset({"llm_action", "llm_provider", "llm_prompt", POST_DEVELOPMENT, "post"}),
        writes={POST_DEVELOPMENT: WRITABLE_FIELDS},
    )


@hookimpl
def register_api(gateway: Gateway) -> LlmApi:
    return LlmApi(gateway)


__all__ = [
    "CONTENT_FIELDS",
    "TRIGGER_SYNCED_FIELDS",
    "WRITABLE_FIELDS",
    "ActionNotFoundError",
    "LlmAction",
    "LlmApi",
    "OutputFieldError",
    "PostNotFoundError",
    "PromptTemplate",
    "Provider",
]
