'use strict';
// lib/broker.js - mqchatd for the web page's tests, started as
// tests/mqttjs/lib/broker.js starts it (free loopback ports found by
// binding port 0, a generated config in a mkdtemp directory, polling until
// the ports accept, stop by PID: SIGTERM, 5 s, then SIGKILL), with what a
// browser needs on top: the HTTP API serving clients/web/dist, a WebSocket
// listener, and restart() on the same ports and data directory (the page
// must come back online by itself).
//
// Environment:
//   MQCHAT_BROKER   broker binary (default ../../../build/mqchatd)
//   MQCHAT_WORKERS  mqchatd's `workers` (default 2)

const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const START_TIMEOUT_MS = 10000;
const STOP_TIMEOUT_MS = 5000;
const ROOT = path.resolve(__dirname, '..', '..', '..');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function brokerBinary() {
  const b = process.env.MQCHAT_BROKER;
  return b ? path.resolve(b) : path.join(ROOT, 'build', 'mqchatd');
}

function workers() {
  const n = parseInt(process.env.MQCHAT_WORKERS || '2', 10);
  return n > 0 ? n : 2;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Three distinct free ports (MQTT, HTTP, WebSocket).
async function freePorts(n) {
  const ports = new Set();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

function portAccepts(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const done = (ok) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(500, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

// Brokers still running when this process exits are killed: only ours.
const running = new Set();
process.on('exit', () => {
  for (const proc of running) {
    try {
      proc.kill('SIGKILL');
    } catch (e) {
      // already gone
    }
  }
});

class Broker {
  // staticDir: what the HTTP API serves at /; extra: more config lines.
  constructor(staticDir, extra) {
    this.binary = brokerBinary();
    this.staticDir = staticDir;
    this.extra = extra || '';
    this.serviceKey = 'svc-' + crypto.randomBytes(16).toString('hex');
    this.tokenSecret = 'jwt-' + crypto.randomBytes(24).toString('hex');
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mqchat-webtest-'));
    fs.mkdirSync(path.join(this.dir, 'data'));
    this.logPath = path.join(this.dir, 'broker.log');
    this.port = 0;
    this.httpPort = 0;
    this.wsPort = 0;
    this.proc = null;
    this.exitStatus = null;
  }

  get httpUrl() {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  get mqttUrl() {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  config() {
    return [
      `port ${this.port}`, 'bind_address 127.0.0.1',
      `http.port ${this.httpPort}`, 'http.bind_address 127.0.0.1',
      `ws.port ${this.wsPort}`, 'wss.port 0', `http.static_dir ${this.staticDir}`,
      `data_dir ${path.join(this.dir, 'data')}`, `workers ${workers()}`,
      'allow_anonymous false', 'sys_interval 0',
      `chat.service_key ${this.serviceKey}`, `chat.token_secret ${this.tokenSecret}`,
      'chat.open_signup true', 'chat.auto_create_rooms true',
    ].join('\n') + '\n' + this.extra;
  }

  // Starts on new free ports (three tries when one is lost to a race).
  async start() {
    for (let attempt = 0; attempt < 3; attempt++) {
      [this.port, this.httpPort, this.wsPort] = await freePorts(3);
      if (await this.launch()) return;
      if (!/in use|cannot listen/i.test(this.logTail(20))) break;
    }
    throw new Error(`broker ${this.binary} did not start (status ${this.exitStatus})\n${this.logTail(30)}`);
  }

  // Starts again on the same ports and data directory, after stop().
  async restart() {
    if (!(await this.launch())) {
      throw new Error(`broker did not start again (status ${this.exitStatus})\n${this.logTail(30)}`);
    }
  }

  // Spawns the broker; true once all three ports accept, false when it
  // exited first (it is killed when it does neither within the limit).
  async launch() {
    const conf = path.join(this.dir, 'mqchat.conf');
    fs.writeFileSync(conf, this.config());
    const log = fs.openSync(this.logPath, 'a');
    this.exitStatus = null;
    const proc = spawn(this.binary, ['-c', conf], { cwd: this.dir, stdio: ['ignore', log, log] });
    fs.closeSync(log);
    this.proc = proc;
    running.add(proc);
    this.exited = new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        running.delete(proc);
        this.exitStatus = code !== null ? code : 128 + os.constants.signals[signal];
        resolve(this.exitStatus);
      });
      proc.once('error', (err) => {
        fs.appendFileSync(this.logPath, `spawn ${this.binary}: ${err.message}\n`);
        running.delete(proc);
        this.exitStatus = 127;
        resolve(127);
      });
    });
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline && this.exitStatus === null) {
      if ((await portAccepts(this.port)) && (await portAccepts(this.httpPort)) &&
          (await portAccepts(this.wsPort))) {
        return true;
      }
      await sleep(25);
    }
    if (this.exitStatus === null) {
      proc.kill('SIGKILL');
      await this.exited;
      throw new Error(`broker did not accept on its ports within ${START_TIMEOUT_MS / 1000} s\n` +
        this.logTail(30));
    }
    return false;
  }

  alive() {
    return this.proc !== null && this.exitStatus === null;
  }

  // SIGTERM by PID, up to 5 s, then SIGKILL. Resolves to the exit status.
  async stop() {
    if (this.alive()) {
      this.proc.kill('SIGTERM');
      const timer = new Promise((resolve) => setTimeout(resolve, STOP_TIMEOUT_MS, 'timeout'));
      if ((await Promise.race([this.exited, timer])) === 'timeout') {
        this.proc.kill('SIGKILL');
        await this.exited;
      }
    }
    return this.exitStatus;
  }

  logTail(lines) {
    try {
      const all = fs.readFileSync(this.logPath, 'utf8').split('\n');
      return `--- broker log (last ${lines} lines) ---\n` + all.slice(-lines - 1).join('\n');
    } catch (e) {
      return `(no broker log: ${e.message})`;
    }
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
