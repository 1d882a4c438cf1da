// /v1/tailgate.js in Debian's Chromium (playwright-core) while an
// independent gRPC client (@grpc/grpc-js) publishes continuously: reloads,
// two tabs sharing one connection, offline/online, last=N, the position and
// the caught-up marker, the back/forward cache, a drained and restarted
// gateway, expiring tokens. Every check waits on a condition (bounded polls).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { writeFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { Gateway, env, launchBrowser, publisherClient, publish, tempDir, waitFor } from "./lib.mjs";

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

// Publishes `n` events on `topic` one after another until stopped or done;
// `sent` lists their data in publish (= id) order.
function publisher(gw, topic, n, prefix) {
  const client = publisherClient(gw.grpc);
  const state = { sent: [], stopped: false };
  state.done = (async () => {
    for (let i = 0; i < n && !state.stopped; i++) {
      const data = `${prefix}-${i}`;
      await publish(client, { topic, data });
      state.sent.push(data);
      await new Promise((r) => setTimeout(r, 4));
    }
    client.close();
  })();
  return state;
}

// Subscribes in the page; every delivered event is appended to
// sessionStorage in the same task as the module stores its cursor, so a
// reload cannot separate the two. Returns once subscribed.
async function subscribeInPage(page, opts, moduleUrl = "/v1/tailgate.js") {
  await page.evaluate(async ([opts, moduleUrl]) => {
    const { subscribe } = await import(moduleUrl);
    window.__status = [];
    // tokenUrl (a test option): token() fetches a fresh token from there.
    const token = opts.tokenUrl ? async () => (await fetch(opts.tokenUrl)).text() : undefined;
    window.__sub = subscribe({
      ...opts,
      token,
      onEvent(e) {
        sessionStorage.setItem("log", (sessionStorage.getItem("log") || "") + `${e.id} ${e.topic} ${e.time} ${e.data}\n`);
      },
      onStatus(s) { window.__status.push(s); },
    });
  }, [opts, moduleUrl]);
}

