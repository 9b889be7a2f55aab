"""Training progress on the driver's console: a live bar on a terminal, milestone lines in logs.

Rank 0 of a Ray Train run sends small events (start, step ticks at most twice a second,
reported metrics, log lines) to a :class:`ProgressBoard` actor through its
:class:`ProgressFeed`, without waiting for an answer: the console never slows training. A
thread of the driver (:func:`watch_training`) drains the board and shows the events:

- on a terminal (stderr is a TTY): a ``rich`` progress bar with steps/s and the latest
  losses, and one line per milestone above it;
- otherwise (log files, CI, the Prefect task log): one line per milestone only.

Milestones are the start, every checkpoint, resumption, divergence recoveries and warnings;
the driver adds the end (:meth:`ProgressDisplay.finish`). Lines are printed with ``print`` to
stderr from a thread that carries the caller's context, so an orchestrator that captures a
task's prints (Prefect's ``log_prints``) gets them too. Without a feed (standalone runs)
rank 0 writes a line per log step to stderr instead.
"""

from __future__ import annotations

import contextvars
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TextIO

from ganjobs.train.session import LOG_PREFIX, Session

#: Seconds between two step ticks rank 0 sends (the bar moves between reports).
TICK_INTERVAL_S = 0.5
#: Seconds between two polls of the board by the driver.
POLL_INTERVAL_S = 0.25


def step_line(metrics: dict[str, Any], total: int, terms: Sequence[str]) -> str:
    """``step 200/800 d_loss … g_loss … <terms> 3.10 steps/s 198 samples/s``."""
    losses = " ".join(f"{name} {metrics[name]:.4f}" for name in ("d_loss", "g_loss", *terms))
    return (f"step {metrics['step']}/{total} {losses} {metrics['steps_per_s']:.2f} steps/s "
            f"{metrics['samples_per_s']:.0f} samples/s")


def end_line(metrics: dict[str, Any], total: int) -> str:
    """The driver's last line of a run, from rank 0's summary metrics."""
    done = int(metrics.get("steps_done", 0))
    if done == 0:
        return f"finished: already at step {metrics.get('step', total)}/{total}, nothing to train"
    rate = metrics.get("mean_steps_per_s")
    speed = f", {rate:.2f} steps/s" if isinstance(rate, float) and rate == rate else ""
    return (f"finished: step {metrics.get('step', total)}/{total}, {done} steps in "
            f"{metrics.get('train_seconds', 0.0):.1f} s{speed}")


# --- worker side ----------------------------------------------------------------------------

class ProgressBoard:
    """The events of one run, between rank 0 and the driver (a Ray actor, no CPU)."""

    def __init__(self) -> None:
        self._events: list[dict[str, Any]] = []

    def push(self, event: dict[str, Any]) -> None:
        self._events.append(event)

    def drain(self) -> list[dict[str, Any]]:
        events, self._events = self._events, []
        return events


class ProgressFeed:
    """Rank 0's end of the board: fire-and-forget sends (picklable; crosses to workers)."""

    def __init__(self, board: Any) -> None:
        self.board = board

    def send(self, event: dict[str, Any]) -> None:
        try:
            self.board.push.remote(event)
        except Exception:  # noqa: BLE001 - the console must never stop training
            pass

    def log(self, line: str) -> None:
        self.send({"kind": "log", "line": line})


class WorkerOutput:
    """What rank 0 says about its run: to the feed when there is one, else to stderr."""

    def __init__(self, session: Session, total: int, terms: Sequence[str]) -> None:
        self.session = session
        self.total = total
        self.terms = tuple(terms)
        self.feed = session.feed if session.rank == 0 else None
        self._last_tick = 0.0

    def start(self, step: int, line: str) -> None:
        if self.feed is None:
            self.session.log(line)
        else:
            self.feed.send({"kind": "start", "step": step, "total": self.total, "line": line})

    def tick(self, step: int) -> None:
        """Cheap enough for every step: a clock read, and a send at most twice a second."""
        if self.feed is None:
            return
        now = time.monotonic()
        if now - self._last_tick >= TICK_INTERVAL_S:
            self._last_tick = now
            self.feed.send({"kind": "tick", "step": step, "total": self.total})

    def step_line(self, metrics: dict[str, Any]) -> None:
        """Standalone: every log step is a line on stderr (the feed gets :meth:`reported`)."""
        if self.feed is None:
            self.session.log(step_line(metrics, self.total, self.terms))

    def reported(self, metrics: dict[str, Any], checkpoint: bool) -> None:
        if self.feed is None:
            return
        keep = ("step", "d_loss", "g_loss", *self.terms, "steps_per_s", "samples_per_s")
        self.feed.send({"kind": "report", "step": metrics["step"], "total": self.total,
                        "terms": list(self.terms),
                        "checkpoint": checkpoint,
                        "metrics": {k: metrics[k] for k in keep if k in metrics}})


