'use strict';
// Flow control and what CONNACK announces: a client's Receive Maximum caps
// the QoS 1 and 2 deliveries it has not acknowledged; the broker's own
// Receive Maximum, Topic Alias Maximum and Maximum Packet Size.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Broker } = require('../lib/broker');
const u = require('../lib/util');

const broker = new Broker();
before(() => broker.start());
after(() => broker.stop());

test('CONNACK announces Receive Maximum 20 and Topic Alias Maximum 10', async (t) => {
  const track = u.tracker(t);
  const { client, connack } = await u.connect(broker.url);
  track(client);
  const props = connack.properties || {};
  assert.equal(connack.reasonCode, 0);
  // mqchatd: max_inflight_messages (20) and max_topic_alias (10) by default;
  // Mosquitto 2.0's defaults are the same numbers.
  assert.equal(props.receiveMaximum, 20);
  assert.equal(props.topicAliasMaximum, 10);
  if (broker.mosquitto) {
    // Mosquitto sends Maximum Packet Size only when max_packet_size is set.
    assert.equal(props.maximumPacketSize, undefined);
  } else {
    assert.ok(props.maximumPacketSize >= 1048576,
      `Maximum Packet Size ${props.maximumPacketSize}: below the 1 MiB message_size_limit`);
  }
});

// Holds each acknowledgement back holdMs, counting unacknowledged deliveries
// at the socket: never more than the client's Receive Maximum.
async function receiveMaximum(t, qos, n, holdMs) {
  const track = u.tracker(t);
  const topic = u.name('js/flow');
  const sub = await u.connect(broker.url, { properties: { receiveMaximum: 2 }, watchWire: true });
  track(sub.client);
  sub.client.handleMessage = (packet, done) => setTimeout(done, holdMs);
  await u.subscribe(sub.client, topic, { qos });
  const pub = track((await u.connect(broker.url)).client);
  await Promise.all(Array.from({ length: n }, (_, i) => u.publish(pub, topic, String(i), { qos })));
  const got = await sub.inbox.count(n, n * holdMs + u.WAIT_MS);
  assert.equal(got, n, `${got} of ${n} messages arrived`);
  assert.ok(await u.until(() => sub.wire.outstanding === 0, u.WAIT_MS), 'acknowledgements still held');
  assert.deepEqual(sub.inbox.items.map((m) => m.payload), Array.from({ length: n }, (_, i) => String(i)),
    'messages out of order');
  assert.ok(sub.wire.max <= 2, `${sub.wire.max} unacknowledged QoS ${qos} deliveries at once`);
  // The publisher's burst outpaces the held acknowledgements, so the window
  // fills: a broker that sends one at a time would be legal but is not this one.
  assert.equal(sub.wire.max, 2, 'the window of 2 was never filled');
  assert.equal(sub.wire.parseError, undefined);
}

// Mosquitto 2.0.11 releases two queued messages for each PUBACK or PUBCOMP,
// so past the first window it has up to Receive Maximum + 1 unacknowledged
// deliveries out (and MQTT.js closes the connection with 0x93 Receive Maximum
// exceeded when they are QoS 2): against it only 3 messages are sent, which
// checks the first window (the third waits for an acknowledgement).
const COUNT = broker.mosquitto ? 3 : 12;

test('Receive Maximum 2: at most 2 unacknowledged QoS 1 deliveries', (t) => receiveMaximum(t, 1, COUNT, 40));

test('Receive Maximum 2: at most 2 unacknowledged QoS 2 deliveries', (t) => receiveMaximum(t, 2, COUNT, 40));

test('the broker accepts a burst up to its own Receive Maximum', async (t) => {
  // MQTT.js keeps at most the announced Receive Maximum in flight itself;
  // 60 QoS 1 publishes at once all complete.
  const track = u.tracker(t);
  const topic = u.name('js/flow/in');
  const sub = await u.connect(broker.url);
  track(sub.client);
  await u.subscribe(sub.client, topic, { qos: 1 });
  const pub = track((await u.connect(broker.url)).client);
  await Promise.all(Array.from({ length: 60 }, (_, i) => u.publish(pub, topic, String(i))));
  assert.equal(await sub.inbox.count(60), 60);
});

test('broker exits 0 on SIGTERM', async () => {
  assert.equal(await broker.stop(), 0);
});
