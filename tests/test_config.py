import pytest

from bot.config import ConfigError, load_settings
from graphs.addresses import parse_mail_server

BASE = {
    "SLACK_BOT_TOKEN": "xoxb-1",
    "SLACK_SIGNING_SECRET": "s",
    "OPENAI_API_KEY": "sk-1",
}


def test_defaults():
    s = load_settings(BASE)
    assert s.port == 3000
    assert s.database_url == "sqlite:///data/approvals.db"
    assert s.slack_api_url == "https://slack.com/api/"
    assert s.default_graph is None and s.langgraph_config == "langgraph.json"
    assert not s.socket_mode
    assert s.expire_after == 86400
    assert s.slack_timeout == 15
    assert s.click_lease == 30.0


@pytest.mark.parametrize(
    ("change", "variable"),
    [
        ({"SLACK_BOT_TOKEN": ""}, "SLACK_BOT_TOKEN"),
        ({"SLACK_BOT_TOKEN": "xoxp-user"}, "SLACK_BOT_TOKEN"),
        ({"SLACK_SIGNING_SECRET": ""}, "SLACK_SIGNING_SECRET"),
        ({"SLACK_APP_TOKEN": "nope"}, "SLACK_APP_TOKEN"),
        ({"PORT": "http"}, "PORT"),
        ({"SLACK_TIMEOUT": "0"}, "SLACK_TIMEOUT"),
        ({"SLACK_TIMEOUT": "soon"}, "SLACK_TIMEOUT"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"APPROVERS": "U1,bob"}, "APPROVERS"),
        ({"EXPIRE_AFTER": "soon"}, "EXPIRE_AFTER"),
        ({"SLACK_API_URL": "slack.local"}, "SLACK_API_URL"),
        ({"WEBHOOK_ALLOWLIST": "hooks.example.com"}, "WEBHOOK_ALLOWLIST"),
        ({"WEBHOOK_ALLOWLIST": "https://hooks.example.com/services/"}, "WEBHOOK_ALLOWLIST"),
        ({"WEBHOOK_ALLOWLIST": "https://x, https://u:p@y"}, "WEBHOOK_ALLOWLIST"),
        ({"WEBHOOK_ALLOWLIST": "http://127.0.0.1:99999"}, "WEBHOOK_ALLOWLIST"),
        # A newcomer's first hour: each of these started the bot and failed later, or silently.
        ({"EXPIRE_AFTER": "0"}, "EXPIRE_AFTER: 0 would fall due as soon as the card is posted"),
        ({"REMIND_AFTER": "0s"}, "REMIND_AFTER: 0 would fall due"),
        ({"OPENAI_BASE_URL": "notaurl"}, "OPENAI_BASE_URL: the value .no scheme. is not an"),
        ({"OPENAI_BASE_URL": "https://"}, "OPENAI_BASE_URL: the URL names no host"),
        ({"EMAIL_FROM": "notanaddress"}, "EMAIL_FROM: 'notanaddress' is not one address"),
        ({"EMAIL_FROM": "Agent <agent@example.com>\nBcc: x@y.z"}, "EMAIL_FROM"),
        ({"EMAIL_FROM": "a@example.com, b@example.com"}, "EMAIL_FROM"),
        ({"ALLOW_SELF_APPROVAL": "maybe"}, "ALLOW_SELF_APPROVAL: 'maybe' is not true or false"),
        ({"LANGGRAPH_API_URL": "x", "LANGGRAPH_WEBHOOK_URL": "nope"}, "LANGGRAPH_API_URL"),
        (
            {"LANGGRAPH_API_URL": "http://lg:2024", "LANGGRAPH_WEBHOOK_URL": "nope"},
            "LANGGRAPH_WEBHOOK_URL: the value .no scheme. is not an http.s. URL",
        ),
        # float() reads these; a tick or a deadline of them crashed start-up with a traceback.
        ({"SCHEDULER_TICK": "nan"}, "SCHEDULER_TICK: 'nan' is not a number of seconds"),
        ({"SCHEDULER_TICK": "inf"}, "SCHEDULER_TICK: 'inf' is not a number of seconds"),
        ({"OPENAI_TIMEOUT": "nan"}, "OPENAI_TIMEOUT: 'nan' is not a number of seconds"),
        ({"WEBHOOK_DEADLINE": "Infinity"}, "WEBHOOK_DEADLINE: 'Infinity' is not a number"),
        ({"CLICK_LEASE": "0"}, "CLICK_LEASE: must be greater than zero"),
        ({"CLICK_LEASE": "2"}, "CLICK_LEASE: must be at least 5 seconds, got '2'"),
    ],
)
def test_errors_name_the_variable(change, variable):
    with pytest.raises(ConfigError, match=variable):
        load_settings({**BASE, **change})


