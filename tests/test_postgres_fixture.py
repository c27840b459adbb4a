"""The embedded PostgreSQL fixture: each test gets its own empty database."""

from __future__ import annotations

from tests.support.servers import PostgresParams


def test_fresh_database_accepts_create_insert_select(postgres_database: PostgresParams) -> None:
    with postgres_database.connect() as connection:
        tables = connection.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
        assert tables == (0,)
        connection.execute("CREATE TABLE facts (id int PRIMARY KEY, body text NOT NULL)")
        connection.execute("INSERT INTO facts VALUES (1, 'hello')")
        assert connection.execute("SELECT body FROM facts").fetchall() == [("hello",)]
