package audit

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/stint-io/stint"
)

// WriteJSONLines writes recs to w as JSON Lines: one record per line, in the
// JSON form of stint.AuditRecord (seq, hash and prev_hash included), so the
// export can be checked again elsewhere. Returns w's error.
func WriteJSONLines(w io.Writer, recs []*stint.AuditRecord) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, r := range recs {
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("audit: write json: %w", err)
		}
	}
	return bw.Flush()
}

// WriteText writes recs to w for people, one line per record:
//
//	2025-03-01T12:00:00Z  grant.expired  stint  grant=01j... access=db/read reason="ttl"
//
// Time is UTC, RFC 3339. Empty fields are left out; values with spaces or
// control characters are quoted, so each record stays on one line. Returns
// w's error.
func WriteText(w io.Writer, recs []*stint.AuditRecord) error {
	bw := bufio.NewWriter(w)
	for _, r := range recs {
		var b strings.Builder
		b.WriteString(r.Time.UTC().Format(time.RFC3339))
		b.WriteString("  ")
		b.WriteString(quote(r.Type))
		b.WriteString("  ")
		b.WriteString(quote(orDash(r.Actor)))
		for _, kv := range [][2]string{{"grant", r.GrantID}, {"access", r.Access}, {"reason", r.Reason}} {
			if kv[1] != "" {
				b.WriteString("  " + kv[0] + "=" + quote(kv[1]))
			}
		}
		b.WriteByte('\n')
		if _, err := bw.WriteString(b.String()); err != nil {
			return fmt.Errorf("audit: write text: %w", err)
		}
	}
	return bw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// quote returns s, quoted if it holds a space, a quote, or a character that
// is not printable.
func quote(s string) string {
	if s == "" {
		return `""`
	}
	if strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || r == '"' || r == '=' || !unicode.IsPrint(r)
	}) >= 0 {
		return strconv.Quote(s)
	}
	return s
}
