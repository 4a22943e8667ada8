"""From person links to household proposals: the same family twice, or one person in two.

Pure: the scored person pairs between households come in, proposals with their reasons go
out. For each pair of households with at least one person link (at or above the review
threshold):

- **household** (the same family registered twice) when the heads are linked, or at least
  half of the smaller household's members are linked, or both carry the same KK number.
  It is merged automatically (``auto_merge``) only if every link is ``auto_merge``, the
  heads are among them, and neither household is auto-linked to a third household (two
  families claiming one would be ambiguous: a supervisor decides). Otherwise ``review``.
- **member** (one person appearing in two families, e.g. a grown child still on the
  parents' KK and on their own) otherwise: always ``review``; nothing is merged, since the
  two families are different.
- Pairs inside ONE household (a person entered twice in the same family) are reported as
  kind ``member`` with ``household_a == household_b``, always ``review``: a supervisor
  removes the extra member; merging a household with itself means nothing.

The weight of a proposal is that of its strongest link (the review queue sorts by it);
every link keeps its own weight, probability, decision and contributions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from app.reconcile.linker import AUTO_MERGE, REVIEW

HOUSEHOLD, MEMBER = "household", "member"


@dataclass(frozen=True)
class PersonLink:
    a: str             # member id in household_a
    b: str             # member id in household_b
    household_a: str
    household_b: str
    weight: float
    probability: float
    decision: str      # auto_merge | review
    contributions: tuple[dict[str, Any], ...] = ()
    note: str | None = None  # e.g. why the chaining guard refused it

    def flipped(self) -> PersonLink:
        return replace(self, a=self.b, b=self.a, household_a=self.household_b,
                       household_b=self.household_a)

    def as_json(self) -> dict[str, Any]:
        out = {"a": self.a, "b": self.b, "weight": self.weight, "probability": self.probability,
               "decision": self.decision, "contributions": list(self.contributions)}
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class HouseholdInfo:
    id: str
    size: int               # canonical members
    head: str | None        # member id of the head
    kk: str | None
    kecamatan: str


@dataclass(frozen=True)
class Reason:
    code: str
    reason: str
    reason_id: str

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "reason": self.reason, "reason_id": self.reason_id}


@dataclass
class Proposal:
    kind: str
    household_a: str
    household_b: str
    weight: float
    decision: str
    links: list[PersonLink]
    reasons: list[Reason] = field(default_factory=list)


def _oriented(link: PersonLink) -> PersonLink:
    if (link.household_a, link.a) > (link.household_b, link.b):
        return link.flipped()
    return link


def auto_partners(links: Iterable[PersonLink]) -> dict[str, set[str]]:
    """household -> the other households it has an auto_merge person link with."""
    out: dict[str, set[str]] = {}
    for link in links:
        if link.decision == AUTO_MERGE and link.household_a != link.household_b:
            out.setdefault(link.household_a, set()).add(link.household_b)
            out.setdefault(link.household_b, set()).add(link.household_a)
    return out


def propose(links: Iterable[PersonLink], households: Mapping[str, HouseholdInfo], *,
            known_partners: Mapping[str, set[str]] | None = None) -> list[Proposal]:
    """Proposals for every pair of households linked by ``links`` (see the module docstring).

    ``known_partners``: auto-merge partners known from elsewhere (the worker passes the
    pending automatic proposals of the other households), added to those of ``links``.
    """
    groups: dict[tuple[str, str], list[PersonLink]] = {}
    for link in links:
        o = _oriented(link)
        groups.setdefault((o.household_a, o.household_b), []).append(o)
    partners = auto_partners(link for group in groups.values() for link in group)
    for h, others in (known_partners or {}).items():
        partners.setdefault(h, set()).update(others)

    out = []
    for (ha, hb), group in sorted(groups.items()):
        group.sort(key=lambda x: (-x.weight, x.a, x.b))
        weight = group[0].weight
        if ha == hb:
            out.append(Proposal(MEMBER, ha, hb, weight, REVIEW, group, [Reason(
                "same_household", "the same person twice in one family",
                "orang yang sama tercatat dua kali dalam satu keluarga")]))
            continue
        a, b = households[ha], households[hb]
        reasons = []
        heads = a.head is not None and any(x.a == a.head and x.b == b.head for x in group)
        if heads:
            reasons.append(Reason("heads_linked", "the heads of both families are one person",
                                  "kepala keluarga keduanya orang yang sama"))
        linked = min(len({x.a for x in group}), len({x.b for x in group}))
        smaller = min(a.size, b.size)
        if smaller and 2 * linked >= smaller:
            reasons.append(Reason(
                "members_linked", f"{linked} of {smaller} members of the smaller family are linked",
                f"{linked} dari {smaller} anggota keluarga yang lebih kecil cocok"))
        if a.kk and a.kk == b.kk:
            reasons.append(Reason("same_kk", "both families carry the same KK number",
                                  "kedua keluarga memakai Nomor KK yang sama"))
        if not reasons:
            out.append(Proposal(MEMBER, ha, hb, weight, REVIEW, group, [Reason(
                "member_in_two_families", "a person appears in two families",
                "satu orang tercatat di dua keluarga")]))
            continue
        decision = REVIEW
        if all(x.decision == AUTO_MERGE for x in group) and heads:
            ambiguous = (partners.get(ha, set()) - {hb}) | (partners.get(hb, set()) - {ha})
            if ambiguous:
                reasons.append(Reason(
                    "ambiguous", "one of the families is also linked to another family",
                    "salah satu keluarga juga cocok dengan keluarga lain"))
            else:
                decision = AUTO_MERGE
        out.append(Proposal(HOUSEHOLD, ha, hb, weight, decision, group, reasons))
    return out
