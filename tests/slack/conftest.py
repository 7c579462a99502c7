"""The Slack edge's parts built on the real slack_sdk client, talking HTTP to the fake Slack
server (tests/fakes/slack.py), over the real Store on both databases; ``build``: a scheduler
over the real engine (fake graph) with a policy of the test's."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bot.core.deciders import Directory
from bot.core.journal import Journal
from bot.core.ledger import Ledger
from bot.core.tally import SignOffTally
from bot.domain.models import Approval, Run, RunRequest
from bot.domain.signoff import Section, SignOffs, Stage
from bot.domain.timeline import PlannedJob, Policy
from bot.runtime.metrics import Metrics
from bot.slack.blocks.decided import outcome_line
from bot.slack.card_posts import CardPosts
from bot.slack.card_publisher import Cards
from bot.slack.client import Slack
from bot.slack.errors import not_done, uncertain
from bot.slack.publisher import SlackPublisher
from bot.slack.scheduler import Scheduler
from bot.slack.web_client import make_client
from bot.store.audit_log import Audit
from bot.store.repository import Store
from tests.support.inprocess import Clock
from tests.support.units import EngineParts, engine_parts, review


@pytest.fixture
def clock() -> Clock:
    """Stands still until the test moves it."""
    return Clock()


@pytest.fixture
def slack(fake_slack) -> Slack:
    """The bot's Slack client as the wiring builds it: cards posted without 5xx retries."""
    return Slack(
        make_client(fake_slack.bot_token, fake_slack.api_url),
        cards=make_client(fake_slack.bot_token, fake_slack.api_url, retry_server_errors=False),
    )


@dataclass
class SlackParts:
    store: Store
    slack: Slack
    cards: Cards
    card_posts: CardPosts
    publisher: SlackPublisher
    metrics: Metrics

    def run(self, thread_id: str = "thread-0001", requester: str = "U0ASKER") -> Run:
        request = RunRequest("draft", "draft a note", requester, "C0ASK", "C0CARDS")
        return self.store.create_run(thread_id, request)

    def request(
        self, run: Run, interrupt: str = "i1", jobs: tuple[PlannedJob, ...] = ()
    ) -> Approval:
        payload = {"value": {"text": "Hello <!here> team"}}
        return self.store.add_approval(run, interrupt, payload, review(), jobs)

    def approval(self, approval_id: str) -> Approval:
        found = self.store.get_approval(approval_id)
        assert found is not None
        return found


@pytest.fixture
def parts(db, clock, slack) -> SlackParts:
    store = Store(db, clock)
    tally = SignOffTally(store, db, Directory(slack.group_members), SignOffs(Section(Stage())))
    tally.summarize = outcome_line
    metrics = Metrics()
    ledger = Ledger(db, clock, retryable=not_done, unknown=uncertain)
    cards = Cards(store, slack, tally, db, ledger)
    journal = Journal(Audit(db, clock), metrics)
    card_posts = CardPosts(store, cards, slack, db, ledger, journal, 30.0, rand=lambda: 1.0)
    return SlackParts(
        store, slack, cards, card_posts, SlackPublisher(slack, cards, card_posts), metrics
    )


@dataclass
class Scheduled:
    parts: EngineParts
    scheduler: Scheduler
    ticks: list[int]

    def start(self, requester: str = "U0ASKER"):
        run = self.parts.start(requester=requester)
        [approval] = self.parts.pending(run)
        assert approval.ts is not None  # its card is up in the fake Slack
        return run, approval


@pytest.fixture
def build(db, clock, slack):
    built: list[EngineParts] = []

    def make(policy: Policy, **options) -> Scheduled:
        made: dict[str, Cards] = {}

        def publisher(store, tally):
            ledger = Ledger(db, clock, retryable=not_done, unknown=uncertain)
            cards = made["cards"] = Cards(store, slack, tally, db, ledger)
            journal = Journal(Audit(db, clock), Metrics())
            posts = CardPosts(store, cards, slack, db, ledger, journal, 30.0, rand=lambda: 1.0)
            return SlackPublisher(slack, cards, posts)

        parts = engine_parts(db, clock, policy=policy, publisher=publisher, **options)
        built.append(parts)
        ticks: list[int] = []
        scheduler = Scheduler(
            parts.store,
            parts.engine,
            slack,
            lambda: ticks.append(1),
            made["cards"],
            parts.engine.journal,
        )
        return Scheduled(parts, scheduler, ticks)

    yield make
    for parts in built:
        parts.close()
