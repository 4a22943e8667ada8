"""The condition tree a rule file compiles to, and its three-valued evaluation.

Every condition answers ``True``, ``False`` or ``None`` (cannot be decided: an input is
missing) with the reasons for that answer in both languages and, for ``None``, the inputs
that are missing.  ``all_of``/``any_of``/``not`` follow Kleene's logic, so a missing input
only matters when it could change the answer: a family in desil 8 is "not eligible" for a
desil 1-4 programme even if a member's pregnancy is unknown.

Member quantifiers (``any_member``, ``all_members``, ``member_count``) look at the members
alive and born at the reference date; ``head`` is the head whether alive or not, so an
exclusion can test ``head: {alive: false}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.eligibility import fields as F
from app.eligibility.facts import DesilInfo
from app.eligibility.fields import FieldSpec, code_label

Text = tuple[str, str]  # (Bahasa Indonesia, English)
Values = Mapping[str, Any]


class Lazy:
    """Reasons with values, worded only if a decision keeps them (most are discarded)."""

    __slots__ = ("checks", "subject", "tests", "value", "values")

    def __init__(
        self,
        tests: Sequence[Test],
        values: Values,
        checks: Sequence[bool | None],
        value: bool | None,
        subject: Text | None,
    ) -> None:
        self.tests, self.values, self.checks, self.value, self.subject = tests, values, checks, value, subject

    def texts(self) -> tuple[Text, ...]:
        return tuple(
            t.explain(self.values.get(t.spec.name), c, self.subject)
            for t, c in zip(self.tests, self.checks, strict=True)
            if c is self.value
        )


Piece = Text | Lazy


def resolve(pieces: Sequence[Piece]) -> tuple[Text, ...]:
    """The reasons of a result in words, (Bahasa Indonesia, English) each."""
    out: list[Text] = []
    for p in pieces:
        if isinstance(p, Lazy):
            out.extend(p.texts())
        else:
            out.append(p)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Result:
    value: bool | None
    texts: tuple[Piece, ...] = ()  # see resolve()
    missing: tuple[str, ...] = ()


@dataclass(slots=True)
class Context:
    household: Values
    members: Sequence[tuple[str, Values]]  # (member key, values), living at the date
    head: tuple[str, Values] | None
    desil: DesilInfo
    member: tuple[str, Values] | None = None  # the person a person-level rule is about


@dataclass(frozen=True, slots=True)
class Label:
    yes: Text | None = None  # said when the condition holds
    no: Text | None = None  # said when it does not


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.1f}".rstrip("0").rstrip(".")
    return str(v)


def _join(items: Sequence[str], word: str) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {word} {items[-1]}"


# ---------------------------------------------------------------- field tests
@dataclass(frozen=True, slots=True)
class Test:
    """One field compared with a literal: equality, a range, or (not) one of a list."""

    spec: FieldSpec
    equals: Any = None
    min: float | None = None
    max: float | None = None
    one_of: frozenset[str] | None = None
    negate: bool = False  # not_in
    description: Text = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "description", self.describe())

    def check(self, value: Any) -> bool | None:
        if value is None:
            return None
        if self.one_of is not None:
            return (value in self.one_of) != self.negate
        if self.min is not None or self.max is not None:
            return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)
        return bool(value == self.equals)

    def _range(self) -> str:
        lo, hi = self.min, self.max
        if lo is not None and hi is not None:
            return f"{_fmt(lo)}-{_fmt(hi)}"
        return f">= {_fmt(lo)}" if lo is not None else f"<= {_fmt(hi)}"

    def _codes(self, lang: int) -> str:
        assert self.one_of is not None
        names = [code_label(c, ("id", "en")[lang]) for c in sorted(self.one_of)]
        return _join(names, (F.OR if not self.negate else F.AND)[lang])

    def describe(self) -> Text:
        """The test in words, without a value: ``usia 0-6``, ``hamil``, ``pekerjaan PNS/ASN``."""
        s = self.spec
        if s.kind == "bool":
            assert s.yes is not None and s.no is not None
            return s.yes if self.equals else s.no
        if self.one_of is not None:
            neg = ("bukan ", "not ") if self.negate else ("", "")
            return (f"{s.label_id} {neg[0]}{self._codes(0)}", f"{s.label_en} {neg[1]}{self._codes(1)}")
        if self.min is not None or self.max is not None:
            return (f"{s.label_id} {self._range()}", f"{s.label_en} {self._range()}")
        return (f"{s.label_id} {_fmt(self.equals)}", f"{s.label_en} {_fmt(self.equals)}")

    def explain(self, value: Any, holds: bool | None, subject: Text | None = None) -> Text:
        """The test with the family's value: ``daya listrik (VA) 2200 >= 2200``."""
        s = self.spec
        if holds is None:
            text = (f"{s.label_id}: {F.UNKNOWN[0]}", f"{s.label_en}: {F.UNKNOWN[1]}")
        elif s.kind == "bool":
            assert s.yes is not None and s.no is not None
            text = s.yes if value else s.no
        elif s.kind == "code":
            shown = (code_label(value, "id"), code_label(value, "en"))
            if holds or self.one_of is None:
                text = (f"{s.label_id}: {shown[0]}", f"{s.label_en}: {shown[1]}")
            else:
                neg = ("bukan", "not") if not self.negate else ("termasuk", "one of")
                text = (
                    f"{s.label_id}: {shown[0]} ({neg[0]} {self._codes(0)})",
                    f"{s.label_en}: {shown[1]} ({neg[1]} {self._codes(1)})",
                )
        else:
            rel = relation(value, self.min, self.max, self.equals, holds)
            text = (f"{s.label_id} {_fmt(value)} {rel}", f"{s.label_en} {_fmt(value)} {rel}")
        if subject is not None:
            text = (f"{subject[0]}: {text[0]}", f"{subject[1]}: {text[1]}")
        return text


