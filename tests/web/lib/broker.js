'use strict';
// lib/broker.js - mqchatd for the web page's tests: the Broker of
// tests/mqttjs/lib/broker.js (free loopback ports found by binding port 0,
// a generated config in a mkdtemp directory, polling until the ports
// accept, stop by PID: SIGTERM, 5 s, then SIGKILL), with what a browser
// needs on top: the HTTP API serving clients/web/dist, a WebSocket
// listener, and restart() on the same ports and data directory (the page
// must come back online by itself). That file uses only node's built-in
// modules, so it is required by its path, without tests/mqttjs's packages.
//
// Environment:
//   MQCHAT_BROKER   broker binary (default ../../../build/mqchatd)
//   MQCHAT_WORKERS  mqchatd's `workers` (default 2)

const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const base = require('../../mqttjs/lib/broker.js');

const { freePort, sleep, workers } = base;
const ROOT = path.resolve(__dirname, '..', '..', '..');

// n distinct free ports (MQTT, HTTP, WebSocket).
async function freePorts(n) {
  const ports = new Set();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

class Broker extends base.Broker {
  // staticDir: what the HTTP API serves at /; extra: more config lines.
  constructor(staticDir, extra) {
    super();
    this.mosquitto = false; // the page needs mqchatd's HTTP API and chat
    this.staticDir = staticDir;
    this.extra = extra || '';
    this.serviceKey = 'svc-' + crypto.randomBytes(16).toString('hex');
    this.tokenSecret = 'jwt-' + crypto.randomBytes(24).toString('hex');
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mqchat-webtest-'));
    fs.mkdirSync(path.join(this.dir, 'data'));
    this.logPath = path.join(this.dir, 'broker.log');
    this.wsPort = 0;
  }

  get httpUrl() {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  get mqttUrl() {
    return this.url;
  }

  // The base config (loopback, this.dir/data, http.port, wss.port 0) with
  // the page's settings and this.extra.
  config() {
    return super.config([
      `ws.port ${this.wsPort}`, `http.static_dir ${this.staticDir}`, `workers ${workers(2)}`,
      'allow_anonymous false',
      `chat.service_key ${this.serviceKey}`, `chat.token_secret ${this.tokenSecret}`,
      'chat.open_signup true', 'chat.auto_create_rooms true',
    ].join('\n') + '\n' + this.extra);
  }

  // Starts on new free ports (three tries when one is lost to a race).
  async start() {
    for (let attempt = 0; attempt < 3; attempt++) {
      [this.port, this.httpPort, this.wsPort] = await freePorts(3);
      if (await this.launchHere()) return;
      if (!/in use|cannot listen/i.test(this.logTail(20))) break;
    }
    throw new Error(`broker ${this.binary} did not start (status ${this.exitStatus})\n${this.logTail(30)}`);
  }

  // Starts again on the same ports and data directory, after stop().
  async restart() {
    if (!(await this.launchHere())) {
      throw new Error(`broker did not start again (status ${this.exitStatus})\n${this.logTail(30)}`);
    }
  }

  // Writes the config and launches the broker: true once all three ports
  // accept, false when it exited first (it is killed, and this rejects,
  // when it does neither within the limit).
  async launchHere() {
    const conf = path.join(this.dir, 'mqchat.conf');
    fs.writeFileSync(conf, this.config());
    return this.launch(['-c', conf], [this.port, this.httpPort, this.wsPort]);
  }

  // SIGTERM by PID, up to 5 s, then SIGKILL. Resolves to the exit status.
  // The directory stays for restart() and logTail(); cleanup() removes it.
  stop() {
    return this.terminate();
  }

  cleanup() {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  // One HTTP API call; resolves to {status, body}.
  async api(method, urlPath, body, bearer) {
    const headers = {};
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(this.httpUrl + urlPath, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10000),
    });
    const text = await res.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch (e) {
      json = null;
    }
    return { status: res.status, body: json, text };
  }
}

module.exports = { Broker, ROOT, sleep };
