// Writes the seed corpus of h2_session_fuzz: what Node's http2 client sends
// (preface, SETTINGS, HEADERS, DATA, RST_STREAM, PING...) for a few requests
// on the fuzzer's routes, captured by a plain TCP server, each prefixed with
// the fuzzer's mode byte(s) given per capture.
//   node tests/fuzz/h2_session_seeds.mjs tests/fuzz/corpus/h2_session_fuzz
import http2 from "node:http2";
import net from "node:net";
import { writeFileSync } from "node:fs";
const out = process.argv[2];
async function capture(name, mode, fn) {
  let bytes = [];
  const server = net.createServer((sock) => { sock.on("data", (c) => bytes.push(c)); sock.on("error", () => {}); });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const s = http2.connect(`http://127.0.0.1:${server.address().port}`);
  s.on("error", () => {});
  await new Promise((r) => s.once("connect", r));
  await fn(s);
  await new Promise((r) => setTimeout(r, 150));
  s.destroy(); server.close();
  const buf = Buffer.concat(bytes);
  for (const m of mode) writeFileSync(`${out}/${name}-m${m}`, Buffer.concat([Buffer.from([m]), buf]));
}
const req = (s, h, body) => { const r = s.request(h, { endStream: body === undefined }); r.on("error", () => {}); if (body !== undefined) r.end(body); return r; };
await capture("healthz", [0, 2, 0x40], (s) => { req(s, { ":path": "/healthz" }); });
await capture("events", [0, 2, 4, 0xf8], (s) => { req(s, { ":path": "/v1/events?topic=a", "last-event-id": "5" }); });
await capture("publish", [0, 4], (s) => { req(s, { ":method": "POST", ":path": "/v1/publish", "content-type": "application/json" }, '{"topic":"a","data":"x"}'); });
await capture("publish-big", [0], (s) => { req(s, { ":method": "POST", ":path": "/v1/publish" }, "y".repeat(3000)); });
await capture("reset", [0, 2], (s) => { const r = req(s, { ":path": "/v1/events" }); r.close(http2.constants.NGHTTP2_CANCEL); });
await capture("ping-settings", [0], (s) => { s.ping(() => {}); s.settings({ initialWindowSize: 100, enablePush: false }); });
await capture("mixed", [0, 2, 4], (s) => {
  req(s, { ":path": "/v1/h1" }); req(s, { ":path": "/v1/events?refuse" }); req(s, { ":path": "/nope", ":method": "DELETE" });
  req(s, { ":path": "/v1/events", ":method": "HEAD" }); req(s, { ":path": "/healthz", ":method": "HEAD" });
  req(s, { ":path": "/v1/events?b" }); req(s, { ":path": "/v1/events?c" });
});