def relation(value: Any, lo: float | None, hi: float | None, equals: Any, holds: bool) -> str:
    """``<= 4``, ``> 4``, ``>= 60``, ``(6-21)``, ``< 6``: how a number stands to its bounds."""
    if lo is None and hi is None:
        return f"= {_fmt(equals)}" if holds else f"!= {_fmt(equals)}"
    if lo is not None and hi is not None:
        if holds:
            return f"({_fmt(lo)}-{_fmt(hi)})"
        return f"< {_fmt(lo)}" if value < lo else f"> {_fmt(hi)}"
    if hi is not None:
        return f"<= {_fmt(hi)}" if holds else f"> {_fmt(hi)}"
    return f">= {_fmt(lo)}" if holds else f"< {_fmt(lo)}"


def _and(results: Sequence[bool | None]) -> bool | None:
    if False in results:
        return False
    return None if None in results else True


def _check_all(tests: Sequence[Test], values: Values) -> bool | None:
    return _and([t.check(values.get(t.spec.name)) for t in tests])


def _describe_all(tests: Sequence[Test]) -> Text:
    parts = [t.description for t in tests]
    return (_join([p[0] for p in parts], F.AND[0]), _join([p[1] for p in parts], F.AND[1]))


def _scope(tests: Sequence[Test], values: Values, where: str, subject: Text | None = None) -> Result:
    """All ``tests`` on one set of values (the household, the head, one member)."""
    checks = [t.check(values.get(t.spec.name)) for t in tests]
    value = _and(checks)
    if value is None:
        missing = tuple(f"{where}.{t.spec.name}" for t, c in zip(tests, checks, strict=True) if c is None)
    else:
        missing = ()
    return Result(value, (Lazy(tests, values, checks, value, subject),), missing)


