"""The loop's triggerer: deferred tasks' triggers, awaited on an event loop of its own.

Airflow runs triggers in a separate ``triggerer`` process; here they run in
the process that drives the runs, on an ``asyncio`` loop in a daemon thread,
so a thousand waiting sensors cost a thousand sleeping coroutines and no
worker thread, no extra process. The thread is the loop's only contact with
them: a trigger that blocks delays other triggers, never the loop's ticks or
heartbeats. Each trigger's first event (or its failure) is handed to
``on_fire(ident, kind, payload)`` from that thread, which the driver turns
into an event of its queue.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import Future
from typing import Any

from daskflow import config
from daskflow.secrets.masking import redact
from daskflow.triggers.base import ENDING_STATES, BaseTrigger, trigger_from
from daskflow.triggers.serialization import UnserializableValue, decode, encode

logger = logging.getLogger("daskflow.triggerer")

#: ``kind`` values given to ``on_fire``.
EVENT, ERROR = "event", "error"


class Triggerer:
    """Runs triggers until their first event; started on first use, stopped by :meth:`close`."""

    def __init__(self, on_fire: Callable[[Hashable, str, Any], None]) -> None:
        self.on_fire = on_fire
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._tasks: dict[Hashable, asyncio.Task] = {}
        self._lock = threading.Lock()

    # -- from the loop's thread ----------------------------------------------------------
    def start(self, ident: Hashable, deferral: dict[str, Any],
              store_url: str | None = None) -> None:
        """Wait on the trigger ``deferral`` describes (replacing one waiting for ``ident``);
        the trigger reads connections, variables and runs from the store at ``store_url``."""
        self._call(self._spawn, ident, deferral, store_url)

    def stop(self, idents: Iterable[Hashable]) -> None:
        """Stop waiting on these triggers; they fire nothing any more."""
        idents = list(idents)
        if idents and self._loop is not None:
            self._call(self._cancel, idents)

    def running(self) -> int:
        """How many triggers are waiting now."""
        return len(self._tasks)

    def close(self, timeout: float = 5.0) -> None:
        """Cancel every trigger (running each one's cleanup) and end the thread."""
        with self._lock:
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is None or thread is None:
            return
        done: Future = asyncio.run_coroutine_threadsafe(self._cancel_all(), loop)
        try:
            done.result(timeout)
        except Exception:  # a cleanup that hangs or fails must not stop the loop's exit
            logger.warning("triggers did not stop within %gs", timeout, exc_info=True)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)

    def _call(self, function: Callable[..., Any], *args: Any) -> None:
        loop = self._ensure_loop()
        loop.call_soon_threadsafe(function, *args)

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                ready = threading.Event()
                loop = asyncio.new_event_loop()

                def serve() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()
                    loop.close()

                self._thread = threading.Thread(target=serve, name="daskflow-triggerer",
                                                daemon=True)
                self._thread.start()
                ready.wait()
                self._loop = loop
            return self._loop

    # -- on the event loop's thread ------------------------------------------------------
    def _spawn(self, ident: Hashable, deferral: dict[str, Any], store_url: str | None) -> None:
        old = self._tasks.pop(ident, None)
        if old is not None:
            old.cancel()
        task = asyncio.get_running_loop().create_task(self._wait(ident, deferral, store_url))
        self._tasks[ident] = task
        task.add_done_callback(lambda done: self._forget(ident, done))

    def _forget(self, ident: Hashable, done: asyncio.Task) -> None:
        if self._tasks.get(ident) is done:
            del self._tasks[ident]

    def _cancel(self, idents: list[Hashable]) -> None:
        for ident in idents:
            task = self._tasks.pop(ident, None)
            if task is not None:
                task.cancel()

    async def _cancel_all(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _wait(self, ident: Hashable, deferral: dict[str, Any],
                    store_url: str | None = None) -> None:
        # Each trigger is a task with a context of its own: the store is set for it alone.
        with config.using_db(store_url):
            await self._wait_in_store(ident, deferral)

    async def _wait_in_store(self, ident: Hashable, deferral: dict[str, Any]) -> None:
        classpath = deferral.get("trigger", "?")
        trigger: BaseTrigger | None = None
        try:
            trigger = trigger_from(classpath, decode(deferral.get("trigger_kwargs") or {}))
            async for event in trigger.run():
                self._fire(ident, *_kind_and_payload(event, classpath))
                return
            self._fire(ident, ERROR, f"{classpath} ended without an event")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the trigger's own failure fails its task, named
            self._fire(ident, ERROR, redact(f"{classpath}: {type(exc).__name__}: {exc}"))
        finally:
            if trigger is not None:
                try:
                    await trigger.cleanup()
                except Exception:  # cleanup is best effort; the event already went
                    logger.warning("cleanup of trigger %s failed", classpath, exc_info=True)

    def _fire(self, ident: Hashable, kind: str, payload: Any) -> None:
        try:
            self.on_fire(ident, kind, payload)
        except Exception:  # the driver is closing: nobody to tell
            logger.debug("trigger %r fired after its driver closed", ident, exc_info=True)


def wait_here(deferral: dict[str, Any]) -> tuple[str, Any]:
    """Run one trigger to its first event in this thread: ``(kind, payload)``, or
    ``("timeout", None)`` past the deferral's timeout.

    For ``daskflow tasks test``, which runs a task alone without a loop.
    """
    fired: list[tuple[str, Any]] = []
    triggerer = Triggerer(lambda ident, kind, payload: fired.append((kind, payload)))
    timeout_at = deferral.get("timeout_at")

    async def wait() -> None:
        await triggerer._wait("here", deferral)

    try:
        if timeout_at is None:
            asyncio.run(wait())
        else:
            asyncio.run(asyncio.wait_for(wait(), max(float(timeout_at) - time.time(), 0)))
    except TimeoutError:
        return "timeout", None
    return fired[0] if fired else (ERROR, "the trigger ended without an event")


def _kind_and_payload(event: Any, classpath: str) -> tuple[str, Any]:
    ending = ENDING_STATES.get(type(event))
    try:
        payload = encode(getattr(event, "payload", None), f"payload of {classpath}'s event")
    except UnserializableValue as exc:
        return ERROR, str(exc)
    return (ending or EVENT), payload
