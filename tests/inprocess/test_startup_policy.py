"""A policy file a new user gets wrong stops the bot's start, naming the file, the section and
the key, with the bot built in this process as ``python -m bot`` builds it (``build_deps``), on
each mistake in tests/support/policies.py. That such a refusal ends the process with one line
and exit code 2, never a traceback: tests/scenarios/test_startup_errors.py."""

from __future__ import annotations

import pytest

from bot.config import ConfigError
from tests.support.policies import BAD_POLICIES, policy_file, refusal


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("text", "said"), BAD_POLICIES)
def test_a_policy_file_mistake_stops_start_up_naming_file_section_and_key(
    bot_in_process, tmp_path, text, said
):
    path = policy_file(tmp_path, text)
    with pytest.raises(ConfigError) as refused:
        bot_in_process(POLICY_FILE=str(path))
    assert str(refused.value) == refusal(path, said)
