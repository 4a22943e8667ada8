"""The USSD engine: whole journeys, back and next page, retries, and every screen in 160."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from app.channels import gsm7
from app.channels.ussd import HELP, MAIN, MAIN_SCREEN, ChangePin, CheckStatus, Register, respond

NIK, KK = "8271071705800001", "8271071203150001"


class Ternate:
    """Eight kecamatan; Pulau Hiri has 6 kelurahan, one more than a page."""

    def kecamatan(self) -> Sequence[tuple[str, str]]:
        return [(f"82.71.0{i}", name) for i, name in enumerate(
            ["Pulau Ternate", "Ternate Selatan", "Ternate Utara", "Moti", "Pulau Batang Dua",
             "Ternate Tengah", "Pulau Hiri", "Ternate Barat"], start=1)]

    def kelurahan(self, kecamatan_code: str) -> Sequence[tuple[str, str]]:
        names = ["Faudu", "Tomajiko", "Dorari Isa", "Togolobe", "Mado", "Tafraka"]
        return [(f"{kecamatan_code}.100{i}", n) for i, n in enumerate(names, start=1)]


PLACES = Ternate()
# main -> register -> NIK -> confirm -> KK -> kecamatan 7 (Hiri) -> next page -> kelurahan 1
# (the 6th, Tafraka) -> 4 members -> 3 answers -> PIN twice -> confirm
JOURNEY = ["1", NIK, "1", KK, "98", "2", "98", "1", "4", "1", "2", "1", "2580", "2580"]


def screen(*inputs: str) -> str:
    return respond("*".join(inputs), PLACES)[0].text


def test_main_menu_and_help() -> None:
    assert screen() == MAIN_SCREEN
    s, action = respond("4", PLACES)
    assert (s.text, s.end, action) == (HELP, True, None)


def test_the_nik_is_read_back_for_confirmation() -> None:
    text = screen("1", NIK)
    assert "NIK 8271********0001" in text and "Lahir 17-05-80, Laki-laki" in text


def test_a_whole_registration_and_nothing_before_the_confirmation() -> None:
    for i in range(len(JOURNEY) + 1):  # every step before the end: no action
        s, action = respond("*".join(JOURNEY[:i]), PLACES)
        assert action is None and not s.end
    assert "Kirim pendaftaran?" in screen(*JOURNEY)
    s, action = respond("*".join([*JOURNEY, "1"]), PLACES)
    assert s.end and action == Register(nik=NIK, kk=KK, kelurahan_code="82.71.07.1006", members=4,
                                        answers={"roof_material": "zinc",
                                                 "floor_material": "cement_brick",
                                                 "asset_motorbike": True}, pin="2580")
    cancelled = respond("*".join([*JOURNEY, "2"]), PLACES)
    assert cancelled[0].end and cancelled[1] is None


def test_the_same_text_gives_the_same_reply() -> None:
    path = "*".join(JOURNEY[:6])
    assert respond(path, PLACES) == respond(path, PLACES)


def test_back_and_pages() -> None:
    first = screen("1", NIK, "1", KK)
    assert first.startswith("Kecamatan:\n1 Pulau Ternate") and "98 Berikutnya" in first
    second = screen("1", NIK, "1", KK, "98")
    assert "1 Ternate Tengah\n2 Pulau Hiri\n3 Ternate Barat" in second and "98" not in second
    hiri = screen("1", NIK, "1", KK, "98", "2")
    assert hiri.startswith("Kelurahan:\n1 Faudu") and "98 Berikutnya" in hiri
    assert screen("1", NIK, "1", KK, "98", "2", "98").startswith("Kelurahan:\n1 Tafraka")
    assert screen("1", NIK, "1", KK, "98", "2", "0") == second  # back: the page chosen from
    assert screen("1", NIK, "0") == screen("1")  # back from the read-back to the NIK prompt
    assert screen("1", "0") == MAIN_SCREEN


def test_wrong_answers_stay_on_the_screen_with_the_reason() -> None:
    assert screen("7").startswith("Pilihan salah.\n" + MAIN[:5])
    assert screen("1", "12345").startswith("NIK harus 16 angka (tertulis 5).")
    assert screen("1", NIK, "1", KK, "1", "1", "99").startswith("Tulis angka 1-30.")
    assert screen("1", NIK, "1", KK, "1", "1", "4", "1", "1", "1", "1111").startswith("PIN 4-6 angka")
    mismatch = screen("1", NIK, "1", KK, "1", "1", "4", "1", "1", "1", "2580", "2581")
    assert mismatch.startswith("PIN tidak sama")


def test_skipped_and_repeated_steps_never_register() -> None:
    """A gateway that drops an input or sends one twice: the engine stays on the screen the
    path really reached, says why, and never returns an action."""
    skipped = respond("1*" + KK + "*1", PLACES)  # the NIK step skipped: the KK read as a NIK
    assert skipped[1] is None and not skipped[0].end
    empty, action = respond("1**" + NIK, PLACES)  # an empty input where the NIK belongs
    assert action is None and empty.text.startswith("NIK 8271********0001")  # then the NIK counts
    repeated = screen("1", NIK, NIK)  # the NIK sent twice: the read-back asks again
    assert repeated.startswith("Pilih 1 atau 2.\nNIK 8271********0001")
    no_confirm = [*JOURNEY[:-1]]  # the second PIN lost: still asking for it, nothing saved
    s, action = respond("*".join([*no_confirm, "1"]), PLACES)
    assert action is None and not s.end


def test_status_and_pin_change() -> None:
    assert respond("2*2580", PLACES)[1] == CheckStatus(pin="2580")
    assert respond("3*2580*97531*97531*1", PLACES)[1] == ChangePin(old_pin="2580", new_pin="97531")


VOCABULARY = st.sampled_from(["0", "1", "2", "3", "4", "5", "6", "9", "98", "99", "", "x", "😀",
                              NIK, KK, "2580", "1111", "8271079905800001"])


@settings(max_examples=500, deadline=None)
@given(st.lists(VOCABULARY, max_size=22))
def test_any_path_gets_one_screen_of_gsm7(path: list[str]) -> None:
    s, _ = respond("*".join(path), PLACES)
    assert gsm7.fits_one_sms(s.text), s.text
