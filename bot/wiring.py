"""Everything the listeners and the engine need, built once and passed in."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from langchain_core.language_models import BaseChatModel
from slack_bolt import App
from slack_sdk import WebClient
from starlette.routing import Route

from bot.agents.driver import AgentsPort, Driver
from bot.agents.graph_settings import GraphSettings
from bot.agents.langgraph_server import ServerRunner
from bot.agents.registry import RegisteredGraph, load_registry
from bot.agents.runner import InProcessRunner, Runner
from bot.agents.server_registry import server_client, server_registry
from bot.agents.toolkit import make_actions, make_llm
from bot.agents.traces import langsmith_links
from bot.config import ConfigError, Settings
from bot.config.principals import Principals
from bot.core.access import Access
from bot.core.deciders import Directory
from bot.core.effect_trail import EffectTrail
from bot.core.engine import Engine
from bot.core.journal import Journal
from bot.core.ledger import Ledger
from bot.core.rules import Rules
from bot.core.run_control import RunControl
from bot.core.tally import SignOffTally
from bot.http.api import Api
from bot.http.health import Health
from bot.http.langgraph_webhook import hook_for, webhook_key, webhook_route
from bot.policy.file import Defaults, load_checked
from bot.runtime.metrics import Metrics
from bot.runtime.worker import AckFirst, Worker
from bot.slack.app import build_app
from bot.slack.blocks.decided import outcome_line
from bot.slack.card_posts import CardPosts
from bot.slack.card_publisher import Cards
from bot.slack.client import Slack
from bot.slack.errors import not_done, uncertain
from bot.slack.listeners import ListenerDeps
from bot.slack.listeners.binding import modal_key
from bot.slack.publisher import SlackPublisher
from bot.slack.scheduler import Scheduler
from bot.slack.subcommands import Operations
from bot.slack.web_client import make_client
from bot.store.audit_log import Audit
from bot.store.db import Database, open_database
from bot.store.repository import Store
from bot.store.rules import Rules as RuleRows
from graphs.actions import ActionRegistry
from graphs.toolbox import Toolbox


@dataclass
class Deps:
    settings: Settings
    db: Database
    store: Store
    slack: Slack
    actions: ActionRegistry
    engine: Engine
    scheduler: Scheduler
    worker: Worker
    clock: Callable[[], float]
    registry: dict[str, RegisteredGraph]
    default_graph: str
    metrics: Metrics
    health: Health
    operations: Operations
    cards: Cards  # approval cards as Slack shows them
    card_posts: CardPosts  # posting them, each on its own backoff
    api: Api | None  # the HTTP approval API, when API tokens are configured
    webhook: Route | None = None  # LangGraph Server's runs report here, when it runs them
    acks: AckFirst | None = None  # Slack requests answered before background work starts

    @property
    def routes(self) -> list[Route]:
        """HTTP routes beside Slack's, in both modes: the approval API and the webhook."""
        return [*(self.api.routes() if self.api else []), *([self.webhook] if self.webhook else [])]

    @property
    def graphs(self) -> list[str]:
        return list(self.registry)

    @property
    def descriptions(self) -> dict[str, str]:
        return {name: g.description for name, g in self.registry.items()}

    def close(self) -> None:
        self.worker.shutdown(wait=False)
        self.engine.leases.stop()
        self.engine.runner.close()
        self.db.close()


def server_runner(
    settings: Settings, graph_settings: dict[str, GraphSettings]
) -> tuple[ServerRunner, dict[str, RegisteredGraph], Route]:
    """Graphs on the LangGraph Server at ``LANGGRAPH_API_URL``: the runner and the registry."""
    server = settings.langgraph
    assert server is not None
    client = server_client(server)
    key = webhook_key(settings.slack_bot_token)
    hook = hook_for(server.webhook_url, key) if server.webhook_url else None
    runner = ServerRunner(client, server.shown, hook, server.poll_every)
    registry = server_registry(client, server, settings.langgraph_config, graph_settings)
    return runner, registry, webhook_route(key, runner.settled)


