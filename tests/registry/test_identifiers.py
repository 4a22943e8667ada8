"""NIK / KK / phone checks: pure functions, no database."""

from __future__ import annotations

from datetime import date

import pytest

from app.registry.identifiers import (
    IdentifierInvalid,
    mask,
    nik_consistency,
    normalise_phone,
    parse_kk,
    parse_nik,
    redact_identifiers,
)


class TestNikStructure:
    def test_decodes_a_womans_nik(self) -> None:
        info = parse_nik("8271074508900001")
        assert (info.birth_day, info.birth_month, info.birth_yy, info.sex) == (5, 8, 90, "female")
        assert info.region == "827107" and info.in_ternate

    def test_separators_are_tolerated(self) -> None:
        assert parse_nik("8271 0705 0890 0001").nik == "8271070508900001"

    @pytest.mark.parametrize(("value", "rule"), [
        ("827107050890001", "length_16"),
        ("82710705089000011", "length_16"),
        ("82710705089O0001", "digits_only"),
        ("9971070508900001", "region_prefix"),  # no province 99
        ("8299070508900001", "region_prefix"),  # no regency 99 in Maluku Utara
        ("8271000508900001", "region_prefix"),  # kecamatan 00
        ("8271073208900001", "birth_date_digits"),  # day 32
        ("8271070513900001", "birth_date_digits"),  # month 13
        ("8271077208900001", "birth_date_digits"),  # 72-40 = day 32
        ("8271073002900001", "birth_date_digits"),  # 30 February
        ("8271070508900000", "serial"),
    ])
    def test_rejects_with_the_rule_broken(self, value: str, rule: str) -> None:
        with pytest.raises(IdentifierInvalid) as exc:
            parse_nik(value)
        assert exc.value.problem.rule == rule
        assert exc.value.problem.message and exc.value.problem.message_id

    def test_valid_nik_from_another_province_is_accepted_but_not_ternate(self) -> None:
        info = parse_nik("7371010508900001")  # Makassar
        assert not info.in_ternate

    def test_ternate_barat_residents_may_carry_the_pulau_ternate_prefix(self) -> None:
        assert parse_nik("8271010508900001").in_ternate


class TestNikConsistency:
    def test_consistent(self) -> None:
        info = parse_nik("8271074508900001")
        assert nik_consistency(info, birth_date=date(1990, 8, 5), sex="female") == []

    def test_birth_date_mismatch(self) -> None:
        info = parse_nik("8271074508900001")
        problems = nik_consistency(info, birth_date=date(1990, 8, 6), sex="female")
        assert [p.rule for p in problems] == ["nik_birth_date"]

    def test_sex_mismatch_is_the_plus_forty_rule(self) -> None:
        info = parse_nik("8271070508900001")  # male encoding
        problems = nik_consistency(info, birth_date=date(1990, 8, 5), sex="female")
        assert [p.rule for p in problems] == ["nik_sex"]

    def test_century_is_not_encoded(self) -> None:
        info = parse_nik("8271070501100001")
        assert nik_consistency(info, birth_date=date(2010, 1, 5), sex="male") == []
        assert nik_consistency(info, birth_date=date(1910, 1, 5), sex="male") == []


class TestKk:
    def test_valid(self) -> None:
        assert parse_kk("8271071203150002") == "8271071203150002"

    @pytest.mark.parametrize(("value", "rule"), [
        ("827107120315000", "length_16"),
        ("9971071203150002", "region_prefix"),
        ("8271073203150002", "issue_date_digits"),
        ("8271071213150002", "issue_date_digits"),
        ("8271071203150000", "serial"),
    ])
    def test_invalid(self, value: str, rule: str) -> None:
        with pytest.raises(IdentifierInvalid) as exc:
            parse_kk(value)
        assert exc.value.problem.rule == rule


class TestPhone:
    @pytest.mark.parametrize("value", ["0812-3456-7890", "+62 812 3456 7890", "6281234567890",
                                       "(0921) 312345"])
    def test_normalised_to_e164(self, value: str) -> None:
        assert normalise_phone(value).startswith("+62")

    @pytest.mark.parametrize(("value", "rule"), [
        ("hello", "phone_format"), ("+1 202 555 0100", "phone_indonesian"), ("0812", "phone_indonesian"),
    ])
    def test_invalid(self, value: str, rule: str) -> None:
        with pytest.raises(IdentifierInvalid) as exc:
            normalise_phone(value)
        assert exc.value.problem.rule == rule


class TestMasking:
    def test_mask(self) -> None:
        assert mask("8271074508900001") == "8271********0001"
        assert mask(None) is None

    def test_redacts_every_sixteen_digit_run_but_not_longer_numbers(self) -> None:
        text = "nik=8271074508900001 kk 8271071203150002 order 12345678901234567"
        out = redact_identifiers(text)
        assert "8271074508900001" not in out and "8271071203150002" not in out
        assert "12345678901234567" in out
