"""Test helpers shipped with wfsdk (they need the ``test`` extra: pytest, Hypothesis)."""
