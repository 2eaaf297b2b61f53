"""`make run`: the whole stack on one machine; the command lives with the rest of the local tooling."""

from core.devtools.runstack import RunStackCommand as Command

__all__ = ["Command"]
