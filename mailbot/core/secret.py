"""A password or other secret as the settings hold it: never shown in logs or reprs."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Secret:
    """A password that never shows itself in logs or reprs."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "Secret('***')"

    def reveal(self) -> str:
        """The secret itself, for the one call that needs it."""
        return self.value
