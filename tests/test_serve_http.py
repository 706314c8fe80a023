"""`bert2sk serve`: the real server process on a loopback port, spoken to over HTTP, bad input included."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from bert2sk.features import TfidfFeatures
from bert2sk.persistence import save_student
from bert2sk.students import make_distilled

from .conftest import sentiment_texts

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

LIMITS = {"max_texts": 8, "max_chars": 1_000, "max_body_bytes": 100_000}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def student(tmp_path_factory) -> tuple[Path, Pipeline]:
    texts, y = sentiment_texts(200)
    pipe = Pipeline([("features", TfidfFeatures(min_df=1)), ("student", make_distilled("linear"))])
    pipe.fit(texts, y, student__teacher_logits=np.c_[np.zeros(len(y)), 3.0 * y - 1.5])
    path = save_student(tmp_path_factory.mktemp("served") / "sentiment", pipe,
                        {"name": "sentiment", "task": "binary", "label_names": ["neg", "pos"]})
    return path, pipe


@pytest.fixture(scope="module")
def server(student) -> Iterator[str]:
    """``bert2sk serve`` in its own process on 127.0.0.1; yields its base URL, stops it after the module."""
    port = free_port()
    args = [sys.executable, "-m", "bert2sk", "serve", str(student[0]), "--port", str(port)]
    for k, v in LIMITS.items():
        args += [f"--{k.replace('_', '-')}", str(v)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"the server exited: {proc.stderr.read()}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        else:
            pytest.fail("the server did not answer /healthz within 90 s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _post(url: str, **kw) -> httpx.Response:
    return httpx.post(f"{url}/v1/predict", timeout=30, **kw)


def test_predicts_like_the_pipeline_with_exact_reasons(server, student):
    from bert2sk.explain import explain_linear

    pipe = student[1]
    texts = ["a wonderful film", "awful boring plot", "", "good\u0000film", "<script>alert(1)</script> great <br />"]
    r = _post(server, json={"texts": texts, "explain": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "sentiment" and len(body["results"]) == len(texts)
    want = pipe.predict_proba(texts)
    for res, p, text in zip(body["results"], want, texts, strict=True):
        assert res["probabilities"]["pos"] == pytest.approx(p[1], abs=1e-9)
        assert res["labels"] == [["neg", "pos"][int(p.argmax())]]
        assert len(res["reasons"]) <= 3
        [a] = explain_linear(pipe, text, labels=[["neg", "pos"].index(res["explained"])])
        exact = dict(zip(a.terms, a.term_weights, strict=True))
        for reason in res["reasons"]:
            assert reason["weight"] == pytest.approx(exact[reason["term"]], abs=1e-12)
    plain = _post(server, json={"texts": ["a wonderful film"]}).json()["results"][0]
    assert plain["reasons"] == []


def test_health_card_and_docs(server):
    assert httpx.get(f"{server}/healthz").json()["status"] == "ok"
    card = httpx.get(f"{server}/v1/model").json()
    assert card["label_names"] == ["neg", "pos"] and card["serving"]["compiled"] is True
    assert card["serving"]["limits"]["max_texts"] == LIMITS["max_texts"]
    spec = httpx.get(f"{server}/openapi.json").json()
    assert "/v1/predict" in spec["paths"] and "PredictRequest" in json.dumps(spec)
    assert httpx.get(f"{server}/docs").status_code == 200


@pytest.mark.parametrize(("kwargs", "status", "limit"), [
    ({"json": {"texts": ["x" * 1_000_000]}}, 413, "max_body_bytes"),  # 1 MB
    ({"json": {"texts": ["word " * 300]}}, 413, "max_chars"),
    ({"json": {"texts": ["a"] * 9}}, 413, "max_texts"),
    ({"content": (b"{\"texts\": [\"" + b"y" * 50_000 for _ in range(3)),  # streamed, no length, 150 kB
      "headers": {"content-type": "application/json"}}, 413, "max_body_bytes"),
])
def test_limits_are_413_naming_the_limit(server, kwargs, status, limit):
    r = _post(server, **kwargs)
    assert r.status_code == status, r.text
    assert r.json()["limit"] == limit and limit in r.json()["error"]


@pytest.mark.parametrize("payload", [
    b"{texts: [",  # invalid JSON
    b"\xff\xfe\x00garbage",  # not UTF-8
    b"[]", b"null", b"\"a string\"", b"{}",
    json.dumps({"texts": "a string"}).encode(),
    json.dumps({"texts": [1, 2]}).encode(),
    json.dumps({"texts": [None]}).encode(),
    json.dumps({"texts": [["nested"]]}).encode(),
    json.dumps({"texts": []}).encode(),
    json.dumps({"texts": ["a"], "explain": "3"}).encode(),
    json.dumps({"texts": ["a"], "explain": -1}).encode(),
    json.dumps({"texts": ["a"], "explain": 10**12}).encode(),
    json.dumps({"texts": ["a"], "explain": 2.5}).encode(),
    json.dumps({"texts": ["a"], "unknown": 1}).encode(),
])
def test_bad_input_is_a_json_4xx_never_a_500(server, payload):
    r = _post(server, content=payload, headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500 and r.status_code in (400, 422), (r.status_code, r.text)
    err = r.json()["error"]
    assert isinstance(err, str) and "Traceback" not in err and len(err) < 1_000


def test_wrong_method_and_path_are_json_too(server):
    assert httpx.get(f"{server}/v1/predict").status_code == 405
    missing = httpx.get(f"{server}/nope")
    assert missing.status_code == 404 and "error" in missing.json()
    assert httpx.get(f"{server}/healthz").status_code == 200  # still serving after all of the above
