"""``langgraph.json``: every kind of graph entry loads on the bot's checkpointer, and anything
wrong fails start-up with a ConfigError naming the file, the graph and the cause."""

from __future__ import annotations

import importlib
import itertools
import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import MemorySaver

from bot.agents.graph_settings import GraphSettings
from bot.agents.registry import RegisteredGraph, load_registry
from bot.config import ConfigError

_ids = itertools.count()

STATE = """
from typing import Optional, TypedDict
from langgraph.graph import END, START, StateGraph


class State(TypedDict, total=False):
    request: str
    count: int


def builder(state_type=State):
    g = StateGraph(state_type)
    g.add_node("work", lambda s: {})
    g.add_node("finish", lambda s: {})
    g.add_edge(START, "work")
    g.add_edge("work", "finish")
    g.add_edge("finish", END)
    return g
"""


@pytest.fixture(autouse=True)
def isolated_imports(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """The registry puts folders on sys.path and modules in sys.modules: undo both."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        file = str(getattr(sys.modules[name], "__file__", None) or "")
        if name.startswith("_registered_graph_") or file.startswith(str(tmp_path)):
            del sys.modules[name]


def unique(prefix: str) -> str:
    return f"{prefix}_{next(_ids)}_{id(object()):x}"


class Project:
    """A folder with graph files and a langgraph.json."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.saver = MemorySaver()

    def module(self, body: str, name: str | None = None, doc: str | None = None) -> str:
        name = name or unique("graphmod")
        header = f'"""{doc}"""\n' if doc is not None else ""
        path = self.root / f"{name}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(header + STATE + textwrap.dedent(body))
        return f"./{name}.py"

    def config(self, graphs: Any, **extra: Any) -> Path:
        path = self.root / "langgraph.json"
        path.write_text(json.dumps({"dependencies": ["."], "graphs": graphs, **extra}))
        return path

    def load(
        self,
        graphs: dict[str, Any],
        settings: dict[str, GraphSettings] | None = None,
        toolbox: Any = None,
        **extra: Any,
    ) -> dict[str, RegisteredGraph]:
        return load_registry(self.config(graphs, **extra), self.saver, settings or {}, toolbox)

    def one(self, body: str, attr: str, **kwargs: Any) -> RegisteredGraph:
        name = unique("g")
        return self.load(
            {name: f"{self.module(body, doc=kwargs.pop('doc', None))}:{attr}"}, **kwargs
        )[name]

    def fails(self, graphs: Any, settings=None, **extra: Any) -> str:
        with pytest.raises(ConfigError) as info:
            self.load(graphs, settings, **extra)
        message = str(info.value)
        assert str(self.root / "langgraph.json") in message
        return message


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)


def imported(path: str) -> Any:
    """The module a ``./name.py`` entry was imported as (its unique name)."""
    return sys.modules[path.removeprefix("./").removesuffix(".py").replace("/", ".")]


def run(registered: RegisteredGraph, inputs: dict) -> Any:
    config = {"configurable": {"thread_id": unique("t")}}
    registered.graph.invoke(inputs, config)
    return registered.graph.get_state(config)


# kinds of entries ---------------------------------------------------------------------------
def test_an_uncompiled_state_graph_is_compiled_on_the_bots_checkpointer(project):
    registered = project.one("graph = builder()", "graph")
    assert registered.graph.checkpointer is project.saver
    assert registered.state_keys == ("request", "count")
    assert run(registered, {"request": "x"}).next == ()


def test_a_compiled_graph_gets_the_bots_checkpointer(project):
    body = """
    from langgraph.checkpoint.memory import MemorySaver
    own = MemorySaver()
    graph = builder().compile(checkpointer=own)
    """
    registered = project.one(body, "graph")
    assert registered.graph.checkpointer is project.saver
    run(registered, {"request": "x"})
    assert list(project.saver.list(None))  # checkpoints were written to the bot's saver


