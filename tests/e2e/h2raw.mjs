// Raw HTTP/2 frames over a net.Socket, for attackers that Node's http2
// module will not play: floods of SETTINGS, PING and CONTINUATION frames,
// hand-made HPACK. Only what the abuse tests need.
import net from "node:net";

export const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
export const T = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5,
  PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 };
export const F = { ACK: 1, END_STREAM: 1, END_HEADERS: 4 };
export const ERR = { NO_ERROR: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2, FLOW_CONTROL_ERROR: 3,
  SETTINGS_TIMEOUT: 4, STREAM_CLOSED: 5, FRAME_SIZE_ERROR: 6, REFUSED_STREAM: 7, CANCEL: 8,
  COMPRESSION_ERROR: 9, CONNECT_ERROR: 10, ENHANCE_YOUR_CALM: 11, INADEQUATE_SECURITY: 12,
  HTTP_1_1_REQUIRED: 13 };
export const errName = (code) => Object.keys(ERR).find((k) => ERR[k] === code) ?? `0x${code.toString(16)}`;

export function frame(type, flags, streamId, payload = Buffer.alloc(0)) {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

// HPACK (RFC 7541) without Huffman coding: enough to write any header block.
function hpackInt(value, prefixBits, firstByte) {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([firstByte | value]);
  const out = [firstByte | max];
  value -= max;
  while (value >= 128) { out.push((value % 128) + 128); value = Math.floor(value / 128); }
  out.push(value);
  return Buffer.from(out);
}
const hpackStr = (s) => { const b = Buffer.from(s); return Buffer.concat([hpackInt(b.length, 7, 0), b]); };
// A literal field with incremental indexing (it enters the dynamic table: index 62).
export const hpackLiteralIndexed = (name, value) => Buffer.concat([Buffer.from([0x40]), hpackStr(name), hpackStr(value)]);
// A literal field without indexing.
export const hpackLiteral = (name, value) => Buffer.concat([Buffer.from([0x00]), hpackStr(name), hpackStr(value)]);
// An indexed field (static table 1-61, dynamic from 62).
export const hpackIndexed = (index) => hpackInt(index, 7, 0x80);
// A GET request's pseudo-header fields.
export const hpackGet = (path, authority = "localhost") => Buffer.concat([
  hpackIndexed(2) /* :method GET */, hpackIndexed(6) /* :scheme http */,
  hpackLiteral(":path", path), hpackLiteral(":authority", authority)]);

// One raw client connection: the preface and an empty SETTINGS, then
// whatever the test writes. Parses what the server sends: GOAWAY (code),
// SETTINGS/PING ACKs, RST_STREAMs, HEADERS; `closed` resolves on close.
export class RawH2 {
  constructor(host, port) {
    this.sock = net.connect({ host, port });
    this.sock.setNoDelay(true);
    this.buf = Buffer.alloc(0);
    this.frames = { settingsAck: 0, pingAck: 0, rst: [], headers: 0, data: 0 };
    this.goaway = null;  // { lastStreamId, code, debug }
    this.bytesIn = 0;
    this.closed = new Promise((resolve) => this.sock.on("close", resolve));
    this.sock.on("error", (err) => { this.error = err; });
    this.connected = new Promise((resolve) => this.sock.once("connect", resolve));
    this.sock.on("data", (chunk) => this.onData(chunk));
    this.sock.write(Buffer.concat([PREFACE, frame(T.SETTINGS, 0, 0)]));
  }

  onData(chunk) {
    this.bytesIn += chunk.length;
    this.buf = Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 9) {
      const len = this.buf.readUIntBE(0, 3);
      if (this.buf.length < 9 + len) break;
      const type = this.buf[3];
      const flags = this.buf[4];
      const sid = this.buf.readUInt32BE(5) & 0x7fffffff;
      const p = this.buf.subarray(9, 9 + len);
      if (type === T.SETTINGS && (flags & F.ACK)) this.frames.settingsAck++;
      else if (type === T.PING && (flags & F.ACK)) this.frames.pingAck++;
      else if (type === T.RST_STREAM) this.frames.rst.push({ sid, code: p.readUInt32BE(0) });
      else if (type === T.HEADERS) this.frames.headers++;
      else if (type === T.DATA) this.frames.data++;
      else if (type === T.GOAWAY && !this.goaway) {
        this.goaway = { lastStreamId: p.readUInt32BE(0) & 0x7fffffff, code: p.readUInt32BE(4),
          debug: p.subarray(8).toString() };
      }
      this.buf = this.buf.subarray(9 + len);
    }
  }

  // Writes `count` frames made by make(i) in batches, yielding to the event
  // loop between batches, until count or the socket is gone (a write
  // failing or the server closing ends the flood). Resolves with the
  // number written.
  async flood(make, count, batch = 256) {
    let i = 0;
    while (i < count && !this.sock.destroyed && !this.sock.writableEnded) {
      const parts = [];
      for (let k = 0; k < batch && i < count; k++, i++) parts.push(make(i));
      const ok = this.sock.write(Buffer.concat(parts));
      if (!ok) {
        // Backpressure: wait for drain or the end of the connection.
        await new Promise((resolve) => {
          const done = () => { this.sock.off("drain", done); this.sock.off("close", done); resolve(); };
          this.sock.once("drain", done);
          this.sock.once("close", done);
        });
      } else {
        await new Promise((r) => setImmediate(r));
      }
    }
    return i;
  }
}
