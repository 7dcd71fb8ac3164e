-- Notification cursors: how far each notify target has got along the audit
-- trail (internal/notify). target is a short hash of the target's URL and
-- format, never the URL itself. attempts, next_attempt and last_error
-- describe the failed deliveries of the record after last_seq. Times are
-- INTEGER Unix nanoseconds (NULL when unset).
CREATE TABLE notify_cursors (
	target       TEXT    NOT NULL PRIMARY KEY,
	last_seq     INTEGER NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	next_attempt INTEGER,
	last_error   TEXT    NOT NULL DEFAULT '',
	updated_at   INTEGER NOT NULL
);
