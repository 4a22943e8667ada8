"""GSM 03.38: septet counts, the one-SMS limit, and making echoed text safe."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.channels import gsm7


def test_basic_and_extension_septets() -> None:
    assert gsm7.septets("Halo Ibu") == 8
    assert gsm7.septets("{€}") == 6  # extension characters cost two
    assert gsm7.fits_one_sms("a" * 160) and not gsm7.fits_one_sms("a" * 161)
    assert not gsm7.fits_one_sms("[" * 81)  # 162 septets


@pytest.mark.parametrize("text", ["😀", "Nur’aini", "ł", "\u200b", "中"])
def test_outside_the_alphabet(text: str) -> None:
    assert not gsm7.is_gsm7(text)
    with pytest.raises(gsm7.NotGsm7):
        gsm7.septets(text)


def test_to_gsm7_keeps_what_it_can() -> None:
    assert gsm7.to_gsm7("Nur’aini “Siti” – Ternate 😀") == "Nur'aini \"Siti\" - Ternate "
    assert gsm7.to_gsm7("Ğüñ") == "Güñ"  # ü and ñ are in the alphabet; Ğ becomes G


@given(st.text(max_size=400))
def test_to_gsm7_and_clip_always_give_sendable_text(text: str) -> None:
    safe = gsm7.to_gsm7(text)
    assert gsm7.is_gsm7(safe)
    assert gsm7.fits_one_sms(gsm7.clip(text))