@pytest.mark.parametrize(
    ("value", "allowed"),
    [("", False), ("0", False), ("off", False), ("no", False), ("on", True), ("TRUE", True)],
)
def test_allow_self_approval_reads_the_usual_words_for_true_and_false(value, allowed):
    assert load_settings({**BASE, "ALLOW_SELF_APPROVAL": value}).allow_self_approval is allowed


@pytest.mark.parametrize("value", ["off", "never", "OFF", ""])
def test_a_timer_is_turned_off_by_name_only(value):
    assert load_settings({**BASE, "EXPIRE_AFTER": value}).expire_after is None


@pytest.mark.parametrize(
    "sender",
    ["Agent <agent@example.com>", '"Approval Bot" <bot@example.com>', "noreply@localhost"],
)
def test_email_from_takes_one_address_bare_or_with_a_display_name(sender):
    assert load_settings({**BASE, "EMAIL_FROM": sender}).email_from == sender


def test_a_url_scheme_is_read_in_any_case():
    url = "HTTPS://api.example.com/v1"  # RFC 3986: the scheme is case-insensitive
    assert load_settings({**BASE, "OPENAI_BASE_URL": url}).openai_base_url == url


def test_openai_api_key_is_optional_until_a_graph_uses_the_model():
    settings = load_settings({**BASE, "OPENAI_API_KEY": ""})
    assert settings.openai_api_key is None


def test_socket_mode_needs_no_signing_secret():
    s = load_settings({**BASE, "SLACK_SIGNING_SECRET": "", "SLACK_APP_TOKEN": "xapp-1"})
    assert s.socket_mode


def test_lists_and_urls_are_normalised():
    s = load_settings({**BASE, "APPROVERS": " U01 , S0123 ", "SLACK_API_URL": "http://x/api"})
    assert s.approvers == ("U01", "S0123")
    assert s.slack_api_url == "http://x/api/"


def test_the_webhook_allowlist_is_parsed_into_origins():
    s = load_settings(
        {**BASE, "WEBHOOK_ALLOWLIST": " https://Hooks.Example.com/ ,http://[::1]:4536"}
    )
    assert sorted(str(o) for o in s.webhook_allowlist.origins) == [
        "http://[::1]:4536",
        "https://hooks.example.com:443",
    ]
    assert not load_settings(BASE).webhook_allowlist


def test_try_reads_the_webhook_allowlist_as_the_bot_does():
    import io

    from bot.cli.try_graph import toolbox_factory

    env = {"OPENAI_API_KEY": "sk-1", "WEBHOOK_ALLOWLIST": "https://hooks.example.com/x"}
    with pytest.raises(ConfigError, match="WEBHOOK_ALLOWLIST"):
        toolbox_factory(env, io.StringIO())()
    env["WEBHOOK_ALLOWLIST"] = "https://hooks.example.com"
    actions = toolbox_factory(env, io.StringIO())().actions
    assert actions.risk("check_url", "low", {"url": "https://hooks.example.com/up"}) == "low"
    assert actions.risk("check_url", "low", {"url": "https://hooks.example.com.evil.net"}) == (
        "medium"
    )


SECRET = "Zq9s3cretPassw0rd"


@pytest.mark.parametrize(
    ("change", "variable"),
    [
        ({"SMTP_URL": f"smtp://user:{SECRET}/rest@mail.example:587"}, "SMTP_URL"),
        ({"SMTP_URL": f"smtps://user:{SECRET}@mail.example:notaport"}, "SMTP_URL"),
        ({"SMTP_URL": f"https://user:{SECRET}@mail.example"}, "SMTP_URL"),
        ({"DATABASE_URL": f"postgresql+psycopg://app:{SECRET}@db.internal/app"}, "DATABASE_URL"),
        ({"LANGGRAPH_API_URL": f"ftp://agents:{SECRET}@lg.internal"}, "LANGGRAPH_API_URL"),
    ],
)
def test_a_url_refused_at_start_up_is_named_by_its_variable_not_repeated(change, variable):
    # Start-up errors go to the platform's log: a URL's password must not.
    with pytest.raises(ConfigError) as refused:
        load_settings({**BASE, **change})
    assert str(refused.value).startswith(f"{variable}:") and SECRET not in str(refused.value)


