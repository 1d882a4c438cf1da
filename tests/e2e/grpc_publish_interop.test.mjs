// Interoperability: publishes to the real gateway with an independent gRPC
// implementation (@grpc/grpc-js + @grpc/proto-loader loading our .proto) and
// checks ids, ordering, idempotency and error statuses come back as specified.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import grpc from "@grpc/grpc-js";
import { Gateway, publish, publisherClient, tempDir } from "./lib.mjs";

let gw;
let client;

before(async () => {
  gw = await new Gateway({ dataDir: tempDir("interop") }).start();
  client = publisherClient(gw.grpc);
});

after(async () => {
  client?.close();
  if (gw) {
    const { code } = await gw.kill("SIGTERM");
    assert.equal(code, 0, gw.log);
  }
});

function batch(events) {
  return new Promise((resolve, reject) => {
    client.PublishBatch({ events }, { deadline: Date.now() + 10000 }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

// Writes all requests on one PublishStream; resolves with the acks and status.
function stream(requests) {
  return new Promise((resolve) => {
    const call = client.PublishStream({ deadline: Date.now() + 60000 });
    const acks = [];
    call.on("data", (res) => acks.push(res));
    call.on("error", (err) => resolve({ acks, err }));
    call.on("end", () => resolve({ acks, err: null }));
    for (const r of requests) call.write(r);
    call.end();
  });
}

test("Publish returns increasing ids", async () => {
  const a = await publish(client, { topic: "interop.orders", type: "created", data: '{"id":1}' });
  const b = await publish(client, { topic: "interop.orders", data: "line1\nline2 ünïcödé" });
  assert.ok(BigInt(a.id) > 0n);
  assert.equal(BigInt(b.id), BigInt(a.id) + 1n);
  assert.equal(a.duplicate, false);
});

test("an idempotent retry returns the first id with duplicate=true", async () => {
  const req = { topic: "interop.idem", data: "x", idempotency_key: "js-key-1" };
  const first = await publish(client, req);
  const retry = await publish(client, req);
  assert.equal(retry.id, first.id);
  assert.equal(first.duplicate, false);
  assert.equal(retry.duplicate, true);
});

test("PublishBatch returns consecutive ids in order", async () => {
  const res = await batch([1, 2, 3].map((i) => ({ topic: "interop.batch", data: String(i) })));
  assert.equal(res.results.length, 3);
  const ids = res.results.map((r) => BigInt(r.id));
  assert.deepEqual(ids, [ids[0], ids[0] + 1n, ids[0] + 2n]);
});

test("PublishStream acks every request in order with increasing ids", async () => {
  const n = 2000;
  const reqs = Array.from({ length: n }, (_, i) => ({ topic: "interop.stream", data: String(i) }));
  const { acks, err } = await stream(reqs);
  assert.equal(err, null);
  assert.equal(acks.length, n);
  for (let i = 1; i < n; i++) assert.equal(BigInt(acks[i].id), BigInt(acks[i - 1].id) + 1n);
});

test("errors carry the status code and a message naming the field", async () => {
  await assert.rejects(publish(client, { topic: "bad topic", data: "x" }), (err) => {
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(err.details,
      "topic: topic has invalid byte 0x20 at byte 3 (allowed: A-Z a-z 0-9 _ : - and '.' between tokens)");
    return true;
  });
  await assert.rejects(publish(client, { topic: "t", type: "x\nid: 1", data: "x" }), (err) => {
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
    assert.match(err.details, /^type: type has invalid byte 0x0a at byte 1/);
    return true;
  });
  await assert.rejects(batch([{ topic: "ok", data: "1" }, { topic: "", data: "2" }]), (err) => {
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(err.details, "events[1].topic: topic must not be empty");
    return true;
  });
  await assert.rejects(publish(client, { topic: "t", data: "x".repeat((1 << 20) + 1) }), (err) => {
    assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.equal(err.details, "data: data is 1048577 bytes; the limit is 1048576");
    return true;
  });
  const { acks, err } = await stream([
    { topic: "interop.s2", data: "0" }, { topic: "interop.s2", data: "1" }, { topic: "a..b", data: "2" },
  ]);
  assert.equal(acks.length, 2);
  assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
  assert.match(err.details, /^request\[2\]\.topic: topic has an empty token at byte 2/);
});
