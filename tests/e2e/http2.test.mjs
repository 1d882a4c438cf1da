// HTTP/2 on the gateway's HTTP port, spoken by a client nobody on this team
// wrote: Node's built-in `http2` module. h2c with prior knowledge and h2 over
// TLS (ALPN) answer every plain route with the same status and body as
// HTTP/1.1 (fetch); POST /v1/publish works over HTTP/2; SSE streams over
// HTTP/2 (resume forms, 100 on one connection, a stalled one not delaying
// others, drain, restart); --http2=off keeps HTTP/1.1 only; limits (header
// list size, idle connections) hold; a drain sends GOAWAY.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import http2 from "node:http2";
import https from "node:https";
import { readFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { after, before, test } from "node:test";
import { Gateway, tempDir } from "./lib.mjs";

const run = promisify(execFile);
const PATHS = ["/healthz", "/readyz", "/metrics", "/", "/demo", "/v1/tailgate.js",
  "/v1/position?topic=a", "/nope"];

let plain;  // h2c + HTTP/1.1, --http_publish=open
let tls;  // HTTPS with ALPN
let off;  // --http2=off
let cert;

// One request on an HTTP/2 session; resolves with status, headers and body.
function h2get(session, reqPath, { method = "GET", headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = session.request({ ":method": method, ":path": reqPath, ...headers });
    let data = "";
    let head;
    req.setEncoding("utf8");
    req.on("response", (h) => { head = h; });
    req.on("data", (c) => { data += c; });
    req.on("end", () => resolve({ status: head?.[":status"], headers: head, body: data, rstCode: req.rstCode }));
    req.on("error", (err) => resolve({ error: err, rstCode: req.rstCode }));
    req.on("close", () => { if (!head) resolve({ rstCode: req.rstCode }); });
    if (body !== undefined) req.end(body); else req.end();
  });
}

function connect(url, options = {}) {
  return new Promise((resolve, reject) => {
    const s = http2.connect(url, options);
    s.once("connect", () => resolve(s));
    s.once("error", reject);
  });
}

before(async () => {
  const dir = tempDir("http2-pki");
  cert = { key: path.join(dir, "key.pem"), cert: path.join(dir, "cert.pem") };
  await run("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", cert.key,
    "-out", cert.cert, "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"]);
  plain = await new Gateway({ dataDir: tempDir("http2-plain"),
    args: ["--http_publish=open", "--http_header_timeout=2s"] }).start();
  tls = await new Gateway({ dataDir: tempDir("http2-tls"),
    args: [`--http_tls_cert=${cert.cert}`, `--http_tls_key=${cert.key}`] }).start();
  off = await new Gateway({ dataDir: tempDir("http2-off"), args: ["--http2=off"] }).start();
});

after(async () => {
  for (const gw of [plain, tls, off]) {
    if (!gw) continue;
    const { code } = await gw.kill("SIGTERM");
    assert.equal(code, 0, gw.log);
  }
});

// The same request over HTTP/1.1 (fetch), for comparison; /metrics changes
// between two requests, so only its status and type are compared.
async function http1(base, reqPath, fetchOptions = {}) {
  const res = await fetch(base + reqPath, { redirect: "manual", ...fetchOptions });
  return { status: res.status, body: await res.text(), type: res.headers.get("content-type") };
}

