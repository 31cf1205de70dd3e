"""One request budget for pytest-xdist workers on one host: a small JSON file that every
worker's pacer updates under an exclusive lock before each request it sends.

A static share (each worker may send budget / N) holds without any channel, but a worker whose
tests happen to send more stops early while the others leave theirs unspent (measured in
docs/contract-suite.md, "Workers"). The file lets every local worker draw on the whole
budget; each also keeps in it the requests its own cleanup still needs, so that the sum of what
was sent and of every worker's reserve never passes the budget. Workers on other hosts
(``--tx ssh=...``) cannot see the file; they get the static share (pacing.py).
"""

from __future__ import annotations

import fcntl
import json
from pathlib import Path

__all__ = ["SharedBudget"]


class SharedBudget:
    """The run's budget in `path`; `worker` names this worker's reserve."""

    def __init__(self, path: Path, worker: str) -> None:
        self.path, self.worker = path, worker

    @staticmethod
    def create(path: Path) -> Path:
        path.write_text(json.dumps({"sent": 0, "reserved": {}, "uncounted": 0}),
                        encoding="utf-8")
        return path

    def take(self, limit: int, reserve: int, uncounted: int) -> bool:
        """Count one request if it fits in `limit` beside every worker's reserve (this one's:
        `reserve`; `uncounted`: requests of the run's that bypass every pacer, counted once).
        The workers share one host's page cache: the lock orders them, no sync to disk is
        needed."""
        with open(self.path, "r+", encoding="utf-8") as file:
            fcntl.flock(file, fcntl.LOCK_EX)  # released when the file is closed
            state = json.load(file)
            state["reserved"][self.worker] = reserve
            state["uncounted"] = max(state["uncounted"], uncounted)
            kept = sum(state["reserved"].values()) + state["uncounted"]
            allowed = bool(state["sent"] + kept < limit)
            if allowed:
                state["sent"] += 1
            file.seek(0)
            file.write(json.dumps(state))
            file.truncate()
            return allowed
