"""Request batching: requests that wait together run in one predict call, each caller gets
its own rows back, equal to what it would get alone, and one bad request fails alone."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import numpy as np
import pytest

from aiplane.modelserver.app import Serving, create_app
from aiplane.modelserver.batching import Batcher
from aiplane.modelserver.sklearn_flavor import INPUT, PREDICT, PROBA, SklearnModel
from tests.modelserver.models import FEATURES, Counting, rows, trained

ESTIMATOR = trained()
BOTH = (PREDICT, PROBA)


def run(batcher: Batcher, requests: list[np.ndarray[Any, Any]]) -> list[Any]:
    async def all_at_once() -> list[Any]:
        try:
            calls = [batcher.infer({INPUT: x}, BOTH) for x in requests]
            return await asyncio.gather(*calls, return_exceptions=True)
        finally:
            await batcher.close()

    return asyncio.run(all_at_once())


def test_requests_waiting_together_are_one_call_each_with_its_own_rows() -> None:
    counting = Counting(ESTIMATOR)
    requests = [rows(1 + i % 3, seed=i) for i in range(40)]
    results = run(Batcher(SklearnModel(counting), max_batch=32, max_wait_s=0.0), requests)
    # All queued before the first batch is taken: filled to 32 rows, never split.
    assert len(counting.calls) < len(requests)
    assert all(n <= 32 for n in counting.calls)
    assert sum(counting.calls) == sum(len(x) for x in requests)
    for x, got in zip(requests, results, strict=True):
        assert got[PREDICT].tolist() == ESTIMATOR.predict(x).tolist()
        assert np.allclose(got[PROBA], ESTIMATOR.predict_proba(x))


def test_a_request_larger_than_a_batch_runs_alone_and_whole() -> None:
    counting = Counting(ESTIMATOR)
    big, small = rows(50, seed=1), rows(2, seed=2)
    results = run(Batcher(SklearnModel(counting), max_batch=8), [small, small, big])
    assert counting.calls == [4, 50]  # the two small ones together
    assert results[2][PREDICT].tolist() == ESTIMATOR.predict(big).tolist()


def test_one_bad_request_fails_alone() -> None:
    counting = Counting(ESTIMATOR)
    bad = rows(1, seed=5)
    bad[0, 1] = np.nan
    requests = [rows(1, seed=1), bad, rows(2, seed=3)]
    results = run(Batcher(SklearnModel(counting)), requests)
    assert isinstance(results[1], ValueError)
    assert results[0][PREDICT].tolist() == ESTIMATOR.predict(requests[0]).tolist()
    assert results[2][PREDICT].tolist() == ESTIMATOR.predict(requests[2]).tolist()
    # The batch of four rows failed, then each ran alone.
    assert counting.calls == [4, 1, 1, 2]


def test_requests_of_other_shapes_are_not_stacked() -> None:
    class Wide:
        platform, batchable, any_input_name = "test", True, True
        inputs = outputs = ()
        calls: list[tuple[int, ...]] = []

        def predict(self, inputs: Any, _outputs: Any) -> dict[str, Any]:
            x = inputs["x"]
            self.calls.append(x.shape)
            return {"sum": x.sum(axis=1)}

    model = Wide()
    requests = [np.ones((1, 2)), np.ones((1, 3)), np.ones((2, 2))]

    async def go() -> list[Any]:
        batcher = Batcher(model, max_wait_s=0.0)
        try:
            return await asyncio.gather(*(batcher.infer({"x": x}, ["sum"]) for x in requests))
        finally:
            await batcher.close()

    results = asyncio.run(go())
    assert [r["sum"].tolist() for r in results] == [[2.0], [3.0], [2.0, 2.0]]
    assert len(model.calls) == 3  # each shape change closes a batch


@pytest.mark.parametrize("max_batch", [32, 1])
def test_concurrent_http_requests_are_batched_and_answered_as_alone(max_batch: int) -> None:
    counting = Counting(ESTIMATOR)
    gate = counting.gate = threading.Event()
    model = SklearnModel(counting)
    batcher = Batcher(model, max_batch=max_batch, max_wait_s=0.001)
    app = create_app(Serving("fraud", "1", model, batcher))
    requests = [rows(1, seed=i) for i in range(24)]

    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://model") as client:

            def post(x: np.ndarray[Any, Any]) -> Any:
                tensor = {"name": "x", "shape": [1, FEATURES], "datatype": "FP64"}
                body = {"inputs": [{**tensor, "data": x.ravel().tolist()}]}
                return client.post("/v2/models/fraud/infer", json=body)

            sent = [asyncio.ensure_future(post(x)) for x in requests]
            # The first call holds the worker thread until every request is in.
            for _ in range(5000):
                if batcher.waiting + sum(counting.entered) == len(requests):
                    break
                await asyncio.sleep(0.001)
            gate.set()
            answers = await asyncio.gather(*sent)
        await batcher.close()
        return answers

    answers = asyncio.run(go())
    assert batcher.waiting == 0
    for x, answer in zip(requests, answers, strict=True):
        predict = answer.json()["outputs"][0]
        assert predict["data"] == ESTIMATOR.predict(x).tolist()
    assert sum(counting.calls) == len(requests)
    if max_batch == 1:
        assert counting.calls == [1] * len(requests)
    else:
        assert len(counting.calls) < len(requests)


def test_requests_still_queued_at_a_stop_are_answered() -> None:
    counting = Counting(ESTIMATOR)
    batcher = Batcher(SklearnModel(counting))

    async def go() -> list[Any]:
        sent = [asyncio.ensure_future(batcher.infer({INPUT: rows(1)}, BOTH)) for _ in range(3)]
        await asyncio.sleep(0)  # queued, the batch not yet taken
        await batcher.close()
        return await asyncio.gather(*sent, return_exceptions=True)

    results = asyncio.run(go())
    assert [str(r) for r in results] == ["the model server stopped"] * 3
    assert counting.calls == []
