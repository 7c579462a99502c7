"""Fuzzed Slack requests (hypothesis): slash commands, button clicks and modal submissions with
random, missing, oversized and wrong-typed fields, and values that point at another request.
Whatever arrives, the bot answers 200 or a 4xx (never a 5xx), none of its own listeners raises,
it keeps serving, and no request is decided except by an authorized click on its own card.

One bot serves the whole test (hypothesis runs its examples inside it), with ``APPROVERS=U0BOSS``
and two pending cards, A and B. Each example is a realistic request (who, which button, which
card, which request) with up to three fields replaced by junk, removed, blown up or pointed at
the other request. The strategies never send U0BOSS deciding A or B from the right place (the
one request that may change something): everything they do send must leave both pending. A
correct click at the end proves the bot still decides, so refusing everything would not pass.

The bot's HTTP app runs in this process (was tests/scenarios/test_fuzz.py, against the bot's
process): what it logs at WARNING and above goes to a file the checks read, as the process's
log did.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.runtime.logs import TEXT_FORMAT, _Context
from bot.slack.blocks import card as ids
from bot.slack.blocks import modals, notices
from tests.support import slack_requests as sr
from tests.support.botproc import ROOT
from tests.support.cards import Card, blocks_text, current, has_buttons, wait_cards
from tests.support.faults import wait_quiet

BOSS, REQUESTER, STRANGER = "U0BOSS", "U0REQ", "U0STRANGER"
FORM = "application/x-www-form-urlencoded"
EXAMPLES = {"commands": 150, "clicks": 400, "submissions": 350}
DELETE = object()  # a mutation that removes the field


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the checks here are about parsing and authorization, not storage."""
    return f"sqlite:///{tmp_path / 'bot.db'}"


# ------------------------------------------------------------------ values

TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40)
# Mostly big but accepted; now and then over the bot's 1 MB limit (a 413).
HUGE = st.sampled_from([5_000, 5_000, 5_000, 100_000, 1_100_000]).map(lambda n: "x" * n)
JUNK: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    TEXT,
    st.lists(st.integers(), max_size=3),
    st.dictionaries(TEXT, st.integers(), max_size=3),
)
PEOPLE = st.sampled_from([BOSS, REQUESTER, STRANGER])


def slack_user(user: str) -> dict[str, Any]:
    return {"id": user, "username": user.lower(), "team_id": "T1"}


def user_id(body: Any) -> Any:
    user = body.get("user") if isinstance(body, dict) else None
    return user.get("id") if isinstance(user, dict) else None


def near_misses(approval_id: str) -> list[str]:
    """Strings that look like ``approval_id`` but are not it."""
    return [approval_id.upper(), approval_id + " ", " " + approval_id, approval_id[:-1], "0" * 16]


