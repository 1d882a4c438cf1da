// SSE over HTTP/2 without a proxy, in a real browser: Debian's Chromium
// (playwright-core) opens 20 native EventSources (20 topics) on one page of
// the gateway served over TLS (a throwaway certificate; Chromium runs with
// --ignore-certificate-errors). With h2 (ALPN) all 20 stream over ONE
// connection and receive every event; with HTTP/1.1 (the same gateway, but
// Chromium launched with --disable-http2 so its ALPN offers no h2) the
// browser's six-connections-per-host limit leaves exactly 6 streams open and
// the other 14 waiting with nothing received. The gateway's
// tailgate_http_protocol_connections gauge shows 1 h2 / 0 http/1.1
// connections in the first case and 6 http/1.1 in the second.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import http2 from "node:http2";
import path from "node:path";
import { promisify } from "node:util";
import { after, before, test } from "node:test";
import { Gateway, launchBrowser, publish, publisherClient, tempDir, waitFor } from "./lib.mjs";

const run = promisify(execFile);
const N = 20;
const EVENTS = 3;

let cert;
let gw;
let client;

before(async () => {
  const dir = tempDir("browser-h2-pki");
  cert = { key: path.join(dir, "key.pem"), cert: path.join(dir, "cert.pem") };
  await run("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", cert.key,
    "-out", cert.cert, "-days", "2", "-subj", "/CN=localhost",
    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]);
  gw = await new Gateway({ dataDir: tempDir("browser-h2"),
    args: [`--http_tls_cert=${cert.cert}`, `--http_tls_key=${cert.key}`] }).start();
  client = publisherClient(gw.grpc);  // gRPC has its own port: not an HTTP connection.
});

after(async () => {
  client?.close();
  if (gw) {
    const { code } = await gw.kill("SIGTERM");
    assert.equal(code, 0, gw.log);
  }
});

const base = () => `https://127.0.0.1:${gw.http.split(":").pop()}`;

function protocolConnections(metrics) {
  const get = (p) => Number(new RegExp(
    `^tailgate_http_protocol_connections\\{protocol="${p.replace("/", "\\/")}"\\} (\\d+)`, "m").exec(metrics)?.[1]);
  return { h2: get("h2"), "http/1.1": get("http/1.1") };
}

// /metrics from Node over its own HTTP/2 connection (counted as one h2).
function metricsOverH2() {
  return new Promise((resolve, reject) => {
    const s = http2.connect(base(), { rejectUnauthorized: false });
    s.on("error", reject);
    const req = s.request({ ":path": "/metrics" });
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c) => { body += c; });
    req.on("end", () => { s.close(); resolve(body); });
    req.on("error", reject);
    req.end();
  });
}

// A page of the gateway with N EventSources, topic prefix `prefix`.N;
// records per stream whether it opened and the events it received.
async function openPage(browser, prefix) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  await page.goto(`${base()}/healthz`);
  await page.evaluate(({ prefix, n }) => {
    window.__streams = [];
    for (let i = 0; i < n; i++) {
      const st = { opened: false, events: [] };
      const es = new EventSource(`/v1/events?topic=${prefix}.${i}`);
      es.onopen = () => { st.opened = true; };
      es.onmessage = (ev) => st.events.push(ev.data);
      st.es = es;
      window.__streams.push(st);
    }
  }, { prefix, n: N });
  const state = () => page.evaluate(() => window.__streams.map((s) => ({
    opened: s.opened, readyState: s.es.readyState, events: s.events.slice() })));
  return { context, page, state };
}

async function publishAll(prefix, round) {
  for (let i = 0; i < N; i++) await publish(client, { topic: `${prefix}.${i}`, data: `${prefix}.${i}#${round}` });
}
const expected = (prefix, i) => Array.from({ length: EVENTS }, (_, r) => `${prefix}.${i}#${r}`);

test("20 EventSources over h2 share one connection and all receive every event", async () => {
  const browser = await launchBrowser();
  try {
    const { context, page, state } = await openPage(browser, "bh2");
    await waitFor(async () => (await state()).every((s) => s.opened), "20 streams open", 60000);
    for (let r = 0; r < EVENTS; r++) await publishAll("bh2", r);
    await waitFor(async () => (await state()).every((s) => s.events.length >= EVENTS), "every event", 60000);
    const streams = await state();
    streams.forEach((s, i) => assert.deepEqual(s.events, expected("bh2", i), `stream ${i}`));
    // The protocol as the browser saw it: the page, and a fetch made now
    // (both over the connection the streams use).
    const { nav, fetched, metrics } = await page.evaluate(async () => {
      const res = await fetch("/metrics");
      const metrics = await res.text();
      const entry = performance.getEntriesByType("resource").find((e) => e.name.endsWith("/metrics"));
      return { nav: performance.getEntriesByType("navigation")[0].nextHopProtocol,
        fetched: entry?.nextHopProtocol, metrics };
    });
    assert.equal(nav, "h2");
    assert.equal(fetched, "h2");
    // Scraped by the page itself: the browser's only connection is an h2 one.
    assert.deepEqual(protocolConnections(metrics), { h2: 1, "http/1.1": 0 });
    assert.match(metrics, new RegExp(`^tailgate_http2_streams (2[1-9]|[3-9]\\d)`, "m"));
    await context.close();
  } finally {
    await browser.close();
  }
});

test("the same page over HTTP/1.1: six connections, six streams; the other 14 get nothing", async () => {
  const browser = await launchBrowser(["--disable-http2"]);
  try {
    const { context, page, state } = await openPage(browser, "bh1");
    await waitFor(async () => (await state()).filter((s) => s.opened).length >= 6, "6 streams open", 60000);
    for (let r = 0; r < EVENTS; r++) await publishAll("bh1", r);
    // Every event reached the six open streams...
    await waitFor(async () => (await state()).filter((s) => s.events.length >= EVENTS).length >= 6,
      "every event on the six open streams", 60000);
    const streams = await state();
    const open = streams.filter((s) => s.opened);
    assert.equal(open.length, 6, "streams open");
    for (const s of open) {
      const i = streams.indexOf(s);
      assert.deepEqual(s.events, expected("bh1", i), `stream ${i}`);
    }
    // ...while the 14 others still wait for a connection (CONNECTING) with nothing received.
    const waiting = streams.filter((s) => !s.opened);
    assert.equal(waiting.length, N - 6);
    for (const s of waiting) {
      assert.equal(s.readyState, 0, "CONNECTING");
      assert.deepEqual(s.events, []);
    }
    assert.equal(await page.evaluate(() => performance.getEntriesByType("navigation")[0].nextHopProtocol),
      "http/1.1");
    // Scraped over Node's own h2 connection so as not to count as HTTP/1.1
    // (the page could not fetch it: its six connections are taken).
    assert.deepEqual(protocolConnections(await metricsOverH2()), { h2: 1, "http/1.1": 6 });
    await context.close();
  } finally {
    await browser.close();
  }
});
