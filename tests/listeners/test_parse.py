import pytest

from bot.slack.listeners.parse import BadPayload, parse_click, parse_command, parse_submission

GRAPHS = ["draft", "action"]


def test_command_defaults_to_the_default_graph():
    cmd = parse_command(
        {"text": " hi there ", "user_id": "U1", "channel_id": "C1"}, GRAPHS, "draft"
    )
    assert (cmd.graph, cmd.text, cmd.user, cmd.channel) == ("draft", "hi there", "U1", "C1")


def test_command_graph_prefix():
    body = {"text": "[action] email bob", "user_id": "U1", "channel_id": "C1"}
    assert parse_command(body, GRAPHS, "draft").graph == "action"


@pytest.mark.parametrize("text", ["", "help", "[nope] x", "[action]"])
def test_command_problems_explain_usage(text):
    with pytest.raises(BadPayload, match="Usage"):
        parse_command({"text": text, "user_id": "U1", "channel_id": "C1"}, GRAPHS, "draft")


def test_click_and_submission_parse_and_reject_garbage():
    click = parse_click(
        {"actions": [{"value": "0123456789abcdef"}], "user": {"id": "U1"}, "trigger_id": "t"}
    )
    assert click.origin == "unknown"
    assert (click.approval_id, click.user, click.channel, click.trigger_id) == (
        "0123456789abcdef",
        "U1",
        None,
        "t",
    )
    with pytest.raises(BadPayload):
        parse_click({"actions": "x", "user": {"id": "U1"}})
    for junk in ("a1", "0123456789abcde\x00", "0123456789ABCDEF", "x" * 5000):
        with pytest.raises(BadPayload, match="doesn't belong"):
            parse_click({"actions": [{"value": junk}], "user": {"id": "U1"}})
    card = {"type": "message", "channel_id": "C1", "message_ts": "1.5"}
    body = {"actions": [{"value": "0123456789abcdef"}], "user": {"id": "U1"}, "container": card}
    assert parse_click(body).origin == "message:C1:1.5"
    assert parse_click({**body, "container": {"type": "view"}}).origin == "view"
    body = {
        "user": {"id": "U1"},
        "view": {"private_metadata": "a1", "state": {"values": {"b": {"v": {"value": "x"}}}}},
    }
    assert parse_submission(body).values == {"b": "x"}
    with pytest.raises(BadPayload):
        parse_submission({"user": {"id": "U1"}, "view": {"state": None}})


REFUNDS = ["draft", "action", "refunds", "two_person"]


@pytest.mark.parametrize(("word", "meant"), [("refnd", "refunds"), ("actoin", "action")])
def test_a_misspelt_graph_is_asked_about_and_nothing_starts(word, meant):
    body = {"text": f"{word} refund order 42", "user_id": "U1", "channel_id": "C1"}
    with pytest.raises(BadPayload, match=f"Did you mean `{meant}`\\? Nothing was started"):
        parse_command(body, REFUNDS, "draft")


@pytest.mark.parametrize(
    "text", ["Draft a note", "drafts for the board", "Refund it", "a b", "race to the gate"]
)
def test_ordinary_first_words_still_go_to_the_default_graph(text):
    body = {"text": text, "user_id": "U1", "channel_id": "C1"}
    assert parse_command(body, [*REFUNDS, "gate"], "draft").graph == "draft"


@pytest.mark.parametrize("text", ["action", "refunds", "draft", " refunds "])
def test_a_graph_named_alone_asks_for_the_request_and_starts_nothing(text):
    body = {"text": text, "user_id": "U1", "channel_id": "C1"}
    name = text.strip()
    with pytest.raises(BadPayload, match=f"What should `{name}` do\\? .*Nothing was started"):
        parse_command(body, REFUNDS, "draft")
