-- 002_local: what only this node needs, kept across restarts (broker/persist.h).
-- Persistent MQTT sessions, their subscriptions and the QoS 1/2 messages they hold,
-- and the retained messages. Times are Unix milliseconds; 0 = none.
CREATE TABLE sessions (
    client_id BLOB PRIMARY KEY,
    username BLOB,
    version INTEGER NOT NULL,
    expiry_s INTEGER NOT NULL,
    offline_since_ms INTEGER NOT NULL
);
CREATE TABLE session_subs (
    client_id BLOB NOT NULL,
    filter BLOB NOT NULL,
    options INTEGER NOT NULL,
    sub_id INTEGER NOT NULL,
    PRIMARY KEY (client_id, filter)
);
CREATE TABLE session_msgs (
    client_id BLOB NOT NULL,
    seq INTEGER NOT NULL,
    state INTEGER NOT NULL,
    packet_id INTEGER NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    topic BLOB NOT NULL,
    payload BLOB NOT NULL,
    props BLOB,
    expires_at_ms INTEGER NOT NULL,
    subids BLOB,
    PRIMARY KEY (client_id, seq)
);
CREATE TABLE retained (
    topic BLOB PRIMARY KEY,
    qos INTEGER NOT NULL,
    payload BLOB NOT NULL,
    props BLOB,
    expires_at_ms INTEGER NOT NULL
);
