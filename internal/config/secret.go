package config

import (
	"encoding/json"
	"log/slog"
)

// Secret is a configuration value that must not be shown: it prints, logs
// and marshals as "[redacted]". Convert with string(s) to use it.
type Secret string

const redacted = "[redacted]"

func (s Secret) String() string { return redacted }

// GoString keeps the value out of %#v.
func (s Secret) GoString() string { return redacted }

// LogValue keeps the value out of slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON keeps the value out of JSON.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(redacted) }
