// app.js - the page's state and what happens when: signing in, the room
// list, opening a room or a direct conversation, live messages, history
// scroll-back, blocks, decorations, the connection indicator. The HTTP API
// is in api.js, MQTT in chat.js, the DOM in ui.js, the pure rules in
// model.js.

import { Api, ApiError } from './api.js';
import { Chat } from './chat.js';
import { Timeline, dmPeer, noticeText, prefixOf, sidebarRooms, validName } from './model.js';
import * as ui from './ui.js';

const PAGE = 50; // messages per history page
const MINE_PAGES = 10; // pages of GET /v1/rooms?member=true read at most (200 rooms each)
const SESSION_KEY = 'mqchat.session';
const NAME_RULE = 'names are 1-64 characters of A-Z a-z 0-9 _ . -';

const api = new Api('');
const state = {
  me: null,
  token: null,
  prefix: 'chat',
  listed: [], // room names from the pages of GET /v1/rooms read so far
  listNext: null, // the next page's `after`, or null when the list is complete
  joined: new Set(), // rooms the user is a member of
  roomInfo: new Map(), // room -> its object, as GET /v1/rooms last gave it
  dms: [],
  unreadRooms: {}, // room -> count, from the retained summary on the events topic
  unreadDms: new Set(),
  presence: {}, // room -> viewers, as last heard on its presence topic
  blocked: new Set(),
  view: null, // {kind: 'room'|'dm', name, timeline, loading, start, readUpto}
};

const chat = new Chat({
  state: (s) => ui.setConnection(s),
  reconnected: () => {
    catchUp();
    refreshRooms();
  },
  authFailed: () => signOut('Your session has expired: sign in again.'),
  room: (room, env) => isViewing('room', room) && show(env),
  roomSystem: (room, env) => isViewing('room', room) && show(env),
  presence: (room, p) => {
    if (!Number.isInteger(p.online)) return;
    state.presence[room] = p.online;
    if (isViewing('room', room)) ui.setPresence(p.online);
  },
  dm: (env) => onDm(env),
  event: (obj) => onEvent(obj),
  system: (env) => ui.flash(`Notice: ${env.text || ''}`),
});

// ---- storage: the session per tab, lists per user in this browser ----

function saveSession() {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify({ user: state.me, token: state.token }));
}

