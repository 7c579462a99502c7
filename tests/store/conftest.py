from tests.support.units import clock, db, db_url, shared_postgres, sqlite_dir  # noqa: F401
