#!/usr/bin/env python3
"""bench/publishing.py — scheduled-publishing lateness (run through bench/publishing.sh).

Starts a fake X, LinkedIn, Facebook and Threads (X and LinkedIn OAuth from
tests/fuzz/fixtures.py; Meta's OAuth, `POST /2/tweets`, `POST /rest/posts`, `POST /{page}/feed`
and Threads' container, status and `threads_publish` here; standard library only) that records
when each post arrives and answers every request after LATENCY_MS, like a real platform. Starts
`postproxy serve` against it, connects PROFILES profiles through the real connection flow
(spread evenly over PLATFORMS, one of each per profile group),
creates POSTS posts spread over the profiles and scheduled evenly over WINDOW seconds (WINDOW=0:
all at the same instant) starting LEAD seconds from now, waits until every one has reached the
fake (or TIMEOUT), and prints lateness (arrival - scheduled_at) p50 / p99 / max, publishes per
second, lost and doubled, and the CPU each side used during the publishing phase.
COUNT_SQL=1 also counts the SQL statements the server ran per publish (from its JSON debug log
of `sqlx::query`; this costs server CPU, so CPU figures of such a run are not comparable).

Exit 1 when any post is lost or doubled, or the target is missed: p99 lateness under 1 s for a
spread window; every post published within 60 s of its time for a burst (WINDOW=0).

Usage: python3 bench/publishing.py BIN DATABASE_URL
Env: POSTS=10000 WINDOW=60 LATENCY_MS=200 PROFILES=100 PLATFORMS=twitter,linkedin,facebook,threads
     LEAD=<auto> TIMEOUT=240 CREATE_WORKERS=8 COUNT_SQL=0
"""

import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "fuzz"))
import fixtures  # noqa: E402  (the fake OAuth provider and the connection flow)

POSTS = int(os.environ.get("POSTS", "10000"))
WINDOW = float(os.environ.get("WINDOW", "60"))
TIMEOUT = float(os.environ.get("TIMEOUT", "240"))
WORKERS = int(os.environ.get("CREATE_WORKERS", "8"))
LATENCY = float(os.environ.get("LATENCY_MS", "200")) / 1000.0
PROFILES = int(os.environ.get("PROFILES", "100"))
COUNT_SQL = os.environ.get("COUNT_SQL", "0") == "1"
PLATFORMS = os.environ.get("PLATFORMS", "twitter,linkedin,facebook,threads").split(",")

arrivals = {}  # text -> [arrival times]
lock = threading.Lock()
seq = [0]


containers = {}  # Threads container id -> text


