// HTTP/2 abuse against the gateway's HTTP port (h2c): each attack comes from
// a small attacker speaking raw frames over a net.Socket (./h2raw.mjs; Node's
// http2 module will not send floods or hand-made HPACK) or Node's http2
// client. For each one the gateway ends the attacker's connection with the
// GOAWAY error code asserted below, while an honest client (Node's http2) on
// another connection holds an SSE stream and receives every event published
// before, during and after the attack, in order; the process stays up.
//
// GOAWAY codes (libnghttp2 1.52 + gateway/http/h2_session.cc):
//   SETTINGS flood (> 100 a second)                  ENHANCE_YOUR_CALM
//   PING flood (> 100 a second), reading or not      ENHANCE_YOUR_CALM
//   CONTINUATION flood (past nghttp2's 8)            ENHANCE_YOUR_CALM
//   HPACK bomb (header list decoding past 4 x 16 KiB) COMPRESSION_ERROR
//   a single field past nghttp2's 64 KiB             COMPRESSION_ERROR
//   frame larger than SETTINGS_MAX_FRAME_SIZE        FRAME_SIZE_ERROR
//   rapid reset (> --http2_max_resets a second)      ENHANCE_YOUR_CALM
// A header list over the limit but not a bomb still gets 431 on its stream.
import assert from "node:assert/strict";
import http2 from "node:http2";
import { after, before, test } from "node:test";
import { Gateway, tempDir, waitFor } from "./lib.mjs";
import { ERR, F, RawH2, T, errName, frame, hpackGet, hpackIndexed, hpackLiteral,
  hpackLiteralIndexed } from "./h2raw.mjs";

let gw;

before(async () => {
  // --write_timeout bounds how long the gateway waits on a socket write to
  // an attacker that does not read (the PING flood); well above how long
  // the flood takes to send.
  gw = await new Gateway({ dataDir: tempDir("http2-abuse"),
    args: ["--http_publish=open", "--write_timeout=60s"] }).start();
});

after(async () => {
  if (!gw) return;
  const { code } = await gw.kill("SIGTERM");
  assert.equal(code, 0, gw.log);
});

function connect(url, options = {}) {
  return new Promise((resolve, reject) => {
    const s = http2.connect(url, options);
    s.once("connect", () => resolve(s));
    s.once("error", reject);
  });
}

let publishSeq = 0;

// POST /v1/publish over HTTP/1.1 (fetch); a fetch on a keep-alive connection
// the server is closing is retried, the idempotency key storing it once.
async function publish(topic, data) {
  const idempotency_key = `abuse-${process.pid}-${publishSeq++}`;
  for (let attempt = 0; ; attempt++) {
    let res;
    try {
      res = await fetch(`${gw.url}/v1/publish`, { method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ topic, data, idempotency_key }) });
    } catch (err) {
      if (attempt < 3 && err instanceof TypeError) continue;
      throw err;
    }
    assert.equal(res.status, 200);
    return;
  }
}

