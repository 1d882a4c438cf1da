// tailgate.js: subscribe to a tailgate gateway from a page, keeping the
// place across reloads, tabs, sleep and outages. Served by the gateway at
// /v1/tailgate.js; no dependencies, no build step (docs/browser.md).
//
// import { subscribe } from "/v1/tailgate.js";
// const sub = subscribe({ topics: ["orders.>"], onEvent(e) { ... } });

/**
 * @typedef {{id: string, type: string, topic: string, time: string, data: string}} TailgateEvent
 *   id: decimal event id; type: "message" when untyped; time: RFC 3339 publish time.
 * @typedef {"connecting" | "replaying" | "live" | "offline"} TailgateStatus
 * @typedef {{
 *   url?: string, topics: string[], onEvent?: (e: TailgateEvent) => void,
 *   onReset?: (r: {reason: string, requested: number, resume: number}) => void,
 *   onStatus?: (s: TailgateStatus) => void, token?: () => Promise<string> | string,
 *   resume?: "session" | "local" | "none", share?: boolean, last?: number, since?: string,
 *   after?: string | number, withCredentials?: boolean,
 *   key?: string, heartbeatMs?: number, types?: string[]
 * }} TailgateOptions
 *   last, since, after: the first-visit start point, used only when no
 *   cursor is stored (after > since > last; none: live only). after: an id,
 *   e.g. from GET /v1/position read while rendering the page.
 *   withCredentials: send cookies to another origin (needs --cors_credentials).
 *   key: storage key of the cursor (default: url + topics). heartbeatMs: the
 *   gateway's --heartbeat (a stream silent for twice that is reopened).
 *   types: event types to listen for in the EventSource fallback only.
 */

const RESERVED = { reset: "tailgate.reset", live: "tailgate.live", expired: "tailgate.token_expired" };
const MAX_BACKOFF_MS = 30000;

/**
 * @param {TailgateOptions} o
 * @returns {{close(): void}}
 */
