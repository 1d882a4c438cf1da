// nginx (Debian) in front of tailgate with TLS and HTTP/2, using the shipped
// example gateway/deploy/nginx.conf. One browser page opens 10 EventSource
// streams to different topics through it (more than HTTP/1.1's six per host)
// and must receive every event promptly: no proxy buffering. /metrics and the
// demo page stay private; gRPC publishing works through its grpc_pass block.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import grpc from "@grpc/grpc-js";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { Gateway, launchBrowser, publisherClient, publish, tempDir, waitFor } from "./lib.mjs";

const STREAMS = 10;

function freePort() {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

let browser, gw, nginx, nginxPort, nginxGrpcPort, certPem;

before(async () => {
  gw = await new Gateway({ dataDir: tempDir("e2e-nginx-") }).start();
  const dir = tempDir("nginx-");
  mkdirSync(path.join(dir, "logs"));
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", path.join(dir, "key.pem"), "-out", path.join(dir, "cert.pem")],
  { stdio: "ignore" });
  nginxPort = await freePort();
  nginxGrpcPort = await freePort();
  certPem = readFileSync(path.join(dir, "cert.pem"));
  const example = readFileSync(path.join(path.dirname(new URL(import.meta.url).pathname),
    "../../gateway/deploy/nginx.conf"), "utf8")
    .replace("server 127.0.0.1:8080;", `server ${gw.http};`)
    .replace("server 127.0.0.1:50051;", `server ${gw.grpc};`)
    .replace("listen 127.0.0.1:8443 ssl http2;", `listen 127.0.0.1:${nginxPort} ssl http2;`)
    .replace("listen 127.0.0.1:8444 ssl http2;", `listen 127.0.0.1:${nginxGrpcPort} ssl http2;`)
    .replaceAll("/etc/ssl/tailgate/cert.pem", path.join(dir, "cert.pem"))
    .replaceAll("/etc/ssl/tailgate/key.pem", path.join(dir, "key.pem"));
  assert.ok(example.includes(gw.http) && example.includes(gw.grpc) && example.includes(String(nginxPort)) &&
    example.includes(String(nginxGrpcPort)), "template substitution");
  const conf = path.join(dir, "nginx.conf");
  writeFileSync(conf, `
daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${example}
}
`);
  nginx = spawn("/usr/sbin/nginx", ["-c", conf, "-p", dir], { stdio: "inherit" });
  await waitFor(() => new Promise((resolve) => {
    const s = net.connect(nginxPort, "127.0.0.1", () => { s.destroy(); resolve(true); });
    s.on("error", () => resolve(false));
  }), "nginx listening");
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  nginx?.kill("SIGTERM");
  await gw?.kill();
});

test(`${STREAMS} EventSource streams over HTTP/2 through nginx receive every event promptly`, async () => {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  const response = await page.goto(`https://127.0.0.1:${nginxPort}/healthz`);
  assert.equal(response.status(), 200);
  assert.equal(await page.evaluate(() => performance.getEntriesByType("navigation")[0].nextHopProtocol), "h2");
  await page.evaluate((n) => {
    window.__got = {};
    window.__open = 0;
    for (let i = 0; i < n; i++) {
      const es = new EventSource(`/v1/events?topic=nginx.t${i}`);
      window.__got[i] = [];
      es.onopen = () => { window.__open += 1; };
      es.onmessage = (ev) => window.__got[i].push({ data: ev.data, at: Date.now() });
    }
  }, STREAMS);
  await waitFor(() => page.evaluate((n) => window.__open >= n, STREAMS), `${STREAMS} streams open`);

  const client = publisherClient(gw.grpc);
  const sentAt = {};
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < STREAMS; i++) {
      const data = `t${i}-r${round}`;
      sentAt[data] = Date.now();
      await publish(client, { topic: `nginx.t${i}`, data });
    }
  }
  await waitFor(() => page.evaluate((n) => Object.values(window.__got).every((l) => l.length >= 20) &&
    Object.keys(window.__got).length === n, STREAMS), "20 events on every stream");
  const got = await page.evaluate(() => window.__got);
  let worst = 0;
  for (let i = 0; i < STREAMS; i++) {
    assert.deepEqual(got[i].map((e) => e.data), Array.from({ length: 20 }, (_, r) => `t${i}-r${r}`));
    for (const e of got[i]) worst = Math.max(worst, e.at - sentAt[e.data]);
  }
  // Buffering proxies hold events for seconds (or until a buffer fills).
  assert.ok(worst < 1000, `slowest event took ${worst} ms through nginx`);
  client.close();
  await context.close();
});

test("metrics and the demo page are not exposed; probes are", async () => {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  for (const [p, status] of [["/metrics", 404], ["/", 404], ["/healthz", 200], ["/readyz", 200]]) {
    const response = await page.goto(`https://127.0.0.1:${nginxPort}${p}`);
    assert.equal(response.status(), status, p);
  }
  await context.close();
});

test("gRPC publishing through the grpc_pass block", async () => {
  const client = publisherClient(`127.0.0.1:${nginxGrpcPort}`, {
    credentials: grpc.credentials.createSsl(certPem),
    options: { "grpc.ssl_target_name_override": "localhost", "grpc.default_authority": "localhost" },
  });
  const res = await publish(client, { topic: "nginx.grpc", data: "through nginx" });
  assert.ok(Number(res.id) > 0, JSON.stringify(res));
  client.close();
});