class FakePlatforms(fixtures.Provider):
    def _arrive(self, text):
        now = time.time()
        with lock:
            arrivals.setdefault(text, []).append(now)
        return self._next_id()

    def _next_id(self):
        with lock:
            seq[0] += 1
            return str(1800000000000000000 + seq[0])

    def _params(self, body=b""):
        """Query parameters, and form or JSON body fields (Meta takes all three)."""
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
        if body:
            if (self.headers.get("Content-Type") or "").startswith("application/json"):
                q.update({k: v for k, v in json.loads(body).items() if isinstance(v, str)})
            else:
                q.update(dict(urllib.parse.parse_qsl(body.decode())))
        return q

    @staticmethod
    def _meta_who(token):
        return token[4:] if token and token.startswith(("tok-", "ptk-")) else None

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        q = self._params()
        if path == "/facebook/token":  # code exchange, then the long-lived exchange (both GET)
            code = q.get("code") or (q.get("fb_exchange_token") or "")[4:]
            return self._send(200, {"access_token": "tok-" + code, "token_type": "bearer", "expires_in": 5183944})
        if path == "/threads/api/access_token":
            return self._send(200, {"access_token": q.get("access_token", ""), "token_type": "bearer",
                                    "expires_in": 5183944})
        if path.startswith(("/facebook/api/", "/threads/api/")):
            who = self._meta_who(q.get("access_token"))
            if who is None:
                return self._send(400, {"error": {"message": "Invalid OAuth access token", "code": 190}})
            if path == "/facebook/api/me":
                return self._send(200, {"id": "fb-" + who, "name": "Facebook " + who})
            if path == "/facebook/api/me/accounts":
                return self._send(200, {"data": [{"id": "page-" + who, "name": "Page " + who,
                                                  "access_token": "ptk-" + who}]})
            if path == "/threads/api/v1.0/me":
                return self._send(200, {"id": "th-" + who, "username": "th_" + who, "name": "Threads " + who})
            node = path.rsplit("/", 1)[1]
            time.sleep(LATENCY)
            if node == "threads_publishing_limit":  # read once per profile, then counted by the server
                return self._send(200, {"data": [{"quota_usage": 0, "config": {"quota_total": 250, "quota_duration": 86400}}]})
            if node in containers:  # a text container is ready at once
                return self._send(200, {"id": node, "status": "FINISHED"})
            return self._send(200, {"id": node, "permalink": "https://www.threads.com/@x/post/C" + node})
        return super().do_GET()

    def do_POST(self):
        path = self.path.split("?")[0]
        if path.startswith(("/facebook/api/", "/threads/")):
            n = int(self.headers.get("Content-Length") or 0)
            q = self._params(self.rfile.read(n) if n else b"")
            if path == "/threads/token":
                return self._send(200, {"access_token": "tok-" + q.get("code", ""), "user_id": "th-" + q.get("code", "")})
            if self._meta_who(q.get("access_token")) is None:
                return self._send(400, {"error": {"message": "Invalid OAuth access token", "code": 190}})
            if path.endswith("/feed"):
                pid = self._arrive(q.get("message", ""))
                time.sleep(LATENCY)
                page = path.split("/")[-2]
                return self._send(200, {"id": "%s_%s" % (page, pid),
                                        "permalink_url": "https://www.facebook.com/%s/posts/%s" % (page, pid)})
            if path.endswith("/threads_publish"):
                with lock:
                    text = containers.get(q.get("creation_id"))
                if text is None:
                    return self._send(400, {"error": {"message": "Invalid creation_id", "code": 100}})
                pid = self._arrive(text)
                time.sleep(LATENCY)
                return self._send(200, {"id": pid})
            if path.endswith("/threads"):
                cid = "9" + self._next_id()
                with lock:
                    containers[cid] = q.get("text", "")
                time.sleep(LATENCY)
                return self._send(200, {"id": cid})
            return self._send(404, {"error": {"message": "Unknown path", "code": 100}})
        if path in ("/x/api/2/tweets", "/linkedin/api/rest/posts"):
            n = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(n) or b"{}")
            if self._who() is None:
                return self._send(401, {"title": "Unauthorized", "status": 401})
            if path.startswith("/x/"):
                pid = self._arrive(body.get("text", ""))
                time.sleep(LATENCY)
                return self._send(201, {"data": {"id": pid, "text": body.get("text", "")}})
            pid = self._arrive(body.get("commentary", ""))
            time.sleep(LATENCY)
            return self._send(201, {}, [("x-restli-id", "urn:li:share:" + pid)])
        return super().do_POST()


def start_fake():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakePlatforms)
    server.daemon_threads = True
    server.request_queue_size = 256
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


