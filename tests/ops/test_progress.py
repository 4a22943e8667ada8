"""The CLI's progress bars per phase (app/ops/progress.py), as a terminal would show them."""

from __future__ import annotations

import io

from rich.console import Console

from app.ops.progress import phase_bars


def shown(report: list[tuple[str, int, int]], **options: bool) -> str:
    out = io.StringIO()
    console = Console(file=out, width=100, force_terminal=False, color_system=None)
    with phase_bars(console, **options) as progress:
        for phase, done, total in report:
            progress(phase, done, total)
    return out.getvalue()


def test_one_bar_per_phase_with_its_count() -> None:
    text = shown([("block", 0, 4), ("block", 4, 4), ("score", 2, 10)])
    assert "block" in text and "4/4" in text
    assert "score" in text and "2/10" in text


def test_a_phase_of_unknown_size_closes_at_the_count_it_reached() -> None:
    # run_batch reports members read as (done, 0) until it knows no more are coming
    text = shown([("read", 500, 0), ("read", 1200, 0), ("write", 3, 3)])
    assert "1200/1200" in text and "3/3" in text


def test_an_empty_phase_is_shown_done() -> None:
    assert "0/0" in shown([("member", 0, 0)], remaining=True)
