// ui.js - the page's DOM: building and updating what index.html lays out.
// Everything a user or the server wrote goes in through textContent (el()
// below), never innerHTML. No state of its own beyond the elements.

import { decoration, messageText } from './model.js';

export const $ = (id) => document.getElementById(id);

// An element: attrs are attributes (data-*, aria-*...), except `text`
// (textContent), `className` and `on` ({event: handler}); children are
// nodes or strings.
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') e.textContent = v;
    else if (k === 'className') e.className = v;
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c !== null && c !== undefined) e.append(c);
  }
  return e;
}

// ---- views ----

export function showSignIn(error) {
  $('signin-view').hidden = false;
  $('chat-view').hidden = true;
  $('whoami').textContent = '';
  $('signout').hidden = true;
  $('deco-label').hidden = true;
  $('signin-error').textContent = error || '';
  $('signin-user').focus();
}

export function showChat(me) {
  $('signin-view').hidden = true;
  $('chat-view').hidden = false;
  $('whoami').textContent = me;
  $('signout').hidden = false;
  $('deco-label').hidden = false;
  $('signin-error').textContent = '';
}

export function signInError(text) {
  $('signin-error').textContent = text;
}

// state: 'online', 'connecting' or 'offline'.
export function setConnection(state) {
  const c = $('conn');
  c.dataset.state = state;
  c.textContent = state === 'connecting' ? 'connecting…' : state;
  c.title = state === 'online' ? 'connected to the chat server' : 'not connected: retrying';
  $('composer-input').disabled = state !== 'online';
  $('composer-send').disabled = state !== 'online';
}

let flashTimer = null;

// A short line under the conversation: a refused message, a block...
export function flash(text) {
  const f = $('flash');
  f.textContent = text;
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => {
    f.textContent = '';
  }, 6000);
}

// ---- sidebar lists ----

// rooms: [{name, joined, private}] (model.sidebarRooms); unread: {room:
// count}; active: the room shown or null; more: another page of rooms can
// be asked for. A room not joined yet is joined by opening it.
export function renderRooms(rooms, unread, active, more, onOpen) {
  const items = rooms.map(({ name: room, joined, private: priv }) => {
    const n = Object.prototype.hasOwnProperty.call(unread, room) ? unread[room] : 0;
    return el('li', {},
      el('button', {
        type: 'button', className: joined ? 'item joined' : 'item', 'data-testid': 'room-item',
        'data-room': room, 'data-joined': joined ? 'true' : 'false',
        title: joined ? `Open # ${room}` : `Join # ${room}`,
        'aria-current': room === active ? 'true' : null, on: { click: () => onOpen(room) },
      }, el('span', { className: 'name', text: `# ${room}` }),
      el('span', { className: 'tags' },
        priv ? el('span', { className: 'tag', 'data-testid': 'room-private', title: 'private room', text: 'private' }) : null,
        joined ? el('span', { className: 'joined-mark', 'data-testid': 'room-joined', title: 'you are a member', text: '✓' })
          : el('span', { className: 'tag', 'data-testid': 'room-join', text: 'join' }),
        n ? el('span', { className: 'count', 'data-testid': 'room-unread', text: n > 998 ? '999+' : String(n) }) : null)));
  });
  if (!items.length) items.push(el('li', { className: 'muted', text: 'no rooms yet' }));
  $('room-list').replaceChildren(...items);
  $('rooms-more').hidden = !more;
}

// users: names; unread: Set of users with unseen messages.
export function renderDms(users, unread, active, onOpen) {
  const items = users.map((user) => el('li', {},
    el('button', {
      type: 'button', className: 'item', 'data-testid': 'dm-item', 'data-user': user,
      'aria-current': user === active ? 'true' : null, on: { click: () => onOpen(user) },
    }, el('span', { className: 'name', text: `@ ${user}` }),
    unread.has(user) ? el('span', { className: 'dot', 'data-testid': 'dm-unread', title: 'new messages', text: '•' }) : null)));
  $('dm-list').replaceChildren(...items);
}

export function renderBlocks(users, onUnblock) {
  const items = [...users].sort().map((user) => el('li', { 'data-testid': 'blocked-item', 'data-user': user },
    el('span', { className: 'name', text: user }),
    el('button', { type: 'button', className: 'small', 'data-testid': 'unblock-button', on: { click: () => onUnblock(user) } }, 'Unblock')));
  if (!items.length) items.push(el('li', { className: 'muted', text: 'nobody' }));
  $('block-list').replaceChildren(...items);
}

// ---- the conversation ----

