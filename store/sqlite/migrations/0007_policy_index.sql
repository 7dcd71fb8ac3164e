-- Grants by policy, newest first: windows closing, reports per policy.
CREATE INDEX grants_policy ON grants (policy, state, id);
