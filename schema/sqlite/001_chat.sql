-- 001_chat.sql (SQLite) - the chat data and the message archive, plus the
-- node-local spool. schema/mysql/001_chat.sql is the same schema in MySQL's
-- dialect, without the spool.
--
-- Every identifier, name and body is a BLOB and is bound as one, so values
-- compare and sort byte by byte (memcmp) as MySQL's VARBINARY/BLOB do.
-- Times are Unix milliseconds; ids of messages and notifications are the
-- broker's 64-bit ids (INTEGER PRIMARY KEY: the rowid itself).
-- schema_version is created by db.c before any migration runs.

CREATE TABLE IF NOT EXISTS users (
    id BLOB NOT NULL PRIMARY KEY,
    password_hash BLOB NOT NULL,
    role BLOB NOT NULL,
    created_ms INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS rooms (
    name BLOB NOT NULL PRIMARY KEY,
    is_private INTEGER NOT NULL,
    owner BLOB NOT NULL,
    member_cap INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
);

-- role: 0 member, 1 moderator, 2 owner.
CREATE TABLE IF NOT EXISTS memberships (
    room BLOB NOT NULL,
    user BLOB NOT NULL,
    role INTEGER NOT NULL,
    joined_ms INTEGER NOT NULL,
    PRIMARY KEY (room, user)
);
CREATE INDEX IF NOT EXISTS memberships_user ON memberships (user);

CREATE TABLE IF NOT EXISTS room_blocks (
    room BLOB NOT NULL,
    user BLOB NOT NULL,
    by_user BLOB NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (room, user)
);

CREATE TABLE IF NOT EXISTS user_blocks (
    user BLOB NOT NULL,
    other BLOB NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (user, other)
);

CREATE TABLE IF NOT EXISTS decorations (
    user BLOB NOT NULL PRIMARY KEY,
    json BLOB NOT NULL,
    updated_ms INTEGER NOT NULL
);

-- scope '' is system-wide, else a room name.
CREATE TABLE IF NOT EXISTS settings (
    scope BLOB NOT NULL,
    "key" BLOB NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (scope, "key")
);

-- target_kind: 'all' (target ''), 'room' or 'user'.
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY,
    target_kind BLOB NOT NULL,
    target BLOB NOT NULL,
    sender BLOB NOT NULL,
    ts_ms INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS notifications_target ON notifications (target_kind, target, id);

CREATE TABLE IF NOT EXISTS read_markers (
    user BLOB NOT NULL,
    room BLOB NOT NULL,
    upto_id INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (user, room)
);

-- The archive. Exactly one of: room set; dm_low and dm_high set (the two
-- users of a direct message, in byte order); neither (a plain MQTT publish).
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    room BLOB,
    dm_low BLOB,
    dm_high BLOB,
    topic BLOB NOT NULL,
    sender BLOB NOT NULL,
    ts_ms INTEGER NOT NULL,
    type BLOB NOT NULL,
    body BLOB NOT NULL,
    node INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_room ON messages (room, id);
CREATE INDEX IF NOT EXISTS messages_dm ON messages (dm_low, dm_high, id);

-- The spool (node-local, SQLite only): messages committed by the writer and
-- not yet archived; seq is the commit order the archiver follows. seq is the
-- rowid without AUTOINCREMENT (cheaper inserts): SQLite gives max(seq) + 1, and
-- retention never deletes the newest archived row, so a seq is never reused.
-- id is unique by construction (msgid.h); the archive enforces it.
CREATE TABLE IF NOT EXISTS spool (
    seq INTEGER PRIMARY KEY,
    id INTEGER NOT NULL,
    room BLOB,
    dm_low BLOB,
    dm_high BLOB,
    topic BLOB NOT NULL,
    sender BLOB NOT NULL,
    ts_ms INTEGER NOT NULL,
    type BLOB NOT NULL,
    body BLOB NOT NULL,
    node INTEGER NOT NULL
);

-- Cursors of the spool (e.g. the archiver's last archived seq).
CREATE TABLE IF NOT EXISTS spool_state (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
