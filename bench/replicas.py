#!/usr/bin/env python3
"""Multi-replica consistency check, driven by bench/replicas.sh (PostgreSQL only).

Three `postproxy serve` processes share one PostgreSQL database. WORKERS threads drive them
round-robin for a bounded time and op count with:
  * creates (unique names); 20% are read back at once from another replica;
  * deletes of groups created earlier: single (then read back as 404 from another replica),
    concurrent double/triple deletes on distinct replicas (exactly one 200, the rest 404),
    sequential double deletes on two replicas (200 then 404), and deletes raced by an
    initialize_connection on another replica (200 or 404, never 5xx);
  * initialize_connection calls, mostly on "stable" groups that are never deleted;
  * list reads.
Mid-run (KEY_CYCLES times) a second API key is created with the admin CLI, used on all three
replicas (200), revoked with the admin CLI and immediately checked to get 401 on all three,
on kept-alive and on new connections.
At the end: every replica must list the same groups, equal to the acknowledged creates minus
the acknowledged deletes (ids and names), matching the database; the invitations in the
database must equal the acknowledged initialize_connection calls on the surviving groups
(invitations of deleted groups go with them, ON DELETE CASCADE). Any 5xx or transport error
is a violation. Stdlib only; talks to 127.0.0.1 only.
"""

import argparse
import collections
import http.client
import itertools
import json
import os
import random
import subprocess
import sys
import threading
import time

HOST = "127.0.0.1"
PLATFORMS = ["facebook", "instagram", "tiktok", "linkedin", "youtube", "twitter", "threads"]


def log(msg):
    print(f"[replicas] {msg}", file=sys.stderr, flush=True)


