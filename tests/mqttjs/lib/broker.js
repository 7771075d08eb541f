'use strict';
// lib/broker.js - starts the broker under test as a real process for the
// MQTT.js suites, as tests/broker/testlib.c and broker.py do: a free
// loopback port (bind to port 0), a generated config in a fresh mkdtemp
// directory, polling until the port accepts (bounded, never a fixed sleep),
// and a stop by PID (SIGTERM, 5 s, then SIGKILL). tests/web/lib/broker.js
// extends its Broker (launch() on given ports, terminate()) for the web page.
//
// Environment:
//   MQCHAT_BROKER   broker binary (default BUILD/mqchatd beside this tree:
//                   ../../../build/mqchatd); a file name that starts with
//                   "mosquitto", or MQCHAT_IMPL=mosquitto, runs it as
//                   Mosquitto 2.0 with an equivalent mosquitto.conf
//   MQCHAT_WORKERS  mqchatd's `workers` (default 1)

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const START_TIMEOUT_MS = 10000;
const STOP_TIMEOUT_MS = 5000;

function brokerBinary() {
  const b = process.env.MQCHAT_BROKER;
  if (b) return path.resolve(b);
  return path.resolve(__dirname, '..', '..', '..', 'build', 'mqchatd');
}

function isMosquitto() {
  if (process.env.MQCHAT_IMPL === 'mosquitto') return true;
  return path.basename(brokerBinary()).startsWith('mosquitto');
}

// MQCHAT_WORKERS, or fallback when it is unset or not a positive number.
function workers(fallback = 1) {
  const n = parseInt(process.env.MQCHAT_WORKERS || String(fallback), 10);
  return n > 0 ? n : fallback;
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

// True when every port accepts (asked one after the other).
async function portsAccept(ports) {
  for (const port of ports) {
    if (!(await portAccepts(port))) return false;
  }
  return true;
}

// True when the config lines in extra set key.
function sets(extra, key) {
  return new RegExp(`^\\s*${key.replace(/\./g, '\\.')}\\s`, 'm').test(extra || '');
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Brokers still running when this process exits (a failed or cancelled
// test file) are killed: only the processes started here.
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
  constructor() {
    this.binary = brokerBinary();
    this.mosquitto = isMosquitto();
    this.proc = null;
    this.port = 0;
    this.httpPort = 0; // mqchatd's HTTP API (http.port); 0 for Mosquitto
    this.dir = null;
    this.exitStatus = null; // 0..255, 128 + signal, once exited
  }

  get url() {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  // The config file's text: extra (config lines, or nothing) after the
  // settings below; for mqchatd, only those extra does not set itself.
  config(extra) {
    let text;
    if (this.mosquitto) {
      text = `listener ${this.port} 127.0.0.1\npersistence false\nlog_dest stderr\nlog_type all\n`;
      // As root it would drop to user "mosquitto", which cannot read this.dir.
      if (process.getuid && process.getuid() === 0) text += 'user root\n';
      text += 'allow_anonymous true\nsys_interval 0\n';
    } else {
      const settings = [
        ['port', this.port], ['bind_address', '127.0.0.1'], ['http.bind_address', '127.0.0.1'],
        ['data_dir', `${this.dir}/data`], ['workers', workers()], ['allow_anonymous', 'true'],
        ['sys_interval', 0], ['http.port', this.httpPort],
        // On by default (wss.port with a certificate): parallel brokers would collide.
        ['ws.port', 0], ['wss.port', 0],
      ];
      text = settings.filter(([key]) => !sets(extra, key))
        .map(([key, value]) => `${key} ${value}\n`).join('');
    }
    return text + (extra || '');
  }

  // Starts the broker; extra is appended to the config. Resolves when the
  // port accepts, rejects (with the log's tail) when it exits or does not.
  async start(extra) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mqchat-jstest-'));
    fs.mkdirSync(path.join(this.dir, 'data'));
    const conf = path.join(this.dir, this.mosquitto ? 'mosquitto.conf' : 'mqchat.conf');
    this.logPath = path.join(this.dir, 'broker.log');
    for (let attempt = 0; attempt < 3; attempt++) {
      this.port = await freePort();
      // The HTTP API gets a free port of its own, unless extra sets one.
      const set = /^\s*http\.port\s+(\d+)/m.exec(extra || '');
      this.httpPort = 0;
      if (set) this.httpPort = parseInt(set[1], 10);
      while (!this.mosquitto && !set && (this.httpPort === 0 || this.httpPort === this.port)) {
        this.httpPort = await freePort();
      }
      fs.writeFileSync(conf, this.config(extra));
      const args = this.mosquitto ? ['-c', conf] : ['-c', conf, '-p', String(this.port)];
      if (await this.launch(args, [this.port])) return;
      // It exited: retry only when the port was taken in the meantime.
      if (!/in use/.test(this.logTail(30))) break;
    }
    throw new Error(`broker ${this.binary} exited at start-up with status ` +
      `${this.exitStatus}\n${this.logTail(30)}`);
  }

  // Spawns the broker with args in this.dir, its output appended to
  // this.logPath. Resolves to true once every port in ports accepts, to
  // false when the broker exits first; when it does neither within 10 s it
  // is killed and the promise rejects (with the log's tail).
  async launch(args, ports) {
    const log = fs.openSync(this.logPath, 'a');
    this.exitStatus = null;
    const proc = spawn(this.binary, args, { cwd: this.dir, stdio: ['ignore', log, log] });
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
      if (await portsAccept(ports)) return true;
      await sleep(20);
    }
    if (this.exitStatus === null) {
      proc.kill('SIGKILL');
      await this.exited;
      throw new Error(`broker did not accept on port${ports.length > 1 ? 's' : ''} ` +
        `${ports.join(', ')} within ${START_TIMEOUT_MS / 1000} s\n${this.logTail(30)}`);
    }
    return false;
  }

  alive() {
    return this.proc !== null && this.exitStatus === null;
  }

  logTail(lines) {
    try {
      const all = fs.readFileSync(this.logPath, 'utf8').split('\n');
      return `--- broker log (last ${lines} lines) ---\n` + all.slice(-lines - 1).join('\n');
    } catch (e) {
      return `(no broker log: ${e.message})`;
    }
  }

  // SIGTERM by PID, up to 5 s for the exit, then SIGKILL. Resolves to the
  // exit status (null when never started); the directory stays.
  async terminate() {
    if (this.alive()) {
      this.proc.kill('SIGTERM');
      const timer = new Promise((resolve) => setTimeout(resolve, STOP_TIMEOUT_MS, 'timeout'));
      if (await Promise.race([this.exited, timer]) === 'timeout') {
        this.proc.kill('SIGKILL');
        await this.exited;
      }
    }
    return this.exitStatus;
  }

  // terminate(), then removes the temporary directory (printing the log's
  // tail first when printLog is true or the status is not 0). Resolves to
  // the exit status.
  async stop(printLog) {
    const status = await this.terminate();
    if (this.dir) {
      if (printLog || status !== 0) console.log(this.logTail(40));
      fs.rmSync(this.dir, { recursive: true, force: true });
      this.dir = null;
    }
    return status;
  }
}

module.exports = { Broker, freePort, sleep, workers, isMosquitto };
