-- bindings_aor duplicated the index SQLite keeps for UNIQUE (aor, binding_key),
-- whose leading column serves every lookup by aor. Each binding write paid for
-- both; now it pays for one.
DROP INDEX IF EXISTS bindings_aor;
