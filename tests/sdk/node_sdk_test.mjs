// Compatibility test: the official Node SDK (postproxy-sdk 1.6.1, from the npm registry) against a
// running postproxy server: profile groups, profiles and posts, with publishing to the test's
// fake platforms. Run by tests/api/sdk.rs (`node_sdk`), which connects an X and a LinkedIn
// profile through the OAuth flow and runs the server's job worker.
//
// Environment:
//   POSTPROXY_NODE_SDK            path of the SDK's dist/index.js (printed by tests/sdk/node.sh)
//   POSTPROXY_BASE_URL            e.g. http://127.0.0.1:8080 (the SDK keeps only the origin)
//   POSTPROXY_API_KEY             full-access key of a fresh account
//   POSTPROXY_GROUP_ID            the account's default group
//   POSTPROXY_TWITTER_PROFILE_ID  a connected X profile
//   POSTPROXY_LINKEDIN_PROFILE_ID a connected LinkedIn profile
//
// Facts about the SDK this relies on (read from its source): every call returns the parsed JSON
// body; errors are AuthenticationError (401), NotFoundError (404), ValidationError (422),
// BadRequestError (400), else PostProxyError, each with `statusCode`, `response` and the message
// `body.error ?? body.message ?? statusText`; `profileGroupId` is sent as a query parameter on
// every request; `mediaFiles` switches create to multipart/form-data.
//
// Prints one line per check and `N passed, M failed` last; exits non-zero when anything failed.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

function env(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`missing environment variable ${name}`);
    process.exit(2);
  }
  return v;
}

const sdk = await import(pathToFileURL(env("POSTPROXY_NODE_SDK")).href);
const { PostProxy, PostProxyError, NotFoundError, ValidationError, AuthenticationError } = sdk;
const BASE_URL = env("POSTPROXY_BASE_URL");
const KEY = env("POSTPROXY_API_KEY");
const GROUP = env("POSTPROXY_GROUP_ID");
const TWITTER = env("POSTPROXY_TWITTER_PROFILE_ID");
const LINKEDIN = env("POSTPROXY_LINKEDIN_PROFILE_ID");

const POST_STATUSES = new Set(["draft", "pending", "scheduled", "processing", "processed", "media_processing_failed"]);
const RESULT_STATUSES = new Set(["pending", "processing", "published", "failed", "deleted"]);

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

function checkPost(p) {
  assert(typeof p.id === "string" && p.id, `post id: ${JSON.stringify(p)}`);
  assert(POST_STATUSES.has(p.status), `post status ${p.status}`);
  assert(!Number.isNaN(Date.parse(p.created_at)), `created_at ${p.created_at}`);
  for (const r of [...p.platforms, ...p.thread.flatMap((c) => c.platforms)]) {
    assert(RESULT_STATUSES.has(r.status), `platform status ${r.status}`);
  }
}

async function expectError(cls, status, message, fn) {
  try {
    await fn();
  } catch (e) {
    assert(e instanceof cls, `expected ${cls.name}, got ${e?.name}: ${e?.message}`);
    assert(e.statusCode === status, `status: expected ${status}, got ${e.statusCode}`);
    if (message !== null) {
      assert(e.message === message, `message: expected ${JSON.stringify(message)}, got ${JSON.stringify(e.message)}`);
    }
    return e;
  }
  throw new Error(`expected ${cls.name} (HTTP ${status}), but the call succeeded`);
}