def test_a_mail_server_url_is_read_with_its_password_percent_decoded():
    s = load_settings({**BASE, "SMTP_URL": "smtps://ses-user:a%2Fb%2Bc%25d@mail.example"})
    server = parse_mail_server(s.smtp_url or "")
    assert (server.secure, server.host, server.port) == (True, "mail.example", 465)
    assert (server.username, server.password) == ("ses-user", "a/b+c%d")


def test_a_langgraph_server_url_is_named_without_its_credentials():
    url = f"https://agents:{SECRET}@lg.internal:8123/base?token={SECRET}"
    s = load_settings({**BASE, "LANGGRAPH_API_URL": url})
    assert s.langgraph is not None and s.langgraph.url == url.rstrip("/")
    assert s.langgraph.shown == "https://lg.internal:8123/base"


@pytest.mark.parametrize("variable", ["APPROVALS_CHANNEL", "ESCALATION_CHANNEL"])
@pytest.mark.parametrize("name", ["#approvals", "finance"])
def test_a_channel_name_is_refused_naming_the_variable(variable, name):
    # The policy file's `channel` refuses a name; the environment's must too, not accept it and
    # fail at the first card or escalation.
    with pytest.raises(ConfigError, match=f"^{variable}: .* is not a Slack channel id"):
        load_settings({**BASE, variable: name})
    assert getattr(load_settings({**BASE, variable: "C0123ABCD"}), variable.lower()) == "C0123ABCD"


@pytest.mark.parametrize("variable", ["SLACK_TIMEOUT", "PORT", "WEBHOOK_SLOTS"])
def test_a_decimal_where_a_whole_number_belongs_is_said_so(variable):
    with pytest.raises(ConfigError, match=f"^{variable}: must be a whole number, got '2.5'$"):
        load_settings({**BASE, variable: "2.5"})


def test_log_level_and_format_are_read_as_settings():
    s = load_settings({**BASE, "LOG_LEVEL": " debug ", "LOG_FORMAT": "JSON"})
    assert (s.log_level, s.log_format) == ("DEBUG", "json")
    with pytest.raises(ConfigError, match="^LOG_LEVEL: 'verbose' is not one of DEBUG, INFO"):
        load_settings({**BASE, "LOG_LEVEL": "verbose"})


@pytest.mark.parametrize(
    ("name", "level"), [("WARN", "WARNING"), ("fatal", "CRITICAL"), ("NOTSET", "NOTSET")]
)
def test_log_level_names_python_takes_still_start_the_bot(name, level):
    assert load_settings({**BASE, "LOG_LEVEL": name}).log_level == level


def test_the_approvals_channel_may_be_a_dm_the_bot_posts_in():
    assert load_settings({**BASE, "APPROVALS_CHANNEL": "D0123ABCD"}).approvals_channel == (
        "D0123ABCD"
    )


@pytest.mark.parametrize(
    "change",
    [
        # The README's placeholders, pasted as written: each crashed the first HTTP header it
        # went into (a traceback at start-up, or a run failing with UnicodeEncodeError).
        {"SLACK_BOT_TOKEN": "xoxb-…"},
        {"SLACK_SIGNING_SECRET": "…"},
        {"SLACK_APP_TOKEN": "xapp-…"},
        {"OPENAI_API_KEY": "sk-…"},
        {"OPENAI_API_KEY": "sk-“quoted”"},
        {"OPENAI_API_KEY": "sk-two words"},
        {"LANGGRAPH_API_URL": "http://lg:2024", "LANGGRAPH_API_KEY": "lsv2_…"},
    ],
)
def test_a_placeholder_token_or_key_is_refused_naming_its_variable_not_its_value(change):
    [variable] = [name for name in change if name != "LANGGRAPH_API_URL"]
    with pytest.raises(ConfigError, match=f"^{variable}: has characters no token") as refused:
        load_settings({**BASE, **change})
    assert change[variable] not in str(refused.value)
