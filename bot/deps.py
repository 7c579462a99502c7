"""Everything the listeners and the engine need, built once and passed in."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from langchain_core.language_models import BaseChatModel
from slack_sdk import WebClient
from starlette.routing import Route

from bot.access import Access
from bot.acks import AckFirst
from bot.api import Api
from bot.audit import Audit
from bot.config import ConfigError, Settings
from bot.db import Database, open_database
from bot.driver import Driver
from bot.effect_slots import EffectSlots
from bot.effect_trail import EffectTrail
from bot.effects import Ledger
from bot.engine import Engine
from bot.graph_settings import GraphSettings
from bot.health import Health
from bot.journal import Journal
from bot.metrics import Metrics
from bot.no_model import NoModel
from bot.operations import Operations
from bot.policy import Directory
from bot.policy_file import Defaults, load_checked
from bot.principals import Principals
from bot.registry import RegisteredGraph, load_registry
from bot.runner import InProcessRunner, Runner
from bot.scheduler import Scheduler
from bot.server_graphs import server_client, server_registry
from bot.server_runner import ServerRunner
from bot.signing import Signing
from bot.slack import Slack, make_client
from bot.store import Store
from bot.traces import langsmith_links
from bot.webhook import hook_for, webhook_key, webhook_route
from bot.worker import Worker
from graphs.actions import ActionRegistry, default_registry
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


def make_llm(settings: Settings) -> BaseChatModel:
    from langchain_openai import ChatOpenAI

    if settings.openai_api_key is None:  # the graphs that call the model fail, when they do
        return NoModel()  # type: ignore[return-value]

    # No timeout is ChatOpenAI's default; a hung model must not hold a worker forever.
    return ChatOpenAI(
        model=settings.openai_model,
        api_key=settings.openai_api_key,
        base_url=settings.openai_base_url,
        timeout=settings.openai_timeout,
        max_retries=2,
    )


def make_actions(settings: Settings, slack: Slack, capped: bool = True) -> ActionRegistry:
    """``capped``: outbound calls take one of ``WEBHOOK_SLOTS`` slots of this process (the bot's
    worker pool); a LangGraph Server runs the graphs in workers of its own, uncapped."""
    return default_registry(
        slack.post_text,
        settings.smtp_url,
        settings.email_from,
        settings.webhook_allowlist,
        webhook_idempotent=settings.webhook_idempotent,
        webhook_deadline=settings.webhook_deadline,
        slots=EffectSlots(settings.webhook_slots).take if capped else None,
    )


def server_runner(
    settings: Settings, graph_settings: dict[str, GraphSettings]
) -> tuple[ServerRunner, dict[str, RegisteredGraph], Route]:
    """Graphs on the LangGraph Server at ``LANGGRAPH_API_URL``: the runner and the registry."""
    server = settings.langgraph
    assert server is not None
    client = server_client(server)
    key = webhook_key(settings.slack_bot_token)
    hook = hook_for(server.webhook_url, key) if server.webhook_url else None
    runner = ServerRunner(client, server.url, hook, server.poll_every)
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
            failed=lambda m: failed(m).inc(),
            retry_server_errors=retry_server_errors,
        )

    # Cards back off per request (bot.card_posts), so their client does not wait out 5xx itself.
    slack = Slack(client(), cards=client(retry_server_errors=False))
    audit = Audit(db, clock)
    trail = EffectTrail(audit, metrics.registry)
    ledger = Ledger(db, clock, observe=trail, base=settings.retry_after)
    actions = make_actions(settings, slack)
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
    signing = Signing(store, db, Directory(slack.group_members), policy.signoffs)
    acks = AckFirst()
    worker = worker or Worker(before=acks.wait_turn)
    engine = Engine(
        store=store,
        runner=runner,
        slack=slack,
        signing=signing,
        db=db,
        ledger=ledger,
        worker=worker,
        policies=policy.policies,
        driver=Driver(runner, registry),
        journal=Journal(audit, metrics),
        stale_after=settings.retry_after,
        links=langsmith_links(settings.langsmith_project),
        card_retry_after=settings.scheduler_tick,
    )
    access = Access(store, signing, settings.admins)  # who sees what, at every door
    # Probed in the background this often (never per request); at most every 2 s.
    health = Health(
        db, settings.scheduler_tick, clock, refresh_every=min(2.0, settings.scheduler_tick)
    )
    scheduler = Scheduler(store, engine, slack, health)
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
        Operations(store, engine, audit, access),
        Api(
            Principals(settings.api_principals),
            store,
            engine,
            audit,
            access,
            list(registry),
            default_graph,
            settings.approvals_channel,
        )
        if settings.api_principals
        else None,
        webhook,
        acks,
    )
