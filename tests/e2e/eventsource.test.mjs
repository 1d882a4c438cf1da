// npm `eventsource` (a WHATWG-compliant client nobody on this team wrote) as a
// non-browser subscriber: replay from an id, live tail, the reset event, and
// its own automatic reconnect across a gateway drain and restart.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EventSource } from "eventsource";
import { Gateway, publisherClient, publish, publishRetrying, tempDir, waitFor } from "./lib.mjs";

function collect(url, init) {
  const es = new EventSource(url, init);
  const got = { events: [], resets: [], opens: 0, es };
  es.onopen = () => { got.opens += 1; };
  es.onmessage = (ev) => got.events.push({ id: ev.lastEventId, data: ev.data });
  es.addEventListener("created", (ev) => got.events.push({ id: ev.lastEventId, data: ev.data, type: "created" }));
  es.addEventListener("tailgate.reset", (ev) => got.resets.push({ id: ev.lastEventId, data: JSON.parse(ev.data) }));
  return got;
}

test("replays from lastEventId, then live-tails, in order and once", async () => {
  const gw = await new Gateway({ dataDir: tempDir("es-replay-") }).start();
  const client = publisherClient(gw.grpc);
  try {
    const ids = [];
    for (let i = 0; i < 50; i++) {
      ids.push((await publish(client, { topic: "es.orders", data: `old-${i}\nline two` })).id);
      await publish(client, { topic: "es.other", data: "not subscribed" });
    }
    const got = collect(`${gw.url}/v1/events?topic=es.orders&lastEventId=${ids[9]}`);
    await waitFor(() => got.events.length >= 40, "40 replayed events");
    for (let i = 0; i < 10; i++) await publish(client, { topic: "es.orders", type: "created", data: `new-${i}` });
    await waitFor(() => got.events.length >= 50, "10 live events");
    got.es.close();
    assert.deepEqual(got.events.map((e) => e.data), [
      ...Array.from({ length: 40 }, (_, i) => `old-${i + 10}\nline two`),
      ...Array.from({ length: 10 }, (_, i) => `new-${i}`),
    ]);
    assert.equal(got.events[0].id, ids[10]);
    assert.ok(got.events.slice(40).every((e) => e.type === "created"));
  } finally {
    client.close();
    await gw.kill();
  }
});

test("Last-Event-ID header wins over the query and resumes exactly after it", async () => {
  const gw = await new Gateway({ dataDir: tempDir("es-header-") }).start();
  const client = publisherClient(gw.grpc);
  try {
    const ids = [];
    for (let i = 0; i < 20; i++) ids.push((await publish(client, { topic: "es.h", data: `e${i}` })).id);
    const got = collect(`${gw.url}/v1/events?topic=es.h&lastEventId=${ids[2]}`, {
      fetch: (input, init) => fetch(input, { ...init, headers: { ...init.headers, "Last-Event-ID": ids[14] } }),
    });
    await waitFor(() => got.events.length >= 5, "5 events after the header id");
    got.es.close();
    assert.deepEqual(got.events.map((e) => e.data), ["e15", "e16", "e17", "e18", "e19"]);
  } finally {
    client.close();
    await gw.kill();
  }
});

test("an id this log never assigned gets the tailgate.reset event, then live events", async () => {
  const gw = await new Gateway({ dataDir: tempDir("es-reset-") }).start();
  const client = publisherClient(gw.grpc);
  try {
    await publish(client, { topic: "es.r", data: "before" });
    const got = collect(`${gw.url}/v1/events?topic=es.r&lastEventId=9000000000000000`);
    await waitFor(() => got.resets.length === 1, "reset event");
    assert.equal(got.resets[0].data.reason, "unknown_id");
    assert.equal(got.resets[0].data.requested, 9000000000000000);
    await publish(client, { topic: "es.r", data: "after" });
    await waitFor(() => got.events.length === 1, "live event after the reset");
    got.es.close();
    assert.equal(got.events[0].data, "after");
  } finally {
    client.close();
    await gw.kill();
  }
});

test("the client reconnects by itself across a drain and restart without loss or duplicates", async () => {
  const dataDir = tempDir("es-drain-");
  let gw = await new Gateway({ dataDir, args: ["--retry_ms=100"] }).start();
  const { http, grpc } = gw;
  const client = publisherClient(grpc);
  const got = collect(`${gw.url}/v1/events?topic=es.d`);
  await waitFor(() => got.opens === 1, "first open");
  try {
    const expected = [];
    for (let i = 0; i < 150; i++) {
      if (i === 50 || i === 100) {
        // The client may not have reached the previous gateway yet (its retry
        // timer can outlast 50 quick publishes); then it would skip a
        // generation and resume straight on the next one. That is correct,
        // but this test is about reconnecting across each restart.
        await waitFor(() => got.opens >= i / 50, `open number ${i / 50}`);
        assert.equal((await gw.kill("SIGTERM")).code, 0);
        gw = await new Gateway({ dataDir, http, grpcAddr: grpc, args: ["--retry_ms=100"] }).start();
      }
      expected.push(`d${i}`);
      await publishRetrying(() => client, { topic: "es.d", data: `d${i}`, idempotency_key: `d${i}` });
    }
    await waitFor(() => got.events.length >= 150, "150 events across restarts");
    got.es.close();
    assert.deepEqual(got.events.map((e) => e.data), expected);
    assert.ok(got.opens >= 3, `reconnected ${got.opens - 1} times`);
  } finally {
    client.close();
    await gw.kill();
  }
});
