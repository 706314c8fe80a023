"""`bert2sk serve` under load: concurrent clients on loopback, one text per request and 32.

Fits a distilled linear TF-IDF student on IMDB training reviews, saves it,
starts ``bert2sk serve`` in its own process on a free 127.0.0.1 port and
runs ``--clients`` concurrent clients (threads, one keep-alive connection
each), each sending ``--requests`` requests, first of one text, then of 32
texts (short IMDB test reviews), with ``explain: 5``. Reports errors,
requests/s, texts/s and the p50/p99 latency per request. Goal: 0 errors.

Bounded: at most ``--clients x --requests`` requests per round, each round
stops after ``--budget`` seconds, nothing leaves the loopback interface.

    python benchmarks/service.py [--clients 8] [--requests 1000] [--budget 300] [--quick] [--out FILE]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from _record import Output, add_output_args
from scorer import _reviews, _student


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(model: Path, port: int) -> subprocess.Popen:
    args = [sys.executable, "-m", "bert2sk", "serve", str(model), "--port", str(port), "--max-texts", "64"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited: {proc.stderr.read()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("the server did not answer /healthz within 120 s")


def _client(port: int, bodies: list[bytes], stop_at: float, lat: list[float], errors: list[str]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}
    for body in bodies:
        if time.monotonic() > stop_at:
            break
        t0 = time.perf_counter()
        try:
            conn.request("POST", "/v1/predict", body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 200 or b'"results"' not in data:
                errors.append(f"{resp.status}: {data[:120]!r}")
        except OSError as exc:  # connection reset, timeout: counted, then a fresh connection
            errors.append(type(exc).__name__)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        lat.append(time.perf_counter() - t0)


def _round(port: int, texts: list[str], per_request: int, clients: int, requests: int, budget: float) -> dict:
    rng = np.random.default_rng(per_request)
    stop_at = time.monotonic() + budget
    lats: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    threads = []
    for c in range(clients):
        picks = rng.integers(0, len(texts), size=(requests, per_request))
        bodies = [json.dumps({"texts": [texts[i] for i in row], "explain": 5}).encode() for row in picks]
        threads.append(threading.Thread(target=_client, args=(port, bodies, stop_at, lats[c], errors)))
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    all_lat = sorted(x for lat in lats for x in lat)
    done = len(all_lat)
    return {"requests": done, "planned": clients * requests, "errors": len(errors), "first_errors": errors[:3],
            "seconds": wall, "rps": done / wall, "texts_per_s": done * per_request / wall,
            "p50_ms": statistics.median(all_lat) * 1e3, "p99_ms": all_lat[min(done - 1, int(0.99 * done))] * 1e3}


def _parse_args(argv: list[str] | None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=1000, help="requests per client per round (--quick: 100)")
    ap.add_argument("--budget", type=float, default=300.0, help="seconds a round may take at most")
    ap.add_argument("--train", type=int, default=5000, help="IMDB training reviews for the student (--quick: 500)")
    add_output_args(ap)
    args = ap.parse_args(argv)
    if args.quick:
        args.requests, args.train = min(args.requests, 100), min(args.train, 500)
    return args


def main(argv: list[str] | None = None) -> int:
    from bert2sk.persistence import save_student

    args = _parse_args(argv)
    out = Output(__file__, argv)
    train, y, source = _reviews("train", args.train)
    pool, _, test_source = _reviews("test", 5000)
    short = [t for t in pool if len(t) <= 600][:1000]  # short reviews: a service's typical request
    with tempfile.TemporaryDirectory() as tmp:
        model = save_student(Path(tmp) / "student", _student(train, y),
                             {"name": "distilled-linear-tfidf", "task": "binary", "label_names": ["neg", "pos"]})
        port = _free_port()
        proc = _start(model, port)
        try:
            out.say(f"student: distilled linear TF-IDF on {len(train):,} reviews of {source}; texts: "
                    f"{len(short)} test reviews of <= 600 characters ({test_source}); explain: 5 reasons per text",
                    f"server: bert2sk serve on 127.0.0.1 (one uvicorn process); {args.clients} client threads, "
                    f"one keep-alive connection each, {os.cpu_count()} CPUs shared by server and clients", "")
            for per_request in (1, 32):
                r = _round(port, short, per_request, args.clients, args.requests, args.budget)
                out.say(f"{per_request:>2} text(s)/request: {r['requests']:,}/{r['planned']:,} requests in "
                        f"{r['seconds']:.1f} s, errors {r['errors']}, {r['rps']:,.0f} requests/s "
                        f"({r['texts_per_s']:,.0f} texts/s), p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms"
                        + (f"  first errors: {r['first_errors']}" if r["errors"] else ""))
                out.say(f"   0 errors: {'met' if r['errors'] == 0 else 'NOT met'}")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    out.finish(args.out, args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