async function untilProcessed(client, id, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const p = await client.posts.get(id);
    if (p.status === "processed") return p;
    if (Date.now() > deadline) throw new Error(`post ${id} still ${p.status}: ${JSON.stringify(p)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const client = new PostProxy(KEY, { baseUrl: BASE_URL, profileGroupId: GROUP });
const state = {};
const checks = [
  ["profileGroups.list returns {data} with the default group", async () => {
    const res = await client.profileGroups.list();
    assert(Array.isArray(res.data), JSON.stringify(res));
    const g = res.data.find((x) => x.id === GROUP);
    assert(g && typeof g.name === "string" && Number.isInteger(g.profiles_count), JSON.stringify(res));
  }],
  ["profileGroups.create, get, initializeConnection, delete", async () => {
    const g = await client.profileGroups.create("Node SDK group");
    assert(g.name === "Node SDK group" && g.profiles_count === 0, JSON.stringify(g));
    const again = await client.profileGroups.get(g.id);
    assert(again.id === g.id, JSON.stringify(again));
    const link = await client.profileGroups.initializeConnection(g.id, "twitter", "https://example.com/back");
    assert(link.success === true && link.url.startsWith(`${BASE_URL}/partner_connect/`), JSON.stringify(link));
    await expectError(ValidationError, 422, "Missing redirect_url", () =>
      client.profileGroups.initializeConnection(g.id, "linkedin"));
    const del = await client.profileGroups.delete(g.id);
    assert(del.deleted === true, JSON.stringify(del));
    await expectError(NotFoundError, 404, "Not found", () => client.profileGroups.get(g.id));
  }],
  ["profileGroups.create with a blank name -> ValidationError with the first problem", async () => {
    const e = await expectError(ValidationError, 422, "Name can't be blank", () => client.profileGroups.create(""));
    assert(Array.isArray(e.response.errors), JSON.stringify(e.response));
  }],
  ["profiles.list, get, placements", async () => {
    const res = await client.profiles.list();
    const ids = res.data.map((p) => p.id);
    assert(ids.includes(TWITTER) && ids.includes(LINKEDIN), JSON.stringify(res));
    const p = await client.profiles.get(TWITTER);
    assert(p.platform === "twitter" && p.status === "active" && p.profile_group_id === GROUP, JSON.stringify(p));
    const placements = await client.profiles.placements(LINKEDIN);
    assert(Array.isArray(placements.data), JSON.stringify(placements));
    await expectError(NotFoundError, 404, "Not found", () => client.profiles.get("nosuchprofile"));
  }],
  ["posts.create publishes to X and LinkedIn", async () => {
    const p = await client.posts.create("Hello from the Node SDK", ["twitter", LINKEDIN]);
    checkPost(p);
    assert(p.body === "Hello from the Node SDK", p.body);
    const done = await untilProcessed(client, p.id);
    checkPost(done);
    for (const r of done.platforms) {
      assert(r.status === "published", `${r.platform}: ${r.status} ${r.error}`);
      assert(r.permalink?.startsWith("https://"), r.permalink);
    }
    state.published = p.id;
  }],
  ["posts.create with a thread", async () => {
    const p = await client.posts.create("Node thread 1/2", [TWITTER], { thread: [{ body: "Node thread 2/2" }] });
    const done = await untilProcessed(client, p.id);
    assert(done.thread.length === 1 && done.thread[0].platforms[0].status === "published", JSON.stringify(done));
  }],
  ["posts.create with mediaFiles (multipart)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pp-node-"));
    const file = join(dir, "photo.jpg");
    writeFileSync(file, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 0xff, 0xd9]));
    const p = await client.posts.create("Node local file", [TWITTER], { mediaFiles: [file] });
    checkPost(p);
    assert(p.media.length === 1 && p.media[0].content_type === "image/jpeg", JSON.stringify(p.media));
    const done = await untilProcessed(client, p.id);
    assert(done.platforms[0].status === "published", JSON.stringify(done.platforms));
  }],
  ["posts.create draft, then publishDraft", async () => {
    const d = await client.posts.create("Node draft", [TWITTER], { draft: true });
    assert(d.status === "draft" && d.draft === true, JSON.stringify(d));
    const p = await client.posts.publishDraft(d.id);
    checkPost(p);
    assert(p.status !== "draft", p.status);
    await untilProcessed(client, d.id);
  }],
  ["posts.create scheduled, list by status, delete", async () => {
    const when = new Date(Date.now() + 24 * 3600 * 1000);
    const p = await client.posts.create("Node scheduled", [TWITTER], { scheduledAt: when });
    assert(p.status === "scheduled", p.status);
    const list = await client.posts.list({ status: "scheduled", platforms: ["twitter"], perPage: 50 });
    assert(Number.isInteger(list.total) && list.data.some((x) => x.id === p.id), JSON.stringify(list));
    const del = await client.posts.delete(p.id);
    assert(del.deleted === true, JSON.stringify(del));
    await expectError(NotFoundError, 404, "Not found", () => client.posts.get(p.id));
  }],
  ["posts.create with a blank body -> ValidationError", async () => {
    const e = await expectError(ValidationError, 422, null, () => client.posts.create("", [TWITTER]));
    assert(e.message === e.response.errors[0], JSON.stringify(e.response));
  }],
  ["posts.stats -> PostProxyError 501 naming the feature", async () => {
    const e = await expectError(PostProxyError, 501, null, () => client.posts.stats(["abc"]));
    assert(e.message.startsWith("Post stats: not available on this server yet"), e.message);
  }],
  ["a wrong key -> AuthenticationError", async () => {
    const bad = new PostProxy("pp_wrong", { baseUrl: BASE_URL });
    await expectError(AuthenticationError, 401, "Invalid API key", () => bad.profileGroups.list());
  }],
];

let passed = 0;
let failed = 0;
console.log(`postproxy-sdk (Node) against ${BASE_URL}`);
for (const [name, fn] of checks) {
  try {
    await fn();
    passed += 1;
    console.log(`ok    ${name}`);
  } catch (e) {
    failed += 1;
    console.log(`FAIL  ${name}: ${e?.stack ?? e}`);
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
