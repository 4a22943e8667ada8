"""The appeal's status machine and window, without a database."""

from __future__ import annotations

from datetime import date

import pytest

from app.appeals.rules import (
    FINAL,
    TRANSITIONS,
    About,
    AppealStatus,
    check_transition,
    open_key,
    window,
)
from app.auth.models import Role

S = AppealStatus
ALLOWED = {
    (S.filed, S.visit_scheduled), (S.filed, S.rejected),
    (S.visit_scheduled, S.re_surveyed), (S.visit_scheduled, S.rejected),
    (S.re_surveyed, S.sent_to_bps),
    (S.sent_to_bps, S.upheld), (S.sent_to_bps, S.rejected),
}


class TestTransitions:
    @pytest.mark.parametrize("old", list(S))
    @pytest.mark.parametrize("new", list(S))
    def test_every_pair_is_allowed_or_refused_as_documented(self, old: S, new: S) -> None:
        refusal = check_transition(old, new, note="alasan", role=Role.dinsos)
        if (old, new) in ALLOWED:
            assert refusal is None
        else:
            assert refusal is not None and (refusal.field, refusal.rule) == ("status", "transition")
            assert old.value in refusal.message and new.value in refusal.message

    def test_decided_appeals_go_nowhere(self) -> None:
        assert all(not TRANSITIONS[s] for s in FINAL)
        refusal = check_transition(S.upheld, S.rejected, note="x", role=Role.admin)
        assert refusal is not None and "decided" in refusal.message

    @pytest.mark.parametrize("old", [S.filed, S.visit_scheduled, S.sent_to_bps])
    @pytest.mark.parametrize("note", [None, "", "   "])
    def test_a_rejection_needs_a_note(self, old: S, note: str | None) -> None:
        refusal = check_transition(old, S.rejected, note=note, role=Role.supervisor)
        assert refusal is not None and (refusal.field, refusal.rule) == ("note", "note_required")

    def test_enumerators_make_the_visit_and_nothing_else(self) -> None:
        assert check_transition(S.filed, S.visit_scheduled, note=None, role=Role.enumerator) is None
        assert check_transition(S.visit_scheduled, S.re_surveyed, note=None, role=Role.enumerator) is None
        for old, new in [(S.re_surveyed, S.sent_to_bps), (S.sent_to_bps, S.upheld), (S.filed, S.rejected)]:
            refusal = check_transition(old, new, note="x", role=Role.enumerator)
            assert refusal is not None and refusal.rule == "role_may_not_set"


class TestWindow:
    def test_always_open_without_an_announcement_date(self) -> None:
        win = window(opens_on=None, days=30)
        assert win.admits(date(2000, 1, 1)) and win.admits(date(2099, 1, 1))

    def test_thirty_days_counting_the_first(self) -> None:
        win = window(opens_on=date(2026, 11, 2), days=30)
        assert win.closes_on == date(2026, 12, 1)
        assert not win.admits(date(2026, 11, 1))
        assert win.admits(date(2026, 11, 2)) and win.admits(date(2026, 12, 1))
        assert not win.admits(date(2026, 12, 2))


def test_the_open_key_tells_subjects_and_programmes_apart() -> None:
    keys = {open_key(About.decision, "pkh"), open_key(About.decision, "pip"), open_key(About.decision, None),
            open_key(About.desil, None), open_key(About.data, None)}
    assert len(keys) == 5