class Client:
    """Keep-alive connections, one per replica, for one thread."""

    def __init__(self, timeout):
        self.timeout = timeout
        self.conns = {}

    def call(self, port, method, path, key, body=None, fresh=False):
        if fresh:
            conn = http.client.HTTPConnection(HOST, port, timeout=self.timeout)
        else:
            conn = self.conns.get(port)
            if conn is None:
                conn = self.conns[port] = http.client.HTTPConnection(HOST, port, timeout=self.timeout)
        headers = {"Authorization": f"Bearer {key}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        except Exception:
            conn.close()
            self.conns.pop(port, None)
            raise
        if fresh:
            conn.close()
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw.decode("utf-8", "replace")
        return resp.status, payload

    def close(self):
        for c in self.conns.values():
            c.close()
        self.conns.clear()


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.created = {}            # id -> name, acknowledged creates
        self.pool = []               # created ids not yet claimed for deletion
        self.deleted = set()         # ids with an acknowledged delete
        self.inits = collections.Counter()  # group id -> acknowledged initialize_connection
        self.statuses = collections.Counter()  # (op, status)
        self.violations = []
        self.c = collections.Counter()  # named figures

    def violation(self, msg):
        with self.lock:
            self.violations.append(msg)
        log("VIOLATION: " + msg)

    def count(self, name, n=1):
        with self.lock:
            self.c[name] += n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ports", required=True, help="comma-separated replica ports")
    ap.add_argument("--key", required=True, help="API key of the default account")
    ap.add_argument("--key-account", required=True, help="account id for the admin create-key checks")
    ap.add_argument("--bin", required=True)
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--pg-bin", required=True)
    ap.add_argument("--pg-port", type=int, required=True)
    ap.add_argument("--pg-db", required=True)
    ap.add_argument("--results", required=True)
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--workers", type=int, default=12)
    ap.add_argument("--max-ops", type=int, default=20000, help="total ops across workers")
    ap.add_argument("--stable-groups", type=int, default=6)
    ap.add_argument("--key-cycles", type=int, default=2)
    ap.add_argument("--request-timeout", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--race-delete-init", type=int, default=1,
                    help="1: 10%% of deletes are raced by an initialize_connection on another replica")
    args = ap.parse_args()
    ports = [int(p) for p in args.ports.split(",")]
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    master = random.Random(seed)
    run_id = "%06x" % master.randrange(1 << 24)
    log(f"seed={seed} run={run_id} replicas={ports} workers={args.workers} "
        f"duration={args.duration}s max_ops={args.max_ops}")
    st = State()
    rr = itertools.count()

    def next_port():
        return ports[next(rr) % len(ports)]

    def other_port(p, k=1):
        return ports[(ports.index(p) + k) % len(ports)]

    def record(op, status):
        with st.lock:
            st.statuses[(op, status)] += 1

    def call(client, op, port, method, path, key=None, body=None, fresh=False):
        try:
            status, payload = client.call(port, method, path, key or args.key, body, fresh)
        except Exception as e:  # transport errors: nothing is killed here, so none are expected
            record(op, None)
            st.violation(f"{op} {method} {path} on :{port}: transport error {e!r}")
            return None, None
        record(op, status)
        if status >= 500:
            st.violation(f"{op} {method} {path} on :{port}: HTTP {status} {str(payload)[:300]}")
        return status, payload

    # ---------------------------------------------------------------- setup ---
    setup = Client(args.request_timeout)
    stable = []
    for i in range(args.stable_groups):
        name = f"stable-{run_id}-{i}"
        s, p = call(setup, "setup", next_port(), "POST", "/api/profile_groups", body={"profile_group": {"name": name}})
        if s != 201:
            raise SystemExit(f"setup create failed: {s} {p}")
        stable.append(p["id"])
    initial = {}
    s, p = call(setup, "setup", ports[0], "GET", "/api/profile_groups")
    if s != 200:
        raise SystemExit(f"setup list failed: {s} {p}")
    for g in p["data"]:
        initial[g["id"]] = g["name"]
    setup.close()

    # ------------------------------------------------------------ operations ---
    def op_create(client, rng, w, n):
        name = f"rep-{run_id}-w{w}-{n}"
        port = next_port()
        s, p = call(client, "create", port, "POST", "/api/profile_groups", body={"profile_group": {"name": name}})
        if s != 201:
            if s is not None and s < 500:
                st.violation(f"create {name} on :{port}: HTTP {s} {p}")
            return
        if not (isinstance(p, dict) and p.get("name") == name and isinstance(p.get("id"), str)):
            st.violation(f"create {name}: bad 201 body {p}")
            return
        gid = p["id"]
        with st.lock:
            if gid in st.created:
                st.violations.append(f"id {gid} handed out twice: {st.created[gid]!r} and {name!r}")
            st.created[gid] = name
        st.count("creates_ok")
        if rng.random() < 0.2:  # read-after-write on another replica, before anyone can delete it
            p2 = other_port(port, rng.randint(1, 2))
            s2, g = call(client, "get", p2, "GET", f"/api/profile_groups/{gid}")
            st.count("cross_replica_reads")
            if s2 != 200 or not isinstance(g, dict) or g.get("name") != name:
                st.violation(f"group {gid} created on :{port} read on :{p2}: HTTP {s2} {g}")
        with st.lock:
            st.pool.append(gid)

    def op_delete(client, rng, w, n):
        with st.lock:
            if not st.pool:
                gid = None
            else:
                gid = st.pool.pop(rng.randrange(len(st.pool)))
        if gid is None:
            return op_create(client, rng, w, n)
        path = f"/api/profile_groups/{gid}"
        kind = rng.random()
        if kind < 0.50:  # single delete, then read back from another replica
            port = next_port()
            s, p = call(client, "delete", port, "DELETE", path)
            if s == 200:
                with st.lock:
                    st.deleted.add(gid)
                st.count("deletes_ok")
                if rng.random() < 0.3:
                    p2 = other_port(port)
                    s2, _ = call(client, "get", p2, "GET", path)
                    st.count("cross_replica_reads")
                    if s2 != 404:
                        st.violation(f"group {gid} deleted on :{port} still readable on :{p2}: HTTP {s2}")
            elif s is not None and s < 500:
                st.violation(f"delete of live group {gid} on :{port}: HTTP {s} {p}")
        elif kind < 0.75:  # concurrent double/triple delete on distinct replicas
            k = rng.choice([2, 3])
            base = next_port()
            targets = [other_port(base, i) for i in range(k)]
            results = [None] * k
            barrier = threading.Barrier(k)

            def one(i):
                c = Client(args.request_timeout)
                try:
                    barrier.wait(10)
                except threading.BrokenBarrierError:
                    pass
                results[i] = call(c, "double_delete", targets[i], "DELETE", path, fresh=True)[0]

            ths = [threading.Thread(target=one, args=(i,)) for i in range(k)]
            for t in ths:
                t.start()
            for t in ths:
                t.join(args.request_timeout + 15)
            oks = results.count(200)
            nf = results.count(404)
            st.count("double_delete_groups")
            st.count("double_delete_200", oks)
            st.count("double_delete_404", nf)
            if oks == 1:
                with st.lock:
                    st.deleted.add(gid)
                st.count("deletes_ok")
            if oks != 1 or nf != k - 1:
                st.violation(f"concurrent delete x{k} of {gid} on {targets}: statuses {results} (want one 200, rest 404)")
        elif kind < 0.90 or not args.race_delete_init:  # sequential double delete on two replicas
            port = next_port()
            s, p = call(client, "delete", port, "DELETE", path)
            p2 = other_port(port, rng.randint(1, 2))
            s2, p2b = call(client, "double_delete", p2, "DELETE", path)
            st.count("seq_double_delete_groups")
            st.count("double_delete_200", (s == 200) + (s2 == 200))
            st.count("double_delete_404", (s == 404) + (s2 == 404))
            if s == 200:
                with st.lock:
                    st.deleted.add(gid)
                st.count("deletes_ok")
            if s != 200 or s2 != 404:
                st.violation(f"delete {gid} on :{port} then :{p2}: {s}, {s2} (want 200 then 404)")
        else:  # delete raced by initialize_connection on another replica
            port = next_port()
            p2 = other_port(port)
            res = {}
            barrier = threading.Barrier(2)

            def deleter():
                c = Client(args.request_timeout)
                try:
                    barrier.wait(10)
                except threading.BrokenBarrierError:
                    pass
                res["delete"] = call(c, "delete", port, "DELETE", path, fresh=True)

            def initer():
                c = Client(args.request_timeout)
                try:
                    barrier.wait(10)
                except threading.BrokenBarrierError:
                    pass
                res["init"] = call(c, "race_init", p2, "POST", path + "/initialize_connection",
                                   body={"platform": rng.choice(PLATFORMS), "redirect_url": "https://a.example/cb"},
                                   fresh=True)

            ths = [threading.Thread(target=deleter), threading.Thread(target=initer)]
            for t in ths:
                t.start()
            for t in ths:
                t.join(args.request_timeout + 15)
            ds, dp = res.get("delete", (None, None))
            is_, ip = res.get("init", (None, None))
            st.count("delete_init_races")
            if ds == 200:
                with st.lock:
                    st.deleted.add(gid)
                st.count("deletes_ok")
            elif ds is not None and ds < 500:
                st.violation(f"raced delete of live group {gid}: HTTP {ds} {dp}")
            if is_ == 200:
                with st.lock:
                    st.inits[gid] += 1
                st.count("race_init_200")
            elif is_ == 404:
                st.count("race_init_404")
            elif is_ is not None and is_ < 500:
                st.violation(f"initialize_connection raced with delete of {gid}: HTTP {is_} {ip} (want 200 or 404)")

    def op_init(client, rng, w, n):
        if rng.random() < 0.85:
            gid = rng.choice(stable)
            must_exist = True
        else:
            with st.lock:
                gid = rng.choice(st.pool) if st.pool else None
            if gid is None:
                gid, must_exist = rng.choice(stable), True
            else:
                must_exist = False  # another worker may claim and delete it meanwhile
        port = next_port()
        s, p = call(client, "init", port, "POST", f"/api/profile_groups/{gid}/initialize_connection",
                    body={"platform": rng.choice(PLATFORMS), "redirect_url": f"https://a.example/cb?w={w}&n={n}"})
        if s == 200:
            url = p.get("url", "") if isinstance(p, dict) else ""
            if not (isinstance(p, dict) and p.get("success") is True
                    and url.startswith(f"http://{HOST}:{port}/partner_connect/")):
                st.violation(f"initialize_connection {gid} on :{port}: bad body {p}")
            with st.lock:
                st.inits[gid] += 1
            st.count("inits_ok")
        elif s == 404 and not must_exist:
            st.count("inits_404_deleted_meanwhile")
        elif s is not None and s < 500:
            st.violation(f"initialize_connection {gid} on :{port}: HTTP {s} {p}")

    def op_read(client, rng, w, n):
        port = next_port()
        s, p = call(client, "list", port, "GET", "/api/profile_groups")
        if s != 200:
            if s is not None and s < 500:
                st.violation(f"list on :{port}: HTTP {s}")
        else:
            st.count("lists_ok")

    budget = threading.Semaphore(args.max_ops)
    deadline = time.monotonic() + args.duration
    t_start = time.monotonic()

    def worker(w):
        rng = random.Random(seed * 1000 + w)
        client = Client(args.request_timeout)
        n = 0
        while time.monotonic() < deadline and budget.acquire(blocking=False):
            n += 1
            r = rng.random()
            if r < 0.45:
                op_create(client, rng, w, n)
            elif r < 0.65:
                op_delete(client, rng, w, n)
            elif r < 0.90:
                op_init(client, rng, w, n)
            else:
                op_read(client, rng, w, n)
            st.count("ops")
        client.close()

    # ------------------------------------------------------------- key checks ---
    def admin(*argv):
        r = subprocess.run([args.bin, "admin", "--database-url", args.database_url, *argv],
                           capture_output=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"admin {' '.join(argv)} failed: {r.stderr.decode()[-500:]}")
        return json.loads(r.stdout)

    def key_cycle(cycle):
        client = Client(args.request_timeout)
        try:
            made = admin("create-key", "--account", args.key_account)
        except Exception as e:
            st.violation(f"key cycle {cycle}: {e}")
            return
        token, key_id = made["token"], made["id"]
        for port in ports:
            for fresh in (False, False, True):
                s, p = call(client, "key_before_revoke", port, "GET", "/api/profile_groups", key=token, fresh=fresh)
                st.count("key_before_revoke_checks")
                if s == 200:
                    st.count("key_before_revoke_200")
                else:
                    st.violation(f"key cycle {cycle}: new key on :{port} got HTTP {s} before revoke (want 200)")
        try:
            out = admin("revoke-key", key_id)
            revoked_at = time.monotonic()
            if out.get("revoked") is not True:
                st.violation(f"key cycle {cycle}: revoke-key answered {out}")
        except Exception as e:
            st.violation(f"key cycle {cycle}: {e}")
            return
        first = True
        for port in ports:
            for fresh in (False, True, False):
                s, p = call(client, "key_after_revoke", port, "GET", "/api/profile_groups", key=token, fresh=fresh)
                if first:
                    st.c["revoke_to_first_401_ms"] = max(st.c["revoke_to_first_401_ms"],
                                                         int((time.monotonic() - revoked_at) * 1000))
                    first = False
                st.count("key_after_revoke_checks")
                if s == 401:
                    st.count("key_after_revoke_401")
                else:
                    st.violation(f"key cycle {cycle}: revoked key on :{port} (fresh={fresh}) got HTTP {s} (want 401)")
        client.close()
        st.count("key_cycles")

    def key_checker():
        for cycle in range(1, args.key_cycles + 1):
            when = t_start + args.duration * cycle / (args.key_cycles + 1)
            while time.monotonic() < when and time.monotonic() < deadline:
                time.sleep(0.05)
            if st.c["ops"] >= args.max_ops:
                log(f"key cycle {cycle}: ran after the op budget was spent")
            key_cycle(cycle)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(args.workers)]
    kc = threading.Thread(target=key_checker)
    for t in threads:
        t.start()
    kc.start()
    for t in threads:
        t.join(args.duration + args.request_timeout * 4 + 60)
    kc.join(args.duration + 300)
    stuck = sum(t.is_alive() for t in threads) + kc.is_alive()
    if stuck:
        st.violation(f"{stuck} thread(s) did not finish in time")
    run_s = time.monotonic() - t_start
    log(f"load done in {run_s:.1f}s: {st.c['ops']} ops")

    # --------------------------------------------------------- consistency ---
    expected = dict(initial)
    for gid, name in st.created.items():
        expected[gid] = name
    for gid in st.deleted:
        expected.pop(gid, None)
    final_client = Client(args.request_timeout)
    lists = {}
    for port in ports:
        s, p = call(final_client, "final_list", port, "GET", "/api/profile_groups")
        if s != 200:
            st.violation(f"final list on :{port}: HTTP {s}")
            continue
        lists[port] = [(g["id"], g["name"]) for g in p["data"]]
    final_client.close()
    ref = lists.get(ports[0], [])
    for port, lst in lists.items():
        if lst != ref:
            a, b = set(ref), set(lst)
            st.violation(f"replica :{port} lists {len(lst)} groups, :{ports[0]} lists {len(ref)}; "
                         f"only on :{ports[0]}: {sorted(a - b)[:5]}, only on :{port}: {sorted(b - a)[:5]}")
    listed = dict(ref)
    if len(listed) != len(ref):
        st.violation(f"duplicate ids in the list: {len(ref) - len(listed)}")
    names = [n for _, n in ref]
    if len(set(names)) != len(names):
        st.violation(f"duplicate names in the list: {len(names) - len(set(names))}")
    missing = {g: n for g, n in expected.items() if g not in listed}
    extra = {g: n for g, n in listed.items() if g not in expected}
    renamed = {g: (expected[g], listed[g]) for g in listed if g in expected and expected[g] != listed[g]}
    if missing:
        st.violation(f"{len(missing)} acknowledged group(s) missing (lost): {list(missing.items())[:5]}")
    if extra:
        st.violation(f"{len(extra)} unexpected group(s) listed (resurrected or never acknowledged): "
                     f"{list(extra.items())[:5]}")
    if renamed:
        st.violation(f"{len(renamed)} group(s) with another name: {list(renamed.items())[:5]}")

    # The database itself (psql), by name: the API's ids are opaque.
    def psql(sql):
        r = subprocess.run([os.path.join(args.pg_bin, "psql"), "-h", HOST, "-p", str(args.pg_port), "-U", "postgres",
                            "-d", args.pg_db, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-tA", "-F", "\t", "-c", sql],
                           capture_output=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"psql failed: {r.stderr.decode()[:300]}")
        return [line.split("\t") for line in r.stdout.decode().splitlines() if line]

    default_acc = "(SELECT id FROM accounts WHERE name = 'default')"
    db_names = [row[0] for row in psql(f"SELECT name FROM profile_groups WHERE account_id = {default_acc} ORDER BY id")]
    if sorted(db_names) != sorted(listed.values()):
        st.violation(f"database has {len(db_names)} groups of the default account, API lists {len(listed)}")
    name_of = dict(st.created)
    name_of.update(initial)
    expected_inv = collections.Counter()
    inits_on_deleted = 0
    for gid, k in st.inits.items():
        if gid in expected:
            expected_inv[name_of[gid]] += k
        else:
            inits_on_deleted += k
    db_inv = collections.Counter()
    for name, k in psql("SELECT g.name, count(*) FROM connection_invitations i "
                        "JOIN profile_groups g ON g.id = i.profile_group_id GROUP BY g.name"):
        db_inv[name] = int(k)
    db_inv_total = int(psql("SELECT count(*) FROM connection_invitations")[0][0])
    if db_inv != expected_inv or db_inv_total != sum(expected_inv.values()):
        diff = {n: (expected_inv.get(n, 0), db_inv.get(n, 0)) for n in set(expected_inv) | set(db_inv)
                if expected_inv.get(n, 0) != db_inv.get(n, 0)}
        st.violation(f"invitations: database has {db_inv_total}, acknowledged on surviving groups "
                     f"{sum(expected_inv.values())}; per group (acked, db): {list(diff.items())[:8]}")

    fivexx = sum(k for (op, s), k in st.statuses.items() if s is not None and s >= 500)
    transport = sum(k for (op, s), k in st.statuses.items() if s is None)
    figures = {
        "seed": seed, "run": run_id, "run_s": round(run_s, 1), "ops": st.c["ops"],
        "creates_ok": st.c["creates_ok"],
        "deletes_ok": st.c["deletes_ok"],
        "double_delete_groups_concurrent": st.c["double_delete_groups"],
        "double_delete_groups_sequential": st.c["seq_double_delete_groups"],
        "double_delete_200": st.c["double_delete_200"], "double_delete_404": st.c["double_delete_404"],
        "delete_init_races": st.c["delete_init_races"],
        "race_init_200": st.c["race_init_200"], "race_init_404": st.c["race_init_404"],
        "inits_ok": st.c["inits_ok"] + st.c["race_init_200"],
        "inits_on_later_deleted_groups": inits_on_deleted,
        "invitations_expected": sum(expected_inv.values()), "invitations_in_db": db_inv_total,
        "cross_replica_reads": st.c["cross_replica_reads"], "lists_ok": st.c["lists_ok"],
        "groups_final": len(listed), "groups_expected": len(expected),
        "replicas_identical": all(lst == ref for lst in lists.values()) and len(lists) == len(ports),
        "key_cycles": st.c["key_cycles"],
        "key_before_revoke": f"{st.c['key_before_revoke_200']}/{st.c['key_before_revoke_checks']} x 200",
        "key_after_revoke": f"{st.c['key_after_revoke_401']}/{st.c['key_after_revoke_checks']} x 401",
        "revoke_to_first_401_ms": st.c["revoke_to_first_401_ms"],
        "http_5xx": fivexx, "transport_errors": transport,
        "statuses": {f"{op} {s}": k for (op, s), k in sorted(st.statuses.items(), key=lambda x: (x[0][0], x[0][1] or 0))},
        "violations": st.violations,
    }
    with open(args.results, "w") as f:
        json.dump(figures, f, indent=1)
    return 1 if st.violations else 0


if __name__ == "__main__":
    sys.exit(main())
