#!/usr/bin/env python3
"""Test data for tests/fuzz/schemathesis.sh (standard library only).

  fixtures.py provider PORT_FILE
      Serves a minimal fake LinkedIn and X (Twitter) OAuth/identity provider on a free
      loopback port, writes the port to PORT_FILE, and runs until killed. Each authorization
      code `c` becomes the access token `tok-c`, and the identity behind it is `c`, so every
      connection made by `seed` is a distinct account. LinkedIn members administer two
      organisations (placements); revocation always succeeds.

  fixtures.py seed BASE_URL API_KEY DEFAULT_GROUP_ID OUT_TOML
      Creates profile groups and connects profiles through the real connection flow
      (initialize_connection -> /partner_connect -> /oauth/callback against the fake provider),
      then writes a schemathesis config to OUT_TOML that feeds those ids to the fuzzer:
      "keep" ids for reads and initialize_connection, separate "victim" ids for the DELETE
      operations so the reads keep finding live resources. Prints a one-line summary.
"""

import json
import os
import socket
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ORGS = {"90000001": "Fuzz Org One", "90000002": "Fuzz Org Two"}


# --- fake provider ----------------------------------------------------------------------------


class Provider(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def setup(self):
        super().setup()
        # Answer at once: without this, an answer on a kept-alive connection can wait ~40 ms
        # for the client's delayed ACK (Nagle), and a benchmark measures the fake, not the server.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _send(self, status, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        # Headers and body in one write (one segment), not two.
        self._headers_buffer.append(b"\r\n")
        self._headers_buffer.append(data)
        self.wfile.write(b"".join(self._headers_buffer))
        self._headers_buffer = []

    def _form(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n).decode() if n else ""
        return dict(urllib.parse.parse_qsl(raw))

    def _who(self):
        auth = self.headers.get("Authorization") or ""
        token = auth.split(" ", 1)[1] if " " in auth else ""
        return token[4:] if token.startswith("tok-") else None

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        form = self._form()
        if path in ("/linkedin/oauth/v2/accessToken", "/x/token"):
            code = form.get("code") or form.get("refresh_token", "").removeprefix("ref-")
            if not code:
                return self._send(400, {"error": "invalid_grant"})
            return self._send(200, {
                "access_token": "tok-" + code,
                "refresh_token": "ref-" + code,
                "expires_in": 86400,
                "refresh_token_expires_in": 31536000,
                "token_type": "bearer",
            })
        if path in ("/linkedin/oauth/v2/revoke", "/x/api/2/oauth2/revoke"):
            return self._send(200, {"revoked": True})
        return self._send(404, {"error": "not_found"})

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        who = self._who()
        if who is None:
            return self._send(401, {"error": "invalid_token"})
        if path == "/linkedin/api/v2/userinfo":
            return self._send(200, {"sub": "li-" + who, "name": "LinkedIn " + who, "picture": None})
        if path == "/linkedin/api/rest/organizationAcls":
            return self._send(200, {"elements": [
                {"organization": "urn:li:organization:" + oid, "role": "ADMINISTRATOR", "state": "APPROVED"}
                for oid in ORGS
            ]})
        if path.startswith("/linkedin/api/rest/organizations/"):
            oid = path.rsplit("/", 1)[1]
            if oid in ORGS:
                return self._send(200, {"id": int(oid), "localizedName": ORGS[oid]})
            return self._send(404, {"message": "not found"})
        if path == "/x/api/2/users/me":
            return self._send(200, {"data": {
                "id": "x-" + who, "name": "X " + who, "username": "fuzz_" + who,
                "profile_image_url": "https://example.com/" + who + ".png",
            }})
        return self._send(404, {"error": "not_found"})


def provider(port_file):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Provider)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(port_file + ".tmp", port_file)
    server.serve_forever()


# --- seeding ----------------------------------------------------------------------------------


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


