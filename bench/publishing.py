#!/usr/bin/env python3
"""bench/publishing.py — scheduled-publishing lateness (run through bench/publishing.sh).

Starts a fake X (OAuth + POST /2/tweets, standard library only, from tests/fuzz/fixtures.py)
that records when each tweet arrives, starts `postproxy serve` against it, connects one X
profile through the real connection flow, creates POSTS posts scheduled evenly over WINDOW
seconds starting LEAD seconds from now, waits until every one has reached the fake (or
TIMEOUT), and prints lateness (arrival - scheduled_at) p50 / p99 / max, publishes per
second over the window, lost and doubled. Exit 1 when any post is lost or doubled, or
when p99 lateness is 1 s or more.

Usage: python3 bench/publishing.py BIN DATABASE_URL
Env: POSTS=10000 WINDOW=60 LEAD=<auto> TIMEOUT=240 CREATE_WORKERS=8
"""

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "fuzz"))
import fixtures  # noqa: E402  (the fake OAuth provider and the connection flow)

POSTS = int(os.environ.get("POSTS", "10000"))
WINDOW = float(os.environ.get("WINDOW", "60"))
TIMEOUT = float(os.environ.get("TIMEOUT", "240"))
WORKERS = int(os.environ.get("CREATE_WORKERS", "8"))

arrivals = {}  # text -> [arrival times]
lock = threading.Lock()
seq = [0]


class FakeX(fixtures.Provider):
    def do_POST(self):
        if self.path.split("?")[0] == "/x/api/2/tweets":
            n = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(n) or b"{}")
            now = time.time()
            with lock:
                arrivals.setdefault(body.get("text", ""), []).append(now)
                seq[0] += 1
                tid = str(1800000000000000000 + seq[0])
            return self._send(201, {"data": {"id": tid, "text": body.get("text", "")}})
        return super().do_POST()


def start_fake():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeX)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return "http://127.0.0.1:%d" % server.server_address[1]


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)


def pct(sorted_values, p):
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, int(round(p / 100.0 * (len(sorted_values) - 1))))
    return sorted_values[i]


def main():
    binary, db_url = sys.argv[1], sys.argv[2]
    fake = start_fake()
    env = dict(os.environ)
    for p in ["FACEBOOK", "INSTAGRAM", "TIKTOK", "LINKEDIN", "YOUTUBE", "TWITTER", "THREADS"]:
        env["POSTPROXY_%s_CLIENT_ID" % p] = "bench"
        env["POSTPROXY_%s_CLIENT_SECRET" % p] = "bench"
        env["POSTPROXY_%s_API_URL" % p] = "http://127.0.0.1:9"
    env.update({
        "POSTPROXY_TWITTER_AUTHORIZE_URL": fake + "/x/authorize",
        "POSTPROXY_TWITTER_TOKEN_URL": fake + "/x/token",
        "POSTPROXY_TWITTER_API_URL": fake + "/x/api",
        "POSTPROXY_RATE_LIMIT_PER_MINUTE": "0",
        "RUST_LOG": env.get("RUST_LOG", "warn"),
    })
    account = json.loads(subprocess.check_output(
        [binary, "admin", "create-account", "--name", "Bench", "--database-url", db_url], env=env))
    key, group = account["api_key"], account["profile_group_id"]
    port = free_port()
    base = "http://127.0.0.1:%d" % port
    server = subprocess.Popen(
        [binary, "serve", "--listen", "127.0.0.1:%d" % port, "--public-url", base, "--database-url", db_url],
        env=env, stdout=subprocess.DEVNULL, stderr=open(os.environ.get("SERVER_LOG", os.devnull), "w"))
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except Exception:
                time.sleep(0.1)
        profile = fixtures.connect(base, key, group, "twitter", "bench")

        # Creating takes a while: measure a few, then schedule the window after creation ends.
        def create(i, when):
            status, _, raw = fixtures.call("POST", base + "/api/posts", key, {
                "post": {"body": "bench post %d" % i, "scheduled_at": iso(when)}, "profiles": [profile]})
            if status != 201:
                raise SystemExit("create %d: %s %s" % (i, status, raw[:200]))
            return when

        probe = time.time()
        for i in range(20):
            create(-1 - i, time.time() + 3600)
        per_create = (time.time() - probe) / 20
        lead = float(os.environ.get("LEAD") or max(20.0, 1.5 * per_create * POSTS / WORKERS + 10))
        start = time.time() + lead
        schedule = {"bench post %d" % i: start + WINDOW * i / POSTS for i in range(POSTS)}
        t0 = time.time()
        with ThreadPoolExecutor(WORKERS) as pool:
            list(pool.map(lambda i: create(i, schedule["bench post %d" % i]), range(POSTS)))
        created_in = time.time() - t0
        if time.time() > start:
            raise SystemExit("creating took %.1f s, past the window's start; raise LEAD" % created_in)
        deadline = start + WINDOW + TIMEOUT
        while time.time() < deadline:
            with lock:
                done = sum(1 for t in schedule if t in arrivals)
            if done == POSTS:
                break
            time.sleep(0.5)
        with lock:
            lateness = sorted(max(0.0, arrivals[t][0] - s) for t, s in schedule.items() if t in arrivals)
            lost = sum(1 for t in schedule if t not in arrivals)
            doubled = sum(1 for t in schedule if len(arrivals.get(t, [])) > 1)
            last = max((arrivals[t][0] for t in schedule if t in arrivals), default=start)
        rate = len(lateness) / max(0.001, last - start)
        p50, p99, worst = pct(lateness, 50), pct(lateness, 99), (lateness[-1] if lateness else float("nan"))
        print("publishing: %d posts over %.0f s (created in %.1f s, %.1f ms each): lateness p50 %.3f s, "
              "p99 %.3f s, max %.3f s; %.0f publishes/s; lost %d, doubled %d"
              % (POSTS, WINDOW, created_in, per_create * 1000, p50, p99, worst, rate, lost, doubled))
        ok = lost == 0 and doubled == 0 and p99 < 1.0
        print("publishing: %s" % ("PASS" if ok else "FAIL"))
        return 0 if ok else 1
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    sys.exit(main())
