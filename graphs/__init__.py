"""The agent graphs the bot ships, registered in ``langgraph.json`` like any other graph.

Each module exposes ``build(toolbox) -> StateGraph`` (uncompiled); the bot compiles it with its
own checkpointer and hands it the model and the action registry.
"""
