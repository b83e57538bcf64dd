"""Errors of a run: each names the node and the source line that made it."""
from __future__ import annotations


class RunError(Exception):
    def __init__(self, node: dict, message: str, span=None):
        self.node = node
        self.where = str(span) if span is not None else node.get("span", "?")
        self.reason = message
        super().__init__(f"{self.where}: in {node.get('kind')} '{node.get('label')}': {message}")
