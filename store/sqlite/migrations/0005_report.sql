-- stint report: revocation failures in a period are counted through a small
-- partial index; only failed revocations (rare) pay for its upkeep. The
-- report's query repeats this WHERE clause literally so that SQLite uses it.
CREATE INDEX audit_revoke_failed ON audit (time) WHERE type = 'grant.revoke_failed';
