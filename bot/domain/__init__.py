"""The records and the rules on them, below both the core and the store: runs and requests
(``models``), a request's review (``review``), its sign-off (``signoff``), the votes counted
against it (``votes``) and its deadlines (``timeline``). Plain values and pure functions: the
domain imports no other package of the bot but ``bot.config``."""
