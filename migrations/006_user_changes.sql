-- A counter that every change to users bumps (triggers, so changes made by the
-- CLI in another process count too). The server caches user records and reads
-- this one row to know when its cache is out of date.
CREATE TABLE user_changes (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  version INTEGER NOT NULL
);
INSERT INTO user_changes (id, version) VALUES (1, 0);
CREATE TRIGGER users_changed_insert AFTER INSERT ON users
  BEGIN UPDATE user_changes SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER users_changed_update AFTER UPDATE ON users
  BEGIN UPDATE user_changes SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER users_changed_delete AFTER DELETE ON users
  BEGIN UPDATE user_changes SET version = version + 1 WHERE id = 1; END;
