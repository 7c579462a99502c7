"""The graphs a LangGraph Server serves, as the bot's registry, and the client that reaches it.

The bot starts a run with the assistant named like the graph (the server makes one per graph in
its ``langgraph.json``) and reads each graph's input schema from the server, so the request goes
under the same key as in-process. When the server does not answer at start-up, the graph names
come from the local ``langgraph.json`` (read, not imported) and inputs from the policy file's
``input`` or ``request``; the bot still starts, and each run waits until the server is back.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from langgraph_sdk.client import SyncLangGraphClient
from langgraph_sdk.errors import APIStatusError, LangGraphError

from bot.agents.deadline_http import deadline_client
from bot.agents.graph_settings import GraphSettings
from bot.agents.introspect import key_of, schema_fields
from bot.agents.registry import RegisteredGraph
from bot.config import ConfigError, ServerSettings

logger = logging.getLogger(__name__)

SERVER_DEADLINE = 5.0  # seconds for one request to the LangGraph Server, in all (reads are quick)


def server_client(server: ServerSettings, deadline: float = SERVER_DEADLINE) -> SyncLangGraphClient:
    """langgraph-sdk's client, with shorter waits than its defaults: reads are quick and a run
    is queued, never waited on, so each request ends within ``deadline`` seconds in all (httpx's
    own timeouts bound each socket read, which a server trickling its answer passes); and a
    server that is away is said so after about a second (two connection retries), not after
    seven, since the sweep tries again anyway."""
    headers = {"x-api-key": server.api_key} if server.api_key else {}
    http = deadline_client(
        deadline,
        base_url=server.url,
        retries=2,
        timeout=httpx.Timeout(deadline, connect=3.0),
        headers=headers,
    )
    return SyncLangGraphClient(http)


def server_registry(
    client: Any,
    server: ServerSettings,
    config_path: str,
    settings: Mapping[str, GraphSettings],
    wait: float = 10.0,
) -> dict[str, RegisteredGraph]:
    schemas = _schemas(client, wait)
    if schemas is None:
        logger.warning(
            "LANGGRAPH_API_URL: no LangGraph server answers at %s yet; taking the graph names "
            "from %s. Runs wait until the server answers.",
            server.shown,
            config_path,
        )
        schemas = {name: {} for name in _local_names(config_path)}
    unknown = set(settings) - set(schemas)
    if unknown:
        raise ConfigError(
            f"POLICY_FILE: settings for graph(s) {', '.join(sorted(unknown))}, which the "
            f"LangGraph server at {server.shown} does not serve (it serves {', '.join(schemas)})"
        )
    registry = {}
    for name, schema in schemas.items():
        graph_settings = settings.get(name) or GraphSettings()
        fields = schema_fields(schema.get("input_schema") or {})
        registry[name] = RegisteredGraph(
            name=name,
            graph=None,  # it lives on the server
            description=graph_settings.description or str(schema.get("description") or ""),
            settings=graph_settings,
            input_key=graph_settings.input or key_of(fields),
            tools={},
            state_keys=tuple(fields),
        )
    return registry


def _schemas(client: Any, wait: float) -> dict[str, dict[str, Any]] | None:
    """Each served graph's schemas (and description), by graph id; None if nobody answers."""
    deadline = time.monotonic() + wait
    while True:
        try:
            found: dict[str, dict[str, Any]] = {}
            for assistant in client.assistants.search(limit=1000):
                graph = assistant["graph_id"]
                if graph in found:
                    continue
                schemas = _schemas_of(client, assistant)
                if schemas is not None:
                    found[graph] = {**schemas, "description": assistant.get("description")}
            return found
        except APIStatusError as exc:
            if exc.status_code < 500 and exc.status_code != 429:
                raise ConfigError(_refusal(exc)) from None
            if time.monotonic() >= deadline:
                return None
        except (httpx.TransportError, LangGraphError):
            if time.monotonic() >= deadline:
                return None
        time.sleep(0.5)


def _schemas_of(client: Any, assistant: Mapping[str, Any]) -> dict[str, Any] | None:
    """An assistant's schemas; None when its graph is no longer served (``langgraph dev`` keeps
    the assistants of a graph since removed from langgraph.json, and answers 404 for them)."""
    try:
        return client.assistants.get_schemas(assistant["assistant_id"]) or {}
    except APIStatusError as exc:
        if exc.status_code != 404:
            raise
        logger.warning(
            "LANGGRAPH_API_URL: the server keeps an assistant for graph %r, which it no longer "
            "serves (%s); leaving it out (for langgraph dev, deleting .langgraph_api/ forgets it)",
            assistant["graph_id"],
            exc.message,
        )
        return None


def _refusal(exc: APIStatusError) -> str:
    where = f"LANGGRAPH_API_URL: the LangGraph server at {exc.request.url.host}"
    if exc.status_code in (401, 403):
        return f"{where} refused the key ({exc.status_code}): check LANGGRAPH_API_KEY"
    return f"{where} could not describe its graphs ({exc.status_code}): {exc.message}"


def _local_names(config_path: str) -> list[str]:
    where = f"LANGGRAPH_CONFIG: {config_path}"
    try:
        graphs = json.loads(Path(config_path).read_text()).get("graphs")
    except (OSError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{where}: cannot read its graph names ({exc})") from None
    if not isinstance(graphs, dict) or not graphs:
        raise ConfigError(f'{where}: needs a "graphs" mapping of name to "./file.py:attr"')
    return list(graphs)
