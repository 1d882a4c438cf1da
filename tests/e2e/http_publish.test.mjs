// POST /v1/publish with clients nobody on this team wrote: Node's built-in
// fetch, the curl CLI, and the documented examples (Python urllib,
// @grpc/grpc-js from the .proto) run as-is against the real binary, on
// --http_publish=open and =on (JWT), with the error paths a client sees.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHmac } from "node:crypto";
import { copyFileSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { after, before, test } from "node:test";
import { env, Gateway, publish, publisherClient, tempDir } from "./lib.mjs";

const run = promisify(execFile);
const ORIGIN = "https://app.example";
const SECRET = "0123456789abcdef0123456789abcdef";
const examples = path.join(path.dirname(new URL(import.meta.url).pathname), "..", "..", "docs", "examples");

let open;  // --http_publish=open
let authed;  // --http_publish=on
let off;  // default

function b64url(s) { return Buffer.from(s).toString("base64url"); }
function token(publish, expOffset = 3600) {
  const input = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" })) + "." +
    b64url(JSON.stringify({ sub: "e2e", exp: Math.floor(Date.now() / 1000) + expOffset, tailgate: { publish } }));
  return input + "." + createHmac("sha256", SECRET).update(input).digest("base64url");
}

async function post(gw, body, headers = {}) {
  const res = await fetch(`${gw.url}/v1/publish`, {
    method: "POST", headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  const isJson = res.headers.get("content-type") === "application/json";
  return { status: res.status, headers: res.headers, text, json: isJson ? JSON.parse(text) : null };
}

before(async () => {
  const secretFile = path.join(tempDir("http-publish-secret"), "secret");
  writeFileSync(secretFile, SECRET);
  open = await new Gateway({ dataDir: tempDir("http-publish-open"),
    args: ["--http_publish=open", `--publish_cors_origins=${ORIGIN}`, "--max_data_bytes=1000"] }).start();
  authed = await new Gateway({ dataDir: tempDir("http-publish-on"), args: [
    "--http_publish=on", "--auth_publish=required", "--jwt_algorithms=HS256",
    `--jwt_hs256_secret_file=${secretFile}`] }).start();
  off = await new Gateway({ dataDir: tempDir("http-publish-off") }).start();
});

after(async () => {
  for (const gw of [open, authed, off]) {
    if (!gw) continue;
    const { code } = await gw.kill("SIGTERM");
    assert.equal(code, 0, gw.log);
  }
});

test("open mode is announced loudly at start", () => {
  assert.match(open.log, /WARN.*--http_publish=open: ANYONE/i);
});

test("fetch publishes; ids continue those of gRPC publishes; batches and idempotency", async () => {
  const client = publisherClient(open.grpc);
  try {
    const viaGrpc = await publish(client, { topic: "e2e.orders", data: "by grpc" });
    const one = await post(open, { topic: "e2e.orders", type: "created", data: '{"n":1} ünï', idempotency_key: "e2e-1" });
    assert.equal(one.status, 200, one.text);
    assert.equal(one.headers.get("content-type"), "application/json");
    assert.equal(BigInt(one.json.id), BigInt(viaGrpc.id) + 1n);
    assert.equal(one.json.duplicate, false);
    const again = await post(open, { topic: "e2e.orders", type: "created", data: '{"n":1} ünï', idempotency_key: "e2e-1" });
    assert.deepEqual(again.json, { id: one.json.id, duplicate: true });
    const batch = await post(open, { events: [{ topic: "e2e.a", data: "1" }, { topic: "e2e.b", data: "2" }] });
    assert.equal(batch.status, 200, batch.text);
    assert.equal(batch.json.results.length, 2);
    assert.equal(batch.json.results[1].id, batch.json.results[0].id + 1);
  } finally {
    client.close();
  }
});

test("errors are JSON and name the field", async () => {
  const cases = [
    [{ events: [{ topic: "e2e.a" }, { topic: "e2e..b" }] }, 400, "INVALID_ARGUMENT", /^events\[1\]\.topic: /],
    ["{\"topic\":", 400, "INVALID_ARGUMENT", /^body is not valid JSON/],
    [{ topic: "e2e.a", data: { n: 1 } }, 400, "INVALID_ARGUMENT", /^data: must be a JSON string/],
    [{ topic: "e2e.a", extra: true }, 400, "INVALID_ARGUMENT", /^extra: unknown field/],
    [{ topic: "e2e.a", data: "x".repeat(1001) }, 413, "RESOURCE_EXHAUSTED", /^data: /],
  ];
  for (const [body, status, code, message] of cases) {
    const r = await post(open, body);
    assert.equal(r.status, status, r.text);
    assert.equal(r.json.error.code, code, r.text);
    assert.match(r.json.error.message, message);
  }
  const wrongType = await fetch(`${open.url}/v1/publish`, { method: "POST", body: '{"topic":"e2e.a"}' });
  assert.equal(wrongType.status, 415);  // fetch sends text/plain
});

test("CORS: preflight and the allowed origin", async () => {
  const pre = await fetch(`${open.url}/v1/publish`, { method: "OPTIONS", headers: {
    origin: ORIGIN, "access-control-request-method": "POST", "access-control-request-headers": "content-type,authorization" } });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get("access-control-allow-origin"), ORIGIN);
  assert.match(pre.headers.get("access-control-allow-headers"), /Authorization/);
  const ok = await post(open, { topic: "e2e.cors" }, { origin: ORIGIN });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get("access-control-allow-origin"), ORIGIN);
  const evil = await post(open, { topic: "e2e.cors" }, { origin: "https://evil.example" });
  assert.equal(evil.status, 403);
});

test("curl, as the README shows it; a body over the limit is refused before it is sent", async () => {
  const { stdout } = await run("curl", ["-sS", "--fail-with-body", `${open.url}/v1/publish`,
    "-H", "Content-Type: application/json", "-d", '{"topic":"e2e.curl","data":"hello"}']);
  assert.match(stdout, /^\{"id":\d+,"duplicate":false\}\n$/);
  const big = path.join(tempDir("http-publish-big"), "big.json");
  writeFileSync(big, JSON.stringify({ topic: "e2e.big", data: "x".repeat(80 << 20) }));
  // curl sends Expect: 100-continue for a large body and gets the 413 instead.
  const r = await run("curl", ["-sS", "-o", "-", "-w", "\n%{http_code}", `${open.url}/v1/publish`,
    "-H", "Content-Type: application/json", "--data-binary", `@${big}`]);
  assert.match(r.stdout, /"code":"RESOURCE_EXHAUSTED".*\n413$/s);
});

test("the documented Python (urllib) and Node gRPC examples work as written", async () => {
  const py = await run("/usr/bin/python3", [path.join(examples, "publish_http.py"), "e2e.py", '{"n":1}'],
    { env: { PATH: process.env.PATH, TAILGATE_URL: open.url } });
  assert.match(py.stdout, /^\{'id': \d+, 'duplicate': False\}\n$/);
  // ESM finds packages next to the file: run a copy beside our node_modules.
  const dir = tempDir("http-publish-js");
  symlinkSync(process.env.NODE_PATH, path.join(dir, "node_modules"));
  copyFileSync(path.join(examples, "publish_grpc.mjs"), path.join(dir, "publish_grpc.mjs"));
  const js = await run(process.execPath, [path.join(dir, "publish_grpc.mjs"), "e2e.js", '{"n":1}'],
    { env: { ...process.env, TAILGATE_GRPC: open.grpc, TAILGATE_PROTO_ROOT: env.protoRoot } });
  assert.match(js.stdout, /^\{"id":"\d+","duplicate":false\}\n$/);
  // And with a token on an authenticating gateway.
  const pyAuth = await run("/usr/bin/python3", [path.join(examples, "publish_http.py"), "e2e.py", "x"],
    { env: { PATH: process.env.PATH, TAILGATE_URL: authed.url, TAILGATE_TOKEN: token(["e2e.*"]) } });
  assert.match(pyAuth.stdout, /'duplicate': False/);
});

test("--http_publish=on: tokens with publish grants", async () => {
  const none = await post(authed, { topic: "e2e.a" });
  assert.equal(none.status, 401);
  assert.equal(none.headers.get("www-authenticate"), "Bearer");
  assert.equal(none.json.error.code, "UNAUTHENTICATED");
  const expired = await post(authed, { topic: "e2e.a" }, { authorization: `Bearer ${token(["e2e.*"], -3600)}` });
  assert.equal(expired.status, 401);
  assert.match(expired.json.error.message, /expired/);
  const denied = await post(authed, { topic: "other.a" }, { authorization: `Bearer ${token(["e2e.*"])}` });
  assert.equal(denied.status, 403);
  assert.equal(denied.json.error.code, "PERMISSION_DENIED");
  const ok = await post(authed, { topic: "e2e.a" }, { authorization: `Bearer ${token(["e2e.*"])}` });
  assert.equal(ok.status, 200, ok.text);
});

test("--http_publish=off (the default): 404", async () => {
  const r = await post(off, { topic: "e2e.a" });
  assert.equal(r.status, 404);
});
