"""Breaks ``import-side-effects``: announces itself and prepares a cache directory on import."""

from __future__ import annotations

from pathlib import Path

import wfsdk
from wfsdk.values import ReadEvent

print("noisy plugin loaded")
CACHE = Path(".noisy-cache")
CACHE.mkdir(exist_ok=True)


@wfsdk.hookimpl
def on_read(event: ReadEvent) -> None:
    return None
