"""The optional PostgreSQL database of the secrets check: a real DSN with a real password."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from wfsdk.demo import data

# Shorter passwords are found by accident in ordinary text; a canary must not be.
MIN_PASSWORD = 12


def _driver_url(url: str | URL) -> URL:
    parsed = make_url(url)
    backend = parsed.drivername.partition("+")[0]
    if backend not in ("postgres", "postgresql"):
        raise ValueError(f"--wfsdk-contract-postgres needs a PostgreSQL URL, not {backend!r}")
    return parsed.set(drivername="postgresql+psycopg")


def prepare(url: str) -> str:
    """Fill an empty database with the demo schema and rows; leave a filled one as it is."""
    parsed = _driver_url(url)
    engine = sa.create_engine(parsed)
    try:
        if not sa.inspect(engine).has_table("post_workflow_stage"):
            data.build(parsed.render_as_string(hide_password=False)).dispose()
    finally:
        engine.dispose()
    return parsed.render_as_string(hide_password=False)


def with_password(url: str, canary: str) -> tuple[str, str]:
    """The DSN the kernel gets, and the password to look for.

    A URL without a password gets the canary (servers that trust or peer-
    authenticate ignore it); a URL with one keeps it, and it must be long
    enough to be searched for.
    """
    parsed = _driver_url(url)
    password = parsed.password if isinstance(parsed.password, str) else None
    if password is None:
        password = canary
        parsed = parsed.set(password=canary)
    elif len(password) < MIN_PASSWORD:
        raise ValueError(
            f"the password of --wfsdk-contract-postgres is shorter than {MIN_PASSWORD} "
            "characters: it could not be told apart from ordinary text; use a longer one, "
            "or no password with trust authentication"
        )
    return parsed.render_as_string(hide_password=False), password


def plant_credential(url: str, credential: str) -> None:
    """Store the credential canary where the flows read it (fixture work, outside the kernel)."""
    engine = sa.create_engine(_driver_url(url))
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE llm_provider SET auth_token = :token WHERE id = 2"),
                {"token": credential},
            )
    finally:
        engine.dispose()
