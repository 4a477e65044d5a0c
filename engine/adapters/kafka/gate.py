"""The commit gate: Faust's offset commits (transactions) only between units of work."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

__all__ = ["CommitGate"]

log = logging.getLogger("csla.worker")


class CommitGate:
    """Keeps Faust's offset commits out of the middle of a unit of work.

    With ``exactly_once`` Faust commits on a timer (and every ``broker_commit_every`` messages):
    it adds the acked offsets to each partition's open transaction, commits it and begins the
    next one, whatever the agents are doing at that moment. A unit of work (a routed batch;
    an evaluated batch with its outputs and checkpoint; an ``advance``) sends several records
    at several awaits; a commit landing between two of them made the first half visible to
    read_committed readers while the second half, the checkpoint included, stayed in the next
    transaction. A crash or rebalance before that one committed aborted it, the work was done
    again from the older checkpoint, and its outputs were published twice (observed as
    duplicates under load, where batches take long enough for the commit timer to hit them).

    Units share the gate; a commit holds it alone, and waits for the units under way. A commit
    that is waiting lets no new unit start (no starvation). Units ack their messages before
    leaving, so each transaction holds whole units and the offsets they consumed. A unit that
    ends with an exception (the agent cancelled at shutdown) poisons the gate: what it sent
    must not be committed, so no commit happens in this process any more; the broker aborts
    the open transactions when the next owner of the partitions fences them.
    """

    def __init__(self) -> None:
        self._units = 0
        self._committing = False
        self._commits_waiting = 0
        self._waiters: list[asyncio.Future[None]] = []
        self.broken = False
        #: Faust's own commit, for a caller that already holds the gate (see ``guard``).
        self.commit_unguarded: Any = None

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    async def _wait_until(self, ready: Any) -> None:
        while not ready():
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            await fut

    @contextlib.asynccontextmanager
    async def unit(self) -> Any:
        """One unit of work: no commit starts before it ends."""
        await self._wait_until(lambda: not self._committing and not self._commits_waiting)
        self._units += 1
        ok = False
        try:
            yield
            ok = True
        finally:
            self._units -= 1
            if not ok:
                self.broken = True
            self._wake()

    @contextlib.asynccontextmanager
    async def exclusive(self) -> Any:
        """While no unit is under way (and no other commit)."""
        self._commits_waiting += 1
        try:
            await self._wait_until(lambda: not self._committing and not self._units)
        finally:
            self._commits_waiting -= 1
        self._committing = True
        try:
            yield
        finally:
            self._committing = False
            self._wake()

    def guard(self, consumer: Any) -> Any:
        """Route every commit of Faust's ``consumer`` (timer, every n messages, stop) through
        the gate; return ``consumer``."""
        commit = consumer.commit

        async def gated_commit(*args: Any, **kwargs: Any) -> bool:
            async with self.exclusive():
                if self.broken:
                    log.warning("a unit of work was interrupted: not committing its partial work")
                    return False
                return bool(await commit(*args, **kwargs))

        consumer.commit = gated_commit
        self.commit_unguarded = commit
        return consumer