# ---------------------------------------------------------------- condition nodes
@dataclass(frozen=True, slots=True)
class Condition:
    label: Label | None

    def evaluate(self, ctx: Context) -> Result:
        result = self._evaluate(ctx)
        lab = self.label
        if lab is not None:
            text = lab.yes if result.value is True else lab.no if result.value is False else None
            if text is not None:
                return Result(result.value, (text,), result.missing)
        return result

    def _evaluate(self, ctx: Context) -> Result:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class DesilCond(Condition):
    min: int | None
    max: int | None
    official_only: bool = False

    def _evaluate(self, ctx: Context) -> Result:
        d = ctx.desil
        if d.desil is None:
            return Result(None, ((d.label("id"), d.label("en")),), ("desil",))
        if self.official_only and d.source != "official":
            t = F.OFFICIAL_REQUIRED
            return Result(
                None, ((t[0].format(d.label("id")), t[1].format(d.label("en"))),), ("official desil",)
            )
        holds = (self.min is None or d.desil >= self.min) and (self.max is None or d.desil <= self.max)
        rel = relation(d.desil, self.min, self.max, None, holds)
        return Result(holds, ((f"{d.label('id')} {rel}", f"{d.label('en')} {rel}"),))


@dataclass(frozen=True, slots=True)
class HouseholdCond(Condition):
    tests: tuple[Test, ...]

    def _evaluate(self, ctx: Context) -> Result:
        return _scope(self.tests, ctx.household, "household")


@dataclass(frozen=True, slots=True)
class HeadCond(Condition):
    tests: tuple[Test, ...]

    def _evaluate(self, ctx: Context) -> Result:
        if ctx.head is None:
            return Result(None, (F.NO_HEAD,), ("head",))
        return _scope(self.tests, ctx.head[1], "head", subject=F.HEAD)


@dataclass(frozen=True, slots=True)
class MemberCond(Condition):
    """The person a person-level programme is deciding about."""

    tests: tuple[Test, ...]

    def _evaluate(self, ctx: Context) -> Result:
        assert ctx.member is not None, "member conditions are for person-level programmes"
        key, values = ctx.member
        return _scope(self.tests, values, f"member[{key}]")


def _member_checks(tests: Sequence[Test], ctx: Context) -> tuple[list[bool | None], tuple[str, ...]]:
    checks: list[bool | None] = []
    missing: list[str] = []
    for key, values in ctx.members:
        per = [t.check(values.get(t.spec.name)) for t in tests]
        value = _and(per)
        checks.append(value)
        if value is None:
            missing.extend(
                f"member[{key}].{t.spec.name}" for t, c in zip(tests, per, strict=True) if c is None
            )
    return checks, tuple(missing)


def _worded(template: Text, d: Text) -> Text:
    return (template[0].format(d[0]), template[1].format(d[1]))


@dataclass(frozen=True, slots=True)
class AnyMember(Condition):
    tests: tuple[Test, ...]
    wording: dict[bool | None, Text] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        d = _describe_all(self.tests)
        object.__setattr__(
            self,
            "wording",
            {
                True: _worded(F.ANY_MEMBER, d),
                None: _worded(F.ANY_MEMBER_UNKNOWN, d),
                False: _worded(F.NO_MEMBER, d),
            },
        )

    def _evaluate(self, ctx: Context) -> Result:
        checks, missing = _member_checks(self.tests, ctx)
        value = True if True in checks else None if None in checks else False
        return Result(value, (self.wording[value],), missing if value is None else ())


@dataclass(frozen=True, slots=True)
class AllMembers(Condition):
    tests: tuple[Test, ...]
    wording: dict[bool | None, Text] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        d = _describe_all(self.tests)
        object.__setattr__(
            self,
            "wording",
            {
                True: _worded(F.ALL_MEMBERS, d),
                None: _worded(F.ALL_MEMBERS_UNKNOWN, d),
                False: _worded(F.NOT_ALL_MEMBERS, d),
            },
        )

    def _evaluate(self, ctx: Context) -> Result:
        checks, missing = _member_checks(self.tests, ctx)
        value = _and(checks)
        return Result(value, (self.wording[value],), missing if value is None else ())


