"""The hook reference page is generated from the specs and must match them."""

from __future__ import annotations

from pathlib import Path

from wfsdk import hookdoc, hookspecs

DOC = Path(__file__).resolve().parent.parent / "docs" / "hooks.md"


def test_docs_hooks_page_matches_hookspecs() -> None:
    assert DOC.read_text() == hookdoc.render(), (
        "docs/hooks.md is out of date: run `python -m wfsdk.hookdoc > docs/hooks.md`"
    )


def test_every_spec_documents_when_what_returns_and_raises() -> None:
    for name, function in vars(hookspecs).items():
        if not hasattr(function, "wfsdk_spec"):
            continue
        doc = (function.__doc__ or "").lower()
        assert "called" in doc, f"{name}: say when it is called"
        assert "return" in doc, f"{name}: say what it may return"
        assert "exception" in doc, f"{name}: say what an exception does"
