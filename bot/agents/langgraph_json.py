"""Reading ``langgraph.json`` (LangGraph CLI's format) before any graph is built: the file
itself, its ``env`` (a dotenv file or a mapping; the process environment wins) and its
``dependencies`` (local folders go on ``sys.path``; packages must be installed already). Every
problem is a :class:`~bot.config.ConfigError` naming the file."""

from __future__ import annotations

import importlib.metadata
import json
import re
import sys
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

from bot.config import ConfigError
from bot.runtime import env_file

DEFAULT_CONFIG = "langgraph.json"


def read_config(path: str | Path) -> tuple[dict[str, Any], str]:
    """The file's JSON object and how errors name it (``LANGGRAPH_CONFIG: <path>``)."""
    config_path = Path(path)
    where = f"LANGGRAPH_CONFIG: {config_path}"
    try:
        data = json.loads(config_path.read_text())
    except FileNotFoundError as exc:
        if config_path.is_absolute():
            raise ConfigError(f"{where}: cannot read it ({exc.strerror})") from None
        raise ConfigError(
            f"{where}: cannot read it ({exc.strerror} in {Path.cwd()}): run it from the "
            "project's root, or set LANGGRAPH_CONFIG to the file's path"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read it ({exc.strerror})") from None
    except ValueError as exc:
        raise ConfigError(f"{where} is not valid JSON: {exc}") from None
    return (data if isinstance(data, dict) else {}), where


def config_env(path: str | Path) -> dict[str, str]:
    """The variables of the file's ``env``: a dotenv file (relative to the JSON file; one that
    is not there is none) or a mapping. The caller lets the process environment win."""
    data, where = read_config(path)
    env = data.get("env")
    if env is None:
        return {}
    if isinstance(env, dict):
        return {str(name): str(value) for name, value in env.items()}
    if isinstance(env, str) and env.strip():
        file = Path(path).resolve().parent / env
        return env_file.read(file, f"{where}: env file {env} ({file})")
    raise ConfigError(f'{where}: "env" must be a file name (".env") or a mapping of variables')


def apply_config_env(environ: MutableMapping[str, str]) -> dict[str, str]:
    """Set the variables of ``LANGGRAPH_CONFIG``'s ``env`` that ``environ`` does not set (the
    process environment wins); what was set. Called before the settings are read, so the file
    may hold them. A config file that is not there is left to :func:`load_registry` to report."""
    path = environ.get("LANGGRAPH_CONFIG", "").strip() or DEFAULT_CONFIG
    if not Path(path).is_file():
        return {}
    return env_file.apply(config_env(path), environ)


def add_dependencies(data: Mapping[str, Any], root: Path, where: str) -> None:
    """Put each local ``dependencies`` folder on ``sys.path``; check that each package named
    there is installed. The bot installs nothing itself."""
    dependencies = data.get("dependencies", ["."])
    if not isinstance(dependencies, list):
        raise ConfigError(f'{where}: "dependencies" must be a list of folders and packages')
    for dependency in dependencies:
        if not isinstance(dependency, str) or not dependency.strip():
            raise ConfigError(f"{where}: dependency {dependency!r} is not a folder or package")
        if dependency.startswith((".", "/")):
            folder = (root / dependency).resolve()
            if not folder.is_dir():
                raise ConfigError(f"{where}: dependency {dependency!r}: no folder {folder}")
            if str(folder) not in sys.path:
                sys.path.insert(0, str(folder))
        elif not dependency.startswith(("http://", "https://", "git+")):
            package = re.split(r"[\s\[<>=!~;]", dependency.strip(), maxsplit=1)[0]
            try:
                importlib.metadata.distribution(package)
            except importlib.metadata.PackageNotFoundError:
                raise ConfigError(
                    f"{where}: dependency {dependency!r} is not installed: "
                    f"pip install '{dependency}' (the bot installs nothing itself)"
                ) from None
