// A real browser (Debian's Chromium via playwright-core) subscribes with its
// native EventSource while an independent gRPC client (@grpc/grpc-js)
// publishes. The gateway is killed, drained and restarted under it: the
// browser must end with every event, in order, none twice.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import path from "node:path";
import { Gateway, launchBrowser, publisherClient, publish, publishRetrying, tempDir, waitFor, env } from "./lib.mjs";

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

// Opens a same-origin page and starts a native EventSource that records
// every event (id + data) and how often it (re)opened.
async function subscribeInBrowser(gw, topic) {
  const page = await browser.newPage();
  await page.goto(`${gw.url}/healthz`);
  await page.evaluate((topic) => {
    window.__events = [];
    window.__opens = 0;
    const es = new EventSource(`/v1/events?topic=${encodeURIComponent(topic)}`);
    es.onopen = () => { window.__opens += 1; };
    es.onmessage = (ev) => window.__events.push({ id: ev.lastEventId, data: ev.data });
    window.__es = es;
  }, topic);
  await waitFor(() => page.evaluate(() => window.__opens > 0), "EventSource open");
  return page;
}

const events = (page) => page.evaluate(() => window.__events);

function assertExactly(received, expectedData) {
  const data = received.map((e) => e.data);
  assert.deepEqual(data, expectedData, "events differ (order, loss or duplicates)");
  const ids = received.map((e) => BigInt(e.id));
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i] > ids[i - 1], `ids not increasing at ${i}`);
}

test("native EventSource receives N events published through grpc-js", async () => {
  const gw = await new Gateway({ dataDir: tempDir("e2e-basic-") }).start();
  try {
    const page = await subscribeInBrowser(gw, "e2e.basic");
    const client = publisherClient(gw.grpc);
    const expected = [];
    for (let i = 0; i < 200; i++) {
      const data = JSON.stringify({ n: i, text: i % 7 === 0 ? "multi\nline" : "x" });
      expected.push(data);
      const res = await publish(client, { topic: "e2e.basic", data });
      assert.ok(BigInt(res.id) > 0n);
    }
    await waitFor(async () => (await events(page)).length >= expected.length, "200 events in the browser");
    assertExactly(await events(page), expected);
    client.close();
  } finally {
    await gw.kill();
  }
});

test("SIGKILL mid-stream and restart: browser resumes with Last-Event-ID, nothing lost or repeated", async () => {
  const dataDir = tempDir("e2e-kill-");
  let gw = await new Gateway({ dataDir, args: ["--retry_ms=200"] }).start();
  const httpAddr = gw.http;
  const grpcAddr = gw.grpc;
  const page = await subscribeInBrowser(gw, "e2e.kill");
  let client = publisherClient(grpcAddr);
  const expected = [];
  const N = 300;
  try {
    for (let i = 0; i < N; i++) {
      const data = `event-${i}`;
      expected.push(data);
      if (i === 100 || i === 200) {
        // The browser must have reached the previous process (its retry
        // timer can outlast 100 quick publishes, and then it would resume
        // straight on the next one: correct, but not what this test is for).
        await waitFor(() => page.evaluate((n) => window.__opens >= n, i / 100), `open number ${i / 100}`);
        // Kill without warning; publish the next events while it is down
        // (they succeed once the retrying publisher reaches the new process).
        await gw.kill("SIGKILL");
        const restart = new Gateway({ dataDir, http: httpAddr, grpcAddr, args: ["--retry_ms=200"] });
        setTimeout(() => restart.start().then((g) => { gw = g; }), 300);
        gw = restart;
      }
      await publishRetrying(() => client, { topic: "e2e.kill", data, idempotency_key: `k-${i}` });
    }
    await waitFor(async () => (await events(page)).length >= N, `${N} events after restarts`, 60000);
    assertExactly(await events(page), expected);
    assert.ok(await page.evaluate(() => window.__opens) >= 3, "the browser reconnected by itself");
  } finally {
    client.close();
    await gw.kill();
  }
});

test("server drains (SIGTERM) several times during a stream: same guarantee", async () => {
  const dataDir = tempDir("e2e-drain-");
  let gw = await new Gateway({ dataDir, args: ["--retry_ms=200"] }).start();
  const httpAddr = gw.http;
  const grpcAddr = gw.grpc;
  const page = await subscribeInBrowser(gw, "e2e.drain");
  const client = publisherClient(grpcAddr);
  const expected = [];
  try {
    for (let i = 0; i < 400; i++) {
      const data = `drain-${i}`;
      expected.push(data);
      if (i > 0 && i % 100 === 0) {
        const exit = await gw.kill("SIGTERM");
        assert.equal(exit.code, 0, "drain exits 0");
        gw = await new Gateway({ dataDir, http: httpAddr, grpcAddr, args: ["--retry_ms=200"] }).start();
      }
      await publishRetrying(() => client, { topic: "e2e.drain", data, idempotency_key: `d-${i}` });
    }
    await waitFor(async () => (await events(page)).length >= 400, "400 events after drains", 60000);
    assertExactly(await events(page), expected);
  } finally {
    client.close();
    await gw.kill();
  }
});