test("h2c with prior knowledge answers every plain route like HTTP/1.1", async () => {
  const s = await connect(plain.url);
  try {
    for (const p of PATHS) {
      const [h2, h1] = await Promise.all([h2get(s, p), http1(plain.url, p)]);
      assert.equal(h2.status, h1.status, p);
      assert.equal(h2.headers["content-type"], h1.type, p);
      if (p !== "/metrics") assert.equal(h2.body, h1.body, p);
      assert.equal(h2.headers["connection"], undefined, "no connection-specific fields");
    }
    // CORS preflight and a method the route does not take.
    const pre = await h2get(s, "/v1/events", { method: "OPTIONS", headers: { origin: "https://x.example" } });
    const pre1 = await http1(plain.url, "/v1/events", { method: "OPTIONS", headers: { origin: "https://x.example" } });
    assert.equal(pre.status, pre1.status);
    const del = await h2get(s, "/v1/events", { method: "DELETE" });
    const del1 = await http1(plain.url, "/v1/events", { method: "DELETE" });
    assert.equal(del.status, 405);
    assert.deepEqual([del.status, del.body], [del1.status, del1.body]);
    const head = await h2get(s, "/healthz", { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.body, "");
  } finally {
    s.close();
  }
});

test("h2 over TLS is chosen by ALPN; http/1.1 clients still get HTTP/1.1", async () => {
  const url = `https://localhost:${tls.http.split(":").pop()}`;
  const s = await connect(url, { ca: readFileSync(cert.cert) });
  try {
    assert.equal(s.alpnProtocol, "h2");
    const r = await h2get(s, "/healthz");
    assert.equal(r.status, 200);
    assert.equal(r.body, "ok\n");
    const js = await h2get(s, "/v1/tailgate.js");
    assert.equal(js.status, 200);
    assert.match(js.body, /EventSource/);
  } finally {
    s.close();
  }
  const res = await new Promise((resolve, reject) => {
    https.get(`${url}/healthz`, { ca: readFileSync(cert.cert) }, (r) => {
      let body = "";
      r.on("data", (c) => { body += c; });
      r.on("end", () => resolve({ version: r.httpVersion, status: r.statusCode, body }));
    }).on("error", reject);
  });
  assert.deepEqual(res, { version: "1.1", status: 200, body: "ok\n" });
});

test("POST /v1/publish over HTTP/2 stores the event; SSE over HTTP/1.1 delivers it", async () => {
  const s = await connect(plain.url);
  try {
    const r = await h2get(s, "/v1/publish", { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ topic: "h2pub", data: "over-h2" }) });
    assert.equal(r.status, 200, r.body);
    const bad = await h2get(s, "/v1/publish", { method: "POST", headers: { "content-type": "application/json" },
      body: "{" });
    assert.equal(bad.status, 400);
  } finally {
    s.close();
  }
  const ctl = new AbortController();
  const res = await fetch(`${plain.url}/v1/events?topic=h2pub&since=earliest`, { signal: ctl.signal });
  const reader = res.body.getReader();
  let text = "";
  while (!text.includes("over-h2")) {
    const { value, done } = await reader.read();
    assert.ok(!done);
    text += new TextDecoder().decode(value);
  }
  ctl.abort();
});

// An SSE stream over HTTP/2: collects `id:`/`data:` frames until `want`
// events arrived (or the stream ended); resolves with them and the head.
// `opened` resolves at the stream's first bytes (the opening `retry:`), which
// the gateway writes once the stream's start is fixed: an event published
// after that is one the stream must deliver. (Or when the stream ends.)
function h2events(session, reqPath, want, headers = {}) {
  const req = session.request({ ":path": reqPath, ...headers });
  const events = [];
  let buf = "";
  let head;
  let markOpened;
  const opened = new Promise((resolve) => { markOpened = resolve; });
  const done = new Promise((resolve) => {
    const finish = () => { markOpened(); resolve({ head, events, req }); };
    req.setEncoding("utf8");
    req.on("response", (h) => { head = h; });
    req.on("data", (chunk) => {
      markOpened();
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const frame = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const id = /^id: (.*)$/m.exec(frame);
        const data = /^data: (.*)$/m.exec(frame);
        if (data) events.push({ id: id?.[1], data: data[1] });
      }
      if (events.length >= want) finish();
    });
    req.on("close", finish);
    req.on("error", finish);
  });
  return { req, done, opened };
}

// A paused stream reads no data: its response head says it started.
function responded(req) {
  return new Promise((resolve) => { req.once("response", resolve); req.once("close", resolve); });
}

