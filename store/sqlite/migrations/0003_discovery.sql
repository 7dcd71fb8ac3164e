-- Results of discovery runs: the standing privileges found on a resource.
CREATE TABLE discovery_runs (
	id         INTEGER NOT NULL PRIMARY KEY,
	resource   TEXT    NOT NULL,
	time       INTEGER NOT NULL,
	privileges TEXT    NOT NULL -- JSON array of stint.StandingPrivilege
);

CREATE INDEX discovery_runs_resource ON discovery_runs (resource, id);
