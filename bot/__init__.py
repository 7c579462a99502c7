"""A Slack bot that puts a human approval gate in front of LangGraph agents."""
