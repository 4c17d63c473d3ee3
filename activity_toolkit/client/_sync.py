"""Run the async core from synchronous code, in a script or inside Jupyter.

With no event loop running (a script, a terminal REPL) the coroutine runs under
``asyncio.run``. Inside a running loop (a Jupyter kernel) it runs on a private event
loop in a worker thread while the caller's thread waits, so there is no need for
``nest_asyncio``. Ctrl-C (a kernel interrupt) cancels the coroutine, which lets it
save what it has, and is then raised in the caller.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["run_sync"]

T = TypeVar("T")


def run_sync(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine ``factory()`` to completion and return its result."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    return _run_in_thread(factory)


def _run_in_thread(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    box: dict[str, Any] = {}
    ready = threading.Event()

    def target() -> None:
        loop = asyncio.new_event_loop()
        try:
            task = loop.create_task(factory())
            box["loop"], box["task"] = loop, task
            ready.set()
            box["value"] = loop.run_until_complete(task)
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc
        finally:
            ready.set()
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    thread = threading.Thread(target=target, name="activity_toolkit-sync", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.1)
    except KeyboardInterrupt:
        ready.wait(5)
        loop, task = box.get("loop"), box.get("task")
        if loop is not None and task is not None and not loop.is_closed():
            loop.call_soon_threadsafe(task.cancel)
        thread.join(60)
        raise
    if "error" in box:
        error: BaseException = box["error"]
        if isinstance(error, asyncio.CancelledError):
            raise KeyboardInterrupt from error
        raise error
    return box["value"]  # type: ignore[no-any-return]
