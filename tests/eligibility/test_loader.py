"""Rule files: the shipped one loads into an immutable RuleSet; bad ones are refused with the line."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from app.eligibility.loader import DEFAULT_RULES, load_ruleset, parse_ruleset
from app.eligibility.rules import RuleSetInvalid

GOOD = """\
id: test-rules
version: "1"
settings:
  max_d: 4
exclusions:
  - id: car
    label: {id: memiliki mobil, en: owns a car}
    when: {household: {asset_car: true}}
programmes:
  - id: blt
    name: BLT
    unit: family
    when:
      - desil: {max: $max_d}
    exclude: [car]
"""


def refused(text: str) -> RuleSetInvalid:
    with pytest.raises(RuleSetInvalid) as info:
        parse_ruleset(textwrap.dedent(text), source="bad.yaml")
    return info.value


class TestTheShippedFile:
    def test_loads(self) -> None:
        rules = load_ruleset()
        assert rules.label == "ternate-bansos@2026.1"
        assert [p.id for p in rules.programmes] == ["pkh", "sembako", "blt", "pbi_jk", "pip"]
        assert {p.unit for p in rules.programmes if p.id in ("pbi_jk", "pip")} == {"person"}

    def test_is_immutable(self) -> None:
        rules = load_ruleset()
        with pytest.raises(dataclasses.FrozenInstanceError):
            rules.version = "2"  # type: ignore[misc]
        with pytest.raises(TypeError):
            rules.settings["elderly_min_age"] = 70  # type: ignore[index]
        assert isinstance(rules.programmes, tuple)

    def test_same_text_same_digest(self) -> None:
        assert load_ruleset().digest == load_ruleset(DEFAULT_RULES).digest

    def test_good_minimal_file(self) -> None:
        rules = parse_ruleset(GOOD)
        assert rules.programme("blt").exclude[0].id == "car"


class TestRefused:
    def test_unknown_top_level_key(self) -> None:
        err = refused(GOOD + "colour: blue\n")
        assert (err.first.line, err.first.where) == (16, "colour")
        assert "unknown key 'colour'" in err.first.reason

    def test_unknown_key_in_a_programme(self) -> None:
        err = refused(GOOD.replace("    unit: family\n", "    unit: family\n    priority: 1\n"))
        assert (err.first.line, err.first.where) == (13, "programmes[0].priority")

    def test_wrong_type(self) -> None:
        err = refused(GOOD.replace("{asset_car: true}", "{asset_car: 3}"))
        assert err.first.line == 8 and "asset_car is yes/no" in err.first.reason

    def test_wrong_type_for_a_number(self) -> None:
        err = refused(GOOD.replace("max_d: 4", "max_d: four"))
        assert err.first.line == 14 and "expected a whole number, got 'four'" in err.first.reason

    def test_unknown_field(self) -> None:
        err = refused(GOOD.replace("{asset_car: true}", "{asset_plane: true}"))
        assert err.first.line == 8
        assert "unknown field 'asset_plane' for the household" in err.first.reason

    def test_unknown_member_field_with_its_path(self) -> None:
        err = refused(GOOD.replace("      - desil: {max: $max_d}\n",
                                   "      - any_member: {agee: {max: 6}}\n"))
        assert err.first.line == 14 and err.first.where == "programmes[0].when[0].any_member.agee"

    def test_desil_11(self) -> None:
        err = refused(GOOD.replace("{max: $max_d}", "{max: 11}"))
        assert err.first.line == 14 and "11 is out of range (1-10)" in err.first.reason

    def test_desil_setting_out_of_range(self) -> None:
        err = refused(GOOD.replace("max_d: 4", "max_d: 0"))
        assert err.first.line == 14 and "0 is out of range" in err.first.reason

    def test_duplicate_programme_id(self) -> None:
        dup = GOOD + textwrap.indent(GOOD.split("programmes:\n")[1], "")
        err = refused(dup)
        assert err.first.line == 16 and "duplicate programme id 'blt'" in err.first.reason

    def test_duplicate_key(self) -> None:
        err = refused(GOOD.replace("    unit: family\n", "    unit: family\n    unit: person\n"))
        assert err.first.line == 13 and "duplicate key 'unit'" in err.first.reason

    def test_malformed_yaml(self) -> None:
        err = refused(GOOD.replace("    name: BLT\n", "    name: [BLT\n"))
        assert err.first.line in (11, 12) and err.first.reason.startswith("malformed YAML")

    def test_bad_indentation(self) -> None:
        err = refused(GOOD.replace("    unit: family\n", "   unit: family\n"))
        assert err.first.reason.startswith("malformed YAML") and err.first.line == 12

    def test_unknown_code(self) -> None:
        err = refused(GOOD.replace("{asset_car: true}", "{floor_material: gold}"))
        assert "unknown code 'gold' for floor_material" in err.first.reason

    def test_unknown_setting(self) -> None:
        err = refused(GOOD.replace("$max_d", "$min_d"))
        assert err.first.line == 14 and "unknown setting '$min_d'" in err.first.reason

    def test_unknown_exclusion(self) -> None:
        err = refused(GOOD.replace("exclude: [car]", "exclude: [boat]"))
        assert err.first.line == 15 and "unknown exclusion 'boat'" in err.first.reason

    def test_member_in_a_family_programme(self) -> None:
        err = refused(GOOD.replace("      - desil: {max: $max_d}\n", "      - member: {age: {max: 6}}\n"))
        assert err.first.line == 14 and "person-level" in err.first.reason

    def test_unquoted_version_number(self) -> None:
        err = refused(GOOD.replace('version: "1"', "version: 2026.1"))
        assert err.first.line == 2 and "quote it" in err.first.reason

    def test_two_operators_in_one_condition(self) -> None:
        err = refused(GOOD.replace("      - desil: {max: $max_d}\n",
                                   "      - {desil: {max: 4}, household: {asset_car: false}}\n"))
        assert "one condition per item" in err.first.reason

    def test_min_above_max(self) -> None:
        err = refused(GOOD.replace("{max: $max_d}", "{min: 5, max: 3}"))
        assert "min 5 is above max 3" in err.first.reason

    def test_label_in_one_language_only(self) -> None:
        err = refused(GOOD.replace("      - desil: {max: $max_d}\n",
                                   "      - desil: {max: 4}\n        label: {id: miskin}\n"))
        assert "'id' and 'en' go together" in err.first.reason

    def test_every_error_is_reported_in_line_order(self) -> None:
        text = GOOD.replace("{asset_car: true}", "{asset_plane: true}").replace("{max: $max_d}", "{max: 11}")
        err = refused(text)
        assert [e.line for e in err.errors] == [8, 14]
        assert "bad.yaml line 8" in str(err) and "bad.yaml line 14" in str(err)

    def test_empty_file(self) -> None:
        assert refused("").first.reason == "the file is empty"

    def test_a_list_at_the_top(self) -> None:
        assert "expected a mapping" in refused("- 1\n- 2\n").first.reason

    def test_python_tags_are_not_constructed(self) -> None:
        err = refused(GOOD.replace('version: "1"', "version: !!python/object/apply:os.system ['true']"))
        assert err.first.line == 2

    def test_loading_a_bad_file_returns_nothing(self, tmp_path: Path) -> None:
        path = tmp_path / "rules.yaml"
        path.write_text(GOOD.replace("{max: $max_d}", "{max: 11}"), encoding="utf-8")
        result = None
        with pytest.raises(RuleSetInvalid):
            result = load_ruleset(path)
        assert result is None
