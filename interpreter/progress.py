"""Progress reporting: rich bars on a terminal, nothing in CI logs or tests."""

from __future__ import annotations

import contextlib
from typing import Iterator, Protocol


class Task(Protocol):
    def advance(self, amount: int = 1) -> None: ...

    def describe(self, text: str) -> None: ...        # e.g. the training loss so far


class Progress(Protocol):
    def task(self, description: str, total: int | None) -> contextlib.AbstractContextManager[Task]: ...

    def note(self, message: str) -> None: ...


class _NullTask:
    def advance(self, amount: int = 1) -> None:
        pass

    def describe(self, text: str) -> None:
        pass


class SilentProgress:
    """Reports nothing; notes (warnings) are collected so callers can show them later."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    @contextlib.contextmanager
    def task(self, description: str, total: int | None) -> Iterator[Task]:
        yield _NullTask()

    def note(self, message: str) -> None:
        self.notes.append(message)


class RichProgress:
    """Progress bars on a rich Console (only used when the console is a terminal)."""

    def __init__(self, console) -> None:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress as _Progress,
                                   TextColumn, TimeElapsedColumn, TimeRemainingColumn)

        self.console = console
        self.notes: list[str] = []
        self._progress = _Progress(
            # a label (a model or stimuli name, a loss) is shown as typed, never read as markup
            TextColumn("{task.description}", style="progress.description", markup=False), BarColumn(),
            MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
            console=console, transient=True,
        )

    def __enter__(self) -> "RichProgress":
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.stop()

    @contextlib.contextmanager
    def task(self, description: str, total: int | None) -> Iterator[Task]:
        task_id = self._progress.add_task(description, total=total)

        class _Task:
            def advance(inner, amount: int = 1) -> None:
                self._progress.advance(task_id, amount)

            def describe(inner, text: str) -> None:
                self._progress.update(task_id, description=text)

        try:
            yield _Task()
        finally:
            self._progress.remove_task(task_id)

    def note(self, message: str) -> None:
        self.notes.append(message)
        from rich.text import Text

        self._progress.console.print(Text.assemble(("warning:", "yellow"), " ", message))


class TextProgress:
    """Plain lines, one when a task of more than a second ends (with its time): what a notebook
    cell or a log shows without widgets."""

    def __init__(self, stream=None, min_seconds: float = 1.0) -> None:
        import sys

        self.stream = stream or sys.stdout
        self.min_seconds = min_seconds
        self.notes: list[str] = []

    @contextlib.contextmanager
    def task(self, description: str, total: int | None) -> Iterator[Task]:
        import time

        started = time.perf_counter()
        state = {"text": description}

        class _Task:
            def advance(inner, amount: int = 1) -> None:
                pass

            def describe(inner, text: str) -> None:
                state["text"] = text

        yield _Task()
        elapsed = time.perf_counter() - started
        if elapsed >= self.min_seconds:
            self.stream.write(f"{state['text']}: done in {elapsed:.1f} s\n")
            self.stream.flush()

    def note(self, message: str) -> None:
        self.notes.append(message)
        self.stream.write(f"warning: {message}\n")
