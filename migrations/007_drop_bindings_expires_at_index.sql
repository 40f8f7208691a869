-- bindings_expires_at served only the expiry sweep (every 30 s, in the writer
-- thread) and the CLI's listing, both of which read every row anyway; each
-- re-registration paid for the index with a delete and an insert in it.
DROP INDEX IF EXISTS bindings_expires_at;