async function publishHttp(gw, topic, data) {
  const res = await fetch(`${gw.url}/v1/publish`, { method: "POST",
    headers: { "content-type": "application/json" }, body: JSON.stringify({ topic, data }) });
  assert.equal(res.status, 200);
  return (await res.json()).id;
}

test("SSE over HTTP/2: the resume forms, then live events, with no chunked framing", async () => {
  const ids = [];
  for (let i = 0; i < 3; i++) ids.push(await publishHttp(plain, "h2resume", `e${i}`));
  const s = await connect(plain.url);
  try {
    const fromHeader = h2events(s, "/v1/events?topic=h2resume", 2, { "last-event-id": String(ids[0]) });
    const fromQuery = h2events(s, `/v1/events?topic=h2resume&lastEventId=${ids[1]}`, 1);
    const fromSince = h2events(s, "/v1/events?topic=h2resume&since=earliest", 3);
    const a = await fromHeader.done;
    assert.equal(a.head[":status"], 200);
    assert.equal(a.head["content-type"], "text/event-stream");
    assert.equal(a.head["transfer-encoding"], undefined);
    assert.deepEqual(a.events.map((e) => e.data), ["e1", "e2"]);
    assert.deepEqual((await fromQuery.done).events.map((e) => e.data), ["e2"]);
    assert.deepEqual((await fromSince.done).events.map((e) => e.data), ["e0", "e1", "e2"]);
    // Live: a fresh stream gets what is published after it opened.
    const live = h2events(s, "/v1/events?topic=h2resume", 1);
    await live.opened;
    await publishHttp(plain, "h2resume", "live");
    assert.deepEqual((await live.done).events.map((e) => e.data), ["live"]);
    for (const x of [fromHeader, fromQuery, fromSince, live]) x.req.close();
    // A refusal is a plain HTTP/2 response.
    const bad = await h2get(s, "/v1/events?topic=a&since=0");
    assert.equal(bad.status, 400);
  } finally {
    s.close();
  }
});

test("100 SSE streams on one connection each get exactly their topic's events", async () => {
  const s = await connect(plain.url);
  try {
    const streams = Array.from({ length: 100 }, (_, i) =>
      h2events(s, `/v1/events?topic=h2many.${i}`, 3));
    await Promise.all(streams.map((x) => x.opened));
    for (let round = 0; round < 3; round++) {
      await Promise.all(streams.map((_, i) => publishHttp(plain, `h2many.${i}`, `t${i}-r${round}`)));
    }
    const results = await Promise.all(streams.map((x) => x.done));
    // Metrics split by protocol: this connection and its 100 open streams.
    const metrics = await (await fetch(`${plain.url}/metrics`)).text();
    const h2conns = Number(/^tailgate_http_protocol_connections\{protocol="h2"\} (\d+)/m.exec(metrics)?.[1]);
    const h2streams = Number(/^tailgate_http2_streams (\d+)/m.exec(metrics)?.[1]);
    assert.ok(h2conns >= 1, metrics);
    assert.ok(h2streams >= 100, `tailgate_http2_streams ${h2streams}`);
    assert.match(metrics, /^tailgate_http_protocol_connections\{protocol="http\/1\.1"\} [1-9]/m);
    results.forEach((r, i) => {
      assert.deepEqual(r.events.map((e) => e.data), [0, 1, 2].map((k) => `t${i}-r${k}`));
    });
    for (const x of streams) x.req.close();
  } finally {
    s.close();
  }
});

