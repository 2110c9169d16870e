"""Request batching: infer calls that arrive together are stacked into one predict call.

The first request waiting opens a batch; requests that come within ``max_wait_s`` join it until
it holds ``max_batch`` rows. The batch runs in the one worker thread (the event loop keeps
accepting requests meanwhile, and they make up the next batch), its outputs are cut back into
each caller's rows. Requests stack only with requests of the same inputs, datatypes and
trailing dimensions; a request larger than ``max_batch`` runs alone. When a batch fails, each
of its requests is run alone, so that one caller's bad rows fail that caller only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aiplane.modelserver.model import Arrays, ServedModel

Outputs = dict[str, np.ndarray[Any, Any]]


@dataclass
class _Pending:
    inputs: Arrays
    outputs: Collection[str]
    rows: int
    key: tuple[Any, ...] | None  # None: stacks with nothing
    future: asyncio.Future[Outputs] = field(repr=False)


class Batcher:
    def __init__(self, model: ServedModel, max_batch: int = 32, max_wait_s: float = 0.002) -> None:
        self._model = model
        self._max_batch = max_batch
        self._max_wait_s = max_wait_s
        self._queue: asyncio.Queue[_Pending] | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._held: _Pending | None = None  # the request that closed the last batch
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="predict")

    async def infer(self, inputs: Arrays, outputs: Collection[str]) -> Outputs:
        """``outputs`` for ``inputs``, from a batch of whatever else is waiting; raises what
        the model raised for these inputs."""
        loop = asyncio.get_running_loop()
        if self._queue is None or self._task is None or self._task.done() or self._loop is not loop:
            # Started on first use, in the loop that serves (an ASGI app may be driven
            # without a lifespan, or from a new loop per call, as a test client does).
            self._queue = asyncio.Queue()
            self._task = loop.create_task(self._run())
            self._loop = loop
        rows, key = self._shape_key(inputs)
        pending = _Pending(inputs, outputs, rows, key, loop.create_future())
        self._queue.put_nowait(pending)
        return await pending.future

    @property
    def waiting(self) -> int:
        """Requests queued for a batch, not yet running."""
        return 0 if self._queue is None else self._queue.qsize()

    async def close(self) -> None:
        if self._task is not None and self._loop is asyncio.get_running_loop():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        left = [self._held] if self._held is not None else []
        while self._queue is not None and not self._queue.empty():
            left.append(self._queue.get_nowait())
        for pending in left:
            if not pending.future.done():
                pending.future.set_exception(RuntimeError("the model server stopped"))
        self._thread.shutdown(wait=True)

    def _shape_key(self, inputs: Arrays) -> tuple[int, tuple[Any, ...] | None]:
        firsts = {a.shape[0] if a.ndim else -1 for a in inputs.values()}
        if not self._model.batchable or len(firsts) != 1 or -1 in firsts:
            return 1, None
        key = tuple(sorted((n, a.dtype.str, a.shape[1:]) for n, a in inputs.items()))
        return firsts.pop(), key

    async def _run(self) -> None:
        queue = self._queue
        if queue is None:
            return
        while True:
            batch, self._held = await self._collect(queue, self._held)
            live = [p for p in batch if not p.future.done()]  # a caller gone: no work for it
            if not live:
                continue
            try:
                results = await asyncio.get_running_loop().run_in_executor(
                    self._thread, self._predict, live
                )
            except BaseException as exc:
                # Stopped mid-batch (or the thread is gone): its callers are answered, not
                # left waiting.
                for pending in live:
                    if not pending.future.done():
                        pending.future.set_exception(
                            RuntimeError(f"the model server stopped: {exc!r}")
                        )
                raise
            for pending, result in zip(live, results, strict=True):
                if pending.future.done():
                    continue
                if isinstance(result, BaseException):
                    pending.future.set_exception(result)
                else:
                    pending.future.set_result(result)

    async def _collect(
        self, queue: asyncio.Queue[_Pending], held: _Pending | None
    ) -> tuple[list[_Pending], _Pending | None]:
        """The next batch, from ``held`` (the request that closed the last one) or the first
        to come; and the request that closed this one, if any."""
        loop = asyncio.get_running_loop()
        first = held if held is not None else await queue.get()
        batch, rows = [first], first.rows
        deadline = loop.time() + self._max_wait_s
        while first.key is not None and rows < self._max_batch:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    item = await asyncio.wait_for(queue.get(), left)
                except TimeoutError:
                    break
            if item.key != first.key or rows + item.rows > self._max_batch:
                return batch, item  # the first of the next batch
            batch.append(item)
            rows += item.rows
        return batch, None

    def _predict(self, batch: list[_Pending]) -> list[Outputs | BaseException]:
        if len(batch) == 1:
            return [self._alone(batch[0])]
        wanted = set().union(*(p.outputs for p in batch))
        stacked = {
            name: np.concatenate([p.inputs[name] for p in batch]) for name in batch[0].inputs
        }
        total = sum(p.rows for p in batch)
        try:
            found = self._model.predict(stacked, wanted)
            if any(a.ndim == 0 or a.shape[0] != total for a in found.values()):
                raise ValueError("an output without one row per input row")
        except Exception:  # noqa: BLE001 (whichever request broke it fails alone, below)
            return [self._alone(p) for p in batch]
        results: list[Outputs | BaseException] = []
        start = 0
        for p in batch:
            end = start + p.rows
            results.append({n: found[n][start:end] for n in p.outputs if n in found})
            start = end
        return results

    def _alone(self, pending: _Pending) -> Outputs | BaseException:
        try:
            return self._model.predict(pending.inputs, pending.outputs)
        except Exception as exc:  # noqa: BLE001 (the model's error is its caller's answer)
            return exc
