"""The fault plan's entries (pydantic models): crash, recover, partition, cut, heal, set_link, churn, byzantine, and their timing."""

# No `from __future__ import annotations` here: pydantic would evaluate every field's annotation
# again from its text when each class is made (0.7% of `consim validate`'s instructions, issue 13).
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from sim.scenario_parts import LinkSpec, Ms, PositiveMs, Strict, Targets


class CutSpec(Strict):
    """A one-way cut: messages from `from` to `to` are dropped."""

    from_: Targets = Field(alias="from")
    to: Targets


class ChurnSpec(Strict):
    """Random crashes and recoveries: exponential up and down times."""

    mtbf: PositiveMs
    mttr: PositiveMs
    max_down: Annotated[int, Field(ge=1)] = 1
    nodes: Targets = "all"


FAULT_ACTIONS = ("crash", "recover", "partition", "cut", "heal", "set_link", "churn", "byzantine")


class FaultSpec(Strict):
    """One entry of the fault plan: one action, with its timing."""

    at: Ms | None = None
    every: PositiveMs | None = None
    start: Ms | None = None
    until: Ms | None = None
    jitter: Ms = 0.0
    for_: Ms | None = Field(default=None, alias="for")
    crash: Targets | None = None
    recover: Targets | None = None
    partition: list[list[str]] | None = None
    cut: CutSpec | None = None
    heal: Literal["all"] | bool | None = None
    """`all` (or true): remove every partition and cut. There is no other kind of heal, so false is refused."""
    set_link: LinkSpec | None = None
    churn: ChurnSpec | None = None
    byzantine: Targets | None = None
    behaviour: str | None = None
    from_: Ms | None = Field(default=None, alias="from")
    messages: list[str] | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    plane: str | None = None
    """In a scenario with planes: the plane a byzantine entry lies in, or whose leader `leader` means."""

    @field_validator("heal", mode="before")
    @classmethod
    def _heal_is_on(cls, value: object) -> object:
        # Any 'heal' entry is a heal (the action is the field that is set): false would read as
        # "no heal" and heal the network all the same.
        if value is False:
            raise ValueError(
                "false does not turn healing off (an entry with 'heal' removes every partition and cut):"
                " write 'heal: all', or leave the entry out"
            )
        return value

    @property
    def action(self) -> str:
        """The one action this entry performs."""
        return next(name for name in FAULT_ACTIONS if getattr(self, name) is not None)

    @model_validator(mode="after")
    def _one_action(self) -> "FaultSpec":
        actions = [name for name in FAULT_ACTIONS if getattr(self, name) is not None]
        if len(actions) != 1:
            raise ValueError(f"each fault needs exactly one of {', '.join(FAULT_ACTIONS)}; got {actions or 'none'}")
        action = actions[0]
        if action == "byzantine":
            if self.behaviour is None:
                raise ValueError("a byzantine fault needs a 'behaviour'")
        elif self.behaviour is not None or self.messages is not None or self.from_ is not None:
            raise ValueError("'behaviour', 'messages' and 'from' belong to byzantine faults only")
        if action not in ("churn", "byzantine") and self.at is None and self.every is None:
            raise ValueError(f"a {action} fault needs 'at' or 'every'")
        if self.at is not None and self.every is not None:
            raise ValueError("give either 'at' or 'every', not both")
        if self.partition is not None and len(self.partition) < 2:
            raise ValueError("a partition needs at least two groups")
        return self
