"""A programme rule set: validated and immutable, or refused with the line and the reason.

:func:`app.eligibility.loader.load_ruleset` is the way to get a :class:`RuleSet`; it returns
one only when the whole file validates, so an invalid rule set can never become active.  The
vocabulary is described in docs/eligibility.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from app.eligibility.conditions import Condition, Text, inputs_of

Unit = Literal["family", "person"]
IfUnknown = Literal["needs_data", "ignore"]


@dataclass(frozen=True, slots=True)
class RuleError:
    line: int  # 1-based line in the file
    where: str  # path in the document, e.g. programmes[0].when[1].any_member.agee
    reason: str

    def __str__(self) -> str:
        where = f"{self.where}: " if self.where else ""
        return f"line {self.line}: {where}{self.reason}"


class RuleSetInvalid(ValueError):  # reads as "the rule set is invalid"
    """The rule file was refused; ``errors`` says where (line) and why, in file order."""

    def __init__(self, source: str, errors: list[RuleError]) -> None:
        self.source = source
        self.errors = sorted(errors, key=lambda e: (e.line, e.where))
        lines = "\n".join(f"  {source} {e}" for e in self.errors)
        super().__init__(f"rule set refused ({len(self.errors)} error(s)):\n{lines}")

    @property
    def first(self) -> RuleError:
        return self.errors[0]


@dataclass(frozen=True, slots=True)
class Exclusion:
    id: str
    label: Text  # what the exclusion is, e.g. ("pemilik mobil", "car owner")
    when: Condition
    if_unknown: IfUnknown = "needs_data"
    line: int = 0
    per_person: bool = False  # tests ``member``: its answer differs from person to person


@dataclass(frozen=True, slots=True)
class Programme:
    id: str
    name: str
    title: Text
    unit: Unit
    when: Condition  # every condition (an all_of)
    target: Condition | None  # person programmes: who is decided about at all
    exclude: tuple[Exclusion, ...]
    line: int = 0

    # every input the conditions, target and exclusions read (for audit), sorted
    inputs: tuple[str, ...] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        names = (
            inputs_of(self.when)
            | inputs_of(self.target)
            | frozenset().union(*(inputs_of(e.when) for e in self.exclude))
        )
        object.__setattr__(self, "inputs", tuple(sorted(names)))


@dataclass(frozen=True, slots=True)
class RuleSet:
    id: str
    version: str
    digest: str  # sha256 of the file's text
    settings: MappingProxyType[str, Any]
    exclusions: tuple[Exclusion, ...]
    programmes: tuple[Programme, ...]
    description: str = ""

    @property
    def label(self) -> str:
        """``ternate-bansos@2026.1``: stored with every decision."""
        return f"{self.id}@{self.version}"

    def programme(self, programme_id: str) -> Programme:
        for p in self.programmes:
            if p.id == programme_id:
                return p
        raise KeyError(programme_id)
