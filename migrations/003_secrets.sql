-- Server-wide key/value settings, e.g. the nonce secret.
CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
