-- Grants: one row per grant. Times are timestamptz (PostgreSQL keeps
-- microseconds; the store truncates to them), durations bigint nanoseconds,
-- lists and maps jsonb. Ids sort bytewise (COLLATE "C"): they start with the
-- creation time, and listings page by id.
CREATE TABLE grants (
	id                 text COLLATE "C" NOT NULL PRIMARY KEY,
	principal          text        NOT NULL,
	principal_kind     text        NOT NULL,
	access             text        NOT NULL,
	state              text        NOT NULL,
	policy             text        NOT NULL,
	reason             text        NOT NULL,
	ticket             text        NOT NULL,
	requested_ttl      bigint      NOT NULL,
	ttl                bigint      NOT NULL,
	max_ttl            bigint      NOT NULL,
	requested_at       timestamptz,
	activated_at       timestamptz,
	expires_at         timestamptz,
	ended_at           timestamptz,
	approvals          jsonb       NOT NULL,
	approvals_required integer     NOT NULL,
	approvers          jsonb       NOT NULL,
	approval_deadline  timestamptz,
	window_ref         jsonb       NOT NULL,
	break_glass        boolean     NOT NULL,
	provider           text        NOT NULL,
	revocation         text        NOT NULL,
	detail             text        NOT NULL,
	end_state          text        NOT NULL,
	attempts           integer     NOT NULL,
	provider_data      jsonb       NOT NULL,
	due_at             timestamptz,
	claimed_until      timestamptz,
	version            bigint      NOT NULL
);

-- The expiry engine's index: earliest due first.
CREATE INDEX grants_due ON grants (due_at) WHERE due_at IS NOT NULL;

-- Listings, newest first.
CREATE INDEX grants_state ON grants (state, id);
CREATE INDEX grants_principal ON grants (principal, id);
CREATE INDEX grants_access ON grants (access, id);
CREATE INDEX grants_policy ON grants (policy, state, id);
CREATE INDEX grants_break_glass ON grants (id) WHERE break_glass;

-- CountActive: active grants only.
CREATE INDEX grants_active_access ON grants (access) WHERE state = 'active';

-- The audit trail: append-only, hash-chained. time is for people and SQL
-- (microseconds); time_ns is the exact time the hash covers, in Unix
-- nanoseconds. details is the JSON text of the record's details, kept as
-- text so that it reads back exactly as written.
CREATE TABLE audit (
	seq       bigint      NOT NULL PRIMARY KEY,
	time      timestamptz NOT NULL,
	time_ns   bigint      NOT NULL,
	type      text        NOT NULL,
	actor     text        NOT NULL,
	grant_id  text COLLATE "C",
	access    text        NOT NULL,
	reason    text        NOT NULL,
	details   text,
	prev_hash text        NOT NULL,
	hash      text        NOT NULL
);

CREATE INDEX audit_grant ON audit (grant_id, seq) WHERE grant_id IS NOT NULL;
CREATE INDEX audit_time ON audit (time_ns);
CREATE INDEX audit_revoke_failed ON audit (time_ns) WHERE type = 'grant.revoke_failed';

-- The head of the audit chain: one row, locked (SELECT ... FOR UPDATE) by
-- every transaction that appends records and updated in it, so that
-- replicas append one after another and the chain never forks.
CREATE TABLE audit_head (
	id      boolean NOT NULL PRIMARY KEY DEFAULT true CHECK (id),
	seq     bigint  NOT NULL,
	hash    text    NOT NULL,
	time_ns bigint  NOT NULL
);

INSERT INTO audit_head (id, seq, hash, time_ns)
	VALUES (true, 0, '0000000000000000000000000000000000000000000000000000000000000000', 0);

-- Notification cursors (internal/notify): how far each target has got along
-- the audit trail. target is a short hash of the target, never its URL.
CREATE TABLE notify_cursors (
	target       text        NOT NULL PRIMARY KEY,
	last_seq     bigint      NOT NULL,
	attempts     integer     NOT NULL DEFAULT 0,
	next_attempt timestamptz,
	last_error   text        NOT NULL DEFAULT '',
	updated_at   timestamptz NOT NULL
);

-- Results of discovery runs: the standing privileges found on a resource.
CREATE TABLE discovery_runs (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	resource   text        NOT NULL,
	time       timestamptz NOT NULL,
	privileges jsonb       NOT NULL -- array of stint.StandingPrivilege
);

CREATE INDEX discovery_runs_resource ON discovery_runs (resource, id);

-- Webhook events that open and close event windows. data is json (text as
-- received), not jsonb, which rejects some strings a webhook may carry.
CREATE TABLE events (
	source      text        NOT NULL,
	id          text        NOT NULL,
	type        text        NOT NULL,
	time        timestamptz NOT NULL,
	data        json        NOT NULL,
	received_at timestamptz NOT NULL,
	PRIMARY KEY (source, id)
);

CREATE INDEX events_time ON events (time);
