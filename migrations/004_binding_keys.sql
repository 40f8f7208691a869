-- Binding identity (RFC 3261 §10.3 step 7, RFC 5626 §6). One Contact URI may be
-- registered for an AOR several times over different flows (same +sip.instance,
-- different reg-id), so a binding is unique by (aor, binding_key), not by
-- (aor, contact). binding_key is 'ob <instance> <reg-id>' for an Outbound
-- binding, 'inst <instance>' for an instance without reg-id, else 'uri <contact>'.
-- contact_header keeps the Contact value (name-addr with q, +sip.instance, reg-id...)
-- the registrar echoes in its 200 OK. SQLite cannot drop a UNIQUE constraint,
-- so the table is rebuilt.
CREATE TABLE bindings_new (
  id INTEGER PRIMARY KEY,
  aor TEXT NOT NULL,
  binding_key TEXT NOT NULL,
  contact TEXT NOT NULL,
  contact_header TEXT NOT NULL,
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
  UNIQUE (aor, binding_key)
);
INSERT INTO bindings_new (id, aor, binding_key, contact, contact_header, q, expires_at, call_id, cseq,
                          user_agent, received, transport, flow_id, instance_id, reg_id, path, updated_at)
  SELECT id, aor,
         CASE
           WHEN instance_id IS NOT NULL AND reg_id IS NOT NULL THEN 'ob ' || instance_id || ' ' || reg_id
           WHEN instance_id IS NOT NULL THEN 'inst ' || instance_id
           ELSE 'uri ' || contact
         END,
         contact, '<' || contact || '>', q, expires_at, call_id, cseq,
         user_agent, received, transport, flow_id, instance_id, reg_id, path, updated_at
  FROM bindings;
DROP TABLE bindings;
ALTER TABLE bindings_new RENAME TO bindings;
CREATE INDEX bindings_aor ON bindings (aor);
CREATE INDEX bindings_expires_at ON bindings (expires_at);
CREATE INDEX bindings_flow_id ON bindings (flow_id);