test("a stalled stream (window 0, not read) does not delay the others", async () => {
  // A tiny initial window: the stalled stream's window runs out at once.
  const s = await connect(plain.url, { settings: { initialWindowSize: 1024 } });
  try {
    const big = "x".repeat(4000);
    const stalled = s.request({ ":path": "/v1/events?topic=h2stall" });
    stalled.pause();  // Never read: its window stays at 0 after 1 KiB.
    const other = h2events(s, "/v1/events?topic=h2flow", 20);
    await Promise.all([responded(stalled), other.opened]);
    for (let i = 0; i < 20; i++) {
      await publishHttp(plain, "h2stall", big);
      await publishHttp(plain, "h2flow", `f${i}`);
    }
    const t0 = Date.now();
    const r = await other.done;
    assert.equal(r.events.length, 20);
    assert.ok(Date.now() - t0 < 3000);
    stalled.close();
    other.req.close();
  } finally {
    s.close();
  }
});

test("the SSE route over HTTP/2 on a drain: GOAWAY, then the stream ends cleanly", async () => {
  const gw = await new Gateway({ dataDir: tempDir("http2-sse-drain"), args: ["--http_publish=open", "--drain_timeout=5s"] }).start();
  const s = await connect(gw.url);
  const goaway = new Promise((resolve) => s.once("goaway", (code) => resolve(code)));
  const stream = h2events(s, "/v1/events?topic=d", 1000);
  await stream.opened;
  await publishHttp(gw, "d", "before");
  const ended = new Promise((resolve) => stream.req.on("end", () => resolve("end")));
  gw.proc.kill("SIGTERM");
  assert.equal(await goaway, http2.constants.NGHTTP2_NO_ERROR);
  assert.equal(await ended, "end");
  assert.deepEqual((await stream.done).events.map((e) => e.data), ["before"]);
  const { code } = await gw.exited;
  assert.equal(code, 0, gw.log);
});

test("SSE over HTTP/2 resumes after a gateway restart from Last-Event-ID", async () => {
  const dataDir = tempDir("http2-restart");
  let gw = await new Gateway({ dataDir, args: ["--http_publish=open"] }).start();
  const first = await publishHttp(gw, "r", "one");
  const address = gw.http;
  await gw.kill("SIGKILL");
  gw = await new Gateway({ dataDir, http: address, args: ["--http_publish=open"] }).start();
  try {
    await publishHttp(gw, "r", "two");
    const s = await connect(gw.url);
    const r = await h2events(s, "/v1/events?topic=r", 1, { "last-event-id": String(first) }).done;
    assert.deepEqual(r.events.map((e) => e.data), ["two"]);
    s.close();
  } finally {
    await gw.kill("SIGTERM");
  }
});

test("200 concurrent requests share one connection, each with its own answer", async () => {
  const s = await connect(plain.url);
  try {
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => h2get(s, `/nope-${i}`)));
    results.forEach((r, i) => {
      assert.equal(r.status, 404);
      assert.equal(r.body, `not found: /nope-${i}\n`);
    });
  } finally {
    s.close();
  }
});

test("SETTINGS_MAX_CONCURRENT_STREAMS is advertised; the header list size limit is enforced", async () => {
  const s = await connect(plain.url);
  try {
    await new Promise((resolve) => (s.remoteSettings ? resolve() : s.once("remoteSettings", resolve)));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(s.remoteSettings.maxConcurrentStreams, 100);
  } finally {
    s.close();
  }
  // Node refuses to send past the advertised size itself; tell it not to know.
  const t = await connect(plain.url, { maxHeaderListSize: 1 << 20, peerMaxConcurrentStreams: 1000 });
  try {
    const r = await h2get(t, "/healthz", { headers: { "x-big": "a".repeat(20000) } });
    assert.ok(r.status === 431 || r.rstCode !== 0 || r.error, JSON.stringify(r));
    assert.notEqual(r.status, 200);
  } finally {
    t.close();
  }
});

test("--http2=off: the preface is not HTTP/2's way in", async () => {
  const s = http2.connect(off.url);
  const outcome = await new Promise((resolve) => {
    s.once("connect", () => {
      const req = s.request({ ":path": "/healthz" });
      req.on("response", () => resolve("response"));
      req.on("error", () => resolve("error"));
      req.on("close", () => resolve("closed"));
      req.end();
    });
    s.once("error", () => resolve("error"));
    s.once("close", () => resolve("closed"));
  });
  assert.notEqual(outcome, "response");
  s.destroy();
  assert.equal((await http1(off.url, "/healthz")).status, 200);
});