def test_a_compiled_graph_keeps_its_breakpoints(project):
    body = """
    graph = builder().compile(interrupt_before=["work"], interrupt_after=["finish"])
    """
    registered = project.one(body, "graph")
    assert registered.graph.interrupt_before_nodes == ["work"]
    assert registered.graph.interrupt_after_nodes == ["finish"]
    assert run(registered, {"request": "x"}).next == ("work",)


def test_the_graph_file_is_not_changed_by_loading(project):
    body = """
    from langgraph.checkpoint.memory import MemorySaver
    own = MemorySaver()
    graph = builder().compile(checkpointer=own)
    """
    path = project.module(body)
    name = unique("g")
    registered = project.load({name: f"{path}:graph"})[name]
    module = imported(path)
    assert registered.graph is not module.graph  # a copy
    assert module.graph.checkpointer is module.own


def test_a_factory_with_no_arguments(project):
    body = '''
    def make():
        """Make a graph."""
        return builder()
    '''
    registered = project.one(body, "make")
    assert registered.graph.checkpointer is project.saver
    assert registered.description == "Make a graph."


def test_a_factory_may_return_a_compiled_graph(project):
    registered = project.one(
        "def make():\n    return builder().compile(interrupt_before=['finish'])", "make"
    )
    assert registered.graph.checkpointer is project.saver
    assert registered.graph.interrupt_before_nodes == ["finish"]


def test_a_factory_taking_config_gets_one(project):
    body = """
    SEEN = []
    def make(config):
        SEEN.append(config)
        return builder()
    """
    path, name = project.module(body), unique("g")
    registered = project.load({name: f"{path}:make"})[name]
    assert registered.graph.checkpointer is project.saver
    assert imported(path).SEEN == [{}]


def test_a_factory_taking_a_toolbox_gets_the_bots(project):
    body = """
    SEEN = []
    def make(toolbox):
        SEEN.append(toolbox)
        return builder()
    """
    toolbox = object()
    path, name = project.module(body), unique("g")
    registered = project.load({name: f"{path}:make"}, toolbox=lambda: toolbox)[name]
    assert registered.graph.checkpointer is project.saver
    assert [toolbox] == imported(path).SEEN


def test_a_factory_with_only_optional_arguments_is_called_without_them(project):
    registered = project.one("def make(name='x', *, debug=False):\n    return builder()", "make")
    assert registered.graph.checkpointer is project.saver


def test_an_entry_may_be_a_mapping_with_a_path(project):
    path = project.module("graph = builder()")
    loaded = project.load({"mapped": {"path": f"{path}:graph", "description": "ignored"}})
    assert loaded["mapped"].graph.checkpointer is project.saver


def test_one_file_may_be_registered_twice(project):
    path = project.module("def make():\n    return builder()")
    a, b = unique("a"), unique("b")
    loaded = project.load({a: f"{path}:make", b: f"{path}:make"})
    assert loaded[a].graph is not loaded[b].graph


def test_a_file_in_a_package_is_the_module_the_project_imports(project):
    package = unique("pkg")
    (project.root / package).mkdir()
    (project.root / package / "__init__.py").write_text("")
    path = project.module("graph = builder()", name=f"{package}/agent")
    name = unique("g")
    registered = project.load({name: f"{path}:graph"})[name]
    module = importlib.import_module(f"{package}.agent")
    assert imported(path) is module
    assert registered.graph.builder is module.graph
    assert str(project.root) in sys.path


def test_a_file_named_like_a_standard_module_is_still_the_file(project):
    # ``calendar`` is already imported: the file must not be mistaken for it.
    import calendar  # noqa: F401

    path = project.module("graph = builder()", name="calendar")
    name = unique("g")
    assert project.load({name: f"{path}:graph"})[name].graph.checkpointer is project.saver
    assert hasattr(sys.modules["calendar"], "month_name")


def test_a_file_whose_folder_is_not_a_dependency_still_loads(project):
    path = project.module("graph = builder()")
    (project.root / "src").mkdir()
    name = unique("g")
    loaded = project.load({name: f"{path}:graph"}, dependencies=["./src"])
    assert loaded[name].graph.checkpointer is project.saver


