package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/audit"
)

// decodeLines decodes JSON Lines into records, skipping empty lines.
func decodeLines(b []byte) ([]*stint.AuditRecord, error) {
	var recs []*stint.AuditRecord
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var r stint.AuditRecord
		if err := json.Unmarshal(line, &r); err != nil {
			return nil, err
		}
		recs = append(recs, &r)
	}
	return recs, sc.Err()
}

func TestWriteJSONLines(t *testing.T) {
	recs := chain(t, 25)
	var buf bytes.Buffer
	if err := audit.WriteJSONLines(&buf, recs); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), "\n"); n != 25 {
		t.Fatalf("%d lines, want 25", n)
	}
	// The export verifies on its own.
	back, err := decodeLines(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	res, err := audit.Verify(context.Background(), &fakeStore{recs: back})
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || res.Records != 25 {
		t.Fatalf("re-read export: %+v", res)
	}
	if !strings.Contains(buf.String(), `"prev_hash":"`+stint.GenesisHash+`"`) {
		t.Error("export lacks the chain fields")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteText(t *testing.T) {
	recs := []*stint.AuditRecord{
		{Time: start, Type: stint.AuditGrantExpired, Actor: stint.ActorStint, GrantID: "01jabc", Access: "db/read"},
		{Time: start.Add(90e9), Type: stint.AuditGrantRequested, Actor: "alice", GrantID: "01jdef", Access: "db/admin", Reason: "fix INC-42\nnow"},
		{Time: start, Type: stint.AuditConfigLoaded, Reason: `said "hi"`},
	}
	var buf bytes.Buffer
	if err := audit.WriteText(&buf, recs); err != nil {
		t.Fatal(err)
	}
	want := "2025-03-01T12:00:00Z  grant.expired  stint  grant=01jabc  access=db/read\n" +
		"2025-03-01T12:01:30Z  grant.requested  alice  grant=01jdef  access=db/admin  reason=\"fix INC-42\\nnow\"\n" +
		"2025-03-01T12:00:00Z  config.loaded  -  reason=\"said \\\"hi\\\"\"\n"
	if got := buf.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestWrite_Errors(t *testing.T) {
	recs := chain(t, 3)
	if err := audit.WriteJSONLines(failWriter{}, recs); err == nil {
		t.Error("WriteJSONLines: no error from a failing writer")
	}
	if err := audit.WriteText(failWriter{}, recs); err == nil {
		t.Error("WriteText: no error from a failing writer")
	}
}
