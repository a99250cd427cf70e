#!/usr/bin/env python3
"""Crash-safety check for one backend, driven by bench/crash_safety.sh.

Each round: start `postproxy serve` on the (persistent) database, fire a burst of
concurrent profile-group creates from THREADS threads, `kill -9` the server after a
random delay (optionally crash PostgreSQL too, with `pg_ctl stop -m immediate`), restart,
and verify through the API that every create acknowledged with 201 -- in this round and
all earlier ones -- is present with exactly the acknowledged id and name. Then stop the
server and run the database's integrity check (SQLite `PRAGMA integrity_check`,
PostgreSQL `pg_amcheck`). Writes one JSON object per round to --results and prints a table.
Exit status 1 on any violation. Stdlib only; talks to 127.0.0.1 only.
"""

import argparse
import http.client
import json
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time

HOST = "127.0.0.1"


def log(msg):
    print(f"[crash] {msg}", file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """One `postproxy serve` process (environment inherited from the caller)."""

    def __init__(self, args, tag):
        self.args = args
        self.port = free_port()
        self.log_path = os.path.join(args.workdir, f"server-{tag}.log")
        self.log_file = open(self.log_path, "ab")
        cmd = [args.bin, "serve", "--database-url", args.database_url,
               "--listen", f"{HOST}:{self.port}", "--public-url", f"http://{HOST}:{self.port}"]
        self.proc = subprocess.Popen(cmd, stdout=self.log_file, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        # For the shell script's trap, should this helper die first.
        with open(os.path.join(args.workdir, "pids"), "a") as f:
            f.write(f"{self.proc.pid}\n")

    def wait_healthy(self, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; log: {self.log_path}\n" + self.tail())
            try:
                c = http.client.HTTPConnection(HOST, self.port, timeout=2)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    c.close()
                    return
                c.close()
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not healthy after {timeout}s; log: {self.log_path}\n" + self.tail())

    def kill9(self):
        os.kill(self.proc.pid, signal.SIGKILL)

    def stop(self, timeout=20):
        """Graceful stop (SIGTERM); returns True when it exited by itself in time."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                self.log_file.close()
                return False
        self.log_file.close()
        return True

    def reap(self):
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        self.log_file.close()

    def tail(self, n=20):
        try:
            with open(self.log_path, "rb") as f:
                return b"".join(f.readlines()[-n:]).decode("utf-8", "replace")
        except OSError:
            return ""


def request(conn, method, path, key, body=None):
    headers = {"Authorization": f"Bearer {key}"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    raw = resp.read()
    try:
        payload = json.loads(raw) if raw else None
    except ValueError:
        payload = raw.decode("utf-8", "replace")
    return resp.status, payload


def burst(args, server, round_no, run_id, rng):
    """Concurrent creates until the kill. Returns the round's bookkeeping."""
    lock = threading.Lock()
    acked = {}          # name -> id (201 with that name)
    attempted = set()   # every name whose request was started
    pre_kill_errors = []  # (name, status or exception) seen before the kill
    bad_acks = []       # 201 whose body did not echo the name
    killed = threading.Event()
    stop = threading.Event()
    start_barrier = threading.Barrier(args.threads + 1)
    per_thread_max = args.max_per_thread

    def worker(t):
        conn = http.client.HTTPConnection(HOST, server.port, timeout=args.request_timeout)
        try:
            start_barrier.wait(30)
        except threading.BrokenBarrierError:
            return
        for n in range(per_thread_max):
            if stop.is_set():
                break
            name = f"crash-{run_id}-r{round_no}-t{t}-{n}"
            with lock:
                attempted.add(name)
            try:
                status, body = request(conn, "POST", "/api/profile_groups", args.key,
                                       {"profile_group": {"name": name}})
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                # The kill's doing if the kill happens at about the same time.
                if killed.wait(1.0):
                    break
                with lock:
                    pre_kill_errors.append((name, repr(e)))
                conn = http.client.HTTPConnection(HOST, server.port, timeout=args.request_timeout)
                continue
            if status == 201:
                with lock:
                    if isinstance(body, dict) and body.get("name") == name and isinstance(body.get("id"), str):
                        acked[name] = body["id"]
                    else:
                        bad_acks.append((name, body))
            elif not killed.is_set():
                with lock:
                    pre_kill_errors.append((name, f"HTTP {status}: {str(body)[:200]}"))
        conn.close()

    threads = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(args.threads)]
    for th in threads:
        th.start()
    start_barrier.wait(30)
    t0 = time.monotonic()
    delay = rng.uniform(args.min_delay, args.max_delay)
    time.sleep(delay)
    with lock:
        acked_before_kill = len(acked)
    server.kill9()
    killed.set()
    kill_at = time.monotonic() - t0
    if args.pg_crash and round_no in args.pg_crash_rounds:
        # Crash PostgreSQL right behind the server: immediate shutdown skips the
        # checkpoint, so the restart has to replay the WAL.
        pg_cmd(args, ["pg_ctl", "-D", args.pg_data, "-m", "immediate", "-w", "stop"])
    stop.set()
    deadline = time.monotonic() + args.request_timeout + 30
    for th in threads:
        th.join(max(0.1, deadline - time.monotonic()))
    stuck = sum(th.is_alive() for th in threads)
    server.reap()
    return {
        "delay": round(kill_at, 3),
        "acked": acked,
        "attempted": attempted,
        "pre_kill_errors": pre_kill_errors,
        "bad_acks": bad_acks,
        "acked_before_kill_signal": acked_before_kill,
        "stuck_threads": stuck,
    }


def pg_cmd(args, argv):
    prefix = ["runuser", "-u", args.pg_os_user, "--"] if os.geteuid() == 0 else []
    argv = [os.path.join(args.pg_bin, argv[0])] + argv[1:]
    return subprocess.run(prefix + argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)


def pg_restart(args):
    r = pg_cmd(args, ["pg_ctl", "-D", args.pg_data, "-l", os.path.join(args.pg_data, "server.log"), "-w", "-t", "120",
                      "-o", f"-k /tmp -p {args.pg_port} -c listen_addresses=127.0.0.1", "start"])
    if r.returncode != 0:
        raise RuntimeError("PostgreSQL did not restart: " + r.stdout.decode("utf-8", "replace"))


def pg_recoveries(args):
    """How many crash recoveries PostgreSQL's log reports so far."""
    try:
        with open(os.path.join(args.pg_data, "server.log"), "rb") as f:
            return f.read().count(b"automatic recovery in progress")
    except OSError:
        return 0


def list_groups(port, key, timeout):
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        status, body = request(conn, "GET", "/api/profile_groups", key)
    finally:
        conn.close()
    if status != 200 or not isinstance(body, dict):
        raise RuntimeError(f"list failed: HTTP {status} {str(body)[:300]}")
    return body["data"]


def integrity(args):
    if args.backend == "sqlite":
        path = args.sqlite_file
        try:
            con = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=30)
            rows = [r[0] for r in con.execute("PRAGMA integrity_check").fetchall()]
            fk = con.execute("PRAGMA foreign_key_check").fetchall()
            pages = con.execute("PRAGMA page_count").fetchone()[0]
            con.close()
        except sqlite3.Error as e:
            return False, f"error: {e}"
        ok = rows == ["ok"] and not fk
        detail = f"ok ({pages} pages, no foreign key violations)" if ok else f"integrity_check={rows[:5]} foreign_key_check={fk[:5]}"
        return ok, detail
    # PostgreSQL: every relation (heap + toast + btree indexes) of the database.
    psql = [os.path.join(args.pg_bin, "psql"), "-h", HOST, "-p", str(args.pg_port), "-U", "postgres",
            "-d", args.pg_db, "-X", "-q", "-v", "ON_ERROR_STOP=1"]
    r = subprocess.run(psql + ["-c", "CREATE EXTENSION IF NOT EXISTS amcheck"], capture_output=True, timeout=60)
    if r.returncode != 0:
        return False, "CREATE EXTENSION amcheck failed: " + r.stderr.decode()[:300]
    r = subprocess.run([os.path.join(args.pg_bin, "pg_amcheck"), "-h", HOST, "-p", str(args.pg_port), "-U", "postgres",
                        "-d", args.pg_db, "--heapallindexed", "--rootdescend", "--progress"],
                       capture_output=True, timeout=300)
    out = (r.stdout + r.stderr).decode("utf-8", "replace")
    progress = re.compile(r"^\s*(\d+)/(\d+) relations \(\d+%\),\s+(\d+)/(\d+) pages")
    findings, checked = [], None
    for line in re.split(r"[\r\n]+", out):
        m = progress.match(line)
        if m:
            checked = (m.group(1), m.group(2), m.group(4))
        elif line.strip():
            findings.append(line.strip())
    ok = r.returncode == 0 and not findings and checked is not None and checked[0] == checked[1]
    if ok:
        return True, f"ok ({checked[1]} relations incl. catalogs)"
    return False, f"rc={r.returncode} checked={checked}: {' | '.join(findings)[:500]}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", choices=["sqlite", "postgres"], required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--results", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=32)
    ap.add_argument("--min-delay", type=float, default=0.5)
    ap.add_argument("--max-delay", type=float, default=2.0)
    ap.add_argument("--max-per-thread", type=int, default=5000)
    ap.add_argument("--request-timeout", type=float, default=15.0)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--sqlite-file")
    ap.add_argument("--pg-bin")
    ap.add_argument("--pg-port", type=int)
    ap.add_argument("--pg-data")
    ap.add_argument("--pg-db")
    ap.add_argument("--pg-os-user", default="pgtest")
    ap.add_argument("--pg-crash", action="store_true", help="also crash PostgreSQL (immediate stop) in some rounds")
    ap.add_argument("--pg-crash-rounds", default="2", help="comma-separated rounds that also crash PostgreSQL")
    args = ap.parse_args()
    args.pg_crash_rounds = {int(x) for x in args.pg_crash_rounds.split(",") if x.strip()}
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    run_id = "%06x" % rng.randrange(1 << 24)
    log(f"backend={args.backend} seed={seed} run={run_id} rounds={args.rounds} threads={args.threads}")

    all_acked = {}        # name -> id, every round
    all_attempted = set()
    rows = []
    violations = []
    for rnd in range(1, args.rounds + 1):
        v = []  # this round's violations
        server = Server(args, f"r{rnd}-a")
        server.wait_healthy()
        b = burst(args, server, rnd, run_id, rng)
        pg_crashed = args.backend == "postgres" and args.pg_crash and rnd in args.pg_crash_rounds
        recovered = None
        if pg_crashed:
            before = pg_recoveries(args)
            pg_restart(args)
            recovered = pg_recoveries(args) > before
            if not recovered:
                v.append("PostgreSQL was crashed but its log shows no crash recovery")
        all_acked.update(b["acked"])
        all_attempted |= b["attempted"]
        if b["pre_kill_errors"]:
            v.append(f"{len(b['pre_kill_errors'])} create(s) failed before the kill, e.g. {b['pre_kill_errors'][:3]}")
        if b["bad_acks"]:
            v.append(f"{len(b['bad_acks'])} 201 response(s) with a wrong body, e.g. {b['bad_acks'][:3]}")
        if b["stuck_threads"]:
            v.append(f"{b['stuck_threads']} client thread(s) still blocked after the kill")

        # Restart on the same database and compare.
        server = Server(args, f"r{rnd}-b")
        server.wait_healthy()
        groups = list_groups(server.port, args.key, args.request_timeout)
        by_id = {}
        dup_ids = 0
        for g in groups:
            if g["id"] in by_id:
                dup_ids += 1
            by_id[g["id"]] = g["name"]
        names = [g["name"] for g in groups]
        mine = [n for n in names if n.startswith(f"crash-{run_id}-")]
        dup_names = len(mine) - len(set(mine))
        present = lost = wrong_name = 0
        lost_examples = []
        for name, gid in all_acked.items():
            if gid not in by_id:
                lost += 1
                lost_examples.append((name, gid))
            elif by_id[gid] != name:
                wrong_name += 1
                lost_examples.append((name, gid, "found as", by_id[gid]))
            else:
                present += 1
        acked_names = set(all_acked)
        acked_total = len(all_acked)
        unacked_present = sum(1 for n in set(mine) if n not in acked_names and n in all_attempted)
        round_unacked_present = sum(1 for n in set(mine) if n in b["attempted"] and n not in b["acked"])
        phantom = [n for n in set(mine) if n not in all_attempted]
        if lost or wrong_name:
            v.append(f"{lost} acknowledged group(s) lost, {wrong_name} with another name: {lost_examples[:5]}")
        if dup_ids or dup_names:
            v.append(f"duplicates in the list: {dup_ids} ids, {dup_names} names")
        if phantom:
            v.append(f"{len(phantom)} group(s) never requested: {phantom[:5]}")
        # The restarted server must take writes again.
        conn = http.client.HTTPConnection(HOST, server.port, timeout=args.request_timeout)
        probe = f"crash-{run_id}-r{rnd}-after-restart"
        all_attempted.add(probe)
        try:
            st, body = request(conn, "POST", "/api/profile_groups", args.key, {"profile_group": {"name": probe}})
        except (OSError, http.client.HTTPException) as e:
            st, body = None, repr(e)
        conn.close()
        if st == 201 and isinstance(body, dict) and body.get("name") == probe:
            all_acked[probe] = body["id"]
        else:
            v.append(f"create after restart failed: {st} {str(body)[:200]}")
        graceful = server.stop()
        if not graceful:
            v.append("restarted server did not stop on SIGTERM within 20 s")
        ok, detail = integrity(args)
        if not ok:
            v.append(f"integrity check failed: {detail}")
        row = {
            "backend": args.backend, "round": rnd, "kill_at_s": b["delay"],
            "pg_crashed": pg_crashed, "pg_recovered": recovered,
            "attempted": len(b["attempted"]), "acked_round": len(b["acked"]),
            "in_flight": len(b["attempted"]) - len(b["acked"]),
            "acked_total": acked_total,  # this round's post-restart probe counts from the next round on
            "present": present, "lost": lost + wrong_name,
            "unacked_present": round_unacked_present, "unacked_present_total": unacked_present,
            "integrity": detail, "violations": v,
        }
        rows.append(row)
        violations.extend(f"round {rnd}: {x}" for x in v)
        log(f"round {rnd}: kill at {b['delay']}s, acked {len(b['acked'])}/{len(b['attempted'])} this round, "
            f"present {present}/{acked_total} acknowledged in total, lost {lost + wrong_name}, "
            f"unacked-present {round_unacked_present}, integrity {detail}"
            + (" [PostgreSQL crashed too]" if pg_crashed else "")
            + ("" if not v else f" VIOLATIONS: {v}"))

    with open(args.results, "w") as f:
        json.dump({"seed": seed, "run": run_id, "rows": rows, "violations": violations}, f, indent=1)
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