def mutate(body: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    """Set (or with DELETE remove) ``body[path...]``; a path through a non-container is skipped.
    The value is copied: a special (a user's dict, say) set twice in one body, then mutated
    through one of its places, would otherwise make the body refer to itself."""
    value = value if value is DELETE else copy.deepcopy(value)
    node: Any = body
    for key in path[:-1]:
        if isinstance(node, dict):
            inside = key in node
        else:
            inside = isinstance(node, list) and isinstance(key, int) and key < len(node)
        if not inside:
            return
        node = node[key]
    last = path[-1]
    if isinstance(node, dict):
        if value is DELETE:
            node.pop(last, None)
        else:
            node[last] = value
    elif isinstance(node, list) and isinstance(last, int) and last < len(node):
        if value is DELETE:
            del node[last]
        else:
            node[last] = value


def mutations(
    paths: list[tuple[Any, ...]], specials: list[Any]
) -> st.SearchStrategy[list[tuple[tuple[Any, ...], Any]]]:
    """None (half the time), or up to three fields removed, replaced by junk, blown up or pointed
    elsewhere."""
    value = st.one_of(
        st.just(DELETE),
        JUNK,
        TEXT,
        HUGE,
        st.sampled_from(specials),
    )
    return st.one_of(
        st.just([]), st.lists(st.tuples(st.sampled_from(paths), value), min_size=1, max_size=3)
    )


def payload_body(data: Any) -> bytes:
    return urlencode({"payload": json.dumps(data)}).encode()


# ------------------------------------------------------------------ slash commands


def command_texts() -> st.SearchStrategy[Any]:
    graph = st.sampled_from(["draft", "action", "DRAFT", "nosuchgraph", "", "a b", "x" * 300])
    return st.one_of(
        TEXT,
        HUGE,
        st.sampled_from(["", "help", " HELP ", "\x00", "a\x00b", "payload", "payload=x&y", "%"]),
        st.builds(lambda g, t: f"[{g}] {t}", graph, TEXT),
        st.builds(lambda g, t: f"{g} {t}", graph, TEXT),
        st.builds(lambda g, n: f"[{g}] " + "y" * n, graph, st.sampled_from([3999, 4000, 4001])),
        st.builds(json.dumps, st.dictionaries(TEXT, JUNK, max_size=4)),
        st.builds(lambda t: "[action] " + json.dumps({"action_type": t}), TEXT),
        st.binary(max_size=20).map(lambda b: b + b"\xff\xfe"),  # not UTF-8 once decoded
    )


@st.composite
def commands(draw) -> tuple[bytes, str]:
    fields: dict[str, Any] = sr.command_payload("", draw(PEOPLE))
    fields["text"] = draw(command_texts())
    keys = sorted(fields)
    specials = ["", "/other", "agent", BOSS, "C0OTHER", b"\xff", "\x00"]
    for key, value in draw(mutations([(k,) for k in keys], specials)):
        mutate(fields, key, value if value is DELETE or isinstance(value, str | bytes) else "x")
    encoding = draw(st.sampled_from(["form"] * 6 + ["form, repeated keys", "json"]))
    if encoding == "json":
        # Slack never sends a command as JSON over HTTP; as JSON, fields can have any type.
        for key in draw(st.lists(st.sampled_from(keys), max_size=3)):
            fields[key] = draw(JUNK)
        safe = {k: (v.decode("latin-1") if isinstance(v, bytes) else v) for k, v in fields.items()}
        return json.dumps(safe).encode(), "application/json"
    pairs = list(fields.items())
    if encoding == "form, repeated keys" and pairs:
        pairs += [(k, draw(TEXT)) for k, _ in draw(st.lists(st.sampled_from(pairs), max_size=3))]
    return urlencode(pairs).encode(), FORM


# ------------------------------------------------------------------ clicks

BUTTONS = [
    ids.APPROVE,
    ids.EDIT,
    ids.REJECT,
    ids.RESPOND,
    ids.IGNORE,
    ids.ANSWER,
    ids.EACH,
    ids.VIEW_FULL,
    ids.CHOICE_PREFIX + "request_changes",
    ids.CHOICE_PREFIX + "approve",
    notices.RETRY,
    "approval.nuke",
]


def is_deciding(action_id: Any) -> bool:
    """Buttons that decide at once (the rest open a modal or only read)."""
    return action_id in (ids.APPROVE, ids.IGNORE) or (
        isinstance(action_id, str) and action_id.startswith(ids.CHOICE_PREFIX)
    )


def from_the_right_place(container: Any, card: Card) -> bool:
    """True when a click with this container counts as coming from ``card`` (or App Home)."""
    if not isinstance(container, dict):
        return False
    if container.get("type") == "view":
        return True
    return (
        container.get("type") == "message"
        and container.get("channel_id") == card.channel
        and container.get("message_ts") == card.ts
    )


def authorized_decision(cards: dict[str, Card], body: Any) -> bool:
    """The one kind of click that may decide: U0BOSS, a deciding button, from its own card."""
    if user_id(body) != BOSS:
        return False
    actions = body.get("actions")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
        return False
    value = actions[0].get("value")
    card = cards.get(value) if isinstance(value, str) else None
    return (
        is_deciding(actions[0].get("action_id"))
        and card is not None
        and from_the_right_place(body.get("container"), card)
    )


def message_container(channel: Any, ts: Any) -> dict[str, Any]:
    return {"type": "message", "channel_id": channel, "message_ts": ts, "is_ephemeral": False}


def click_strategy(cards: dict[str, Card], runs: list[str]) -> st.SearchStrategy[Any]:
    a, b = cards.values()
    values = [a.approval_id, b.approval_id, *runs, *near_misses(a.approval_id)]
    good = [message_container(a.channel, a.ts), message_container(b.channel, b.ts)]
    containers = [
        *good,
        {"type": "view", "view_id": "V1"},
        message_container(a.channel, b.ts),
        message_container("C0OTHER", a.ts),
        message_container(a.channel, "1.0"),
        {"type": "VIEW"},
        {"type": "ephemeral", "channel_id": a.channel, "message_ts": a.ts},
        {"channel_id": a.channel, "message_ts": a.ts},  # no type
    ]
    paths: list[tuple[Any, ...]] = [
        ("type",),
        ("user",),
        ("user", "id"),
        ("actions",),
        ("actions", 0),
        ("actions", 0, "action_id"),
        ("actions", 0, "value"),
        ("actions", 0, "block_id"),
        ("actions", 1),
        ("container",),
        ("container", "type"),
        ("container", "channel_id"),
        ("container", "message_ts"),
        ("channel",),
        ("channel", "id"),
        ("message",),
        ("trigger_id",),
        ("response_url",),
        ("team",),
    ]
    specials = [
        *values,
        *containers,
        *BUTTONS,
        BOSS,
        slack_user(BOSS),
        {"id": a.channel},
        a.ts,
        float(a.ts),
        [],
        [None],
        {},
    ]

    @st.composite
    def clicks(draw) -> Any:
        # Half the time a real request and a real card (maybe the other one's).
        value = draw(st.one_of(st.sampled_from(values[:2]), st.sampled_from(values)))
        body = sr.click_payload(draw(st.sampled_from(BUTTONS)), value, draw(PEOPLE))
        container = st.one_of(st.sampled_from(good), st.sampled_from(containers))
        body["container"] = dict(draw(container))
        body["actions"][0]["value"] = value
        for path, new in draw(mutations(paths, specials)):
            mutate(body, path, new)
        if draw(st.integers(0, 9)) == 0:
            body = draw(st.sampled_from([[body], "block_actions", None, 1]))
        if authorized_decision(cards, body):
            body["user"] = slack_user(STRANGER)  # the one combination that may decide
        return body

    return clicks().map(lambda body: (payload_body(body), body))


# ------------------------------------------------------------------ submissions

FORMS = [modals.EDIT, modals.REJECT, modals.RESPOND, modals.ANSWER, modals.CHOICE, modals.EACH]
BLOCKS = [
    modals.DRAFT_BLOCK,
    modals.param_block(1),
    modals.param_block(0, call=0),
    modals.PARAM_PREFIX + "to",  # a form of an older version's
    modals.REASON_BLOCK,
    modals.MESSAGE_BLOCK,
    modals.MESSAGE_BLOCK + ":0",
    modals.NOTES_BLOCK,
    modals.DECISION_PREFIX + "0",
    modals.DECISION_PREFIX + "1",
]


def element(value: Any, select: bool) -> dict[str, Any]:
    if select:
        return {"type": "static_select", "selected_option": {"value": value}}
    return {"type": "plain_text_input", "value": value}


def names_a_card(cards: dict[str, Card], metadata: Any) -> bool:
    return isinstance(metadata, str) and (metadata in cards or metadata.partition(":")[0] in cards)


def submission_strategy(cards: dict[str, Card]) -> st.SearchStrategy[Any]:
    a, b = cards.values()
    ids_ = [a.approval_id, b.approval_id]
    metadata = st.one_of(
        st.sampled_from(ids_),
        st.sampled_from(ids_),
        st.sampled_from(ids_).map(lambda v: f"{v}:request_changes"),
        st.sampled_from([f"{a.approval_id}:", *near_misses(a.approval_id)]),
    )
    texts = st.one_of(
        st.sampled_from(["approve", "reject", "edit", "respond", "ignore", "", " "]), TEXT, HUGE
    )
    states = st.dictionaries(
        st.sampled_from(BLOCKS), st.builds(element, texts, st.booleans()), max_size=4
    )
    paths: list[tuple[Any, ...]] = [
        ("type",),
        ("user",),
        ("user", "id"),
        ("view",),
        ("view", "callback_id"),
        ("view", "private_metadata"),
        ("view", "state"),
        ("view", "state", "values"),
        *[("view", "state", "values", block) for block in BLOCKS],
        *[("view", "state", "values", block, "value") for block in BLOCKS],
        *[("view", "state", "values", block, "value", "value") for block in BLOCKS],
        *[("view", "state", "values", block, "value", "selected_option") for block in BLOCKS],
        ("trigger_id",),
    ]
    specials = [*ids_, f"{b.approval_id}:request_changes", *FORMS, BOSS, slack_user(BOSS), [], {}]

    @st.composite
    def submissions(draw) -> Any:
        form = draw(st.sampled_from(FORMS))
        body = submission_payload(form, draw(metadata), draw(PEOPLE), draw(states))
        for path, new in draw(mutations(paths, specials)):
            mutate(body, path, new)
        if draw(st.integers(0, 9)) == 0:
            body = draw(st.sampled_from([[body], "view_submission", None, 1]))
        view = body.get("view") if isinstance(body, dict) else None
        metadata_ = view.get("private_metadata") if isinstance(view, dict) else None
        if user_id(body) == BOSS and names_a_card(cards, metadata_):
            body["user"] = slack_user(STRANGER)  # an approver's own submission may decide
        return body

    return submissions().map(lambda body: (payload_body(body), body))


def submission_payload(
    callback_id: str, metadata: str, user: str, state: dict[str, Any]
) -> dict[str, Any]:
    """A modal submitted, as Slack sends it (the shape of :func:`sr.submission_body`)."""
    return {
        "type": "view_submission",
        "team": {"id": "T1", "domain": "acme"},
        "user": slack_user(user),
        "api_app_id": "A1",
        "token": "legacy",
        "trigger_id": f"trig-{time.monotonic_ns()}",
        "view": {
            "id": "V1",
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": metadata,
            "state": {"values": {block: {"value": el} for block, el in state.items()}},
            "hash": "h",
        },
    }


# ------------------------------------------------------------------ checks


class BotLog:
    """The bot's log, read on as it grows: requests whose handling raised in the bot's own code
    (Bolt's @app.error "listener failed", or the server's catch-alls) rather than answering.
    Handled failures (a run that fails, a click that cannot be recorded) do not count."""

    UNHANDLED = ("listener failed for", "dispatch failed", "unparseable Slack request")
    OURS = re.compile(r'File "' + re.escape(str(ROOT / "bot")) + r"/(?!http/asgi\.py)")

    def __init__(self, path: Path) -> None:
        self.path, self.offset = path, 0

    def our_crashes(self, text: str) -> list[str]:
        records = re.split(r"\n(?=\d{4}-\d\d-\d\d \d\d:)", text)
        return [
            r
            for r in records
            if any(mark in r.partition("\n")[0] for mark in self.UNHANDLED) and self.OURS.search(r)
        ]

    def new_crashes(self) -> list[str]:
        with open(self.path, "rb") as log:
            log.seek(self.offset)
            chunk = log.read()
        self.offset += len(chunk)
        return self.our_crashes(chunk.decode(errors="replace"))

    @staticmethod
    def signature(crash: str) -> str:
        """The exception and the innermost frame of the bot's own code that raised it."""
        ours = re.findall(
            r'File "' + re.escape(str(ROOT)) + r'/(bot/[^"]+)", line (\d+), in (\w+)', crash
        )
        error = crash.rstrip().splitlines()[-1].partition(":")[0]
        return f"{error} at {':'.join(ours[-1]) if ours else '?'}"

    def all_crashes(self) -> list[str]:
        return self.our_crashes(self.path.read_text(errors="replace"))


def post(bot, body: bytes, detail: Any = FORM) -> httpx.Response:
    """Send ``body`` signed; ``detail`` is a command's content type, else a payload (a form)."""
    headers = {**sr.sign(body), "Content-Type": detail if isinstance(detail, str) else FORM}
    return bot.http.post("/slack/events", content=body, headers=headers)


def query(db_path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10) as db:
        return db.execute(sql).fetchall()


def runs_of(db_path: Path) -> list[tuple[Any, ...]]:
    return query(db_path, "SELECT thread_id, status FROM runs")


def decided(db_path: Path) -> dict[str, Any]:
    """Every request no longer pending, with who decided it and the clicks recorded for it --
    but those the bot closed because Slack refused their card for good (a fuzzed command typed
    in a DM the app cannot post to gets ``channel_not_found``): nobody decided those."""
    rows = query(db_path, "SELECT id, status, decided_by, decision FROM approvals")
    inbox = query(db_path, "SELECT approval_id, decision FROM inbox")
    return {
        row[0]: {"row": row[1:], "clicks": [d for a, d in inbox if a == row[0]]}
        for row in rows
        if row[1] != "pending" and row[1:3] != ("failed", "bot")
    }


def readable(body: bytes, detail: Any) -> str:
    """The request as sent: the payload's JSON, or the (form or JSON) command body."""
    if isinstance(detail, str):  # a command: ``detail`` is its content type
        return body[:3000].decode(errors="replace")
    return json.dumps(detail)[:3000]


def fuzz(
    name: str,
    strategy: st.SearchStrategy[tuple[bytes, Any]],
    send: Callable[[bytes, Any], httpx.Response],
    log: BotLog,
    stats: Counter,
    found: dict[str, tuple[str, str]],
) -> None:
    """Send what ``strategy`` draws; every answer must be a 200 or a 4xx. Crashes in the bot's own
    code go to ``found``: signature -> (the shortest request that caused it, the traceback)."""

    @settings(
        max_examples=EXAMPLES[name],
        deadline=None,
        database=None,
        derandomize=os.environ.get("CI") == "true",  # the same examples on every CI run
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def check(case: tuple[bytes, Any]) -> None:
        body, detail = case
        try:
            response = send(body, detail)
        except httpx.TransportError as exc:
            raise AssertionError(
                f"{name}: connection dropped ({exc!r}) for {body[:300]!r}"
            ) from exc
        stats[(name, response.status_code)] += 1
        assert response.status_code == 200 or 400 <= response.status_code < 500, (
            f"{name}: HTTP {response.status_code} {response.text[:300]} for {body[:500]!r}"
        )
        for crash in log.new_crashes():
            # Keep going (one run finds every distinct crash); remember the shortest request.
            key, shown = BotLog.signature(crash), readable(body, detail)
            if key not in found or len(shown) < len(found[key][0]):
                found[key] = (shown, crash)

    check()


# ------------------------------------------------------------------ the test


@pytest.fixture
def logged(tmp_path: Path) -> Iterator[Path]:
    """The bot's warnings and errors (with their tracebacks), written as the bot writes them."""
    path = tmp_path / "bot.log"
    handler = logging.FileHandler(path)
    handler.addFilter(_Context())
    handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    handler.setLevel(logging.WARNING)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        handler.close()


def until(ready: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.05)


# The bot runs in this process: its own threads (a retry's jitter, say) use the random module
# while hypothesis draws an example, which hypothesis takes for a strategy using it. The
# strategies here draw only from hypothesis.
@pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies"
    ":hypothesis.errors.HypothesisDeprecationWarning"
)
def test_fuzzed_requests_never_5xx_and_never_decide_without_an_authorized_click(
    bot_in_process, fake_slack, fake_openai, tmp_path, database_url, logged
):
    started = time.monotonic()
    bot = bot_in_process(APPROVERS=BOSS)
    db_path = tmp_path / "bot.db"
    requests = ("Announce the office move", "Remind everyone about the offsite")
    for text in requests:
        assert bot.command(text, REQUESTER).status_code == 200
    cards = {c.approval_id: c for c in wait_cards(fake_slack, 2)}
    assert len(cards) == 2
    a, b = cards.values()
    until(lambda: {s for _, s in runs_of(db_path)} == {"waiting"}, "wait on A and B")
    runs = dict(runs_of(db_path))

    log, stats, found = BotLog(logged), Counter(), {}
    for name, strategy in (
        ("commands", commands()),
        ("clicks", click_strategy(cards, list(runs))),
        ("submissions", submission_strategy(cards)),
    ):
        fuzz(name, strategy, lambda body, detail: post(bot, body, detail), log, stats, found)
    fuzzed = time.monotonic() - started

    # The bot still serves.
    wait_quiet(database_url)  # background work (refusals, fuzzed runs) has finished
    bot.settle()
    bot.tick()  # as the running bot's interval job would have: /healthz asks for a recent tick
    health = bot.http.get("/healthz")
    assert health.status_code == 200, health.text
    response = bot.command("Tell the team the coffee machine is fixed", REQUESTER)
    assert response.status_code == 200 and "Started run" in response.json()["text"]
    fake_slack.wait_for(
        "chat.postMessage",
        lambda c: (
            "Draft: Tell the team the coffee machine is fixed" in blocks_text(c.params["blocks"])
        ),
        timeout=30,
    )
    # Nothing was decided: every request (A, B and any the fuzzed commands started) is pending,
    # A's and B's runs still wait, both cards keep their buttons, no draft was posted, no card
    # shows a decision.
    assert decided(db_path) == {}
    now = dict(runs_of(db_path))
    assert {run: now[run] for run in runs} == runs
    assert has_buttons(current(fake_slack, a)) and has_buttons(current(fake_slack, b))
    posted = [str(c.params.get("text", "")) for c in fake_slack.calls("chat.postMessage")]
    assert [t for t in posted if t.startswith("Draft:")] == []
    shown = [blocks_text(c.params.get("blocks") or []) for c in fake_slack.calls("chat.update")]
    assert [t for t in shown if re.search(r"Approved|Rejected|Ignored|Edited|by <@", t)] == []

    # Positive control: the one click that may decide does, on its own card only.
    assert (
        bot.click(ids.APPROVE, a.approval_id, BOSS, channel=a.channel, ts=a.ts).status_code == 200
    )
    draft = "Draft: " + next(text for text in requests if text in a.text)
    fake_slack.wait_for("chat.postMessage", lambda c: c.params["text"] == draft)
    assert not has_buttons(current(fake_slack, a))
    assert "Approved* by <@U0BOSS>" in blocks_text(current(fake_slack, a)["blocks"])
    assert has_buttons(current(fake_slack, b))
    assert set(decided(db_path)) == {a.approval_id}

    print(f"\n{sum(stats.values())} fuzzed requests in {fuzzed:.0f}s:", dict(sorted(stats.items())))
    notes = Counter(c.params.get("text", "")[:60] for c in fake_slack.calls("chat.postEphemeral"))
    print("notes:", notes.most_common())

    # None of the bot's own code raised instead of answering.
    late = [c for c in log.all_crashes() if BotLog.signature(c) not in found]
    found.update({BotLog.signature(c): ("(logged after its answer)", c) for c in late})
    assert not found, "the bot raised instead of answering:\n\n" + "\n\n".join(
        f"{key}\n  for {request[:1500]}\n{crash[-1500:]}" for key, (request, crash) in found.items()
    )
