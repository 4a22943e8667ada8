"""The text model of SMS format K2 (sync_protocol/smsmodel.py): exact round trips of any
string in either case mode, case carried cheaply, the generated table in step with its
generator, and the model measured on corpus words it never saw.  No database."""

from __future__ import annotations

import contextlib

from hypothesis import given
from hypothesis import strategies as st

from bench.build_sms_name_model import (
    address_words,
    corpus_words,
    quantise,
    read_corpus,
    train,
    training_texts,
)
from sync_protocol import smsmodel
from sync_protocol.smsbits import BitReader, BitWriter, SmsFormatError
from sync_protocol.smsfields import Context, get_value, put_value
from sync_protocol.smsmodel_table import ROWS
from sync_protocol.smsref import WORDS

MARK = 0b1011001  # bits written after the text: the decoder must stop exactly before them


def _round_trip(text: str, upper: bool, tail: bool) -> int:
    w = BitWriter()
    smsmodel.put_literal(w, text, upper=upper, tail=tail)
    bits = len(w)
    w.put(MARK, 7)
    r = BitReader(w.bytes())
    assert smsmodel.get_literal(r, upper=upper) == (text, tail)
    assert r.get(7) == MARK
    r.finish()
    return bits


def _text_bits(*values: str) -> int:
    w, ctx = BitWriter(), Context(device_id="d", seq=1)
    for v in values:
        put_value(w, "text", v, ctx, "x")
    r, back = BitReader(w.bytes()), Context(device_id="d", seq=1)
    assert [get_value(r, "text", back) for _ in values] == list(values)
    return len(w)


def _names() -> st.SearchStrategy[str]:
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.'-,"
    word = st.sampled_from(WORDS) | st.text(letters, max_size=9)
    return st.lists(word, max_size=5).map(" ".join)


class TestRoundTrip:
    @given(text=st.text(max_size=40) | _names(), upper=st.booleans(), tail=st.booleans())
    def test_any_string_in_either_mode(self, text: str, upper: bool, tail: bool) -> None:
        _round_trip(text, upper, tail)

    @given(data=st.binary(max_size=40), upper=st.booleans())
    def test_any_bits_decode_to_a_text_or_a_format_error(self, data: bytes, upper: bool) -> None:
        with contextlib.suppress(SmsFormatError):
            smsmodel.get_literal(BitReader(data), upper=upper)

    def test_names_as_typed_come_back_exactly(self) -> None:
        for name in ("Drs. H. Ahmad Sangaji, S.Pd.", "DRS. H. AHMAD SANGAJI, S.PD.", "dr. Siti Aminah",
                     "Ir. Budi Santoso, M.TI.", "siti aminah", "La Ode Muhammad bin Umar", "McDonald",
                     "Nurul 'Aini", "José Ramos", "Ña", "  two  spaces ", "", "K2 9", "A\u00dfB",
                     "\u0130stanbul"):
            _text_bits(name)


class TestCase:
    def test_upper_and_title_case_cost_the_same(self) -> None:
        for name in ("Budi Santoso", "Kairav Haryanto", "Drs. H. Ahmad Sangaji, S.Pd."):
            assert _text_bits(name) == _text_bits(name.upper())

    def test_a_letter_off_the_case_mode_costs_a_few_bits(self) -> None:
        # ~5 bits for "some letters differ", 4 for their count, then each letter's number
        assert _text_bits("dr. Siti Aminah") - _text_bits("Dr. Siti Aminah") <= 14
        assert _text_bits("Muhammad bin Umar") - _text_bits("Muhammad Bin Umar") <= 14


class TestCost:
    def test_listed_words_stay_the_cheaper_path(self) -> None:
        assert _text_bits("Muhammad Sangaji") <= 32
        assert _text_bits("Mxhammad Sangaji") > _text_bits("Muhammad Sangaji") + 15

    def test_names_cost_less_than_a_fixed_code(self) -> None:
        # K2's first text code (static Huffman) spent ~4.7 bits a letter on names it did not list
        for name in ("Kairav Haryanto", "Budi Santoso", "Jarwi Yulianti", "Tebingtinggi"):
            assert _text_bits(name) < 2 + 4.3 * (len(name) + 1)

    def test_held_out_words_cost_little_more_than_training_words(self) -> None:
        """Generalisation: words of the corpus that no training text held (one in five)."""
        train_words, test_words = corpus_words(read_corpus())
        seen, unseen = smsmodel.bits_per_character(train_words), smsmodel.bits_per_character(test_words)
        assert len(test_words) > 200
        assert seen < unseen < 4.2  # measured 3.46 / 3.77 (docs/sms-fallback.md, "Text")


class TestTable:
    def test_the_table_is_what_its_generator_builds_from_the_corpus(self) -> None:
        sections = read_corpus()
        train_words, _ = corpus_words(sections)
        assert quantise(train(train_words + address_words(), training_texts(sections))) == ROWS

    def test_rows_are_complete_and_word_only_starts_a_word(self) -> None:
        assert "" in ROWS and smsmodel.START in ROWS
        for context, levels in ROWS.items():
            assert len(levels) == len(smsmodel.SYMBOLS) and set(levels) <= set(smsmodel.LEVEL_CHARS)
            never = {i for i, q in enumerate(levels) if q == smsmodel.LEVEL_CHARS[smsmodel.NEVER]}
            assert never == (set() if context == smsmodel.START else {smsmodel.WORD})
