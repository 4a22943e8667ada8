"""Read a programme rule file (YAML) into a :class:`RuleSet`, or refuse it with line numbers.

The YAML is composed into nodes (PyYAML's safe composer: no Python objects, no tags are
constructed) and every node is checked against the small vocabulary below while its line
is still known.  All errors are collected and reported together; nothing is returned
unless there are none.  There is no ``eval``: conditions become the tree of
:mod:`app.eligibility.conditions`.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from app.eligibility import conditions as C
from app.eligibility.fields import HOUSEHOLD_FIELDS, MEMBER_FIELDS, FieldSpec
from app.eligibility.rules import Exclusion, IfUnknown, Programme, RuleError, RuleSet, RuleSetInvalid

DEFAULT_RULES = Path(__file__).resolve().parents[2] / "seed_data" / "programmes.yaml"

OPERATORS = (
    "desil",
    "household",
    "head",
    "member",
    "any_member",
    "all_members",
    "member_count",
    "all_of",
    "any_of",
    "not",
)
ID_RE = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_BAD = object()  # a part that failed validation (its error is already recorded)


def load_ruleset(path: Path = DEFAULT_RULES) -> RuleSet:
    """Read and validate a rule file; raises :class:`RuleSetInvalid` and never half-loads."""
    return parse_ruleset(path.read_text(encoding="utf-8"), source=path.name)


def parse_ruleset(text: str, *, source: str = "<rules>") -> RuleSet:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        reason = " ".join(p for p in (exc.context, exc.problem) if p) or "malformed YAML"
        raise RuleSetInvalid(source, [RuleError(line, "", f"malformed YAML: {reason}")]) from None
    except yaml.YAMLError as exc:
        raise RuleSetInvalid(source, [RuleError(1, "", f"malformed YAML: {exc}")]) from None
    if root is None:
        raise RuleSetInvalid(source, [RuleError(1, "", "the file is empty")])
    compiler = _Compiler()
    ruleset = compiler.ruleset(root, hashlib.sha256(text.encode("utf-8")).hexdigest())
    if compiler.errors or ruleset is None:
        raise RuleSetInvalid(source, compiler.errors)
    return ruleset


def _line(node: Node) -> int:
    return node.start_mark.line + 1


class _Compiler:
    def __init__(self) -> None:
        self.errors: list[RuleError] = []
        self.settings: dict[str, Any] = {}
        self._constructor = SafeConstructor()
        self._used_member = False
        self._broken_exclusions: set[str] = set()  # defined but invalid: not "unknown" too

    # ------------------------------------------------------------ plumbing
    def err(self, node: Node, where: str, reason: str) -> Any:
        self.errors.append(RuleError(_line(node), where, reason))
        return _BAD

    @staticmethod
    def _at(where: str, key: str) -> str:
        return f"{where}.{key}" if where else key

    def mapping(
        self, node: Node, where: str, allowed: tuple[str, ...] | None = None, required: tuple[str, ...] = ()
    ) -> dict[str, Node] | None:
        if not isinstance(node, MappingNode):
            self.err(node, where, "expected a mapping (key: value)")
            return None
        out: dict[str, Node] = {}
        for key_node, value_node in node.value:
            key = self.scalar(key_node, where)
            if not isinstance(key, str):
                self.err(key_node, where, f"keys must be text, got {key!r}")
                continue
            if key in out:
                self.err(key_node, self._at(where, key), f"duplicate key '{key}'")
                continue
            if allowed is not None and key not in allowed:
                self.err(
                    key_node, self._at(where, key), f"unknown key '{key}' (allowed: {', '.join(allowed)})"
                )
                continue
            out[key] = value_node
        for key in required:
            if key not in out:
                self.err(node, where, f"missing required key '{key}'")
        return out

    def sequence(self, node: Node, where: str, non_empty: bool = True) -> list[Node] | None:
        if not isinstance(node, SequenceNode):
            self.err(node, where, "expected a list")
            return None
        if non_empty and not node.value:
            self.err(node, where, "the list is empty")
            return None
        return list(node.value)

    def scalar(self, node: Node, where: str) -> Any:
        if not isinstance(node, ScalarNode):
            return self.err(node, where, "expected a single value")
        try:
            return self._constructor.construct_object(node)
        except yaml.YAMLError as exc:
            return self.err(node, where, f"unreadable value: {exc}")

    def text(self, node: Node, where: str, pattern: re.Pattern[str] | None = None) -> Any:
        value = self.scalar(node, where)
        if value is _BAD:
            return _BAD
        if not isinstance(value, str) or not value.strip():
            return self.err(node, where, f"expected text, got {value!r} (quote it: '{value}')")
        if pattern is not None and not pattern.match(value):
            return self.err(node, where, f"'{value}' is not a valid id (lower case letters, digits, _ or -)")
        return value

    def number(
        self,
        node: Node,
        where: str,
        *,
        integer: bool = False,
        lo: float | None = None,
        hi: float | None = None,
    ) -> Any:
        value = self.scalar(node, where)
        if value is _BAD:
            return _BAD
        if isinstance(value, str) and value.startswith("$"):
            name = value[1:]
            if name not in self.settings:
                return self.err(
                    node,
                    where,
                    f"unknown setting '{value}' (settings: {', '.join(sorted(self.settings)) or 'none'})",
                )
            value = self.settings[name]
        wrong_type = not isinstance(value, int | float) or (integer and not isinstance(value, int))
        if isinstance(value, bool) or wrong_type:
            kind = "a whole number" if integer else "a number"
            return self.err(node, where, f"expected {kind}, got {value!r}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            bounds = (
                f"{lo:g}-{hi:g}"
                if lo is not None and hi is not None
                else f">= {lo:g}"
                if lo is not None
                else f"<= {hi:g}"
            )
            return self.err(node, where, f"{value} is out of range ({bounds})")
        return value

    def bilingual(self, node: Node, where: str, keys: tuple[str, str] = ("id", "en")) -> Any:
        m = self.mapping(node, where, allowed=keys, required=keys)
        if m is None or any(k not in m for k in keys):
            return _BAD
        parts = [self.text(m[k], f"{where}.{k}") for k in keys]
        return _BAD if _BAD in parts else (parts[0], parts[1])

    # ------------------------------------------------------------ the document
    def ruleset(self, root: Node, digest: str) -> RuleSet | None:
        top = self.mapping(
            root,
            "",
            allowed=("id", "version", "description", "settings", "exclusions", "programmes"),
            required=("id", "version", "programmes"),
        )
        if top is None:
            return None
        ident = self.text(top["id"], "id", ID_RE) if "id" in top else _BAD
        version = self.text(top["version"], "version") if "version" in top else _BAD
        description = self.text(top["description"], "description") if "description" in top else ""
        if "settings" in top:
            self.read_settings(top["settings"])
        exclusions: dict[str, tuple[Exclusion, bool]] = {}
        for i, node in enumerate(
            self.sequence(top["exclusions"], "exclusions") or [] if "exclusions" in top else []
        ):
            self.exclusion(node, f"exclusions[{i}]", exclusions)
        programmes: list[Programme] = []
        seen: set[str] = set()
        for i, node in enumerate(
            self.sequence(top["programmes"], "programmes") or [] if "programmes" in top else []
        ):
            prog = self.programme(node, f"programmes[{i}]", exclusions)
            if prog is None:
                continue
            if prog.id in seen:
                self.err(node, f"programmes[{i}].id", f"duplicate programme id '{prog.id}'")
            seen.add(prog.id)
            programmes.append(prog)
        if self.errors or _BAD in (ident, version, description):
            return None
        return RuleSet(
            id=cast(str, ident),
            version=cast(str, version),
            digest=digest,
            description=description,
            settings=MappingProxyType(dict(self.settings)),
            exclusions=tuple(e for e, _ in exclusions.values()),
            programmes=tuple(programmes),
        )

    def read_settings(self, node: Node) -> None:
        m = self.mapping(node, "settings") or {}
        for name, value_node in m.items():
            if not re.match(r"^[a-z][a-z0-9_]*$", name):
                self.err(value_node, f"settings.{name}", "setting names are lower case letters, digits and _")
                continue
            value = self.scalar(value_node, f"settings.{name}")
            if value is not _BAD and not isinstance(value, bool | int | float | str):
                self.err(
                    value_node, f"settings.{name}", f"a setting is a number, yes/no or text, got {value!r}"
                )
            elif value is not _BAD:
                self.settings[name] = value

    def exclusion(self, node: Node, where: str, out: dict[str, tuple[Exclusion, bool]]) -> None:
        m = self.mapping(
            node, where, allowed=("id", "label", "when", "if_unknown"), required=("id", "label", "when")
        )
        if m is None or any(k not in m for k in ("id", "label", "when")):
            return
        ident = self.text(m["id"], f"{where}.id", ID_RE)
        label = self.bilingual(m["label"], f"{where}.label")
        self._used_member = False
        when = self.condition(m["when"], f"{where}.when", person=True)
        uses_member = self._used_member
        if_unknown = "needs_data"
        if "if_unknown" in m:
            if_unknown = self.text(m["if_unknown"], f"{where}.if_unknown")
            if if_unknown not in ("needs_data", "ignore", _BAD):
                if_unknown = self.err(
                    m["if_unknown"], f"{where}.if_unknown", f"'{if_unknown}' must be needs_data or ignore"
                )
        if ident in out:
            self.err(m["id"], f"{where}.id", f"duplicate exclusion id '{ident}'")
            return
        if _BAD in (ident, label, when, if_unknown):
            if ident is not _BAD:
                self._broken_exclusions.add(ident)
            return
        out[ident] = (
            Exclusion(
                id=ident,
                label=label,
                when=when,
                if_unknown=cast(IfUnknown, if_unknown),
                line=_line(node),
                per_person=uses_member,
            ),
            uses_member,
        )

    def programme(
        self, node: Node, where: str, exclusions: dict[str, tuple[Exclusion, bool]]
    ) -> Programme | None:
        m = self.mapping(
            node,
            where,
            allowed=("id", "name", "title", "unit", "when", "target", "exclude"),
            required=("id", "name", "unit", "when"),
        )
        if m is None or any(k not in m for k in ("id", "name", "unit", "when")):
            return None
        ident = self.text(m["id"], f"{where}.id", ID_RE)
        name = self.text(m["name"], f"{where}.name")
        title = self.bilingual(m["title"], f"{where}.title") if "title" in m else (name, name)
        unit = self.text(m["unit"], f"{where}.unit")
        if unit not in ("family", "person", _BAD):
            unit = self.err(m["unit"], f"{where}.unit", f"unit '{unit}' must be family or person")
        person = unit == "person"
        when = self.condition(m["when"], f"{where}.when", person=person)
        target = None
        if "target" in m:
            if person:
                target = self.condition(m["target"], f"{where}.target", person=True)
            else:
                self.err(m["target"], f"{where}.target", "only a person-level programme has a target")
        excluded: list[Exclusion] = []
        for i, item in enumerate(
            self.sequence(m["exclude"], f"{where}.exclude", non_empty=False) or [] if "exclude" in m else []
        ):
            ex_id = self.text(item, f"{where}.exclude[{i}]")
            if ex_id is _BAD or ex_id in self._broken_exclusions:
                continue
            if ex_id not in exclusions:
                self.err(
                    item,
                    f"{where}.exclude[{i}]",
                    f"unknown exclusion '{ex_id}' (defined: {', '.join(exclusions) or 'none'})",
                )
            elif exclusions[ex_id][1] and not person:
                self.err(
                    item,
                    f"{where}.exclude[{i}]",
                    f"exclusion '{ex_id}' tests 'member', which only a person-level programme has",
                )
            else:
                excluded.append(exclusions[ex_id][0])
        if _BAD in (ident, name, title, unit, when, target):
            return None
        return Programme(
            id=ident,
            name=name,
            title=title,
            unit=unit,
            when=when,
            target=target,
            exclude=tuple(excluded),
            line=_line(node),
        )

    # ------------------------------------------------------------ conditions
    def condition(self, node: Node, where: str, *, person: bool) -> Any:
        if isinstance(node, SequenceNode):  # a list is all_of
            items = [
                self.condition(n, f"{where}[{i}]", person=person)
                for i, n in enumerate(self.sequence(node, where) or [])
            ]
            return _BAD if _BAD in items or not items else C.AllOf(None, tuple(items))
        m = self.mapping(node, where)
        if m is None:
            return _BAD
        ops = [k for k in m if k in OPERATORS]
        for key in m:
            if key not in OPERATORS and key != "label":
                self.err(node, f"{where}.{key}", f"unknown condition '{key}' (known: {', '.join(OPERATORS)})")
        if len(ops) != 1:
            if not ops:
                return self.err(node, where, f"a condition needs one of: {', '.join(OPERATORS)}")
            return self.err(
                node, where, f"one condition per item, found {', '.join(ops)}: use all_of or any_of"
            )
        label = self.label(m["label"], f"{where}.label") if "label" in m else None
        op = ops[0]
        body, at = m[op], f"{where}.{op}"
        cond: Any
        if op == "desil":
            cond = self.desil(body, at, label)
        elif op in ("all_of", "any_of"):
            items = [
                self.condition(n, f"{at}[{i}]", person=person)
                for i, n in enumerate(self.sequence(body, at) or [])
            ]
            cls = C.AllOf if op == "all_of" else C.AnyOf
            cond = _BAD if _BAD in items or not items else cls(label, tuple(items))
        elif op == "not":
            item = self.condition(body, at, person=person)
            cond = _BAD if item is _BAD else C.Not(label, item)
        elif op == "household":
            tests = self.tests(body, at, HOUSEHOLD_FIELDS, "the household")
            cond = _BAD if tests is _BAD else C.HouseholdCond(label, tests)
        elif op == "member_count":
            cond = self.member_count(body, at, label)
        else:
            if op == "member":
                self._used_member = True
                if not person:
                    return self.err(
                        body,
                        at,
                        "'member' (the person decided about) only exists in "
                        "a person-level programme; use any_member or all_members",
                    )
            tests = self.tests(body, at, MEMBER_FIELDS, "a member")
            cls_by_op = {
                "head": C.HeadCond,
                "member": C.MemberCond,
                "any_member": C.AnyMember,
                "all_members": C.AllMembers,
            }
            cond = _BAD if tests is _BAD else cls_by_op[op](label, tests)
        return _BAD if label is _BAD else cond

    def label(self, node: Node, where: str) -> Any:
        m = self.mapping(node, where, allowed=("id", "en", "not_id", "not_en"))
        if m is None:
            return _BAD
        texts = {k: self.text(v, f"{where}.{k}") for k, v in m.items()}
        for a, b in (("id", "en"), ("not_id", "not_en")):
            if (a in m) != (b in m):
                self.err(node, where, f"'{a}' and '{b}' go together (both languages)")
                return _BAD
        if not texts:
            return self.err(node, where, "a label needs id/en and/or not_id/not_en")
        if _BAD in texts.values():
            return _BAD
        yes = (texts["id"], texts["en"]) if "id" in texts else None
        no = (texts["not_id"], texts["not_en"]) if "not_id" in texts else None
        return C.Label(yes=yes, no=no)

    def bounds(self, m: dict[str, Node], where: str, lo: float, hi: float | None) -> Any:
        got = {
            k: self.number(m[k], f"{where}.{k}", integer=True, lo=lo, hi=hi) for k in ("min", "max") if k in m
        }
        if _BAD in got.values():
            return _BAD
        if "min" in got and "max" in got and got["min"] > got["max"]:
            return self.err(m["min"], where, f"min {got['min']} is above max {got['max']}")
        return got.get("min"), got.get("max")

    def desil(self, node: Node, where: str, label: Any) -> Any:
        m = self.mapping(node, where, allowed=("min", "max", "source"))
        if m is None:
            return _BAD
        if "min" not in m and "max" not in m:
            return self.err(node, where, "desil needs min and/or max (1-10)")
        rng = self.bounds(m, where, 1, 10)
        source = self.text(m["source"], f"{where}.source") if "source" in m else "any"
        if source not in ("any", "official", _BAD):
            source = self.err(m["source"], f"{where}.source", f"source '{source}' must be any or official")
        if _BAD in (rng, source):
            return _BAD
        return C.DesilCond(label, rng[0], rng[1], official_only=source == "official")

    def member_count(self, node: Node, where: str, label: Any) -> Any:
        m = self.mapping(node, where, allowed=("min", "max", "where"))
        if m is None:
            return _BAD
        if "min" not in m and "max" not in m:
            return self.err(node, where, "member_count needs min and/or max")
        rng = self.bounds(m, where, 0, None)
        where_tests: Any = ()
        if "where" in m:
            where_tests = self.tests(m["where"], f"{where}.where", MEMBER_FIELDS, "a member")
        if _BAD in (rng, where_tests):
            return _BAD
        return C.MemberCount(label, rng[0], rng[1], where_tests)

    def tests(self, node: Node, where: str, specs: dict[str, FieldSpec], what: str) -> Any:
        m = self.mapping(node, where)
        if m is None:
            return _BAD
        if not m:
            return self.err(node, where, "name at least one field to test")
        out: list[C.Test] = []
        for name, value_node in m.items():
            spec = specs.get(name)
            if spec is None:
                self.err(
                    value_node,
                    f"{where}.{name}",
                    f"unknown field '{name}' for {what} (known: {', '.join(sorted(specs))})",
                )
                continue
            test = self.test(spec, value_node, f"{where}.{name}")
            if test is not _BAD:
                out.append(test)
        return _BAD if len(out) != len(m) else tuple(out)

    def code(self, spec: FieldSpec, node: Node, where: str) -> Any:
        value = self.scalar(node, where)
        if value is _BAD:
            return _BAD
        assert spec.codes is not None
        if not isinstance(value, str) or value not in spec.codes:
            return self.err(
                node,
                where,
                f"unknown code {value!r} for {spec.name} (known: {', '.join(sorted(spec.codes))})",
            )
        return value

    def test(self, spec: FieldSpec, node: Node, where: str) -> Any:
        if isinstance(node, ScalarNode):
            if spec.kind == "code":
                value = self.code(spec, node, where)
                return _BAD if value is _BAD else C.Test(spec, one_of=frozenset([value]))
            if spec.kind == "number":
                value = self.number(node, where)
                return _BAD if value is _BAD else C.Test(spec, equals=value)
            value = self.scalar(node, where)
            if value is _BAD:
                return _BAD
            if isinstance(value, str) and value.startswith("$"):
                value = self.settings.get(value[1:], value)
            if not isinstance(value, bool):
                return self.err(node, where, f"{spec.name} is yes/no: write true or false, got {value!r}")
            return C.Test(spec, equals=value)
        if spec.kind == "bool":
            return self.err(node, where, f"{spec.name} is yes/no: write true or false")
        m = self.mapping(node, where, allowed=("min", "max") if spec.kind == "number" else ("in", "not_in"))
        if m is None:
            return _BAD
        if spec.kind == "number":
            if not m:
                return self.err(node, where, f"{spec.name} needs min and/or max")
            got = {k: self.number(v, f"{where}.{k}") for k, v in m.items()}
            if _BAD in got.values():
                return _BAD
            if "min" in got and "max" in got and got["min"] > got["max"]:
                return self.err(node, where, f"min {got['min']} is above max {got['max']}")
            return C.Test(spec, min=got.get("min"), max=got.get("max"))
        if len(m) != 1:
            return self.err(node, where, f"{spec.name} takes exactly one of: in, not_in")
        key, list_node = next(iter(m.items()))
        items = self.sequence(list_node, f"{where}.{key}")
        if items is None:
            return _BAD
        values = [self.code(spec, n, f"{where}.{key}") for n in items]
        if _BAD in values:
            return _BAD
        return C.Test(spec, one_of=frozenset(cast(list[str], values)), negate=key == "not_in")
