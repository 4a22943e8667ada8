"""Pairwise features: NIK tiers, birth-date typos, household; every level has its reasons."""

from __future__ import annotations

import datetime as dt

import pytest

from app.reconcile.features import (
    BIRTH,
    FEATURES,
    HOUSEHOLD,
    NIK,
    Context,
    birth_level,
    compare,
    describe,
    household_level,
    nik_level,
    prepare,
)
from app.reconcile.records import PersonRecord

BIRTH_DAY = dt.date(1985, 3, 12)
NIK_OK = "8271041203850001"       # Ternate, 12-03-85, male, serial 0001


def rec(rid: str = "a", *, nik: str | None = NIK_OK, birth: dt.date | None = BIRTH_DAY,
        sex: str | None = "male", **kw: str | None) -> PersonRecord:
    return PersonRecord(rid, kw.pop("full_name", "Ahmad Sangaji"), birth, sex, nik, **kw)


def nik_tier(a: PersonRecord, b: PersonRecord) -> str:
    return NIK.levels[nik_level(prepare(a), prepare(b))].name


class TestNikTiers:
    def test_exact(self) -> None:
        assert nik_tier(rec(), rec("b")) == "exact"

    def test_exact_but_disagreeing_with_the_stated_birth_date_is_suspect(self) -> None:
        assert nik_tier(rec(), rec("b", birth=dt.date(1985, 3, 13))) == "exact_suspect"

    def test_exact_but_disagreeing_with_the_stated_sex_is_suspect(self) -> None:
        assert nik_tier(rec(), rec("b", sex="female")) == "exact_suspect"

    def test_one_digit_off_where_a_nik_looks_wrong(self) -> None:
        typo = NIK_OK[:7] + "3" + NIK_OK[8:]          # day 12 -> 13: disagrees with the birth date
        assert nik_tier(rec(), rec("b", nik=typo)) == "one_off"

    def test_two_neighbouring_digits_swapped(self) -> None:
        swapped = NIK_OK[:6] + "21" + NIK_OK[8:]       # 12 -> 21
        assert nik_tier(rec(), rec("b", nik=swapped)) == "one_off"

    def test_one_digit_off_without_a_stated_birth_date(self) -> None:
        typo = NIK_OK[:9] + "4" + NIK_OK[10:]
        assert nik_tier(rec(birth=None), rec("b", nik=typo, birth=None)) == "one_off"

    def test_serial_one_off_where_a_nik_looks_wrong(self) -> None:
        assert nik_tier(rec(), rec("b", nik=NIK_OK[:12] + "0002", sex="female")) == "one_off_serial"

    def test_valid_niks_of_two_people_born_the_same_day(self) -> None:
        other = NIK_OK[:12] + "0002"
        assert nik_tier(rec(), rec("b", nik=other)) == "same_birth_digits"

    def test_valid_niks_of_people_born_a_day_apart_are_different(self) -> None:
        other = "8271041303850001"
        assert nik_tier(rec(), rec("b", nik=other, birth=dt.date(1985, 3, 13))) == "different"

    def test_different(self) -> None:
        assert nik_tier(rec(), rec("b", nik="8271055507900003", birth=dt.date(1990, 7, 15),
                                   sex="female")) == "different"

    def test_malformed_nik_is_suspect_not_blocking(self) -> None:
        assert nik_tier(rec(), rec("b", nik=NIK_OK[:-1])) == "different_suspect"
        assert nik_tier(rec(nik="0000001203850001"), rec("b", nik="0000001203850001")) == "exact_suspect"

    @pytest.mark.parametrize("nik", [None, ""])
    def test_missing(self, nik: str | None) -> None:
        assert nik_tier(rec(), rec("b", nik=nik)) == "missing"


class TestBirthDates:
    def level(self, a: dt.date | None, b: dt.date | None) -> str:
        return BIRTH.levels[birth_level(prepare(rec(birth=a)), prepare(rec("b", birth=b)))].name

    def test_levels(self) -> None:
        assert self.level(BIRTH_DAY, BIRTH_DAY) == "exact"
        assert self.level(BIRTH_DAY, dt.date(1985, 12, 3)) == "swapped"
        assert self.level(BIRTH_DAY, dt.date(1985, 3, 13)) == "one_digit"
        assert self.level(BIRTH_DAY, dt.date(1986, 3, 12)) == "one_digit"
        assert self.level(BIRTH_DAY, dt.date(1985, 8, 30)) == "same_year"
        assert self.level(BIRTH_DAY, dt.date(1991, 8, 30)) == "different"
        assert self.level(BIRTH_DAY, None) == "missing"


class TestHousehold:
    def level(self, a: PersonRecord, b: PersonRecord, ctx: Context | None = None) -> str:
        return HOUSEHOLD.levels[household_level(prepare(a), prepare(b), ctx or Context())].name

    def test_levels(self) -> None:
        home = {"kelurahan_code": "82.71.04.1001", "address": "Jl. Merdeka No. 5 RT 003/RW 001"}
        assert self.level(rec(kk_number="8271040101100001"), rec("b", kk_number="8271040101100001")) \
            == "same_kk"
        assert self.level(rec(**home), rec("b", kelurahan_code="82.71.04.1001",
                                           address="JL MERDEKA NO 5 RT 3 RW 1")) == "same_address"
        assert self.level(rec(**home), rec("b", kelurahan_code="82.71.04.1001",
                                           address="Jl. Nuku No. 9 RT 003/RW 001")) == "same_rt_rw"
        assert self.level(rec(phone="0812-4455-6677"), rec("b", phone="+6281244556677")) == "same_phone"
        assert self.level(rec(**home), rec("b", kelurahan_code="82.71.04.1002")) == "same_kecamatan"
        assert self.level(rec(**home), rec("b", kelurahan_code="82.71.01.1002")) == "different"
        assert self.level(rec(), rec("b")) == "missing"

    def test_family_that_moved_shares_members_under_a_new_kk(self) -> None:
        old = [rec("h1", kk_number="8271040101100001"),
               rec("s1", full_name="Fatimah Umar", birth=dt.date(1988, 5, 1), sex="female",
                   nik=None, kk_number="8271040101100001")]
        new = [rec("h2", kk_number="8271070202200002"),
               rec("s2", full_name="Fatimah Umar", birth=dt.date(1988, 5, 1), sex="female",
                   nik=None, kk_number="8271070202200002")]
        prepared = [prepare(r, i) for i, r in enumerate(old + new)]
        ctx = Context.build(prepared)
        assert HOUSEHOLD.levels[household_level(prepared[0], prepared[2], ctx)].name == "shared_members"


def test_every_level_has_both_reasons() -> None:
    for feature in FEATURES:
        for level in feature.levels:
            assert level.reason and level.reason_id and level.reason != level.reason_id


def test_describe_masks_identifiers() -> None:
    a, b = prepare(rec()), prepare(rec("b"))
    obs = describe(a, b, compare(a, b, Context()))
    nik = next(o for o in obs if o.feature == "nik")
    assert NIK_OK not in nik.detail and NIK_OK[-4:] in nik.detail
