-- Break-glass grants are few and listed for review: a partial index.
CREATE INDEX grants_break_glass ON grants (id) WHERE break_glass = 1;