def cpu_seconds(pid):
    """User + system CPU of a process so far (from /proc)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def count_statements(log_path, offset):
    n = 0
    with open(log_path, "rb") as f:
        f.seek(offset)
        for line in f:
            if b'"target":"sqlx::query"' in line:
                n += 1
    return n


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
        "POSTPROXY_LINKEDIN_AUTHORIZE_URL": fake + "/linkedin/authorize",
        "POSTPROXY_LINKEDIN_TOKEN_URL": fake + "/linkedin/oauth/v2/accessToken",
        "POSTPROXY_LINKEDIN_API_URL": fake + "/linkedin/api",
        "POSTPROXY_FACEBOOK_AUTHORIZE_URL": fake + "/facebook/authorize",
        "POSTPROXY_FACEBOOK_TOKEN_URL": fake + "/facebook/token",
        "POSTPROXY_FACEBOOK_API_URL": fake + "/facebook/api",
        "POSTPROXY_THREADS_AUTHORIZE_URL": fake + "/threads/authorize",
        "POSTPROXY_THREADS_TOKEN_URL": fake + "/threads/token",
        "POSTPROXY_THREADS_API_URL": fake + "/threads/api",
        "POSTPROXY_RATE_LIMIT_PER_MINUTE": "0",
        "RUST_LOG": env.get("RUST_LOG", "warn"),
    })
    if COUNT_SQL:
        env["RUST_LOG"] = "warn,sqlx::query=debug"
        env["POSTPROXY_LOG_FORMAT"] = "json"
    account = json.loads(subprocess.check_output(
        [binary, "admin", "create-account", "--name", "Bench", "--database-url", db_url], env=env))
    key = account["api_key"]
    port = free_port()
    base = "http://127.0.0.1:%d" % port
    log_path = os.environ.get("SERVER_LOG") or os.path.join("/tmp", "postproxy-bench-%d.log" % os.getpid())
    server = subprocess.Popen(
        [binary, "serve", "--listen", "127.0.0.1:%d" % port, "--public-url", base, "--database-url", db_url],
        env=env, stdout=subprocess.DEVNULL, stderr=open(log_path, "w"))
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except Exception:
                time.sleep(0.1)
        # One profile of each platform per group (a group holds one profile per platform).
        profiles = []
        for g in range((PROFILES + len(PLATFORMS) - 1) // len(PLATFORMS)):
            group = fixtures.create_group(base, key, "Brand %d" % g)
            for platform in PLATFORMS:
                if len(profiles) < PROFILES:
                    profiles.append(fixtures.connect(base, key, group, platform, "b%d%s" % (g, platform[:2])))

        # Creating takes a while: measure a few, then schedule the window after creation ends.
        def create(i, when):
            status, _, raw = fixtures.call("POST", base + "/api/posts", key, {
                "post": {"body": "bench post %d" % i, "scheduled_at": iso(when)},
                "profiles": [profiles[i % len(profiles)]]})
            if status != 200:
                raise SystemExit("create %d: %s %s" % (i, status, raw[:200]))
            return when

        probe = time.time()
        for i in range(20):
            create(-1 - i, time.time() + 3600)
        per_create = (time.time() - probe) / 20
        # Concurrent creates barely beat sequential ones on two cores: assume no speed-up.
        lead = float(os.environ.get("LEAD") or max(20.0, 1.3 * per_create * POSTS + 10))
        start = time.time() + lead
        schedule = {"bench post %d" % i: start + WINDOW * i / POSTS for i in range(POSTS)}
        t0 = time.time()
        with ThreadPoolExecutor(WORKERS) as pool:
            list(pool.map(lambda i: create(i, schedule["bench post %d" % i]), range(POSTS)))
        created_in = time.time() - t0
        if time.time() > start:
            raise SystemExit("creating took %.1f s, past the window's start; raise LEAD" % created_in)
        # The publishing phase: from the window's start until the last post arrives.
        time.sleep(max(0.0, start - time.time() - 0.5))
        cpu_server0, cpu_fake0 = cpu_seconds(server.pid), sum(os.times()[:2])
        log_offset = os.path.getsize(log_path)
        deadline = start + WINDOW + TIMEOUT
        while time.time() < deadline:
            with lock:
                done = sum(1 for t in schedule if t in arrivals)
            if done == POSTS:
                break
            time.sleep(0.2)
        time.sleep(LATENCY + 0.5)  # the last answers and their bookkeeping
        cpu_server = cpu_seconds(server.pid) - cpu_server0
        cpu_fake = sum(os.times()[:2]) - cpu_fake0
        with lock:
            lateness = sorted(max(0.0, arrivals[t][0] - s) for t, s in schedule.items() if t in arrivals)
            lost = sum(1 for t in schedule if t not in arrivals)
            doubled = sum(1 for t in schedule if len(arrivals.get(t, [])) > 1)
            last = max((arrivals[t][0] for t in schedule if t in arrivals), default=start)
        published = len(lateness)
        span = max(0.001, last - start)
        rate = published / span
        p50, p99, worst = pct(lateness, 50), pct(lateness, 99), (lateness[-1] if lateness else float("nan"))
        sql = ""
        if COUNT_SQL:
            sql = "; %.1f SQL statements per publish" % (count_statements(log_path, log_offset) / max(1, published))
        print("publishing: %d posts to %d profiles over %.0f s, platform latency %.0f ms (created in %.1f s, "
              "%.1f ms each): lateness p50 %.3f s, p99 %.3f s, max %.3f s; %.0f publishes/s, last %.1f s after "
              "the first was due; lost %d, doubled %d; CPU server %.1f s (%.2f ms per publish), fake+client %.1f s%s"
              % (POSTS, len(profiles), WINDOW, LATENCY * 1000, created_in, per_create * 1000, p50, p99, worst,
                 rate, span, lost, doubled, cpu_server, 1000 * cpu_server / max(1, published), cpu_fake, sql))
        on_time = p99 < 1.0 if WINDOW > 0 else worst < 60.0
        ok = lost == 0 and doubled == 0 and on_time
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