// Opens an SSE stream from Node that holds one of the gateway's connection
// slots; resolves once the stream's first bytes (its `retry:`) arrived.
function holdStream(gw, topic) {
  return new Promise((resolve, reject) => {
    const req = http.get(`${gw.url}/v1/events?topic=${topic}`, { agent: false }, (res) => {
      res.once("data", (chunk) => {
        if (res.statusCode === 200 && chunk.toString().startsWith("retry: 200\n")) resolve(req);
        else reject(new Error(`not a stream: ${res.statusCode} ${chunk}`));
      });
    });
    req.on("error", (err) => reject(err));
  });
}

test("server full (--max_connections): a native EventSource is not CLOSED and streams once a slot frees", async () => {
  // The page comes from another origin (a small Node server) so that the
  // browser holds no idle keep-alive connection to the gateway, which would
  // take a slot of its own; the gateway allows that origin by CORS.
  const pages = http.createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end("<!doctype html><title>full</title>");
  });
  await new Promise((resolve) => pages.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${pages.address().port}`;
  const gw = await new Gateway({
    dataDir: tempDir("e2e-full-"),
    args: ["--max_connections=2", "--retry_ms=200", `--cors_origins=${origin}`],
  }).start();
  const holders = [];
  const client = publisherClient(gw.grpc);
  try {
    // Every slot taken by a real stream.
    holders.push(await holdStream(gw, "e2e.hold"), await holdStream(gw, "e2e.hold"));
    const expected = [];
    for (let i = 0; i < 5; i++) {
      expected.push(`full-${i}`);
      await publish(client, { topic: "e2e.full", data: `full-${i}` });
    }
    const page = await browser.newPage();
    await page.goto(origin);
    await page.evaluate((url) => {
      window.__events = [];
      window.__errors = 0;
      window.__closed = false;
      const es = new EventSource(url);
      // A reconnect keeps readyState CONNECTING; a failed connection
      // (e.g. a 503) is CLOSED for good.
      es.onerror = () => {
        window.__errors += 1;
        if (es.readyState === EventSource.CLOSED) window.__closed = true;
      };
      es.onmessage = (ev) => window.__events.push(ev.data);
      window.__es = es;
    }, `${gw.url}/v1/events?topic=e2e.full&since=earliest`);
    await waitFor(() => page.evaluate(() => window.__errors > 0), "the refused EventSource's error event");
    assert.equal(await page.evaluate(() => window.__closed), false, "EventSource went to CLOSED");
    assert.equal(await page.evaluate(() => window.__es.readyState), 0, "EventSource is not CONNECTING");
    assert.deepEqual(await page.evaluate(() => window.__events), []);
    // A slot frees; the browser comes back by itself after the retry: back-off.
    holders.shift().destroy();
    await waitFor(async () => (await events(page)).length >= expected.length,
                  "the events once a slot freed", 30000);
    assert.deepEqual(await events(page), expected);
    assert.equal(await page.evaluate(() => window.__closed), false);
    await page.close();
  } finally {
    client.close();
    for (const h of holders) h.destroy();
    await gw.kill();
    pages.close();
  }
});

test("the demo page shows live events (screenshot)", async () => {
  const gw = await new Gateway({ dataDir: tempDir("e2e-demo-") }).start();
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
    await page.goto(`${gw.url}/?topic=demo.>&types=created`);
    await waitFor(() => page.evaluate(() => document.getElementById("state").classList.contains("open")), "demo page live");
    const client = publisherClient(gw.grpc);
    for (let i = 1; i <= 5; i++) {
      await publish(client, { topic: `demo.orders.${i}`, type: "created", data: JSON.stringify({ order: i, total: i * 9.5 }) });
    }
    await publish(client, { topic: "demo.note", data: "untyped\nmulti-line event" });
    await waitFor(() => page.evaluate(() => document.querySelectorAll("#events li").length >= 6), "6 events listed");
    const shot = path.join(process.env.TEST_UNDECLARED_OUTPUTS_DIR || env.tmp, "demo.png");
    await page.screenshot({ path: shot });
    const listed = await page.evaluate(() => document.querySelectorAll("#events li").length);
    assert.equal(listed, 6);
    assert.equal(await page.evaluate(() => document.getElementById("count").textContent), "6");
    client.close();
  } finally {
    await gw.kill();
  }
});