// Publishes `prefix-0`, `prefix-1`, ... until stop() (or `n` events),
// retrying each (same idempotency key) while the gateway is down or
// restarting; `sent` lists their data in publish (= id) order. stop()
// while one is being retried gives up on that one (cleanup after a failure).
function retryingPublisher(grpcAddr, topic, prefix, n = Infinity) {
  const client = publisherClient(grpcAddr);
  const state = { sent: [], stopped: false };
  state.done = (async () => {
    for (let i = 0; i < n && !state.stopped; i++) {
      const data = `${prefix}-${i}`;
      for (;;) {
        try {
          await publish(client, { topic, data, idempotency_key: data }, 2000);
          break;
        } catch (err) {
          if (state.stopped) return client.close();
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      state.sent.push(data);
      await new Promise((r) => setTimeout(r, 4));
    }
    client.close();
  })();
  state.stop = () => { state.stopped = true; return state.done; };
  return state;
}

// A small web server for the pages (another origin than the gateway's).
async function site(handler) {
  const server = http.createServer(handler);
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  server.origin = `http://127.0.0.1:${server.address().port}`;
  return server;
}

async function logOf(page) {
  const text = await page.evaluate(() => sessionStorage.getItem("log") || "");
  return text.split("\n").filter(Boolean).map((l) => {
    const [id, topic, time, data] = l.split(" ");
    return { id, topic, time, data };
  });
}

function assertExactly(received, expected) {
  assert.deepEqual(received.map((e) => e.data), expected, "events differ (order, loss or duplicates)");
  for (let i = 1; i < received.length; i++) {
    assert.ok(BigInt(received[i].id) > BigInt(received[i - 1].id), `ids not increasing at ${i}`);
  }
}

async function metric(gw, name) {
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  const m = new RegExp(`^${name.replace(/[{}"]/g, "\\$&")} (\\d+)$`, "m").exec(text);
  return m ? Number(m[1]) : NaN;
}

test("five reloads mid-stream: every event once, in order, across the loads", async () => {
  const gw = await new Gateway({ dataDir: tempDir("e2e-reload-") }).start();
  try {
    const page = await browser.newPage();
    await page.goto(`${gw.url}/healthz`);
    const opts = { topics: ["e2e.reload"], since: "earliest" };
    await subscribeInPage(page, opts);
    const pub = publisher(gw, "e2e.reload", 600, "r");
    for (let load = 1; load <= 5; load++) {
      const seen = (await logOf(page)).length;
      // Reload only once this load delivered something: mid-stream.
      await waitFor(async () => (await logOf(page)).length > seen + 20, `events in load ${load}`);
      await page.reload();
      await subscribeInPage(page, opts);
    }
    await pub.done;
    await waitFor(async () => (await logOf(page)).length >= pub.sent.length, "every event after 5 reloads", 60000);
    const log = await logOf(page);
    assertExactly(log, pub.sent);
    assert.equal(log[0].topic, "e2e.reload");
    assert.ok(!Number.isNaN(Date.parse(log[0].time)), `publish time ${log[0].time}`);
  } finally {
    await gw.kill();
  }
});

test("two tabs with share: one server connection, both get every event; closing the leader loses nothing", async () => {
  const gw = await new Gateway({ dataDir: tempDir("e2e-share-") }).start();
  try {
    const ctx = await browser.newContext();
    const tabs = [await ctx.newPage(), await ctx.newPage()];
    for (const tab of tabs) {
      await tab.goto(`${gw.url}/healthz`);
      await subscribeInPage(tab, { topics: ["e2e.share"], share: true });
    }
    // Live-only: the leader's stream is open once it reported "live".
    await waitFor(() => tabs[0].evaluate(() => window.__status.includes("live")), "leader live");
    const pub = publisher(gw, "e2e.share", 500, "s");
    await waitFor(async () => (await logOf(tabs[1])).length > 100, "the follower receives");
    assert.equal(await metric(gw, "tailgate_sse_connections"), 1, "one /v1/events stream for two tabs");
    await tabs[0].close();  // The leader: its Web Lock goes, the other tab takes over.
    await pub.done;
    await waitFor(async () => (await logOf(tabs[1])).length >= pub.sent.length, "every event in the remaining tab", 60000);
    assertExactly(await logOf(tabs[1]), pub.sent);
    await waitFor(async () => (await metric(gw, "tailgate_sse_connections")) === 1, "one stream after the take-over");
    await ctx.close();
  } finally {
    await gw.kill();
  }
});

test("offline and back online (network emulation): nothing lost", async () => {
  const gw = await new Gateway({ dataDir: tempDir("e2e-offline-") }).start();
  try {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(`${gw.url}/healthz`);
    await subscribeInPage(page, { topics: ["e2e.offline"], since: "earliest" });
    const pub = publisher(gw, "e2e.offline", 400, "o");
    await waitFor(async () => (await logOf(page)).length > 50, "events before going offline");
    await ctx.setOffline(true);
    const offlineAt = pub.sent.length;
    // The stream really broke: the client noticed and is retrying.
    await waitFor(() => page.evaluate(() => window.__status.includes("offline")), "the client offline");
    await waitFor(() => pub.sent.length > offlineAt + 100, "publishing while offline");
    await ctx.setOffline(false);
    await pub.done;
    await waitFor(async () => (await logOf(page)).length >= pub.sent.length, "every event after going online", 60000);
    assertExactly(await logOf(page), pub.sent);
    await ctx.close();
  } finally {
    await gw.kill();
  }
});

test("last=N, the caught-up marker, and /v1/position + after closing the render gap", async () => {
  const gw = await new Gateway({ dataDir: tempDir("e2e-last-") }).start();
  const client = publisherClient(gw.grpc);
  try {
    for (let i = 0; i < 10; i++) await publish(client, { topic: "e2e.last", data: `h-${i}` });
    const page = await browser.newPage();
    await page.goto(`${gw.url}/healthz`);
    await subscribeInPage(page, { topics: ["e2e.last"], last: 3, resume: "none" });
    await waitFor(() => page.evaluate(() => window.__status.includes("live")), "caught up");
    assertExactly(await logOf(page), ["h-7", "h-8", "h-9"]);
    assert.deepEqual(await page.evaluate(() => window.__status), ["connecting", "replaying", "live"]);
    await page.evaluate(() => window.__sub.close());

    // The render-gap recipe: read the position while "rendering", events are
    // published before the page subscribes, and it subscribes after the position.
    const page2 = await browser.newPage();
    await page2.goto(`${gw.url}/healthz`);
    const position = await page2.evaluate(async () => (await (await fetch("/v1/position?topic=e2e.last")).json()).id);
    for (let i = 0; i < 3; i++) await publish(client, { topic: "e2e.last", data: `gap-${i}` });
    await subscribeInPage(page2, { topics: ["e2e.last"], after: position });
    await waitFor(async () => (await logOf(page2)).length >= 3, "the gap's events");
    await publish(client, { topic: "e2e.last", data: "live-0" });
    await waitFor(async () => (await logOf(page2)).length >= 4, "a live event");
    assertExactly(await logOf(page2), ["gap-0", "gap-1", "gap-2", "live-0"]);
  } finally {
    client.close();
    await gw.kill();
  }
});

test("--max_connections reached, then a slot frees: the client gets in by itself", async () => {
  const gw = await new Gateway({ dataDir: tempDir("e2e-full-"), args: ["--max_connections=1", "--cors_origins=*"] }).start();
  // The page comes from another origin (a small server here), so that its
  // only connection to the gateway is the stream: the gateway's one slot is
  // held by `hold` below.
  const http = await import("node:http");
  // node:http without an agent: each request its own connection, closed
  // after it (fetch would keep one alive and fill the only slot).
  const get = (path) => new Promise((resolve, reject) => {
    const req = http.get(`${gw.url}${path}`, { agent: false, headers: { Connection: "close" } }, resolve);
    req.on("error", reject);
  });
  const moduleRes = await get("/v1/tailgate.js");
  let moduleText = "";
  for await (const chunk of moduleRes) moduleText += chunk;
  const site = http.createServer((req, res) => {
    if (req.url === "/tailgate.js") res.writeHead(200, { "Content-Type": "text/javascript" }).end(moduleText);
    else res.writeHead(200, { "Content-Type": "text/html" }).end("<!doctype html><title>app</title>");
  });
  await new Promise((r) => site.listen(0, "127.0.0.1", r));
  // The gateway closes the module's connection after the response; the
  // hold can take the slot once it is gone.
  const held = await waitFor(async () => {
    const r = await get("/v1/events?topic=e2e.hold");
    if (r.statusCode === 200) return r;
    r.resume();
    return null;
  }, "the hold stream");
  const hold = { abort: () => held.destroy() };
  const client = publisherClient(gw.grpc);
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${site.address().port}/`);
    await page.evaluate(async (url) => {
      const { subscribe } = await import("/tailgate.js");
      window.__status = [];
      window.__got = [];
      subscribe({ url, topics: ["e2e.full"], since: "earliest",
                  onEvent: (e) => window.__got.push(e.data), onStatus: (s) => window.__status.push(s) });
    }, `${gw.url}/v1/events`);
    await waitFor(() => page.evaluate(() => window.__status.includes("offline")), "refused while full");
    for (let i = 0; i < 5; i++) await publish(client, { topic: "e2e.full", data: `f-${i}` });
    hold.abort();  // The slot frees; nobody tells the page.
    await waitFor(() => page.evaluate(() => window.__got.length >= 5), "in by itself after the slot freed", 60000);
    assert.deepEqual(await page.evaluate(() => window.__got), ["f-0", "f-1", "f-2", "f-3", "f-4"]);
    await page.close();
  } finally {
    client.close();
    site.close();
    await gw.kill();
  }
});

test("back/forward cache: away and back with history, every event once", async (t) => {
  const gw = await new Gateway({ dataDir: tempDir("e2e-bfcache-"), args: ["--cors_origins=*"] }).start();
  // The pages come from another origin than the gateway without
  // Cache-Control (the gateway's own answers say no-store or no-cache).
  const app = await site((req, res) => {
    res.writeHead(200, { "Content-Type": "text/html" }).end(`<!doctype html><title>${req.url}</title>`);
  });
  // Playwright turns the back/forward cache off by default.
  const { chromium } = await import("playwright-core");
  const bfBrowser = await chromium.launch({
    executablePath: "/usr/bin/chromium", ignoreDefaultArgs: ["--disable-back-forward-cache"],
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await bfBrowser.newPage();
    // Chromium's own account of a navigation that did not use the cache.
    const cdp = await page.context().newCDPSession(page);
    const notUsed = [];
    cdp.on("Page.backForwardCacheNotUsed", (e) => notUsed.push(e.notRestoredExplanations.map((x) => x.reason)));
    await cdp.send("Page.enable");
    await page.goto(`${app.origin}/app`);
    await page.evaluate(() => {
      window.__shows = [];
      addEventListener("pageshow", (e) => window.__shows.push(e.persisted));
    });
    const opts = { url: `${gw.url}/v1/events`, topics: ["e2e.bfcache"], since: "earliest" };
    await subscribeInPage(page, opts, `${gw.url}/v1/tailgate.js`);
    const pub = publisher(gw, "e2e.bfcache", 600, "b");
    await waitFor(async () => (await logOf(page)).length > 50, "events before leaving");
    await page.goto(`${app.origin}/away`);
    const awayAt = pub.sent.length;
    await waitFor(() => pub.sent.length > awayAt + 100, "publishing while away");
    // pagehide closed the stream: a page in the cache holds no connection.
    await waitFor(async () => (await metric(gw, "tailgate_sse_connections")) === 0, "the stream closed while away", 5000);
    // A restore from the cache fires no load event: wait for the commit.
    await page.goBack({ waitUntil: "commit" });
    await waitFor(() => page.evaluate(() => document.readyState === "complete").catch(() => false), "the page back");
    // Restored from the cache: the same window (its subscription) is back.
    const restored = await page.evaluate(() => window.__sub !== undefined);
    if (restored) {
      assert.deepEqual(await page.evaluate(() => window.__shows), [true], "pageshow persisted");
    } else {
      // A fresh load: it subscribes again and resumes from the stored cursor.
      await subscribeInPage(page, opts, `${gw.url}/v1/tailgate.js`);
    }
    t.diagnostic(restored ? "the page came back from the back/forward cache"
                          : `fresh load, not from the back/forward cache: ${JSON.stringify(notUsed)}`);
    await pub.done;
    await waitFor(async () => (await logOf(page)).length >= pub.sent.length, "every event after coming back", 60000);
    assertExactly(await logOf(page), pub.sent);
  } finally {
    await bfBrowser.close();
    app.close();
    await gw.kill();
  }
});

test("SIGTERM with a long drain, restart on the same data dir and port: the page resumes by itself", async () => {
  const dataDir = tempDir("e2e-drain-");
  // The grace keeps serving (readiness off) before the drain ends the streams.
  // What is asserted in it is that events still arrive, not how many: a count
  // within a fixed window fails on a loaded machine (50 in 2 s did in CI's
  // parallel run).
  const args = ["--drain_grace=4s", "--drain_timeout=60s"];
  let gw = await new Gateway({ dataDir, args }).start();
  const { http: httpAddr, grpc: grpcAddr } = gw;
  const pub = retryingPublisher(grpcAddr, "e2e.drain", "d");
  try {
    const page = await browser.newPage();
    await page.goto(`${gw.url}/healthz`);
    await subscribeInPage(page, { topics: ["e2e.drain"], since: "earliest" });
    await waitFor(async () => (await logOf(page)).length > 50, "events before the SIGTERM");
    const exited = gw.kill("SIGTERM");
    await waitFor(async () => (await fetch(`${gw.url}/readyz`)).status === 503, "readiness off");
    const atGrace = (await logOf(page)).length;
    await waitFor(async () => (await logOf(page)).length > atGrace, "events during the grace");
    assert.equal(gw.proc.exitCode, null, "still serving in the grace");
    assert.equal((await exited).code, 0, "drained, exit 0");
    const downAt = pub.sent.length;
    // Down: the page's attempts are refused (it retries with backoff).
    const atExit = (await page.evaluate(() => window.__status)).length;
    await waitFor(async () => (await page.evaluate(() => window.__status)).slice(atExit)
      .filter((s) => s === "connecting").length >= 2, "refused attempts while down");
    gw = await new Gateway({ dataDir, http: httpAddr, grpcAddr, args }).start();
    await waitFor(() => pub.sent.length > downAt + 200, "publishing to the restarted gateway");
    await pub.stop();
    await waitFor(async () => (await logOf(page)).length >= pub.sent.length, "every event after the restart", 60000);
    assertExactly(await logOf(page), pub.sent);
    const status = await page.evaluate(() => window.__status);
    assert.ok(status.indexOf("offline") > status.indexOf("live") && status.lastIndexOf("replaying") > status.indexOf("offline"),
              `the stream broke and reopened: ${status}`);
  } finally {
    await pub.stop();
    await gw.kill();
  }
});

test("tokens that expire every 3 s, token() fetching fresh ones: the stream survives several expiries", async () => {
  const dir = tempDir("e2e-token-");
  const keyFile = path.join(dir, "jwt.key");
  const pubFile = path.join(dir, "jwt.pub");
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  writeFileSync(keyFile, privateKey.export({ type: "pkcs8", format: "pem" }));
  writeFileSync(pubFile, publicKey.export({ type: "spki", format: "pem" }));
  // The token endpoint: each request mints one with the real tailgatectl.
  const tailgatectl = path.join(path.dirname(env.binary), "tailgatectl");
  let minted = 0;
  const tokens = await site((req, res) => {
    execFile(tailgatectl, ["token", `--key=${keyFile}`, "--sub=e2e-page", "--subscribe=e2e.token", "--ttl=3s"],
             (err, stdout, stderr) => {
               if (err) return res.writeHead(500).end(String(stderr));
               minted++;
               res.writeHead(200, { "Content-Type": "text/plain", "Access-Control-Allow-Origin": "*" }).end(stdout.trim());
             });
  });
  const gw = await new Gateway({
    dataDir: tempDir("e2e-token-data-"),
    args: ["--auth_subscribe=required", "--jwt_algorithms=ES256", `--jwt_public_key_file=${pubFile}`, "--jwt_leeway=0s"],
  }).start();
  const pub = retryingPublisher(gw.grpc, "e2e.token", "t");
  try {
    assert.equal((await fetch(`${gw.url}/v1/events?topic=e2e.token`)).status, 401, "a stream needs a token");
    const page = await browser.newPage();
    await page.goto(`${gw.url}/healthz`);
    await subscribeInPage(page, { topics: ["e2e.token"], since: "earliest", tokenUrl: `${tokens.origin}/token` });
    const expired = () => metric(gw, 'tailgate_sse_connections_closed_total{reason="token_expired"}');
    await waitFor(async () => (await expired()) >= 3, "three expiries", 30000);
    await pub.stop();
    await waitFor(async () => (await logOf(page)).length >= pub.sent.length, "every event after the expiries", 60000);
    assertExactly(await logOf(page), pub.sent);
    // The third expiry's token() call may still be minting (a tailgatectl
    // run) when the events are all in: wait for it rather than race it.
    await waitFor(async () => minted >= 4, "token() called after each expiry (4 tokens)", 30000);
  } finally {
    await pub.stop();
    tokens.close();
    await gw.kill();
  }
});
