// chat.js - the page's one MQTT connection (MQTT.js 5 over WebSocket, MQTT
// 5.0), logged in as the user with their token as the password (doc/
// protocol.md, "Token login"). It keeps the user's own topics (direct
// messages, events, system notifications) and the topics of the room on
// screen subscribed, and says what arrives and whether it is connected.
//
// MQTT.js reconnects by itself (every RECONNECT_MS). The session is clean,
// so each connect subscribes again to what the page needs then (its own
// topics and the room on screen); handlers.reconnected() then lets the
// page fetch what it missed meanwhile over HTTP.

import mqtt from 'mqtt';
import { isEnvelope, parseTopic, topicsFor } from './model.js';

const RECONNECT_MS = 2000;
const CONNECT_TIMEOUT_MS = 5000;
const KEEPALIVE_S = 30;

// CONNACK reasons that a new attempt will not fix: bad user name or
// password (4 / 0x86), not authorized (5 / 0x87), banned (0x8A).
const AUTH_FAILURES = new Set([4, 5, 0x86, 0x87, 0x8a]);

function randomId() {
  const a = new Uint8Array(6);
  crypto.getRandomValues(a);
  return Array.from(a, (b) => b.toString(16).padStart(2, '0')).join('');
}

export class Chat {
  // handlers: state(s) with s 'online' | 'connecting' | 'offline';
  // reconnected(); authFailed(); room(room, env); roomSystem(room, env);
  // presence(room, obj); dm(env); event(obj); system(env).
  constructor(handlers) {
    this.h = handlers;
    this.client = null;
    this.url = null;
    this.user = null;
    this.topics = null;
    this.prefix = 'chat';
    this.room = null;
    this.everConnected = false;
  }

  // Connects to url as user (token as the password), unless already
  // connected there as that user.
  start(url, user, token, prefix) {
    if (this.client && this.url === url && this.user === user && this.prefix === prefix) return;
    this.stop();
    this.url = url;
    this.user = user;
    this.prefix = prefix;
    this.topics = topicsFor(prefix, user);
    this.everConnected = false;
    this.h.state('connecting');
    const c = mqtt.connect(url, {
      protocolVersion: 5,
      clientId: `web-${user}-${randomId()}`,
      username: user,
      password: token,
      clean: true,
      keepalive: KEEPALIVE_S,
      reconnectPeriod: RECONNECT_MS,
      connectTimeout: CONNECT_TIMEOUT_MS,
      resubscribe: false, // done here on each connect: see the file's comment
    });
    this.client = c;
    c.on('connect', () => {
      if (c !== this.client) return;
      const again = this.everConnected;
      this.everConnected = true;
      c.subscribe({ [this.topics.dm]: { qos: 1 }, [this.topics.events]: { qos: 0 },
        [this.topics.system]: { qos: 1 } });
      if (this.room) this.subscribeRoom(this.room);
      this.h.state('online');
      if (again) this.h.reconnected();
    });
    c.on('reconnect', () => c === this.client && this.h.state('connecting'));
    c.on('offline', () => c === this.client && this.h.state('offline'));
    c.on('close', () => c === this.client && !c.connected && this.h.state('offline'));
    c.on('error', (err) => {
      if (c !== this.client) return;
      if (AUTH_FAILURES.has(err && err.code)) {
        this.stop();
        this.h.authFailed();
      }
    });
    c.on('message', (topic, payload) => c === this.client && this.dispatch(topic, payload));
  }

  stop() {
    if (this.client) {
      const c = this.client;
      this.client = null;
      c.end(true);
    }
    this.room = null;
    this.h.state('offline');
  }

  get connected() {
    return !!(this.client && this.client.connected);
  }

  subscribeRoom(room) {
    this.client.subscribe({ [this.topics.room(room)]: { qos: 1 },
      [this.topics.roomPresence(room)]: { qos: 0 }, [this.topics.roomSystem(room)]: { qos: 1 } });
  }

  // Shows room (subscribes to it, its presence and system topics) and
  // stops showing the previous one; null: no room on screen.
  viewRoom(room) {
    if (room === this.room || !this.client) return;
    const old = this.room;
    this.room = room;
    if (!this.client.connected) return; // the next connect subscribes to room
    if (old) {
      this.client.unsubscribe([this.topics.room(old), this.topics.roomPresence(old),
        this.topics.roomSystem(old)]);
    }
    if (room) this.subscribeRoom(room);
  }

  // Publishes a text message (QoS 1); resolves once the broker took it,
  // rejects with its reason otherwise.
  send(topic, text) {
    return new Promise((resolve, reject) => {
      if (!this.connected) {
        reject(new Error('not connected'));
        return;
      }
      const payload = JSON.stringify({ type: 'text', text });
      this.client.publish(topic, payload, { qos: 1 }, (err) => (err ? reject(err) : resolve()));
    });
  }

  // Moves the user's read marker in room to id (QoS 0; the broker keeps
  // the unread counts, doc/protocol.md "Unread counts").
  markRead(room, id) {
    if (this.connected) {
      this.client.publish(`${this.topics.room(room)}/read`, JSON.stringify({ upto: id }), { qos: 0 });
    }
  }

  sendRoom(room, text) {
    return this.send(this.topics.room(room), text);
  }

  sendDm(user, text) {
    return this.send(this.topics.dmTo(user), text);
  }

  dispatch(topic, payload) {
    const t = parseTopic(this.prefix, topic);
    if (!t) return;
    let obj;
    try {
      obj = JSON.parse(new TextDecoder().decode(payload));
    } catch (e) {
      return;
    }
    if (obj === null || typeof obj !== 'object') return;
    switch (t.kind) {
      case 'room':
        if (isEnvelope(obj)) this.h.room(t.room, obj);
        break;
      case 'room-system':
        if (isEnvelope(obj)) this.h.roomSystem(t.room, obj);
        break;
      case 'room-presence':
        this.h.presence(t.room, obj);
        break;
      case 'dm':
        if (isEnvelope(obj)) this.h.dm(obj);
        break;
      case 'events':
        this.h.event(obj);
        break;
      case 'system':
        if (isEnvelope(obj)) this.h.system(obj);
        break;
      default:
        break;
    }
  }
}