def call(method, url, key=None, body=None):
    headers = {}
    data = None
    if key:
        headers["Authorization"] = "Bearer " + key
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        resp = OPENER.open(req, timeout=30)
    except urllib.error.HTTPError as e:  # 3xx (redirects not followed) and errors
        resp = e
    raw = resp.read().decode(errors="replace")
    return resp.status, resp.headers, raw


def expect(cond, what):
    if not cond:
        sys.exit("seed: " + what)


def create_group(base, key, name):
    status, _, raw = call("POST", base + "/api/profile_groups", key, {"profile_group": {"name": name}})
    expect(status == 201, "creating group %r: %s %s" % (name, status, raw))
    return json.loads(raw)["id"]


def create_post(base, key, group, profiles, body):
    status, _, raw = call("POST", base + "/api/posts?profile_group_id=" + group, key,
                          {"post": {"body": body, "draft": True}, "profiles": profiles})
    expect(status == 200, "creating post %r: %s %s" % (body, status, raw))
    return json.loads(raw)["id"]


def connect(base, key, group, platform, code):
    status, _, raw = call("POST", "%s/api/profile_groups/%s/initialize_connection" % (base, group), key,
                          {"platform": platform, "redirect_url": "https://example.com/done"})
    expect(status == 200, "initialize_connection %s: %s %s" % (platform, status, raw))
    invite = json.loads(raw)["url"]
    status, headers, raw = call("POST", invite)
    expect(status in (302, 303), "partner_connect %s: %s %s" % (platform, status, raw[:300]))
    authorize = headers["Location"]
    state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(authorize).query)).get("state")
    expect(state, "no state in %s" % authorize)
    cb = "%s/oauth/callback/%s?%s" % (base, platform, urllib.parse.urlencode({"code": code, "state": state}))
    status, headers, raw = call("GET", cb)
    back = headers.get("Location") or ""
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(back).query))
    expect(status in (302, 303) and query.get("status") == "success",
           "oauth callback %s: %s %s %s" % (platform, status, back, raw[:300]))
    return query["profile_id"]


NO_POOL = ("{ coverage = { extra-data-sources = { responses = false } }, "
           "fuzzing = { extra-data-sources = { responses = false } } }")


