"""Built-in module ``llm``: LLM actions, their providers and prompt templates.

Owns ``llm_action`` (read-only: prompt templates are never modified), reads
``llm_provider`` and ``llm_prompt``, and writes an action's output into the
content fields of ``post_development``.
"""

from __future__ import annotations

from wfsdk import hookimpl
from wfsdk.values import Declaration, OwnedTable

NAME = "llm"


@hookimpl
def declare_access() -> Declaration:
    return Declaration(
        module=NAME,
        owns=(OwnedTable("llm_action", read_only=True),),
        reads=frozenset({"llm_action", "llm_provider", "llm_prompt", "post_development", "post"}),
    )
