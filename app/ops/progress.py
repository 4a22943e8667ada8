"""Progress bars for long CLI work that reports ``(phase, done, total)``: one bar per phase.

The jobs (``app.reconcile.linker.link``, ``app.reconcile.batch.run_batch``,
``app.ops.keys.rotate``) call a plain ``Callable[[str, int, int], None]`` and know nothing of
the terminal; the commands hand them :func:`phase_bars`. A total of 0 means "not known yet"
(the bar pulses); when the work ends every such bar is closed at the count it reached.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


@contextmanager
def phase_bars(console: Console, *, remaining: bool = False) -> Iterator[Callable[[str, int, int], None]]:
    """A ``progress(phase, done, total)`` callback drawing a bar per phase on ``console``;
    ``remaining``: show the estimated time left instead of the time spent."""
    clock = TimeRemainingColumn() if remaining else TimeElapsedColumn()
    with Progress(
        TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(), clock, console=console
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total or None)
            bar.update(tasks[phase], completed=done, total=total or None)

        yield progress
        for task in bar.tasks:  # phases whose total never became known: done at their count
            if task.total is None:
                bar.update(task.id, total=task.completed)