// An honest HTTP/2 client holding one SSE stream on its own connection,
// and a publisher feeding it numbered events until stopped.
async function honestClient(topic) {
  const session = await connect(gw.url);
  const req = session.request({ ":path": `/v1/events?topic=${topic}` });
  const got = [];
  let buf = "";
  req.setEncoding("utf8");
  req.on("data", (chunk) => {
    buf += chunk;
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const data = /^data: (.*)$/m.exec(buf.slice(0, i));
      if (data) got.push(data[1]);
      buf = buf.slice(i + 2);
    }
  });
  const head = await new Promise((resolve, reject) => {
    req.once("response", resolve);
    req.once("error", reject);
  });
  assert.equal(head[":status"], 200);
  let published = 0;
  let running = true;
  // Paced (not a synchronisation): one event every few milliseconds.
  const loop = (async () => {
    while (running) {
      await publish(topic, `e${published}`);
      published++;
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  // The stream is live before the attack starts.
  await waitFor(() => got.length >= 1, "the honest client's first event");
  return {
    // Stops publishing; then one last event, and every event must have
    // arrived, in order, none twice.
    async finish() {
      // The stream still delivers after the attack (an attack that ends in
      // a few milliseconds leaves no time for more than the first event).
      await waitFor(() => got.length >= 2, "an event after the attack");
      running = false;
      await loop;
      await publish(topic, "after");
      await waitFor(() => got.includes("after"), "the event published after the attack");
      const want = Array.from({ length: published }, (_, i) => `e${i}`).concat("after");
      assert.deepEqual(got, want);
      assert.ok(published >= 2, `published ${published}`);
      req.close();
      session.close();
    },
  };
}

// Runs `attack(client)` against a fresh raw connection while an honest
// client streams; resolves with the attacker's connection once closed.
async function underAttack(name, attack) {
  const honest = await honestClient(`abuse.${name}`);
  const [host, port] = [gw.http.slice(0, gw.http.lastIndexOf(":")), Number(gw.http.split(":").pop())];
  const attacker = new RawH2(host, port);
  await attacker.connected;
  await attack(attacker);
  await attacker.closed;
  await honest.finish();
  // The gateway is still up and serving.
  assert.equal(gw.proc.exitCode, null, "the gateway exited");
  assert.equal((await fetch(`${gw.url}/healthz`)).status, 200);
  return attacker;
}

function assertGoaway(attacker, code, lastStreamId) {
  assert.ok(attacker.goaway, `no GOAWAY before the connection closed (${attacker.bytesIn} bytes in)`);
  assert.equal(errName(attacker.goaway.code), errName(code));
  if (lastStreamId !== undefined) assert.equal(attacker.goaway.lastStreamId, lastStreamId);
}

test("SETTINGS flood: GOAWAY ENHANCE_YOUR_CALM past 100 a second", async () => {
  const a = await underAttack("settings", async (c) => {
    // Each SETTINGS (one entry) makes the server owe an ACK; one 16 KiB read
    // holds over 1000 of them.
    const settings = frame(T.SETTINGS, 0, 0, Buffer.from([0, 4, 0, 0, 0xff, 0xff]));
    const sent = await c.flood(() => settings, 1_000_000);
    assert.ok(sent < 1_000_000, "the flood was never stopped");
  });
  assertGoaway(a, ERR.ENHANCE_YOUR_CALM, 0);
  assert.ok(a.frames.settingsAck <= 101, `${a.frames.settingsAck} SETTINGS ACKs`);
});

// More than 100 PINGs or SETTINGS a second (each owes an ACK) end the
// connection, whether or not the client reads its ACKs: nghttp2's own bound
// (1000 unsent ACKs) never stops a client that reads them.
for (const reading of [false, true]) {
  test(`PING flood from a client that ${reading ? "reads every ACK" : "does not read"}: GOAWAY ENHANCE_YOUR_CALM`, async () => {
    const a = await underAttack(`ping${reading ? "r" : "n"}`, async (c) => {
      if (!reading) c.sock.pause();
      // 1,000 PINGs (18 KB): far past the limit, far below what the socket
      // buffers hold, so the flooder is done sending before the gateway
      // closes and the GOAWAY is never discarded by a TCP RST.
      const ping = frame(T.PING, 0, 0, Buffer.alloc(8, 7));
      await c.flood(() => ping, 1000, 100);
      c.sock.resume();
    });
    assertGoaway(a, ERR.ENHANCE_YOUR_CALM, 0);
    assert.ok(a.frames.pingAck <= 101, `${a.frames.pingAck} PING ACKs`);
  });
}

test("CONTINUATION flood: HEADERS without END_HEADERS, then endless CONTINUATIONs: GOAWAY ENHANCE_YOUR_CALM", async () => {
  const a = await underAttack("continuation", async (c) => {
    c.sock.write(frame(T.HEADERS, 0, 1, hpackGet("/healthz")));
    const cont = frame(T.CONTINUATION, 0, 1, hpackLiteral("x-pad", "p".repeat(200)));
    const sent = await c.flood(() => cont, 1_000_000, 64);
    assert.ok(sent < 1_000_000, "the flood was never stopped");
  });
  assertGoaway(a, ERR.ENHANCE_YOUR_CALM, 1);
  assert.equal(a.frames.headers, 0, "the request was not answered");
});

test("HPACK bomb: indexed references to a 4 KB entry decoding to 64 MB: GOAWAY COMPRESSION_ERROR", async () => {
  const a = await underAttack("hpack", async (c) => {
    // One 16 KiB HEADERS frame: a 4000-byte field into the dynamic table,
    // then one-byte references to it (index 62), ~16000 x 4 KB decoded.
    const block = Buffer.concat([hpackGet("/healthz"), hpackLiteralIndexed("x-bomb", "a".repeat(4000)),
      Buffer.alloc(16384, hpackIndexed(62))]).subarray(0, 16384);
    c.sock.write(frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 1, block));
  });
  assertGoaway(a, ERR.COMPRESSION_ERROR, 1);
  assert.equal(a.frames.headers, 0, "the request was not answered");
});

test("a single header field past nghttp2's 64 KiB limit (HEADERS + CONTINUATIONs): GOAWAY COMPRESSION_ERROR", async () => {
  const a = await underAttack("bigfield", async (c) => {
    const block = Buffer.concat([hpackGet("/healthz"), hpackLiteral("x-big", "b".repeat(70000))]);
    const parts = [];
    for (let o = 0; o < block.length; o += 16384) parts.push(block.subarray(o, o + 16384));
    c.sock.write(Buffer.concat(parts.map((p, i) => frame(i === 0 ? T.HEADERS : T.CONTINUATION,
      (i === parts.length - 1 ? F.END_HEADERS : 0) | (i === 0 ? F.END_STREAM : 0), 1, p))));
  });
  assertGoaway(a, ERR.COMPRESSION_ERROR, 1);
});

test("a frame larger than SETTINGS_MAX_FRAME_SIZE: GOAWAY FRAME_SIZE_ERROR", async () => {
  const a = await underAttack("framesize", async (c) => {
    c.sock.write(frame(T.PING, 0, 0, Buffer.alloc(20000)));
  });
  assertGoaway(a, ERR.FRAME_SIZE_ERROR, 0);
});

test("a header list over the limit but no bomb still gets 431 on its stream; the connection lives on", async () => {
  // Node refuses to send past the advertised size itself; tell it not to know.
  const s = await connect(gw.url, { maxHeaderListSize: 1 << 20 });
  try {
    const status = await new Promise((resolve, reject) => {
      const req = s.request({ ":path": "/healthz", "x-big": "a".repeat(20000) });
      req.on("response", (h) => resolve(h[":status"]));
      req.on("error", reject);
      req.end();
    });
    assert.equal(status, 431);
    const again = await new Promise((resolve, reject) => {
      const req = s.request({ ":path": "/healthz" });
      req.on("response", (h) => resolve(h[":status"]));
      req.on("error", reject);
      req.end();
    });
    assert.equal(again, 200);
  } finally {
    s.close();
  }
});

test("rapid reset (Node's http2 client): GOAWAY ENHANCE_YOUR_CALM; the honest stream is unaffected", async () => {
  const honest = await honestClient("abuse.rapidreset");
  const s = await connect(gw.url);
  s.on("error", () => {});
  const goaway = new Promise((resolve) => s.once("goaway", (code) => resolve(code)));
  const closed = new Promise((resolve) => s.once("close", resolve));
  for (let i = 0; i < 2000 && !s.destroyed && !s.closed; i++) {
    const req = s.request({ ":path": "/v1/events?topic=abuse.rr" });
    req.on("error", () => {});
    req.close(http2.constants.NGHTTP2_CANCEL);
    if (i % 50 === 49) await new Promise((r) => setImmediate(r));
  }
  assert.equal(errName(await goaway), "ENHANCE_YOUR_CALM");
  s.destroy();
  await closed;
  await honest.finish();
  assert.equal(gw.proc.exitCode, null);
});
