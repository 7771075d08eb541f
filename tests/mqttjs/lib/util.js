'use strict';
// lib/util.js - MQTT.js helpers for the suites: promise-returning connect,
// subscribe, publish and end with bounded waits, an Inbox that queues a
// client's messages, unique names, and a wire watcher that counts the QoS 1
// and 2 deliveries a client has not acknowledged yet.

const mqtt = require('mqtt');
const mqttPacket = require('mqtt-packet');

const WAIT_MS = 5000; // for what must happen
const QUIET_MS = 500; // listening for what must not

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let counter = 0;
// A name unique in this run: "PREFIX-PID-N", for client ids and topics.
function name(prefix) {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}`;
}

// Resolves with the promise's value, or rejects after ms with `what` timed out.
function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Polls until cond() is true or ms pass; returns cond()'s last value.
async function until(cond, ms = WAIT_MS, every = 10) {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await sleep(every);
  return cond();
}

// Every message a client receives, in order, with a waiting reader.
class Inbox {
  constructor(client) {
    this.items = [];
    this.waiters = [];
    client.on('message', (topic, payload, packet) => {
      this.items.push({ topic, payload: payload.toString(), packet, at: Date.now() });
      const w = this.waiters;
      this.waiters = [];
      for (const wake of w) wake();
    });
  }

  changed() {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  // Resolves with the next message (removing it), rejects after ms.
  async next(ms = WAIT_MS, what = 'message') {
    const deadline = Date.now() + ms;
    while (this.items.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${ms} ms`);
      await within(this.changed(), left, what).catch(() => {});
    }
    return this.items.shift();
  }

  // Waits until n messages are queued (or ms pass); returns those queued.
  async count(n, ms = WAIT_MS) {
    const deadline = Date.now() + ms;
    while (this.items.length < n && Date.now() < deadline)
      await within(this.changed(), deadline - Date.now(), 'messages').catch(() => {});
    return this.items.length;
  }

  // Listens ms and returns what arrived (kept queued).
  async quiet(ms = QUIET_MS) {
    await sleep(ms);
    return this.items.slice();
  }
}

// Clients opened by a test, ended (forcefully) when the test ends.
function tracker(t) {
  const clients = [];
  t.after(async () => {
    await Promise.all(clients.map((c) => end(c, true)));
  });
  return (c) => {
    clients.push(c);
    return c;
  };
}

// Connects and resolves { client, connack } once the CONNACK arrived;
// rejects on an error, a close or the timeout. MQTT 5, no reconnects.
function connect(url, opts = {}) {
  const options = {
    protocolVersion: 5,
    clientId: name('js'),
    reconnectPeriod: 0,
    connectTimeout: WAIT_MS,
    keepalive: 30,
    ...opts,
  };
  const client = mqtt.connect(url, options);
  client.closeCount = 0; // connections closed so far (see closed())
  client.on('close', () => {
    client.closeCount += 1;
  });
  const watch = opts.watchWire ? watchWire(client) : null;
  const inbox = new Inbox(client);
  const p = new Promise((resolve, reject) => {
    const fail = (err) => {
      cleanup();
      client.end(true);
      reject(err instanceof Error ? err : new Error(`connection closed before CONNACK`));
    };
    const ok = (connack) => {
      cleanup();
      client.on('error', () => {}); // errors after connect: a test checks state, not events
      resolve({ client, connack, inbox, wire: watch });
    };
    const cleanup = () => {
      client.removeListener('connect', ok);
      client.removeListener('error', fail);
      client.removeListener('close', fail);
    };
    client.once('connect', ok);
    client.once('error', fail);
    client.once('close', fail);
  });
  return within(p, WAIT_MS + 1000, `connect ${options.clientId}`);
}

// Subscribes; resolves with the granted list ({ topic, qos } per filter,
// qos being the reason code).
function subscribe(client, topic, opts = { qos: 1 }) {
  const p = new Promise((resolve, reject) => {
    client.subscribe(topic, opts, (err, granted) => (err ? reject(err) : resolve(granted)));
  });
  return within(p, WAIT_MS, `subscribe ${JSON.stringify(topic)}`);
}

// Publishes; resolves once QoS 0 is written or QoS 1/2 is acknowledged.
function publish(client, topic, payload, opts = { qos: 1 }) {
  const p = new Promise((resolve, reject) => {
    client.publish(topic, payload, opts, (err, packet) => (err ? reject(err) : resolve(packet)));
  });
  return within(p, WAIT_MS, `publish to ${JSON.stringify(topic)}`);
}

// Ends a client (force: close without waiting for in-flight messages);
// bounded, never rejects.
function end(client, force = false, opts = {}) {
  if (!client || client.disconnected) return Promise.resolve();
  const p = new Promise((resolve) => client.end(force, opts, () => resolve()));
  return within(p, WAIT_MS, 'end').catch(() => client.end(true));
}

// Resolves when the client's connection has closed (bounded); at once when
// it already has.
function closed(client, ms = WAIT_MS) {
  if (client.closeCount > 0) return Promise.resolve();
  return within(new Promise((resolve) => client.once('close', resolve)), ms, 'close');
}

// Counts, at the socket, QoS 1 and 2 PUBLISH packets the broker sent that
// the client has not acknowledged yet (PUBACK, PUBCOMP, or a PUBREC with
// an error code): `outstanding` now, `max` ever. The bytes are parsed as
// they arrive, before MQTT.js handles them one at a time, so a client that
// holds its acknowledgements back still sees every packet the broker sends.
function watchWire(client) {
  const stats = { publishes: 0, outstanding: 0, max: 0, aliases: 0, packets: [] };
  const parser = mqttPacket.parser({ protocolVersion: 5 });
  parser.on('packet', (p) => {
    stats.packets.push(p.cmd);
    if (p.cmd !== 'publish') return;
    stats.publishes += 1;
    if (p.properties && p.properties.topicAlias !== undefined) stats.aliases += 1;
    if (p.qos > 0) {
      stats.outstanding += 1;
      stats.max = Math.max(stats.max, stats.outstanding);
    }
  });
  parser.on('error', (err) => {
    stats.parseError = err;
  });
  // First in line, so a packet is counted before MQTT.js can acknowledge it.
  client.stream.prependListener('data', (buf) => parser.parse(buf));
  client.on('packetsend', (p) => {
    if (p.cmd === 'puback' || p.cmd === 'pubcomp' || (p.cmd === 'pubrec' && p.reasonCode >= 0x80))
      stats.outstanding -= 1;
  });
  return stats;
}

module.exports = {
  WAIT_MS,
  QUIET_MS,
  Inbox,
  closed,
  connect,
  end,
  name,
  publish,
  sleep,
  subscribe,
  tracker,
  until,
  watchWire,
  within,
};
