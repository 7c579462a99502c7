"""The dotenv file a ``langgraph.json`` names (bot.runtime.env_file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError
from bot.runtime.env_file import apply, parse, read

TEXT = """
# a comment, then a blank line

OPENAI_MODEL=gpt-4o-mini
export SMTP_URL=smtp://mail.example.com:25
EMAIL_FROM = agent@example.com   # where mail comes from
SPACED="two words # not a comment"
ESCAPED="line one\\nline two \\"quoted\\""
LITERAL='no \\n escape here'
EMPTY=
"""


def test_a_dotenv_file_is_read_as_its_variables() -> None:
    assert parse(TEXT) == {
        "OPENAI_MODEL": "gpt-4o-mini",
        "SMTP_URL": "smtp://mail.example.com:25",
        "EMAIL_FROM": "agent@example.com",
        "SPACED": "two words # not a comment",
        "ESCAPED": 'line one\nline two "quoted"',
        "LITERAL": "no \\n escape here",
        "EMPTY": "",
    }


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        ("JUST_A_NAME", "line 1: expected NAME=value"),
        ("\n2BAD=x", "line 2: expected NAME=value"),
        ('QUOTED="never closed', "line 1: the value's \" is never closed"),
        ("QUOTED='x' y", "line 1: unexpected text after the quoted value"),
    ],
)
def test_a_line_that_is_not_a_variable_is_refused_with_its_number(text: str, cause: str) -> None:
    with pytest.raises(ConfigError, match="my.env, " + cause.replace('"', '"')):
        parse(text, "my.env")


def test_the_environment_wins_over_the_file() -> None:
    environ = {"OPENAI_MODEL": "from-the-platform"}
    added = apply({"OPENAI_MODEL": "from-the-file", "EMAIL_FROM": "a@example.com"}, environ)
    assert environ == {"OPENAI_MODEL": "from-the-platform", "EMAIL_FROM": "a@example.com"}
    assert added == {"EMAIL_FROM": "a@example.com"}


def test_a_file_that_is_not_there_is_no_variables(tmp_path: Path) -> None:
    assert read(tmp_path / ".env", "env file .env") == {}
    (tmp_path / ".env").write_text("A=1\n")
    assert read(tmp_path / ".env", "env file .env") == {"A": "1"}