def test_a_file_outside_the_project_folder_loads(tmp_path):
    elsewhere = Project(tmp_path / "elsewhere")
    path = elsewhere.module("graph = builder()")
    inner = Project(tmp_path / "inner")
    (tmp_path / "inner").mkdir()
    name = unique("g")
    loaded = inner.load({name: f"../elsewhere/{path.removeprefix('./')}:graph"})
    assert loaded[name].graph.checkpointer is inner.saver


# descriptions -------------------------------------------------------------------------------
def test_the_description_comes_from_the_settings_first(project):
    body = 'def make():\n    """From the docstring."""\n    return builder()'
    settings_for = {}
    name = unique("g")
    settings_for[name] = GraphSettings(description="From the settings")
    path = project.module(body, doc="From the module.")
    assert project.load({name: f"{path}:make"}, settings_for)[name].description == (
        "From the settings"
    )


def test_then_the_factorys_docstring_first_paragraph(project):
    body = '''
    def make():
        """Review a drug order
        before it is sent.

        Details nobody needs in a listing.
        """
        return builder()
    '''
    registered = project.one(body, "make", doc="From the module.")
    assert registered.description == "Review a drug order before it is sent."


def test_then_the_modules_docstring(project):
    assert project.one(
        "graph = builder()", "graph", doc="The module says.\n\nMore."
    ).description == ("The module says.")
    assert project.one("def make():\n    return builder()", "make", doc="Module.").description == (
        "Module."
    )


def test_no_docstring_is_no_description(project):
    assert project.one("graph = builder()", "graph").description == ""


def test_a_long_description_is_cut(project):
    registered = project.one("graph = builder()", "graph", doc="word " * 100)
    assert len(registered.description) == 200


# where the request goes ---------------------------------------------------------------------
def test_a_messages_state_takes_the_request_as_messages(project):
    body = """
    from langgraph.graph import MessagesState
    class Chat(MessagesState):
        topic: str
    graph = builder(Chat)
    """
    assert project.one(body, "graph").input_key == "messages"


def test_the_only_string_field_takes_the_request(project):
    body = """
    class Order(TypedDict, total=False):
        drug_name: Optional[str]
        dose: int
        notes: list
    graph = builder(Order)
    """
    registered = project.one(body, "graph")
    assert registered.input_key == "drug_name"
    assert registered.state_keys == ("drug_name", "dose", "notes")


def test_several_or_no_string_fields_take_it_as_request(project):
    two = """
    class Two(TypedDict):
        title: str
        body: str
    graph = builder(Two)
    """
    assert project.one(two, "graph").input_key == "request"
    none = """
    class Numbers(TypedDict):
        n: int
    graph = builder(Numbers)
    """
    assert project.one(none, "graph").input_key == "request"


def test_the_settings_name_the_input_key(project):
    name = unique("g")
    path = project.module("graph = builder()")
    loaded = project.load({name: f"{path}:graph"}, {name: GraphSettings(input="count")})
    assert loaded[name].input_key == "count"
    assert loaded[name].settings == GraphSettings(input="count")


def test_tool_schemas_are_read_from_tool_nodes(project):
    body = """
    from langchain_core.tools import tool
    from langgraph.prebuilt import ToolNode

    @tool
    def send_email(to: str, subject: str) -> str:
        '''Send an email.'''
        return "sent"

    def make():
        g = StateGraph(State)
        g.add_node("tools", ToolNode([send_email]))
        g.add_edge(START, "tools")
        g.add_edge("tools", END)
        return g
    """
    tools = project.one(body, "make").tools
    assert list(tools) == ["send_email"]
    assert list(tools["send_email"]["properties"]) == ["to", "subject"]
    assert tools["send_email"]["required"] == ["to", "subject"]


# errors ---------------------------------------------------------------------------------------
def test_a_missing_config_file(tmp_path):
    missing = tmp_path / "nowhere.json"
    with pytest.raises(ConfigError) as info:
        load_registry(missing, MemorySaver(), {})
    assert str(info.value) == (
        f"LANGGRAPH_CONFIG: {missing}: cannot read it (No such file or directory)"
    )