test("an idle HTTP/2 connection closes after the header timeout with GOAWAY", async () => {
  const s = await connect(plain.url);
  const goaway = new Promise((resolve) => s.once("goaway", (code) => resolve(code)));
  const closed = new Promise((resolve) => s.once("close", resolve));
  const t0 = Date.now();
  assert.equal(await goaway, http2.constants.NGHTTP2_NO_ERROR);
  await closed;
  const elapsed = Date.now() - t0;
  assert.ok(elapsed >= 1500 && elapsed < 6000, `closed after ${elapsed} ms`);
});

test("drain: GOAWAY on open HTTP/2 connections, then the process exits", async () => {
  const gw = await new Gateway({ dataDir: tempDir("http2-drain"), args: ["--drain_timeout=5s"] }).start();
  const s = await connect(gw.url);
  assert.equal((await h2get(s, "/healthz")).status, 200);
  const goaway = new Promise((resolve) => s.once("goaway", (code) => resolve(code)));
  gw.proc.kill("SIGTERM");
  assert.equal(await goaway, http2.constants.NGHTTP2_NO_ERROR);
  const { code } = await gw.exited;
  assert.equal(code, 0, gw.log);
});

test("rapid reset: a client cancelling streams in a burst gets GOAWAY ENHANCE_YOUR_CALM", async () => {
  const s = await connect(plain.url);
  const goaway = new Promise((resolve) => s.once("goaway", (code) => resolve(code)));
  s.on("error", () => {});
  for (let i = 0; i < 1000 && !s.destroyed && !s.closed; i++) {
    const req = s.request({ ":path": "/v1/events?topic=rr" });
    req.on("error", () => {});
    req.close(http2.constants.NGHTTP2_CANCEL);
    if (i % 50 === 49) await new Promise((r) => setImmediate(r));
  }
  assert.equal(await goaway, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
  s.destroy();
  // A well-behaved client on another connection is unaffected.
  const t = await connect(plain.url);
  assert.equal((await h2get(t, "/healthz")).status, 200);
  t.close();
});

test("HTTP/2 streams count against --max_connections: past it an SSE stream gets the busy answer", async () => {
  const gw = await new Gateway({ dataDir: tempDir("http2-cap"), args: ["--max_connections=8"] }).start();
  const s = await connect(gw.url);
  try {
    const open = Array.from({ length: 8 }, (_, i) => h2events(s, `/v1/events?topic=cap${i}`, 1000));
    await Promise.all(open.map((x) => x.opened));
    const extra = h2events(s, "/v1/events?topic=capx", 1000);
    const r = await Promise.race([extra.done,
      new Promise((res) => setTimeout(() => res({ timedOut: true }), 3000))]);
    assert.ok(!r.timedOut, "the busy answer ends the stream at once");
    assert.equal(r.head[":status"], 200);
    assert.equal(r.events.length, 0);
    for (const x of open) x.req.close();
    await waitForMetric(/^tailgate_sse_connections (\d+)/m, (n) => n === 0, 5000, gw);
    // Room again: a new stream is served.
    const again = h2events(s, "/v1/events?topic=capy", 1000);
    const head = await new Promise((res) => again.req.on("response", res));
    assert.equal(head[":status"], 200);
    const chunk = await new Promise((res) => again.req.once("data", (c) => res(String(c))));
    assert.match(chunk, /^retry: 3000/);
    again.req.close();
  } finally {
    s.close();
    await gw.kill("SIGTERM");
  }
});

test("a stream stuck at window 0 is reset after --write_timeout; the connection and others live on", async () => {
  const gw = await new Gateway({ dataDir: tempDir("http2-wt"), args: ["--http_publish=open", "--write_timeout=1s"] }).start();
  const s = await connect(gw.url, { settings: { initialWindowSize: 1024 } });
  try {
    const stalled = s.request({ ":path": "/v1/events?topic=wt" });
    stalled.pause();
    const reset = new Promise((resolve) => stalled.on("close", () => resolve(stalled.rstCode)));
    await responded(stalled);
    const t0 = Date.now();
    for (let i = 0; i < 5; i++) await publishHttp(gw, "wt", "y".repeat(4000));
    assert.equal(await reset, http2.constants.NGHTTP2_CANCEL);
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 800 && elapsed < 5000, `reset after ${elapsed} ms`);
    // The connection still serves.
    assert.equal((await h2get(s, "/healthz")).status, 200);
  } finally {
    s.close();
    await gw.kill("SIGTERM");
  }
});

