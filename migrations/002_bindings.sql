-- Location service: registered contacts of each address-of-record (RFC 3261 §10, RFC 5626).
CREATE TABLE bindings (
  id INTEGER PRIMARY KEY,
  aor TEXT NOT NULL,
  contact TEXT NOT NULL,
  q REAL,
  expires_at INTEGER NOT NULL,
  call_id TEXT NOT NULL,
  cseq INTEGER NOT NULL,
  user_agent TEXT,
  received TEXT,
  transport TEXT NOT NULL,
  flow_id TEXT,
  instance_id TEXT,
  reg_id INTEGER,
  path TEXT,
  updated_at INTEGER NOT NULL,
  UNIQUE (aor, contact)
);
CREATE INDEX bindings_aor ON bindings (aor);
CREATE INDEX bindings_expires_at ON bindings (expires_at);
CREATE INDEX bindings_flow_id ON bindings (flow_id);
