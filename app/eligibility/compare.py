"""Dry run: what would change between two sets of decisions (old rules vs new, or two runs).

Pure counting.  The caller gives the decisions and, optionally, a grouping of families
(e.g. family key -> (kecamatan, desil label)); the result counts, per programme and per
transition (``eligible -> not_eligible``, ``absent -> needs_data``...), the families and the
subjects (persons, for person-level programmes) in each group.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass

from app.eligibility.decide import Decision

ABSENT = "absent"  # no decision on that side (new programme, person left the target...)
Grouping = Callable[[str], Hashable] | Mapping[str, Hashable] | None


@dataclass(frozen=True, slots=True)
class Transition:
    programme_id: str
    before: str
    after: str
    group: Hashable
    families: int  # distinct families with at least one subject in this transition
    subjects: int  # decisions: families, or persons for person-level programmes

    @property
    def changed(self) -> bool:
        return self.before != self.after


@dataclass(frozen=True, slots=True)
class Comparison:
    rows: tuple[Transition, ...]  # sorted by programme, group, before, after
    changed_families: tuple[tuple[str, int], ...] = ()  # programme -> distinct families changing

    @property
    def changes(self) -> tuple[Transition, ...]:
        return tuple(r for r in self.rows if r.changed)

    def families_changing(self, programme_id: str) -> int:
        """Families with a status change in ``programme_id``, each counted once."""
        return dict(self.changed_families).get(programme_id, 0)

    def table(self, *, only_changes: bool = True) -> str:
        rows = self.changes if only_changes else self.rows
        lines = [
            f"{'programme':<12} {'group':<28} {'before':<13} {'after':<13} {'families':>9} {'subjects':>9}"
        ]
        lines += [
            f"{r.programme_id:<12} {_show(r.group):<28} {r.before:<13} {r.after:<13} "
            f"{r.families:>9} {r.subjects:>9}"
            for r in rows
        ]
        if len(lines) == 1:
            lines.append("(no change)")
        return "\n".join(lines)


def _show(group: Hashable) -> str:
    if isinstance(group, tuple):
        return " / ".join(str(g) for g in group) or "-"
    return str(group)


def _no_group(_: str) -> Hashable:
    return ()


def _lookup(mapping: Mapping[str, Hashable]) -> Callable[[str], Hashable]:
    return lambda key: mapping.get(key, ())


def compare(old: Iterable[Decision], new: Iterable[Decision], group_by: Grouping = None) -> Comparison:
    """Count transitions between ``old`` and ``new`` decisions, matched by
    (programme, family, member); a family's group is looked up by its key in ``group_by``.

    Note a family changing in a person-level programme in two ways (one member gaining,
    another losing) is counted once in each transition.
    """
    before = {d.subject: d.outcome for d in old}
    after = {d.subject: d.outcome for d in new}
    group: Callable[[str], Hashable]
    if group_by is None:
        group = _no_group
    elif isinstance(group_by, Mapping):
        group = _lookup(group_by)
    else:
        group = group_by
    subjects: dict[tuple[str, Hashable, str, str], int] = defaultdict(int)
    families: dict[tuple[str, Hashable, str, str], set[str]] = defaultdict(set)
    changed: dict[str, set[str]] = defaultdict(set)
    for subject in before.keys() | after.keys():
        programme_id, family_key, _ = subject
        key = (programme_id, group(family_key), before.get(subject, ABSENT), after.get(subject, ABSENT))
        subjects[key] += 1
        families[key].add(family_key)
        if key[2] != key[3]:
            changed[programme_id].add(family_key)
    rows = [Transition(p, b, a, g, len(families[(p, g, b, a)]), n) for (p, g, b, a), n in subjects.items()]
    rows.sort(key=lambda r: (r.programme_id, repr(r.group), r.before, r.after))
    return Comparison(tuple(rows), tuple(sorted((p, len(f)) for p, f in changed.items())))
