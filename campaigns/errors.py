"""The one error campaign services raise for a request the campaign does not allow."""

from __future__ import annotations

from typing import Any


class CampaignError(Exception):
    """A request the campaign's state or content does not allow; `errors` maps fields to
    messages, and "steps" (when present) maps step keys to lists of messages."""

    def __init__(self, errors: dict[str, Any] | str):
        self.errors = errors if isinstance(errors, dict) else {"__all__": errors}
        super().__init__("; ".join(self.messages()))

    def messages(self) -> list[str]:
        """Every message, flat (a step's prefixed with its key), for a page's flash list."""
        flat = []
        for field, value in self.errors.items():
            if field == "steps" and isinstance(value, dict):
                flat += [f"{key}: {m}" for key, messages in value.items() for m in messages]
            else:
                flat.append(str(value))
        return flat
