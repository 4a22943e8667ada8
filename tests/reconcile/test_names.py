"""Indonesian name normalisation: every rule of docs/reconciliation.md, one test each."""

from __future__ import annotations

import datetime as dt

import pytest

from app.reconcile.features import NAME, Context, name_level, prepare
from app.reconcile.names import TokenWeights, fold, normalise, sound_key
from app.reconcile.records import PersonRecord


def level(a: str, b: str, ctx: Context | None = None) -> str:
    pa = prepare(PersonRecord("a", a, dt.date(1980, 1, 1)))
    pb = prepare(PersonRecord("b", b, dt.date(1980, 1, 1)))
    return NAME.levels[name_level(pa, pb, ctx or Context())].name


class TestOldSpelling:
    @pytest.mark.parametrize(("old", "new"), [
        ("Joesoef", "Yusuf"), ("Tjahjono", "Cahyono"), ("Djafar", "Jafar"), ("Soekarno", "Sukarno"),
        ("Achmad", "Ahmad"), ("Chairul", "Khairul"), ("Njoman", "Nyoman"), ("Sjahrir", "Syahrir"),
        ("Oemar", "Umar"), ("Jusuf", "Yusuf"),
    ])
    def test_old_and_new_spelling_fold_to_one_form(self, old: str, new: str) -> None:
        assert [fold(t) for t in normalise(old)] == [fold(t) for t in normalise(new)]

    def test_soundex_would_not_have_matched(self) -> None:
        # American Soundex keeps the first letter: Joesoef J210, Yusuf Y210. Our fold agrees.
        assert fold("joesoef") == fold("yusuf") == "yusuf"

    def test_old_spelling_is_a_spelling_level_not_a_typo(self) -> None:
        assert level("Joesoef Sangaji", "Yusuf Sangaji") == "spelling"
        assert level("Tjahjono", "Cahyono") == "spelling"

    def test_different_names_stay_different(self) -> None:
        assert fold("yusuf") != fold("yunus")
        assert level("Yusuf Sangaji", "Rizal Tomagola") == "different"


class TestTitlesAndVariants:
    @pytest.mark.parametrize("titled", [
        "H. Ahmad Sangaji", "Hi. Ahmad Sangaji", "Drs. Ahmad Sangaji", "Ir. Ahmad Sangaji",
        "Ahmad Sangaji, S.Pd.", "Ahmad Sangaji, S.Pd.I", "Ahmad Sangaji S.E.", "Ahmad Sangaji, A.Md.Kep",
        "AHMAD SANGAJI", "ahmad  sangaji.", "Bapak Ahmad Sangaji",
    ])
    def test_titles_degrees_case_and_punctuation_removed(self, titled: str) -> None:
        assert normalise(titled) == ("ahmad", "sangaji")

    def test_hj_for_women(self) -> None:
        assert normalise("Hj. Siti Aisyah") == ("siti", "aisyah")

    @pytest.mark.parametrize("variant", ["Moh. Ali", "Muh. Ali", "Mohammad Ali", "Muhamad Ali",
                                         "Mochammad Ali", "Mhd Ali", "Moh.Ali"])
    def test_muhammad_variants(self, variant: str) -> None:
        assert normalise(variant) == ("muhammad", "ali")

    def test_abdul_abbreviation(self) -> None:
        assert normalise("Abd. Rahman") == normalise("Abdul Rahman")

    def test_a_dotted_initial_is_not_a_degree(self) -> None:
        assert normalise("M. Yusuf") == ("m", "yusuf")
        assert normalise("M.Yusuf") == ("m", "yusuf")


class TestInitialsOrderMononyms:
    def test_initial_is_compatible_not_equal(self) -> None:
        assert level("M. Yusuf", "Muhammad Yusuf") == "initial"
        assert level("Muhammad Yusuf", "Muhammad Yusuf") == "exact"

    def test_initial_of_another_letter_is_not_compatible(self) -> None:
        assert level("A. Yusuf", "Muhammad Yusuf") != "initial"

    def test_word_order_ignored(self) -> None:
        assert level("Sangaji Ahmad", "Ahmad Sangaji") == "exact"

    def test_mononym_against_full_name_is_partial(self) -> None:
        assert level("Rizal", "Rizal Marsaoly") == "partial"

    def test_one_letter_typo_is_similar(self) -> None:
        assert level("Nurhayati Tomagola", "Nurhayti Tomagola") == "similar"

    def test_sound_key_groups_kh_h_and_final_h(self) -> None:
        assert sound_key("khadijah") == sound_key("hadija")


class TestCommonNames:
    def test_common_tokens_weigh_less(self) -> None:
        weights = TokenWeights.from_names(["Muhammad Rizal"] * 50 + ["Siti Fatimah"] * 50
                                          + ["Muhammad Fokaaya"])
        assert weights.weight(fold("muhammad")) <= weights.common_cap
        assert weights.weight(fold("fokaaya")) > weights.weight(fold("muhammad"))
        assert weights.weight(fold("siti")) < weights.weight(fold("fokaaya"))

    def test_a_name_many_people_carry_is_exact_common(self) -> None:
        ctx = Context(name_counts={"muhammad rizal": 12})
        assert level("Muhammad Rizal", "Muhammad Rizal", ctx) == "exact_common"
        assert level("Muhammad Rizal", "Muhammad Rizal") == "exact"