def build_deps(
    settings: Settings,
    *,
    clock: Callable[[], float] = time.time,
    llm: BaseChatModel | None = None,
    worker: Worker | None = None,
) -> Deps:
    db = open_database(settings.database_url)
    store = Store(db, clock)
    metrics = Metrics()
    metrics.count_pending(store.count_pending)
    failed = metrics.slack_errors.labels

    def client(retry_server_errors: bool = True) -> WebClient:
        return make_client(
            settings.slack_bot_token,
            settings.slack_api_url,
            timeout=settings.slack_timeout,
            failed=lambda m: failed(m).inc(),
            retry_server_errors=retry_server_errors,
        )

    # Cards back off per request (bot.slack.card_posts), so their client does not wait out 5xx
    # itself.
    slack = Slack(client(), cards=client(retry_server_errors=False))
    audit = Audit(db, clock)
    trail = EffectTrail(metrics.registry)
    ledger = Ledger(
        db,
        clock,
        observe=trail,
        base=settings.retry_after,
        retryable=not_done,
        unknown=uncertain,
        audited=trail.entry,
    )
    actions = make_actions(settings, slack.post_text)
    toolboxes: list[Toolbox] = []

    def toolbox() -> Toolbox:  # built only when a registered graph asks for one
        if not toolboxes:
            toolboxes.append(Toolbox(llm or make_llm(settings), actions, ledger))
        return toolboxes[0]

    on_server: list[tuple[ServerRunner, Route]] = []

    def build_registry(graph_settings: dict[str, GraphSettings]) -> dict[str, RegisteredGraph]:
        if settings.langgraph is None:
            return load_registry(
                settings.langgraph_config, db.checkpointer(), graph_settings, toolbox
            )
        server, served, hook = server_runner(settings, graph_settings)
        on_server.append((server, hook))
        return served

    # The same loader as `python -m bot try`: the file, its values, then its names.
    policy, registry = load_checked(settings.policy_file, Defaults.of(settings), build_registry)
    runner: Runner
    webhook: Route | None
    if on_server:
        runner, webhook = on_server[0]
    else:
        runner = InProcessRunner({name: g.graph for name, g in registry.items()})
        webhook = None
    fallback = "draft" if "draft" in registry else next(iter(registry))
    default_graph = settings.default_graph or fallback
    if default_graph not in registry:
        raise ConfigError(
            f"DEFAULT_GRAPH: {default_graph!r} is not in {settings.langgraph_config} "
            f"(registered: {', '.join(registry)})"
        )
    holders = {p.name: p.user for p in settings.api_principals}
    tally = SignOffTally(
        store, db, Directory(slack.group_members), policy.signoffs, outcome_line, holders
    )
    acks = AckFirst()
    worker = worker or Worker(before=acks.wait_turn)
    journal = Journal(audit, metrics)
    links = langsmith_links(settings.langsmith_project)
    cards = Cards(store, slack, tally, db, ledger, links)
    # A failed card's first backoff is the scheduler's tick.
    card_posts = CardPosts(store, cards, slack, db, ledger, journal, settings.scheduler_tick)
    publisher = SlackPublisher(slack, cards, card_posts)
    rules = None
    if policy.remembering.anywhere:  # remembered approvals (bot.core.rules), where allowed
        members = tally.directory.members
        rows = RuleRows(db)
        rules = Rules(store, rows, policy.remembering, members, journal, settings.admins)
    engine = Engine(
        store=store,
        runner=runner,
        tally=tally,
        db=db,
        ledger=ledger,
        worker=worker,
        policies=policy.policies,
        agents=AgentsPort(
            Driver(runner, registry, policy.signoffs),
            store.set_trace,
            links,
            settings.openai_base_url,
        ),
        journal=journal,
        publisher=publisher,
        answers=publisher,
        stale_after=settings.retry_after,
        inbox_lease=settings.click_lease,
        rules=rules,
    )
    access = Access(store, tally, settings.admins)  # who sees what, at every door
    control = RunControl(
        store, db, runner, journal, publisher, worker, engine.apply, engine.advance,
        may_manage=access.may_manage,  # who may press Retry: who may look after the run
    )  # fmt: skip
    engine.inbox.retry = control.retried  # how the inbox works a Retry click
    # Probed in the background this often (never per request); at most every 2 s.
    health = Health(
        db, settings.scheduler_tick, clock, refresh_every=min(2.0, settings.scheduler_tick)
    )
    scheduler = Scheduler(store, engine, slack, health.ticked, cards, journal)
    return Deps(
        settings,
        db,
        store,
        slack,
        actions,
        engine,
        scheduler,
        worker,
        clock,
        registry,
        default_graph,
        metrics,
        health,
        Operations(store, control, audit, access, tally, links, rules),
        cards,
        card_posts,
        Api(
            Principals(settings.api_principals),
            store,
            engine,
            audit,
            access,
            tally,
            list(registry),
            default_graph,
            slack.member_of,
            settings.approvals_channel,
        )
        if settings.api_principals
        else None,
        webhook,
        acks,
    )


def slack_app(deps: Deps) -> App:
    """The Bolt app, its listeners given only the few services they call."""
    settings = deps.settings
    listeners = ListenerDeps(
        slack=deps.slack,
        engine=deps.engine,
        tally=deps.engine.tally,
        access=deps.operations.access,
        store=deps.store,
        operations=deps.operations,
        modal_key=modal_key(settings.slack_bot_token, settings.slack_signing_secret),
        descriptions=deps.descriptions,
        default_graph=deps.default_graph,
        approvals_channel=settings.approvals_channel,
        rules=deps.engine.rules,
    )
    return build_app(listeners, client=deps.slack.client)
