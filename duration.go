package stint

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseDuration parses a Go duration that may also use days ("7d", "1d12h").
// It rejects negative durations.
func ParseDuration(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, fmt.Errorf("empty duration")
	}
	var days time.Duration
	if i := strings.IndexByte(in, 'd'); i >= 0 {
		n, err := strconv.ParseUint(in[:i], 10, 16)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		days = time.Duration(n) * 24 * time.Hour
		in = in[i+1:]
		if in == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(in)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (use for example 90s, 15m, 2h, 7d)", s)
	}
	if d < 0 || (days > 0 && strings.HasPrefix(in, "-")) {
		return 0, fmt.Errorf("invalid duration %q: negative", s)
	}
	return days + d, nil
}

// FormatDuration formats d compactly: "15m", "2h30m", "7d", "1d2h".
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	var b strings.Builder
	if d < 0 {
		b.WriteByte('-')
		d = -d
	}
	if days := d / (24 * time.Hour); days > 0 {
		fmt.Fprintf(&b, "%dd", days)
		d -= days * 24 * time.Hour
	}
	if d == 0 {
		return b.String()
	}
	s := d.String() // "2h30m0s", "15m0s", "1m30s", "1.5s"
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	b.WriteString(s)
	return b.String()
}

// Duration is a time.Duration that reads and writes as a duration string
// ("15m", "7d"); on input it also takes a number of seconds.
type Duration time.Duration

func (d Duration) String() string { return FormatDuration(time.Duration(d)) }

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration string or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n float64
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("duration must be a string such as \"15m\" or a number of seconds")
		}
		if n < 0 {
			return fmt.Errorf("invalid duration %v: negative", n)
		}
		*d = Duration(n * float64(time.Second))
		return nil
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
