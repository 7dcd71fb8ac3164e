-- Webhook events that open and close event windows.
CREATE TABLE events (
	source      TEXT    NOT NULL,
	id          TEXT    NOT NULL,
	type        TEXT    NOT NULL,
	time        INTEGER NOT NULL,
	data        TEXT    NOT NULL,
	received_at INTEGER NOT NULL,
	PRIMARY KEY (source, id)
);

CREATE INDEX events_time ON events (time);
