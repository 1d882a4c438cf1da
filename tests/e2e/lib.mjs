// Shared helpers for tailgate's end-to-end tests: run the real gateway binary,
// publish through an independent gRPC implementation (@grpc/grpc-js), and
// drive Debian's Chromium through playwright-core.
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";

export const env = {
  // Set by run_e2e.sh from the Bazel runfiles.
  binary: process.env.TAILGATE_BIN,
  protoRoot: process.env.TAILGATE_PROTO_ROOT,
  tmp: process.env.TEST_TMPDIR || tmpdir(),
};

export function tempDir(prefix) {
  return mkdtempSync(path.join(env.tmp, prefix));
}

// A running gateway process. start() resolves once it logged its addresses.
export class Gateway {
  constructor({ dataDir, http = "127.0.0.1:0", grpcAddr = "127.0.0.1:0", args = [] }) {
    this.dataDir = dataDir;
    this.httpListen = http;
    this.grpcListen = grpcAddr;
    this.args = args;
    this.log = "";
  }

  start() {
    this.proc = spawn(env.binary, [
      `--http_listen=${this.httpListen}`, `--grpc_listen=${this.grpcListen}`,
      `--data_dir=${this.dataDir}`, ...this.args,
    ], { stdio: ["ignore", "inherit", "pipe"] });
    this.exited = new Promise((resolve) => this.proc.on("exit", (code, signal) => resolve({ code, signal })));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("gateway did not start:\n" + this.log)), 30000);
      this.proc.stderr.on("data", (chunk) => {
        this.log += chunk.toString();
        const m = /tailgate ready http=(\S+) grpc=(\S+)/.exec(this.log);
        if (m && !this.http) {
          clearTimeout(timer);
          this.http = m[1];
          this.grpc = m[2];
          resolve(this);
        }
      });
      this.proc.on("exit", () => { clearTimeout(timer); if (!this.http) reject(new Error("gateway exited:\n" + this.log)); });
    });
  }

  get url() { return `http://${this.http}`; }

  async kill(signal = "SIGKILL") {
    this.proc.kill(signal);
    return this.exited;
  }
}

let publisherDef = null;

// Plaintext unless `credentials` (grpc.credentials.createSsl(...)) is given;
// `options` adds channel options (e.g. the TLS target name).
export function publisherClient(address, { credentials, options } = {}) {
  if (!publisherDef) {
    publisherDef = protoLoader.loadSync("tailgate/v1/publisher.proto", {
      includeDirs: [env.protoRoot], keepCase: true, longs: String, defaults: true,
    });
  }
  const pkg = grpc.loadPackageDefinition(publisherDef);
  // Short reconnect backoff: tests restart the gateway under a live client.
  return new pkg.tailgate.v1.Publisher(address, credentials ?? grpc.credentials.createInsecure(), {
    "grpc.initial_reconnect_backoff_ms": 100,
    "grpc.max_reconnect_backoff_ms": 500,
    ...options,
  });
}

export function publish(client, request, deadlineMs = 10000) {
  return new Promise((resolve, reject) => {
    client.Publish(request, { deadline: Date.now() + deadlineMs }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

// Publishes until it succeeds (the gateway may be down or restarting);
// the idempotency key makes retries safe.
export async function publishRetrying(getClient, request, { attempts = 600 } = {}) {
  for (let i = 0; ; i++) {
    try {
      return await publish(getClient(), request, 2000);
    } catch (err) {
      if (i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

// `extraArgs`: more Chromium flags (e.g. --disable-http2).
export async function launchBrowser(extraArgs = []) {
  const { chromium } = await import("playwright-core");
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           ...extraArgs],
  });
}

// Waits until fn() is truthy, polling; throws with `what` on timeout.
export async function waitFor(fn, what, timeoutMs = 30000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error("timed out waiting for " + what);
    await new Promise((r) => setTimeout(r, 25));
  }
}