export function subscribe(o) {
  const url = new URL(o.url || "/v1/events", location.href);
  const key = o.key || `tailgate:${url.href}:${o.topics.join(",")}`;
  const store = o.resume === "none" ? null : o.resume === "local" ? localStorage : sessionStorage;
  const heartbeat = o.heartbeatMs || 15000;
  let cursor = store?.getItem(key) || (o.after != null ? String(o.after) : "");  // Last id delivered to onEvent (or covered by the marker).
  let closed = false;
  let stop = () => {};
  let drop = () => {};
  let wake = () => {};
  let status = "";
  let hidden = null;  // While the page is hidden (back/forward cache): resolves on pageshow.
  let show = () => {};
  const setStatus = (s) => { if (s !== status) { status = s; o.onStatus?.(s); } };
  const advance = (id) => {
    if (id && (!cursor || BigInt(id) > BigInt(cursor))) { cursor = id; store?.setItem(key, id); }
  };
  const channel = o.share && typeof BroadcastChannel === "function" ? new BroadcastChannel(key) : null;

  // Every event goes through here, from the server (the leader broadcasts
  // it) or from the leader tab: ids at or below the cursor were delivered.
  function deliver(e, fromServer = true) {
    if (e.type === RESERVED.reset) { advance(e.id); o.onReset?.(JSON.parse(e.data)); }
    else if (e.type === RESERVED.live) { advance(JSON.parse(e.data).id); setStatus("live"); }
    else if (e.id && (!cursor || BigInt(e.id) > BigInt(cursor))) { advance(e.id); o.onEvent?.(e); }
    else return;
    if (fromServer) channel?.postMessage(e);
  }

  function target() {
    const q = new URLSearchParams(url.search);
    for (const t of o.topics) q.append("topic", t);
    q.set("live", "1");
    q.set("meta", "1");
    if (cursor) q.set("lastEventId", cursor);
    else if (o.since) q.set("since", o.since);
    else if (o.last) q.set("last", String(o.last));
    const u = new URL(url);
    u.search = q.toString();
    return u;
  }

  // One connection at a time, reopened for ever with backoff and jitter.
  async function run() {
    let failures = 0;
    let bearer = "";
    while (!closed) {
      if (hidden) { await hidden; continue; }
      setStatus("connecting");
      let wait = 0;
      const ctl = new AbortController();
      let now = false;  // Reopen at once: online, pageshow, a silent stream.
      stop = () => { now = true; ctl.abort(); };
      drop = () => ctl.abort();
      try {
        if (o.token && !bearer) bearer = await o.token();
        const r = await (streamingFetch ? fetchStream(ctl, bearer, () => { now = true; })
                                        : eventSource(ctl));
        if (r.status === 401) bearer = "";  // Refused or expired: token() again first.
        if (r.ok) failures = 0;
        now = now || (r.ok && r.status === 401);
        wait = r.retryAfter * 1000;
      } catch (err) { /* Network error or abort: retry below. */ }
      if (closed) break;
      setStatus("offline");
      if (now || hidden) continue;
      failures = Math.min(failures + 1, 16);
      const backoff = Math.min(MAX_BACKOFF_MS, 250 * 2 ** failures);
      await sleep(Math.max(wait, backoff * (0.5 + Math.random() / 2)));
    }
  }

  // Resolves the time to wait; `wake` (online, pageshow) cuts it short.
  const sleep = (ms) => new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    wake = () => { clearTimeout(t); resolve(); };
  });

  async function fetchStream(ctl, bearer, onSilence) {
    const headers = { Accept: "text/event-stream" };
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    const res = await fetch(target(), { headers, signal: ctl.signal, cache: "no-store",
                                        credentials: o.withCredentials ? "include" : "same-origin" });
    if (res.status !== 200) {
      return { status: res.status, ok: false, retryAfter: Number(res.headers.get("Retry-After")) || 0 };
    }
    setStatus("replaying");
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    const parse = parser(deliver);
    let silent;
    const watchdog = () => { clearTimeout(silent); silent = setTimeout(() => { onSilence(); ctl.abort(); }, 2 * heartbeat); };
    watchdog();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        watchdog();
        parse(value);
        if (parse.expired && o.token) return { status: 401, ok: true, retryAfter: 0 };
      }
    } finally { clearTimeout(silent); }
    return { status: 200, ok: true, retryAfter: 0 };
  }

  // Without streaming fetch: a native EventSource per attempt, closed on its
  // first error so that this loop (not the browser, which gives up on any
  // non-200) decides when to retry. It sees untyped events, the reserved
  // ones and o.types only, and no topic/time (no fields but data and id).
  function eventSource(ctl) {
    return new Promise((resolve) => {
      const es = new EventSource(target(), { withCredentials: !!o.withCredentials });
      let opened = false;
      const end = () => { es.close(); resolve({ status: 0, ok: opened, retryAfter: 0 }); };
      ctl.signal.addEventListener("abort", end);
      es.onopen = () => { opened = true; setStatus("replaying"); };
      es.onerror = end;
      for (const t of ["message", RESERVED.reset, RESERVED.live, ...(o.types || [])]) {
        es.addEventListener(t, (m) => deliver({ id: t === RESERVED.live ? "" : m.lastEventId, type: t,
                                                topic: "", time: "", data: m.data }));
      }
    });
  }

  const resumeNow = () => { if (!closed) { stop(); wake(); } };
  // pagehide: close the stream (an open request keeps the page out of the
  // back/forward cache) and wait; pageshow from that cache resumes at once
  // from the cursor.
  const onPageHide = () => {
    if (closed || hidden) return;
    hidden = new Promise((resolve) => { show = resolve; });
    drop();
    wake();
  };
  const onPageShow = (ev) => {
    if (hidden) { hidden = null; show(); }
    if (ev.persisted) resumeNow();
  };
  // Offline: the stream's connection is presumed dead (it would stall
  // silently); retry with backoff until "online" resumes at once.
  const onOffline = () => drop();
  addEventListener("offline", onOffline);
  addEventListener("online", resumeNow);
  addEventListener("pagehide", onPageHide);
  addEventListener("pageshow", onPageShow);

  let release = () => {};
  if (channel) {
    // share: one leader tab (holding the Web Lock) streams and broadcasts;
    // the others deliver what it broadcasts and wait for the lock.
    channel.onmessage = (m) => deliver(m.data, false);
    setStatus("connecting");
    const held = new Promise((resolve) => { release = resolve; });
    navigator.locks.request(`${key}:leader`, () => (closed ? null : (run(), held)));
  } else {
    run();
  }

  return {
    close() {
      closed = true;
      stop();
      wake();
      release();
      channel?.close();
      removeEventListener("online", resumeNow);
      removeEventListener("offline", onOffline);
      removeEventListener("pagehide", onPageHide);
      removeEventListener("pageshow", onPageShow);
      show();
    },
  };
}

const streamingFetch = typeof ReadableStream === "function" && typeof TextDecoderStream === "function" &&
  "body" in Response.prototype;

// The WHATWG event-stream parser (lines end at CRLF, LF or CR; a blank line
// dispatches), keeping the topic: and time: fields tailgate adds on meta=1.
function parser(dispatch) {
  let buf = "";
  let ev = { id: "", type: "", topic: "", time: "", data: null };
  const feed = (text) => {
    buf += text;
    let m;
    while ((m = /\r\n|\r|\n/.exec(buf))) {
      if (m[0] === "\r" && m.index === buf.length - 1) break;  // Maybe a CRLF split in two.
      const line = buf.slice(0, m.index);
      buf = buf.slice(m.index + m[0].length);
      if (line === "") {
        if (ev.data !== null) {
          const type = ev.type || "message";
          if (type === RESERVED.expired) feed.expired = true;
          dispatch({ id: ev.id, type, topic: ev.topic, time: ev.time, data: ev.data });
        }
        ev = { id: "", type: "", topic: "", time: "", data: null };
        continue;
      }
      if (line[0] === ":") continue;
      const c = line.indexOf(":");
      const name = c < 0 ? line : line.slice(0, c);
      const value = c < 0 ? "" : line.slice(c + (line[c + 1] === " " ? 2 : 1));
      if (name === "data") ev.data = ev.data === null ? value : ev.data + "\n" + value;
      else if (name === "id") ev.id = value;
      else if (name === "event") ev.type = value;
      else if (name === "topic") ev.topic = value;
      else if (name === "time") ev.time = value;
    }
  };
  return feed;
}
