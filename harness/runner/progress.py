"""Live progress of ``harness run``: what the running cell is doing, cells done, and the time left.

A cell runs in its own process with its output going to ``log.txt``, so the orchestrator cannot see its
epochs directly. The two sides meet in a small file in the cell folder:

* in the cell process, :class:`ProgressWriter` is the model's ``FitContext.on_progress`` listener and also
  receives the cell's own phases (``data``, ``fit``, ``predict``, ``profile``); it keeps a cumulative state
  (the distinct phases in order, every finished epoch) and replaces ``progress.json`` atomically, at most
  about twice a second;
* in the orchestrator, :func:`harness.runner.execute.run_one` polls the child and passes
  :func:`read_progress` to a display: :class:`BarProgress` (two tqdm lines on a terminal: the suite bar and the
  running cell), :class:`LineProgress` (a pipe or CI: one line per phase change and per epoch at most,
  throttled, no carriage returns) or :class:`RunProgress` (one line per cell start and end).

Because the state is cumulative, a poll that comes late still sees every phase and epoch, so the line
display never drops one. ``progress.json`` is scratch: it is not a result (readers look for ``result.json``),
it is not among the MLflow artifacts, and the orchestrator deletes it when the cell process ends (``_clear``
removes one left by a killed run).

Usage::

    writer = ProgressWriter(cell_dir / PROGRESS_FILE)    # in the cell: FitContext(on_progress=writer)
    writer.phase("data")
    display = make_progress("auto", sys.stdout)           # in the orchestrator
    display.cell_update(read_progress(cell_dir))
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from harness.results import printable

log = logging.getLogger(__name__)

PROGRESS_FILE = "progress.json"
PROGRESS_MODES = ("auto", "bar", "lines", "off")
#: Phases during which epochs, steps and the training estimate are shown.
TRAINING_PHASES = ("train", "validate")
#: How phases read on the terminal; a phase not listed is shown by its own name.
PHASE_WORDS = {
    "data": "loading data",
    "fit": "fitting",
    "clustering": "clustering labels",
    "train": "training",
    "validate": "validating",
    "predict": "predicting test",
    "profile": "profiling",
    "save": "saving",
}
_NUMBERS = ("epoch", "epochs", "step", "steps")


# --- cell side: the writer ---------------------------------------------------------------------------------


class ProgressWriter:
    """``FitContext.on_progress`` listener of the cell process; keeps ``progress.json`` up to date.

    Writes on every phase change and otherwise at most once per ``min_interval`` seconds: the training loop
    already throttles its step events to about one a second, and the terminal needs no more than that. A
    step event that falls inside the interval is not lost for good: the next write carries it, and the
    epoch history only grows, so nothing that matters for the display depends on a particular write.

    The listener never raises (the contract promises models that): an unwritable folder or an odd event is
    logged once and ignored, because progress must never fail a cell.
    """

    def __init__(self, path: Path, *, min_interval: float = 0.5, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.min_interval = min_interval
        self.clock = clock
        now = clock()
        self.state: dict[str, Any] = {"pid": os.getpid(), "started": now, "updated": now, "phase": None}
        self.state.update({"phase_started": now, "phases": [], "history": []})
        self._open_epoch: int | None = None  # the epoch in progress, not yet in the history
        self._last_epoch_event = now  # when the open epoch last reported
        self._last_write = -math.inf
        self._broken = False

    def __call__(self, event: Mapping[str, Any]) -> None:
        try:
            changed = self._update(event)
            if changed or self.clock() - self._last_write >= self.min_interval:
                self._write()
        except Exception as exc:  # noqa: BLE001 - a progress display is never worth a failed cell
            if not self._broken:
                log.warning("progress reporting disabled: %s: %s", type(exc).__name__, exc)
            self._broken = True

    def phase(self, name: str) -> None:
        """A phase of the cell itself (data, fit, predict, profile); logged too, so log.txt shows the timing."""
        log.info("phase: %s", name)
        self({"phase": name})

    def _update(self, event: Mapping[str, Any]) -> bool:
        """Fold ``event`` into the state; True when the phase changed (worth writing at once)."""
        st, now = self.state, self.clock()
        st["updated"] = now
        changed = False
        phase = event.get("phase")
        if phase is not None and str(phase) != st["phase"]:
            phase = str(phase)
            if phase not in TRAINING_PHASES and self._open_epoch is not None:
                self._close_epoch(self._open_epoch, self._last_epoch_event)  # training is over
            st["phase"], st["phase_started"], changed = phase, now, True
            if phase not in (name for name, _ in st["phases"]):
                st["phases"].append([phase, now])
        if event.get("epoch") is not None:
            self._epoch_event(int(event["epoch"]), event, now)
        for key in _NUMBERS:
            if event.get(key) is not None:
                st[key] = int(event[key])
        if event.get("step") is not None:
            st["step_at"] = now
        if event.get("loss") is not None:
            st["loss"] = float(event["loss"])
        return changed

    def _epoch_event(self, epoch: int, event: Mapping[str, Any], now: float) -> None:
        """Open epochs, and close them into the history, as the events reveal them.

        An epoch is closed by the first event of a later epoch (its end is then the time of its own last
        event: in the InceptionXML loop, the end-of-epoch event sent after validation), by a validation event
        without a step (the contract's "after validation" event), or by the end of training. Step events are
        throttled by the loop, so short epochs can pass unseen: a jump closes the epochs in between as one
        history entry (``n`` epochs, ``seconds`` per epoch on average).

        ``val_p@1`` is the latest validation P@1 known (the loop repeats it on every event); ``val_epoch``
        is the epoch whose event first carried the current value.
        """
        st = self.state
        if epoch <= self._closed():
            return  # a late event of an epoch already in the history
        if self._open_epoch is None:
            self._open_epoch = epoch
            st.setdefault("epoch_started", now)
            st["step0"] = int(event.get("step") or 0)
        elif epoch > self._open_epoch:
            self._close_epoch(epoch - 1, self._last_epoch_event)
            self._open_epoch = epoch
            st["step0"] = 0
        self._last_epoch_event = now
        val = event.get("val_p@1")
        if val is not None:
            if st.get("val_p@1") != float(val):
                st["val_p@1"], st["val_epoch"] = float(val), epoch
            if event.get("step") is None:
                loss = event.get("loss")
                self._close_epoch(epoch, now, None if loss is None else float(loss))

    def _closed(self) -> int:
        history = self.state["history"]
        return int(history[-1]["epoch"]) if history else 0

    def _close_epoch(self, upto: int, end: float, loss: float | None = None) -> None:
        """Move the open epochs up to ``upto`` into the history, with wall time per epoch (validation included)."""
        assert self._open_epoch is not None
        st = self.state
        n = max(1, upto - self._open_epoch + 1)
        seconds = max(0.0, end - float(st.get("epoch_started", end))) / n
        entry = {"epoch": upto, "n": n, "seconds": seconds, "loss": st.get("loss") if loss is None else loss}
        entry.update({"val_p@1": st.get("val_p@1"), "val_epoch": st.get("val_epoch"), "t": end})
        st["history"].append(entry)
        st["epoch_started"] = end  # the next epoch starts where this one ended
        self._open_epoch = None

    def _write(self) -> None:
        """Temp file and ``os.replace``, so a reader never sees half a file; no fsync: this is scratch."""
        from harness.io import atomic_write

        with atomic_write(self.path, "w", durable=False, make_parents=False) as fh:
            fh.write(json.dumps(self.state))
        self._last_write = self.clock()


def read_progress(cell_dir: Path) -> dict[str, Any] | None:
    """The running cell's progress state, or ``None`` (not written yet, or unreadable: show nothing new)."""
    try:
        state = json.loads((cell_dir / PROGRESS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def remove_progress(cell_dir: Path) -> None:
    """Delete the progress file and its temp file: scratch has no place in a finished cell folder."""
    for name in (PROGRESS_FILE, f".{PROGRESS_FILE}.tmp"):
        (cell_dir / name).unlink(missing_ok=True)


# --- estimates -----------------------------------------------------------------------------------------------


def mean_epoch_seconds(history: Sequence[Mapping[str, Any]]) -> float:
    """Mean wall time of the finished epochs (an entry may stand for ``n`` epochs)."""
    epochs = sum(int(e.get("n", 1)) for e in history)
    return sum(float(e["seconds"]) * int(e.get("n", 1)) for e in history) / max(1, epochs)


def training_left(state: Mapping[str, Any], now: float) -> float | None:
    """Seconds of training left in a cell: mean epoch time × epochs to go, minus the open epoch's time so far.

    Before the first epoch ends, the pace of the steps reported so far gives the time. ``None`` outside
    training or while too little is known. ``epochs`` is the current maximum: early stopping can end sooner.
    """
    epochs = state.get("epochs")
    if state.get("phase") not in TRAINING_PHASES or not epochs:
        return None
    history = state.get("history") or []
    started = float(state.get("epoch_started", now))
    if history:
        to_go = int(epochs) - int(history[-1]["epoch"])
        return max(0.0, mean_epoch_seconds(history) * to_go - (now - started)) if to_go > 0 else 0.0
    step, steps, step0 = state.get("step"), state.get("steps"), int(state.get("step0") or 0)
    step_at = float(state.get("step_at", now))
    if not step or not steps or step <= step0 or step_at <= started:
        return None
    per_step = (step_at - started) / (int(step) - step0)
    steps_left = int(steps) * int(epochs) - ((int(state.get("epoch") or 1) - 1) * int(steps) + int(step))
    return max(0.0, per_step * steps_left - (now - step_at))


def suite_eta(
    remaining: Sequence[str],
    finished: Mapping[str, Sequence[float]],
    running: tuple[str, float, float | None] | None = None,
) -> float | None:
    """Seconds until the suite ends, or ``None`` when nothing is known yet (shown as "?").

    Args:
        remaining: the model of each cell still to run (not the running one, not those on disk).
        finished: wall times of the cells that ran ok in this invocation, by model.
        running: the running cell's ``(model, seconds so far, training seconds left or None)``.

    A cell is expected to take as long as the finished cells of its model; failing those, as long as the
    running cell of its model is projected to take; failing that, the mean of every finished cell, then
    the running cell's projection. The running cell's time left is the larger of what its model's past cells
    leave and what its training estimate says.
    """
    every = [float(s) for seconds in finished.values() for s in seconds]
    mean_all = sum(every) / len(every) if every else None

    def same_model(model: str) -> float | None:
        seconds = finished.get(model)
        return sum(seconds) / len(seconds) if seconds else None

    total, projected, running_model = 0.0, None, None
    if running is not None:
        running_model, elapsed, hint = running
        known = same_model(running_model)
        if known is not None:
            left: float | None = max(known - elapsed, hint or 0.0)
        elif hint is not None:
            left = hint
        elif mean_all is not None:
            left = max(mean_all - elapsed, 0.0)
        else:
            left = None
        if left is None:
            return None
        total, projected = left, elapsed + left
    for model in remaining:
        guess = same_model(model)
        if guess is None and model == running_model:
            guess = projected
        if guess is None:
            guess = mean_all if mean_all is not None else projected
        if guess is None:
            return None
        total += guess
    return total


def fmt_duration(seconds: float | None) -> str:
    """``45s``, ``12m05s``, ``1h23m``; ``?`` for unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    s = round(max(0.0, seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


# --- rendering -----------------------------------------------------------------------------------------------


def _number(value: Any, spec: str) -> str:
    return format(float(value), spec) if value is not None and math.isfinite(float(value)) else str(value)


def epoch_text(entry: Mapping[str, Any], epochs: int | None, left: float | None = None) -> str:
    """One finished epoch: ``training epoch 2/5 · loss 0.01234 · val P@1 25.31 · 28.1s/epoch · ~1m24s left``."""
    parts = [f"training epoch {entry['epoch']}/{epochs or '?'}"]
    if entry.get("loss") is not None:
        parts.append(f"loss {_number(entry['loss'], '.4g')}")
    if entry.get("val_p@1") is not None:
        text = f"val P@1 {_number(100 * float(entry['val_p@1']), '.2f')}"
        if entry.get("val_epoch") not in (None, entry["epoch"]):
            text += f" (epoch {entry['val_epoch']})"  # no validation this epoch: the last one's
        parts.append(text)
    parts.append(f"{float(entry['seconds']):.1f}s/epoch")
    if left is not None and epochs and int(entry["epoch"]) < int(epochs):
        parts.append(f"~{fmt_duration(left)} left in training")
    return " · ".join(parts)


def describe(state: Mapping[str, Any] | None, now: float) -> str:
    """What the cell is doing now, in one line (the terminal's live cell line and the line mode's heartbeat).

    Training: epoch, step, running loss, the last validation P@1 and the training time left; any other
    phase: its name and how long it has lasted.
    """
    if not state or not state.get("phase"):
        return "starting"
    phase = str(state["phase"])
    word = PHASE_WORDS.get(phase, phase)
    if phase not in TRAINING_PHASES or state.get("epoch") is None:
        return f"{word} ({fmt_duration(now - float(state.get('phase_started', now)))})"
    text = f"{word} epoch {state['epoch']}/{state.get('epochs') or '?'}"
    if state.get("step") is not None and state.get("steps"):
        text += f" step {state['step']}/{state['steps']}"
    parts = [text]
    if state.get("loss") is not None:
        parts.append(f"loss {_number(state['loss'], '.4g')}")
    if state.get("val_p@1") is not None:
        parts.append(f"val P@1 {_number(100 * float(state['val_p@1']), '.2f')} (epoch {state.get('val_epoch', '?')})")
    left = training_left(state, now)
    if left is not None:
        parts.append(f"~{fmt_duration(left)} left in training")
    return " · ".join(parts)


# --- displays ------------------------------------------------------------------------------------------------


@dataclass
class _Cell:
    """What a display remembers about the running cell."""

    prefix: str
    model: str
    started: float
    phases_seen: int = 0
    epochs_seen: int = 0
    epoch_lines: int = 0
    last_epoch_line: float = -math.inf
    last_line: float = -math.inf
    pending: str | None = None  # an epoch line held back by the throttle, printed before the next phase
    state: Mapping[str, Any] | None = None


class RunProgress:
    """The plain display (``--progress off``): one line when a cell starts and one when it ends.

    It also keeps the suite's bookkeeping every display shares: cells done out of the total, the wall times
    of the cells run in this invocation and the estimate of the time left (:meth:`counts`).
    """

    def __init__(self, say: Callable[[str], None] = print, *, clock: Callable[[], float] = time.time) -> None:
        self._say = say
        self.clock = clock
        self.total = 0
        self.done = 0
        self.suite = ""
        self.finished: dict[str, list[float]] = {}
        self._to_run: list[tuple[str, bool]] = []  # (model, expected to run) for each cell, in plan order
        self._next = 0
        self.cell: _Cell | None = None

    def say(self, line: str) -> None:
        """Print one line (displays that hold the terminal print it above their bars).

        Lines carry data (dataset folder names, error messages, a cell's phase names): control characters are
        escaped (:func:`harness.results.printable`), so a name cannot recolour the terminal or forge a line.
        """
        self._say(printable(line))

    def start(self, suite: str, cells: Sequence[tuple[str, bool]]) -> None:
        """The plan: each cell's model and whether it is expected to run (not already on disk)."""
        self.suite, self._to_run, self.total, self.done, self._next = suite, list(cells), len(cells), 0, 0

    def cell_started(self, prefix: str, model: str) -> None:
        self.cell = _Cell(prefix=prefix, model=model, started=self.clock())

    def cell_update(self, state: Mapping[str, Any] | None) -> None:
        if self.cell is not None and state is not None:
            self.cell.state = state

    def cell_stopped(self) -> None:
        """The cell process has ended (its last progress was passed to :meth:`cell_update`)."""
        self.cell = None

    def cell_done(self, model: str, status: str, seconds: float) -> None:
        """One more cell is settled (run, found on disk, or skipped); an ok run's time feeds the estimate."""
        self.done += 1
        self._next = min(self._next + 1, len(self._to_run))
        if status == "ok":
            self.finished.setdefault(model, []).append(seconds)

    def eta(self) -> float | None:
        """Seconds left in the suite (:func:`suite_eta`); ``None`` when unknown."""
        remaining = [model for model, runs in self._to_run[self._next :] if runs]
        running = None
        cell = self.cell
        if cell is not None:
            if self._next < len(self._to_run) and self._to_run[self._next][1]:
                remaining = remaining[1:]  # the running cell is the first of them
            now = self.clock()
            running = (cell.model, now - cell.started, training_left(cell.state or {}, now))
        return suite_eta(remaining, self.finished, running)

    def counts(self) -> str:
        """``3/7 cells done, ~5m12s left`` (``?`` while nothing has run; no estimate once none is to run)."""
        text = f"{self.done}/{self.total} cells done"
        if any(runs for _, runs in self._to_run[self._next :]) or self.cell is not None:
            eta = self.eta()
            text += f", {'~' if eta is not None else ''}{fmt_duration(eta)} left"
        return text

    def status(self, text: str) -> None:
        """A transient note between cells (e.g. MLflow logging); only the terminal display shows it."""

    def close(self) -> None:
        """Release the terminal."""


class LineProgress(RunProgress):
    """For pipes and CI logs: one line per phase change and per epoch at most, never a carriage return.

    Epoch lines are throttled: the first and the last are always printed, the others only when
    ``epoch_interval`` seconds have passed since the previous one (a held-back epoch is printed before the
    next phase, so the last epoch's numbers always appear). When a cell prints nothing for ``heartbeat``
    seconds (a long epoch), one line says where it is, so a CI log never looks hung.
    """

    def __init__(
        self,
        say: Callable[[str], None] = print,
        *,
        epoch_interval: float = 5.0,
        heartbeat: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(say, clock=clock)
        self.epoch_interval = epoch_interval
        self.heartbeat = heartbeat

    def cell_started(self, prefix: str, model: str) -> None:
        super().cell_started(prefix, model)
        assert self.cell is not None
        self.cell.last_line = self.cell.started

    def _line(self, text: str, at: float) -> None:
        assert self.cell is not None
        self.say(f"{self.cell.prefix}: {text}")
        self.cell.last_line = max(self.cell.last_line, at)

    def _flush(self) -> None:
        cell = self.cell
        if cell is not None and cell.pending is not None:
            self._line(cell.pending, cell.last_line)
            cell.pending = None

    def cell_update(self, state: Mapping[str, Any] | None) -> None:
        super().cell_update(state)
        cell = self.cell
        if cell is None or state is None:
            return
        phases, history = state.get("phases") or [], state.get("history") or []
        events: list[tuple[float, int, Any]] = [
            (float(e["t"]), 0, i) for i, e in enumerate(history) if i >= cell.epochs_seen
        ]
        events += [(float(t), 1, name) for name, t in phases[cell.phases_seen :]]
        cell.phases_seen, cell.epochs_seen = len(phases), len(history)
        epochs = state.get("epochs")
        for at, kind, item in sorted(events, key=lambda e: (e[0], e[1])):
            if kind == 1:
                self._flush()
                self._line(PHASE_WORDS.get(item, item), at)
                continue
            entry = history[item]
            per_epoch = mean_epoch_seconds(history[: item + 1])
            left = per_epoch * (int(epochs) - int(entry["epoch"])) if epochs else None
            text = epoch_text(entry, epochs, left)
            last = bool(epochs) and int(entry["epoch"]) >= int(epochs)
            if cell.epoch_lines == 0 or last or at - cell.last_epoch_line >= self.epoch_interval:
                cell.pending = None
                self._line(text, at)
                cell.epoch_lines += 1
                cell.last_epoch_line = at
            else:
                cell.pending = text
        now = self.clock()
        if now - cell.last_line >= self.heartbeat:
            self._flush()
            self._line(describe(state, now), now)

    def cell_stopped(self) -> None:
        self._flush()
        super().cell_stopped()


class BarProgress(RunProgress):
    """For a terminal: a tqdm bar of cells done with the time left, and below it what the running cell does.

    The suite's own estimate replaces tqdm's rate-based one, which would count cells found on disk as
    instantaneous work. Lines (cell started, cell finished) are printed above the bars with ``tqdm.write``.
    """

    def __init__(self, stream: IO[str], *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock=clock)
        self.stream = stream
        self._bar: Any = None
        self._line: Any = None

    def say(self, line: str) -> None:
        from tqdm import tqdm

        line = printable(line)
        if self._bar is None:
            print(line, file=self.stream, flush=True)
        else:
            tqdm.write(line, file=self.stream)

    def start(self, suite: str, cells: Sequence[tuple[str, bool]]) -> None:
        from tqdm import tqdm

        super().start(suite, cells)
        common = {"file": self.stream, "dynamic_ncols": True, "mininterval": 0.0}
        fmt = "{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} cells, {elapsed} elapsed{postfix}"
        self._bar = tqdm(total=self.total, desc=f"suite {printable(suite)}", bar_format=fmt, position=0, **common)
        self._line = tqdm(total=0, bar_format="{desc}", position=1, leave=False, **common)
        self._refresh()

    def _refresh(self) -> None:
        if self._bar is None:
            return
        self._bar.n = self.done
        postfix = ""
        if self.done < self.total:
            eta = self.eta()
            postfix = f"{'~' if eta is not None else ''}{fmt_duration(eta)} left"
        self._bar.set_postfix_str(postfix, refresh=False)
        self._bar.refresh()
        cell = self.cell
        if cell is not None:
            now = self.clock()
            label = cell.prefix.split("] ", 1)[-1]
            text = f"  {label} [{fmt_duration(now - cell.started)}]: {describe(cell.state, now)}"
            self._line.set_description_str(printable(text), refresh=True)

    def cell_started(self, prefix: str, model: str) -> None:
        super().cell_started(prefix, model)
        self._refresh()

    def cell_update(self, state: Mapping[str, Any] | None) -> None:
        super().cell_update(state)
        self._refresh()

    def cell_done(self, model: str, status: str, seconds: float) -> None:
        super().cell_done(model, status, seconds)
        self._refresh()

    def status(self, text: str) -> None:
        if self._line is not None:
            self._line.set_description_str(f"  {printable(text)}", refresh=True)

    def close(self) -> None:
        for bar in (self._line, self._bar):
            if bar is not None:
                bar.close()
        self._bar = self._line = None


def make_progress(mode: str, stream: IO[str]) -> RunProgress:
    """The display for ``--progress MODE``; ``auto`` draws bars only on a terminal that can redraw a line."""
    if mode not in PROGRESS_MODES:
        raise ValueError(f"progress mode must be one of {', '.join(PROGRESS_MODES)}, got {mode!r}")
    if mode == "auto":
        tty = hasattr(stream, "isatty") and stream.isatty() and os.environ.get("TERM") != "dumb"
        mode = "bar" if tty else "lines"

    def say(line: str) -> None:
        print(line, file=stream, flush=True)

    if mode == "bar":
        return BarProgress(stream)
    return LineProgress(say) if mode == "lines" else RunProgress(say)
