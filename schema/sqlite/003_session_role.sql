-- 003_session_role: the chat role of a persistent session's user (enum
-- chat_role: 0 none, 1 user, 2 service, 3 display), so that a session restored
-- at start-up reads under the chat prefix what its user may read until the
-- client connects again.
-- Sessions stored before it: those with a user name read as role user.
ALTER TABLE sessions ADD COLUMN role INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET role = 1 WHERE username IS NOT NULL;