@dataclass(frozen=True, slots=True)
class MemberCount(Condition):
    min: int | None
    max: int | None
    where: tuple[Test, ...] = ()

    def _fits(self, n: int) -> bool:
        return (self.min is None or n >= self.min) and (self.max is None or n <= self.max)

    def _evaluate(self, ctx: Context) -> Result:
        if self.where:
            checks, missing = _member_checks(self.where, ctx)
        else:
            checks, missing = [True] * len(ctx.members), ()
        # the count lies between the members known to match and those that might
        low, high = checks.count(True), checks.count(True) + checks.count(None)
        fits = {self._fits(n) for n in range(low, high + 1)}
        value: bool | None = fits.pop() if len(fits) == 1 else None
        if self.where:
            d = _describe_all(self.where)
            if value is None:
                t = F.COUNT_UNKNOWN
                return Result(None, ((t[0].format(d[0]), t[1].format(d[1])),), missing)
            t = F.COUNT
            rel = relation(low, self.min, self.max, None, value)
            return Result(
                value, ((t[0].format(f"{low}", d[0]) + f" {rel}", t[1].format(f"{low}", d[1]) + f" {rel}"),)
            )
        rel = relation(low, self.min, self.max, None, bool(value))
        t = F.COUNT_ALL
        return Result(value, ((t[0].format(low) + f" {rel}", t[1].format(low) + f" {rel}"),))


@dataclass(frozen=True, slots=True)
class AllOf(Condition):
    items: tuple[Condition, ...]

    def _evaluate(self, ctx: Context) -> Result:
        results = [c.evaluate(ctx) for c in self.items]
        value = _and([r.value for r in results])
        return _combine(value, results)


@dataclass(frozen=True, slots=True)
class AnyOf(Condition):
    items: tuple[Condition, ...]

    def _evaluate(self, ctx: Context) -> Result:
        results = [c.evaluate(ctx) for c in self.items]
        values = [r.value for r in results]
        value = True if True in values else None if None in values else False
        if value is None:  # say what failed as well as what is unknown: both decide it
            return Result(
                None,
                tuple(t for r in results for t in r.texts),
                tuple(m for r in results if r.value is None for m in r.missing),
            )
        return _combine(value, results)


def _combine(value: bool | None, results: Sequence[Result]) -> Result:
    """Keep the reasons of the parts that gave the answer (all of them when it is False
    for ``any_of``: every alternative failed)."""
    texts = tuple(t for r in results if r.value is value for t in r.texts)
    missing = tuple(m for r in results if r.value is None for m in r.missing) if value is None else ()
    return Result(value, texts, missing)


@dataclass(frozen=True, slots=True)
class Not(Condition):
    item: Condition

    def _evaluate(self, ctx: Context) -> Result:
        r = self.item.evaluate(ctx)
        # the part's own reason explains the negation too ("does not own a car")
        return Result(None if r.value is None else not r.value, r.texts, r.missing)


def inputs_of(cond: Condition | None) -> frozenset[str]:
    """The inputs a condition reads: ``desil``, ``household.<field>``, ``member.<field>``
    (``member_count`` reads the number of members: ``household.member_count``)."""
    if cond is None:
        return frozenset()
    if isinstance(cond, DesilCond):
        return frozenset({"desil"})
    if isinstance(cond, HouseholdCond):
        return frozenset(f"household.{t.spec.name}" for t in cond.tests)
    if isinstance(cond, HeadCond):
        return frozenset(f"member.{t.spec.name}" for t in cond.tests) | {"member.relation"}
    if isinstance(cond, MemberCond | AnyMember | AllMembers):
        return frozenset(f"member.{t.spec.name}" for t in cond.tests)
    if isinstance(cond, MemberCount):
        return frozenset(f"member.{t.spec.name}" for t in cond.where) | {"household.member_count"}
    if isinstance(cond, AllOf | AnyOf):
        return frozenset().union(*(inputs_of(c) for c in cond.items))
    if isinstance(cond, Not):
        return inputs_of(cond.item)
    raise TypeError(f"unknown condition {type(cond).__name__}")