# --- driver side ----------------------------------------------------------------------------

def milestone(event: dict[str, Any]) -> str | None:
    """The console line of an event, or None for events that only move the bar."""
    kind = event.get("kind")
    if kind in ("start", "log"):
        return f"{LOG_PREFIX} {event['line']}"
    if kind == "report" and event.get("checkpoint"):
        return (f"{LOG_PREFIX} {step_line(event['metrics'], event['total'], event['terms'])}"
                f", checkpoint")
    return None


class ProgressDisplay:
    """Milestone lines only: for logs and pipes."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def emit(self, line: str) -> None:
        # print (not write): orchestrators that capture a task's prints see the line
        print(line, file=self.stream or sys.stderr, flush=True)

    def handle(self, event: dict[str, Any]) -> None:
        line = milestone(event)
        if line is not None:
            self.emit(line)

    def finish(self, line: str) -> None:
        self.emit(f"{LOG_PREFIX} {line}")

    def close(self) -> None:
        """Nothing to tear down."""


class BarDisplay(ProgressDisplay):
    """A live ``rich`` bar (steps, steps/s, latest losses, time left) under the milestones.

    While the bar is live, ``rich`` redirects ``sys.stdout``/``sys.stderr`` so that printed
    lines (the milestones, Ray's worker output) appear above it.
    """

    def __init__(self, console: Any = None) -> None:
        super().__init__()
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        # Fits 80 columns: the task's other terms are in the milestone lines.
        self.progress = Progress(
            TextColumn("training"), BarColumn(bar_width=16), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"), TextColumn("{task.fields[losses]}"),
            TimeRemainingColumn(), console=console or Console(stderr=True), transient=False)
        self.task: Any = None

    def handle(self, event: dict[str, Any]) -> None:
        kind = event.get("kind")
        if kind == "start" and self.task is None:
            self.progress.start()
            self.task = self.progress.add_task("train", total=event["total"],
                                               completed=event["step"], rate="", losses="")
        super().handle(event)
        if self.task is None or kind not in ("tick", "report"):
            return
        fields: dict[str, Any] = {}
        if kind == "report":
            m = event["metrics"]
            fields["rate"] = f"{m['steps_per_s']:.2f} steps/s"
            fields["losses"] = f"d_loss {m['d_loss']:.3f} g_loss {m['g_loss']:.3f}"
        self.progress.update(self.task, completed=event["step"], **fields)

    def close(self) -> None:
        self.progress.stop()


def make_display(stream: TextIO | None = None) -> ProgressDisplay:
    """A bar when ``stream`` (default stderr) is a terminal, else milestone lines."""
    out = stream or sys.stderr
    if hasattr(out, "isatty") and out.isatty():
        return BarDisplay()
    return ProgressDisplay(stream)


class _Poller:
    """The driver's thread that drains the board into the display."""

    def __init__(self, board: Any, display: ProgressDisplay) -> None:
        self.board = board
        self.display = display
        self._stop = threading.Event()
        ctx = contextvars.copy_context()  # the caller's context: captured prints stay captured
        self._thread = threading.Thread(target=ctx.run, args=(self._run,), daemon=True,
                                        name="ganjobs-progress")

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(POLL_INTERVAL_S):
            self.drain()

    def drain(self) -> None:
        import ray

        try:
            events = ray.get(self.board.drain.remote(), timeout=30)
        except Exception:  # noqa: BLE001 - the console only; fit() reports the run's fate
            return
        for event in events:
            self.display.handle(event)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        self.drain()  # what rank 0 sent last


@contextmanager
def watch_training(display: ProgressDisplay | None = None
                   ) -> Iterator[tuple[ProgressFeed, ProgressDisplay]]:
    """Show a Ray Train run's progress while the block runs; yields the feed for the
    workers and the display (for the driver's own last line). Needs a connected Ray."""
    import ray

    board = ray.remote(num_cpus=0)(ProgressBoard).remote()
    display = display or make_display()
    poller = _Poller(board, display)
    poller.start()
    try:
        yield ProgressFeed(board), display
    finally:
        try:
            poller.stop()
        finally:
            display.close()
            ray.kill(board)