def toml_list(values):
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def seed(base, key, default_group, out):
    base = base.rstrip("/")
    keep_a = create_group(base, key, "Fuzz keep A")
    keep_b = create_group(base, key, "Fuzz keep B")
    victims = [create_group(base, key, "Fuzz victim %d" % i) for i in range(1, 4)]

    keep_profiles = [
        connect(base, key, keep_a, "linkedin", "ka-li"),
        connect(base, key, keep_a, "twitter", "ka-x"),
        connect(base, key, keep_b, "linkedin", "kb-li"),
    ]
    # Victims of DELETE /api/profiles/{id}: two in the Default group, one beside the keepers of
    # group B. One victim group has a profile, so deleting a group with profiles (and revoking
    # their tokens at the fake provider) is exercised too.
    victim_profiles = [
        connect(base, key, default_group, "linkedin", "vd-li"),
        connect(base, key, default_group, "twitter", "vd-x"),
        connect(base, key, keep_b, "twitter", "vb-x"),
    ]
    connect(base, key, victims[0], "linkedin", "vg-li")

    status, _, raw = call("GET", base + "/api/profiles", key)
    expect(status == 200 and len(json.loads(raw)["data"]) == 7, "listing seeded profiles: %s %s" % (status, raw))

    # Drafts to read, edit and publish, and separate victims for DELETE /api/posts/{id}.
    keep_posts = [create_post(base, key, keep_a, keep_profiles[:2], "Fuzz keep %d" % i) for i in range(1, 4)]
    victim_posts = [create_post(base, key, keep_a, keep_profiles[:1], "Fuzz victim %d" % i) for i in range(1, 4)]

    keep_groups = [keep_a, keep_b, default_group]
    with open(out, "w") as f:
        f.write("""# Generated by tests/fuzz/fixtures.py seed: real ids for the fuzzer.
# Each id parameter takes a known id half of the time and a generated value otherwise.
# The DELETE operations do not reuse ids seen in responses (schemathesis' resource pool) before
# the stateful phase: they would delete the "keep" resources the reads are meant to find.

[dictionaries]
keep_posts = {{ values = {kpo} }}
victim_posts = {{ values = {vpo} }}
keep_groups = {{ values = {kg} }}
victim_groups = {{ values = {vg} }}
keep_profiles = {{ values = {kp} }}
victim_profiles = {{ values = {vp} }}

[[operations]]
include-name = "GET /api/profile_groups/{{id}}"
parameters = {{ "path.id" = {{ dictionary = "keep_groups", probability = 0.5 }} }}

# A well-formed request may still get 422 "Platform already connected": that depends on what the
# group holds, not on the body's shape, so 422 is an expected answer to valid data here.
[[operations]]
include-name = "POST /api/profile_groups/{{id}}/initialize_connection"
parameters = {{ "path.id" = {{ dictionary = "keep_groups", probability = 0.5 }} }}
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429"]

[[operations]]
include-name = "DELETE /api/profile_groups/{{id}}"
parameters = {{ "path.id" = {{ dictionary = "victim_groups", probability = 0.5 }} }}
phases = {no_pool}

[[operations]]
include-name = "GET /api/profiles"
parameters = {{ "query.profile_group_id" = {{ dictionary = "keep_groups", probability = 0.5 }} }}

[[operations]]
include-name = ["GET /api/profiles/{{id}}", "GET /api/profiles/{{id}}/placements"]
parameters = {{ "path.id" = {{ dictionary = "keep_profiles", probability = 0.5 }} }}

[[operations]]
include-name = "DELETE /api/profiles/{{id}}"
parameters = {{ "path.id" = {{ dictionary = "victim_profiles", probability = 0.5 }} }}
phases = {no_pool}

# Posts: whether a request is accepted depends on what the account holds, which a schema cannot
# say (a profile id must name a connected profile of the group; only a draft can be published;
# text limits are counted per platform), so a 422 naming the problem is a valid answer here.
# POST /api/posts without `post` and `profiles` is the contract's 400 "param is missing".
[[operations]]
include-name = "POST /api/posts"
parameters = {{ "query.profile_group_id" = {{ dictionary = "keep_groups", probability = 0.5 }} }}
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "422", "429"]

[[operations]]
include-name = "GET /api/posts"
parameters = {{ "query.profile_group_id" = {{ dictionary = "keep_groups", probability = 0.5 }} }}

[[operations]]
include-name = "GET /api/posts/{{id}}"
parameters = {{ "path.id" = {{ dictionary = "keep_posts", probability = 0.5 }} }}

[[operations]]
include-name = ["PATCH /api/posts/{{id}}", "POST /api/posts/{{id}}/publish", "POST /api/posts/{{id}}/delete_on_platform"]
parameters = {{ "path.id" = {{ dictionary = "keep_posts", probability = 0.5 }} }}
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429"]

[[operations]]
include-name = "DELETE /api/posts/{{id}}"
parameters = {{ "path.id" = {{ dictionary = "victim_posts", probability = 0.5 }} }}
phases = {no_pool}
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "422", "429"]
""".format(kpo=toml_list(keep_posts), vpo=toml_list(victim_posts), kg=toml_list(keep_groups), vg=toml_list(victims), kp=toml_list(keep_profiles),
           vp=toml_list(victim_profiles), no_pool=NO_POOL))
    print("seeded %d posts, " % (len(keep_posts) + len(victim_posts)), end="")
    print("seeded %d profile groups and 7 profiles (keep groups %s, keep profiles %s)"
          % (len(keep_groups) + len(victims), ",".join(keep_groups), ",".join(keep_profiles)))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "provider":
        provider(sys.argv[2])
    elif len(sys.argv) == 6 and sys.argv[1] == "seed":
        seed(*sys.argv[2:])
    else:
        sys.exit(__doc__)
