from tests.support import units

# Both databases (PostgreSQL shared by the session, emptied per test) and a clock to move.
shared_postgres = units.shared_postgres
sqlite_dir = units.sqlite_dir
db_url = units.db_url
db = units.db
clock = units.clock