test("curl --http2-prior-knowledge (libcurl + nghttp2): a plain route and an SSE replay", async () => {
  const base = plain.url;
  const { stdout } = await run("curl", ["-sS", "-i", "--http2-prior-knowledge", `${base}/healthz`]);
  assert.match(stdout, /^HTTP\/2 200/);
  assert.match(stdout, /\r\n\r\nok\n$/);
  const id = await publishHttp(plain, "curl.h2", "via-curl");
  // --max-time ends the open stream; curl exits 28 with what it received.
  const sse = await run("curl", ["-sS", "-i", "--http2-prior-knowledge", "--max-time", "2",
    `${base}/v1/events?topic=curl.h2&since=earliest`]).catch((err) => err);
  assert.match(sse.stdout, /^HTTP\/2 200/);
  assert.match(sse.stdout, new RegExp(`id: ${id}\ndata: via-curl\n\n`));
});

test("SSE streams over HTTP/2 end on the server as soon as their connection drops", async () => {
  const s = await connect(plain.url);
  const streams = Array.from({ length: 5 }, (_, i) => h2events(s, `/v1/events?topic=drop${i}`, 1000));
  await waitForMetric(/^tailgate_http2_streams (\d+)/m, (v) => v >= 5);
  // The SSE stream metrics tell the protocols apart.
  await waitForMetric(/^tailgate_sse_streams\{protocol="h2"\} (\d+)/m, (v) => v === 5);
  await waitForMetric(/^tailgate_sse_streams\{protocol="http\/1\.1"\} (\d+)/m, (v) => v === 0);
  await waitForMetric(/^tailgate_sse_streams_opened_total\{protocol="h2"\} (\d+)/m, (v) => v >= 5);
  s.destroy();  // TCP close, no RST_STREAM or GOAWAY.
  // Well within --heartbeat (15 s), when the next write would have noticed.
  await waitForMetric(/^tailgate_sse_connections (\d+)/m, (v) => v === 0, 3000);
  await waitForMetric(/^tailgate_sse_streams\{protocol="h2"\} (\d+)/m, (v) => v === 0, 3000);
  await waitForMetric(/^tailgate_http2_streams (\d+)/m, (v) => v === 0, 3000);
  void streams;
});

async function waitForMetric(re, ok, timeoutMs = 5000, gw = plain) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    last = Number(re.exec(text)?.[1]);
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`${re}: ${last}`);
}

test("a request stream left incomplete is reset after the header timeout", async () => {
  const s = await connect(plain.url);
  try {
    const req = s.request({ ":method": "POST", ":path": "/v1/publish", "content-type": "application/json" },
      { endStream: false });
    req.on("error", () => {});
    req.write("{");  // ...and never the rest.
    const t0 = Date.now();
    const code = await new Promise((resolve) => req.on("close", () => resolve(req.rstCode)));
    const elapsed = Date.now() - t0;
    assert.equal(code, http2.constants.NGHTTP2_CANCEL);
    assert.ok(elapsed >= 1500 && elapsed < 5000, `reset after ${elapsed} ms`);
    assert.equal((await h2get(s, "/healthz")).status, 200);
  } finally {
    s.close();
  }
});