function loadSession() {
  try {
    const s = JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null');
    if (!s || !validName(s.user) || typeof s.token !== 'string') return null;
    const exp = JSON.parse(atob(s.token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).exp;
    return exp * 1000 > Date.now() + 60000 ? s : null;
  } catch (e) {
    return null;
  }
}

function stored(key, fallback) {
  try {
    const v = JSON.parse(localStorage.getItem(`mqchat.${key}.${state.me}`));
    return v === null ? fallback : v;
  } catch (e) {
    return fallback;
  }
}

function store(key, value) {
  localStorage.setItem(`mqchat.${key}.${state.me}`, JSON.stringify(value));
}

// ---- where MQTT is ----

// The join answer's WebSocket URL (wss_url when the page came over https),
// else the last one seen, else the default listener on this host.
function wsUrlOf(mqtt) {
  const secure = location.protocol === 'https:';
  const given = mqtt && (secure ? mqtt.wss_url : mqtt.ws_url);
  if (typeof given === 'string' && given) return given;
  const last = localStorage.getItem('mqchat.ws_url');
  if (last) return last;
  const host = location.hostname.includes(':') ? `[${location.hostname}]` : location.hostname;
  return secure ? `wss://${host}:8084/mqtt` : `ws://${host}:8083/mqtt`;
}

// ---- signing in and out ----

async function signIn(user, password, signUp) {
  if (!validName(user)) {
    ui.signInError(`User id: ${NAME_RULE}.`);
    return;
  }
  if (!password) {
    ui.signInError('Enter a password.');
    return;
  }
  try {
    if (signUp) await api.signUp(user, password);
    const t = await api.signIn(user, password);
    state.me = t.user;
    state.token = t.token;
    saveSession();
    $password().value = '';
    await enter();
  } catch (e) {
    ui.signInError(signInMessage(e, signUp));
  }
}

function signInMessage(e, signUp) {
  if (!(e instanceof ApiError)) return `Something went wrong: ${e.message}`;
  if (e.code === 'bad_credentials') return 'Wrong user id or password.';
  if (e.code === 'exists') return 'That user id is taken.';
  if (signUp && (e.status === 401 || e.status === 403)) return 'This server does not allow signing up: ask its operator for an account.';
  if (e.code === 'tokens_disabled') return 'This server does not issue tokens (no chat.token_secret).';
  if (e.status === 0) return 'The server does not answer.';
  return `${e.message} (${e.code})`;
}

const $password = () => ui.$('signin-password');

function signOut(message) {
  chat.stop();
  sessionStorage.removeItem(SESSION_KEY);
  Object.assign(state, {
    me: null, token: null, view: null, listed: [], listNext: null, joined: new Set(), roomInfo: new Map(),
    dms: [], unreadRooms: {}, presence: {},
  });
  state.unreadDms.clear();
  state.blocked.clear();
  api.token = null;
  ui.closeConversation();
  ui.showSignIn(message);
}

// The chat view for state.me: lists, blocks, then the last conversation.
async function enter() {
  api.token = state.token;
  ui.showChat(state.me);
  ui.closeConversation();
  state.dms = stored('dms', []).filter(validName);
  renderLists();
  if (!(await refreshRooms())) return;
  try {
    const b = await api.blocks(state.me);
    state.blocked = new Set(b.blocks);
  } catch (e) {
    if (!handleApiError(e)) return;
  }
  ui.renderBlocks(state.blocked, unblock);
  const last = stored('last', null);
  if (last && last.kind === 'room' && validName(last.name)) {
    await openRoom(last.name);
  } else {
    chat.start(wsUrlOf(null), state.me, state.token, state.prefix);
    if (last && last.kind === 'dm' && validName(last.name)) await openDm(last.name);
  }
}

// An API failure while signed in: a 401 signs out (false), anything else
// is shown (true: go on).
function handleApiError(e) {
  if (e instanceof ApiError && e.status === 401) {
    signOut('Your session has expired: sign in again.');
    return false;
  }
  ui.flash(e instanceof ApiError ? `${e.message} (${e.code})` : String(e.message || e));
  return true;
}

// ---- lists ----

function renderLists() {
  const active = state.view ? state.view.name : null;
  const room = state.view && state.view.kind === 'room' ? active : null;
  // (the room on screen is being read: its count is on its way to 0)
  const unread = { ...state.unreadRooms };
  if (room) delete unread[room];
  const rooms = sidebarRooms(state.listed, state.joined, state.roomInfo);
  ui.renderRooms(rooms, unread, room, state.listNext !== null, openRoom);
  ui.renderDms(state.dms, state.unreadDms, state.view && state.view.kind === 'dm' ? active : null, openDm);
}

// The rooms from the server: the user's own (every page, up to MINE_PAGES)
// and the first page of all the user may see. False when the user was
// signed out meanwhile (or by a 401).
async function refreshRooms() {
  const me = state.me;
  const mine = [];
  let page;
  try {
    let after = null;
    for (let i = 0; i < MINE_PAGES; i++) {
      const p = await api.rooms({ member: true, after });
      mine.push(...p.rooms);
      if (typeof p.next !== 'string') break;
      after = p.next;
    }
    page = await api.rooms();
  } catch (e) {
    return state.me === me && handleApiError(e);
  }
  if (state.me !== me) return false;
  state.joined = new Set(mine.map((r) => r.name).filter(validName));
  // (the room on screen was joined to be opened, maybe after the list was asked for)
  if (state.view && state.view.kind === 'room') state.joined.add(state.view.name);
  state.roomInfo = new Map([...page.rooms, ...mine].map((r) => [r.name, r]));
  state.listed = page.rooms.map((r) => r.name);
  state.listNext = typeof page.next === 'string' ? page.next : null;
  renderLists();
  return true;
}

// The next page of the room list.
async function moreRooms() {
  const me = state.me;
  const after = state.listNext;
  if (!after) return;
  let page;
  try {
    page = await api.rooms({ after });
  } catch (e) {
    if (state.me === me) handleApiError(e);
    return;
  }
  if (state.me !== me || state.listNext !== after) return;
  for (const r of page.rooms) state.roomInfo.set(r.name, r);
  state.listed.push(...page.rooms.map((r) => r.name));
  state.listNext = typeof page.next === 'string' ? page.next : null;
  renderLists();
}

function remember(list, key, name) {
  if (!list.includes(name)) {
    list.push(name);
    list.sort();
    store(key, list);
  }
}

// ---- conversations ----

function isViewing(kind, name) {
  return !!state.view && state.view.kind === kind && state.view.name === name;
}

const actions = {
  dm: (user) => openDm(user),
  block: (user) => block(user),
};

// Shows env in the conversation on screen (in id order, once).
function show(env) {
  const v = state.view;
  if (!v || (state.blocked.has(env.from) && env.from !== state.me)) return;
  const i = v.timeline.add(env);
  if (i < 0) return;
  ui.insertMessage(i, env, state.me, actions);
  markRead();
}

let readTimer = null;

// Soon, when the page is seen: the room on screen is read up to its last
// message (sent at once when another conversation replaces it).
function markRead() {
  clearTimeout(readTimer);
  const v = state.view;
  readTimer = setTimeout(() => sendRead(v), 300);
}

function sendRead(v) {
  const last = v && v.kind === 'room' ? v.timeline.last() : null;
  if (!last || document.visibilityState !== 'visible' || v.readUpto === last.id) return;
  v.readUpto = last.id;
  chat.markRead(v.name, last.id);
}

function history(view, params) {
  return view.kind === 'room' ? api.roomHistory(view.name, params) : api.dmHistory(view.name, params);
}

function visible(envs) {
  return envs.filter((e) => e.from === state.me || !state.blocked.has(e.from));
}

// Starts showing a conversation: its latest page, then live messages.
async function openConversation(kind, name) {
  const view = { kind, name, timeline: new Timeline(), loading: true, start: false, readUpto: null };
  clearTimeout(readTimer);
  sendRead(state.view);
  state.view = view;
  store('last', { kind, name });
  ui.openConversation(kind, name);
  if (kind === 'room' && Object.prototype.hasOwnProperty.call(state.presence, name)) ui.setPresence(state.presence[name]);
  renderLists();
  try {
    const page = await history(view, { limit: PAGE });
    if (state.view !== view) return;
    view.start = page.messages.length === 0;
    for (const env of visible(page.messages)) show(env);
  } catch (e) {
    if (state.view === view) handleApiError(e);
  }
  if (state.view !== view) return;
  view.loading = false;
  ui.setHistoryState(view);
  ui.scrollToBottom();
  ui.$('composer-input').focus();
  fillScreen(view);
}

// Older pages while the conversation does not fill the screen (there is
// nothing to scroll to the top of), until the start is reached.
async function fillScreen(view) {
  while (state.view === view && !view.start && !ui.scrollable()) {
    const before = view.timeline.size;
    await loadOlder();
    if (view.timeline.size === before && !view.start) break; // a failure, or only hidden ones
  }
}

async function openRoom(room) {
  if (!validName(room)) {
    ui.flash(`Room: ${NAME_RULE}.`);
    return;
  }
  let ans;
  try {
    ans = await api.join(room);
  } catch (e) {
    if (e instanceof ApiError && e.code === 'not_found') ui.flash(`There is no room "${room}".`);
    else if (e instanceof ApiError && e.code === 'private_room') ui.flash(`"${room}" is private: ask its owner to add you.`);
    else if (e instanceof ApiError && e.code === 'room_full') ui.flash(`"${room}" is full.`);
    else handleApiError(e);
    return;
  }
  state.prefix = prefixOf(ans.topic, room);
  const url = wsUrlOf(ans.mqtt);
  localStorage.setItem('mqchat.ws_url', url);
  const fresh = !state.joined.has(room);
  state.joined.add(room);
  chat.start(url, state.me, state.token, state.prefix);
  chat.viewRoom(room);
  if (fresh) refreshRooms(); // a room joined or made: the list shows it as the server has it
  await openConversation('room', room);
}

async function openDm(user) {
  if (!validName(user)) {
    ui.flash(`User id: ${NAME_RULE}.`);
    return;
  }
  remember(state.dms, 'dms', user);
  state.unreadDms.delete(user);
  chat.viewRoom(null);
  await openConversation('dm', user);
}

// One page older than the oldest message on screen.
async function loadOlder() {
  const view = state.view;
  if (!view || view.loading || view.start) return;
  const first = view.timeline.first();
  if (!first) {
    view.start = true;
    ui.setHistoryState(view);
    return;
  }
  view.loading = true;
  ui.setHistoryState(view);
  try {
    const page = await history(view, { before: first.id, limit: PAGE });
    if (state.view !== view) return;
    if (page.messages.length === 0) view.start = true;
    const fresh = visible(page.messages).filter((e) => view.timeline.add(e) >= 0);
    ui.prependMessages(fresh, state.me, actions);
  } catch (e) {
    if (state.view === view) handleApiError(e);
  }
  if (state.view !== view) return;
  view.loading = false;
  ui.setHistoryState(view);
}

// After a reconnect: what the conversation on screen missed meanwhile.
async function catchUp() {
  const view = state.view;
  if (!view || view.loading) return;
  const last = view.timeline.last();
  try {
    const page = await history(view, last ? { since: last.id, limit: 1000 } : { limit: PAGE });
    if (state.view === view) for (const env of visible(page.messages)) show(env);
  } catch (e) {
    if (state.view === view) handleApiError(e);
  }
}

function onDm(env) {
  const peer = dmPeer(env, state.me);
  if (!validName(peer) || (state.blocked.has(peer) && env.from === peer)) return;
  remember(state.dms, 'dms', peer);
  if (isViewing('dm', peer)) show(env);
  else if (env.from !== state.me) state.unreadDms.add(peer);
  renderLists();
}

function onEvent(obj) {
  if (obj.type === 'unread' && obj.rooms && typeof obj.rooms === 'object') {
    state.unreadRooms = {};
    for (const [room, n] of Object.entries(obj.rooms)) {
      if (validName(room) && Number.isInteger(n)) {
        state.unreadRooms[room] = n;
        state.joined.add(room);
      }
    }
    renderLists();
  } else if (obj.type === 'notice') {
    ui.flash(noticeText(obj));
  } else if (obj.type === 'system') {
    ui.flash(`Notice: ${obj.text || ''}`);
  }
}

async function send(text) {
  const view = state.view;
  if (!view || !text) return;
  try {
    if (view.kind === 'room') await chat.sendRoom(view.name, text);
    else await chat.sendDm(view.name, text);
  } catch (e) {
    // A refusal comes with a notice on the events topic too (onEvent).
    if (e.message === 'not connected') ui.flash('Not sent: you are offline.');
  }
}

// ---- blocks and decorations ----

async function block(user) {
  try {
    await api.block(state.me, user);
  } catch (e) {
    handleApiError(e);
    return;
  }
  state.blocked.add(user);
  if (state.view) {
    state.view.timeline.removeIf((e) => e.from === user);
    ui.removeMessagesFrom(user);
  }
  ui.renderBlocks(state.blocked, unblock);
  ui.flash(`You blocked ${user}: you will not see their messages.`);
}

async function unblock(user) {
  try {
    await api.unblock(state.me, user);
  } catch (e) {
    handleApiError(e);
    return;
  }
  state.blocked.delete(user);
  ui.renderBlocks(state.blocked, unblock);
  ui.flash(`You unblocked ${user}.`);
  const v = state.view;
  if (v) await (v.kind === 'room' ? openRoom(v.name) : openDm(v.name));
}

async function setColor(color) {
  try {
    await api.setDecoration(state.me, { color });
    ui.flash('Your name colour is set for your next messages.');
  } catch (e) {
    handleApiError(e);
  }
}

// ---- wiring ----

function wire() {
  ui.$('signin-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    signIn(ui.$('signin-user').value.trim(), $password().value, false);
  });
  ui.$('signup').addEventListener('click', () => {
    signIn(ui.$('signin-user').value.trim(), $password().value, true);
  });
  ui.$('signout').addEventListener('click', () => signOut(''));
  ui.$('rooms-refresh').addEventListener('click', () => refreshRooms());
  ui.$('rooms-more').addEventListener('click', () => moreRooms());
  ui.$('join-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input = ui.$('join-room');
    const room = input.value.trim();
    input.value = '';
    openRoom(room);
  });
  ui.$('dm-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input = ui.$('dm-user');
    const user = input.value.trim();
    input.value = '';
    openDm(user);
  });
  ui.$('composer').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input = ui.$('composer-input');
    const text = input.value.trim();
    input.value = '';
    send(text);
  });
  ui.$('load-older').addEventListener('click', () => loadOlder());
  ui.$('scroller').addEventListener('scroll', (ev) => {
    if (ev.target.scrollTop < 40) loadOlder();
  });
  ui.$('deco-color').addEventListener('change', (ev) => setColor(ev.target.value));
  document.addEventListener('visibilitychange', () => markRead());
}

function main() {
  wire();
  ui.setConnection('offline');
  const s = loadSession();
  if (s) {
    state.me = s.user;
    state.token = s.token;
    enter();
  } else {
    ui.showSignIn('');
  }
}

main();