def test_a_config_file_that_is_not_json(tmp_path):
    path = tmp_path / "langgraph.json"
    path.write_text('{"graphs": ')
    with pytest.raises(ConfigError) as info:
        load_registry(path, MemorySaver(), {})
    assert str(info.value).startswith(f"LANGGRAPH_CONFIG: {path} is not valid JSON: ")


@pytest.mark.parametrize("graphs", [None, {}, [], "./a.py:graph"])
def test_a_config_without_graphs(project, graphs):
    message = project.fails(graphs)
    assert 'needs a "graphs" mapping of name to "./file.py:attr"' in message


def test_a_config_that_is_not_an_object(project):
    (project.root / "langgraph.json").write_text("[]")
    with pytest.raises(ConfigError, match='needs a "graphs" mapping'):
        load_registry(project.root / "langgraph.json", project.saver, {})


def failing(project: Project, spec: Any, cause: str, name: str | None = None) -> str:
    name = name or unique("broken")
    message = project.fails({name: spec})
    assert f"graph {name!r}" in message
    assert cause in message
    return message


@pytest.mark.parametrize("spec", ["./graph.py", "graph", 42, {"description": "no path"}])
def test_an_entry_without_file_and_attribute(project, spec):
    failing(project, spec, 'expected "./path/file.py:attribute"')


def test_an_entry_naming_a_missing_file(project):
    message = failing(project, "./nope/missing.py:graph", "no file ./nope/missing.py")
    assert str(project.root / "nope" / "missing.py") in message


def test_an_entry_naming_a_missing_attribute(project):
    path = project.module("graph = builder()")
    failing(project, f"{path}:grpah", f"ValueError: {path} has no attribute 'grpah'")


def test_a_module_that_raises_at_import(project):
    path = project.module("raise RuntimeError('no API key for the planner')")
    failing(project, f"{path}:graph", "RuntimeError: no API key for the planner")


def test_a_module_missing_one_of_its_imports(project):
    path = project.module(f"import {unique('not_installed')}")
    failing(project, f"{path}:graph", "ModuleNotFoundError: No module named 'not_installed_")


def test_a_module_with_a_syntax_error(project):
    path = project.module("def broken(:\n    pass")
    failing(project, f"{path}:graph", "SyntaxError")


@pytest.mark.parametrize(
    ("body", "cause"),
    [
        ("graph = 42", "graph is a int, not a StateGraph or compiled graph"),
        ("graph = {'nodes': []}", "graph is a dict, not a StateGraph or compiled graph"),
        ("def graph():\n    return 'a graph'", "graph is a str, not a StateGraph"),
        ("def graph():\n    return None", "graph is a NoneType, not a StateGraph"),
    ],
)
def test_an_attribute_of_the_wrong_type(project, body, cause):
    path = project.module(body)
    failing(project, f"{path}:graph", cause)


def test_a_factory_that_raises(project):
    path = project.module("def graph():\n    raise KeyError('MODEL')")
    failing(project, f"{path}:graph", "KeyError: 'MODEL'")


def test_a_factory_needing_arguments_the_bot_cannot_give(project):
    path = project.module("def graph(llm, tools):\n    return builder()")
    failing(project, f"{path}:graph", "graph() needs arguments the bot cannot give: llm")


def test_a_toolbox_factory_without_a_toolbox(project):
    path = project.module("def graph(toolbox):\n    return builder()")
    failing(project, f"{path}:graph", "graph() needs arguments the bot cannot give: toolbox")


def test_a_config_error_while_loading_names_the_graph(project):
    path = project.module("def graph(toolbox):\n    return builder()")
    name = unique("needs_model")

    def no_toolbox():
        raise ConfigError("OPENAI_API_KEY is not set")

    with pytest.raises(ConfigError) as info:
        project.load({name: f"{path}:graph"}, toolbox=no_toolbox)
    message = str(info.value)
    assert str(project.root / "langgraph.json") in message
    assert f"graph {name!r}" in message
    assert message.endswith("OPENAI_API_KEY is not set")
