-- Grants: one row per grant. Times are INTEGER Unix nanoseconds (NULL when
-- unset); lists and maps are JSON text.
CREATE TABLE grants (
	id                 TEXT    NOT NULL PRIMARY KEY,
	principal          TEXT    NOT NULL,
	principal_kind     TEXT    NOT NULL,
	access             TEXT    NOT NULL,
	state              TEXT    NOT NULL,
	policy             TEXT    NOT NULL,
	reason             TEXT    NOT NULL,
	ticket             TEXT    NOT NULL,
	requested_ttl      INTEGER NOT NULL,
	ttl                INTEGER NOT NULL,
	max_ttl            INTEGER NOT NULL,
	requested_at       INTEGER,
	activated_at       INTEGER,
	expires_at         INTEGER,
	ended_at           INTEGER,
	approvals          TEXT    NOT NULL,
	approvals_required INTEGER NOT NULL,
	approvers          TEXT    NOT NULL,
	approval_deadline  INTEGER,
	window_ref         TEXT    NOT NULL,
	break_glass        INTEGER NOT NULL,
	provider           TEXT    NOT NULL,
	revocation         TEXT    NOT NULL,
	detail             TEXT    NOT NULL,
	end_state          TEXT    NOT NULL,
	attempts           INTEGER NOT NULL,
	provider_data      TEXT    NOT NULL,
	due_at             INTEGER,
	claimed_until      INTEGER,
	version            INTEGER NOT NULL
);

-- The expiry engine's index: earliest due first; claimed_until is in the
-- index so that claimed rows are skipped without reading the table.
CREATE INDEX grants_due ON grants (due_at, claimed_until) WHERE due_at IS NOT NULL;

-- Listings, newest first (ids sort by creation time).
CREATE INDEX grants_state ON grants (state, id);
CREATE INDEX grants_principal ON grants (principal, id);
CREATE INDEX grants_access ON grants (access, id);

-- CountActive: a covering index over active grants only.
CREATE INDEX grants_active_access ON grants (access) WHERE state = 'active';

-- The audit trail: append-only, hash-chained. seq is the rowid.
CREATE TABLE audit (
	seq       INTEGER NOT NULL PRIMARY KEY,
	time      INTEGER NOT NULL,
	type      TEXT    NOT NULL,
	actor     TEXT    NOT NULL,
	grant_id  TEXT,
	access    TEXT    NOT NULL,
	reason    TEXT    NOT NULL,
	details   TEXT,
	prev_hash TEXT    NOT NULL,
	hash      TEXT    NOT NULL
);

CREATE INDEX audit_grant ON audit (grant_id, seq) WHERE grant_id IS NOT NULL;
CREATE INDEX audit_time ON audit (time);
