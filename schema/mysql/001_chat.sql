-- 001_chat.sql (MySQL/MariaDB) - the chat data and the message archive;
-- schema/sqlite/001_chat.sql is the same schema in SQLite's dialect (which
-- also holds the node-local spool).
--
-- Identifiers and names are VARBINARY (byte-exact, compared and sorted
-- bytewise, no trailing-space padding), bodies and JSON are BLOBs, so
-- nothing depends on a collation. Ids and names are at most 255 bytes;
-- message topics and senders are BLOBs because an MQTT topic or username
-- may be longer. Times are Unix milliseconds; ids of messages and
-- notifications are the broker's 64-bit ids. schema_version is created by
-- db.c before any migration runs. Indexes are declared inside CREATE TABLE
-- so that a migration interrupted half-way can simply be run again.

CREATE TABLE IF NOT EXISTS users (
    id VARBINARY(255) NOT NULL PRIMARY KEY,
    password_hash VARBINARY(1024) NOT NULL,
    role VARBINARY(32) NOT NULL,
    created_ms BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS rooms (
    name VARBINARY(255) NOT NULL PRIMARY KEY,
    is_private TINYINT NOT NULL,
    owner VARBINARY(255) NOT NULL,
    member_cap BIGINT NOT NULL,
    created_ms BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- role: 0 member, 1 moderator, 2 owner.
CREATE TABLE IF NOT EXISTS memberships (
    room VARBINARY(255) NOT NULL,
    user VARBINARY(255) NOT NULL,
    role TINYINT NOT NULL,
    joined_ms BIGINT NOT NULL,
    PRIMARY KEY (room, user),
    INDEX memberships_user (user)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS room_blocks (
    room VARBINARY(255) NOT NULL,
    user VARBINARY(255) NOT NULL,
    by_user VARBINARY(255) NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (room, user)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS user_blocks (
    user VARBINARY(255) NOT NULL,
    other VARBINARY(255) NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (user, other)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS decorations (
    user VARBINARY(255) NOT NULL PRIMARY KEY,
    json MEDIUMBLOB NOT NULL,
    updated_ms BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- scope '' is system-wide, else a room name.
CREATE TABLE IF NOT EXISTS settings (
    scope VARBINARY(255) NOT NULL,
    `key` VARBINARY(255) NOT NULL,
    value MEDIUMBLOB NOT NULL,
    PRIMARY KEY (scope, `key`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- target_kind: 'all' (target ''), 'room' or 'user'.
CREATE TABLE IF NOT EXISTS notifications (
    id BIGINT NOT NULL PRIMARY KEY,
    target_kind VARBINARY(32) NOT NULL,
    target VARBINARY(255) NOT NULL,
    sender VARBINARY(255) NOT NULL,
    ts_ms BIGINT NOT NULL,
    body MEDIUMBLOB NOT NULL,
    INDEX notifications_target (target_kind, target, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS read_markers (
    user VARBINARY(255) NOT NULL,
    room VARBINARY(255) NOT NULL,
    upto_id BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (user, room)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- The archive. Exactly one of: room set; dm_low and dm_high set (the two
-- users of a direct message, in byte order); neither (a plain MQTT publish).
CREATE TABLE IF NOT EXISTS messages (
    id BIGINT NOT NULL PRIMARY KEY,
    room VARBINARY(255) NULL,
    dm_low VARBINARY(255) NULL,
    dm_high VARBINARY(255) NULL,
    topic BLOB NOT NULL,
    sender BLOB NOT NULL,
    ts_ms BIGINT NOT NULL,
    type VARBINARY(64) NOT NULL,
    body LONGBLOB NOT NULL,
    node BIGINT NOT NULL,
    INDEX messages_room (room, id),
    INDEX messages_dm (dm_low, dm_high, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