// kind: 'room' or 'dm'; name: the room or the other user.
export function openConversation(kind, name) {
  $('conv-title').textContent = kind === 'room' ? `# ${name}` : `@ ${name}`;
  $('conv-title').dataset.kind = kind;
  $('conv-title').dataset.name = name;
  $('presence').hidden = kind !== 'room';
  setPresence(null);
  $('messages').replaceChildren();
  setHistoryState({ loading: true, start: false });
  $('composer-input').placeholder = kind === 'room' ? `Message # ${name}` : `Message @ ${name}`;
  $('composer').hidden = false;
}

export function closeConversation() {
  $('conv-title').textContent = 'Join a room or open a direct message';
  delete $('conv-title').dataset.kind;
  delete $('conv-title').dataset.name;
  $('presence').hidden = true;
  $('messages').replaceChildren();
  $('load-older').hidden = true;
  $('history-start').hidden = true;
  $('composer').hidden = true;
}

// online: viewers of the room, or null when not known yet.
export function setPresence(online) {
  const p = $('presence');
  p.dataset.count = online === null ? '' : String(online);
  p.textContent = online === null ? '' : `${online} online`;
}

// loading: a page is on its way; start: the oldest message is shown.
export function setHistoryState({ loading, start }) {
  const b = $('load-older');
  b.hidden = start;
  b.disabled = loading;
  b.textContent = loading ? 'Loading…' : 'Load older messages';
  $('history-start').hidden = !start;
}

function timeOf(ts) {
  const d = new Date(ts);
  const sameDay = d.toDateString() === new Date().toDateString();
  const opts = sameDay ? { hour: '2-digit', minute: '2-digit' }
    : { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' };
  return el('time', { datetime: d.toISOString(), title: d.toLocaleString(), text: d.toLocaleString([], opts) });
}

// The element of one envelope. actions: {dm(user), block(user)} for
// messages of others.
function messageNode(env, me, actions) {
  const deco = decoration(env.deco);
  const mine = env.from === me;
  const system = env.type === 'system';
  const from = el('span', { className: 'from', 'data-testid': 'message-from', text: system ? 'system' : env.from });
  if (deco.color && !system) {
    from.style.color = deco.color;
    from.dataset.color = deco.color;
  }
  const meta = el('div', { className: 'meta' }, from,
    deco.badge && !system ? el('span', { className: 'badge', 'data-testid': 'message-badge', text: deco.badge }) : null,
    timeOf(env.ts));
  if (!mine && !system) {
    meta.append(el('span', { className: 'actions' },
      el('button', { type: 'button', className: 'small', 'data-testid': 'dm-button', title: `Message ${env.from} directly`, on: { click: () => actions.dm(env.from) } }, 'Message'),
      el('button', { type: 'button', className: 'small', 'data-testid': 'block-button', title: `Stop seeing ${env.from}'s messages`, on: { click: () => actions.block(env.from) } }, 'Block')));
  }
  const cls = ['msg', mine ? 'mine' : '', system ? 'system' : '', env.type && env.type !== 'text' ? `type-${env.type}` : ''];
  return el('li', {
    className: cls.filter(Boolean).join(' '), 'data-testid': 'message', 'data-id': env.id,
    'data-from': env.from, 'data-type': env.type || 'text',
  }, meta, el('div', { className: 'text', 'data-testid': 'message-text', text: messageText(env) }));
}

function nearBottom(s) {
  return s.scrollHeight - s.scrollTop - s.clientHeight < 60;
}

// Inserts env at index (its place in the timeline). A message added at
// the end keeps the view at the bottom when it was there (or when it is
// one's own); one added above keeps what is on screen where it is.
export function insertMessage(index, env, me, actions) {
  const list = $('messages');
  const s = $('scroller');
  const atEnd = index >= list.children.length;
  const stick = atEnd && (nearBottom(s) || env.from === me);
  const before = s.scrollHeight;
  const top = s.scrollTop;
  list.insertBefore(messageNode(env, me, actions), list.children[index] || null);
  if (stick) s.scrollTop = s.scrollHeight;
  else if (!atEnd) s.scrollTop = top + (s.scrollHeight - before);
}

// Adds a page of older messages above, keeping the view where it was.
export function prependMessages(envs, me, actions) {
  const list = $('messages');
  const s = $('scroller');
  const before = s.scrollHeight;
  const top = s.scrollTop;
  list.prepend(...envs.map((env) => messageNode(env, me, actions)));
  s.scrollTop = top + (s.scrollHeight - before);
}

export function removeMessagesFrom(user) {
  for (const li of [...$('messages').children]) {
    if (li.dataset.from === user) li.remove();
  }
}

// True when the conversation is taller than its box.
export function scrollable() {
  const s = $('scroller');
  return s.scrollHeight > s.clientHeight + 1;
}

export function scrollToBottom() {
  const s = $('scroller');
  s.scrollTop = s.scrollHeight;
}
