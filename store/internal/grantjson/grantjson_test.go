package grantjson_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/store/internal/grantjson"
)

func TestRoundTrip(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	g := &stint.Grant{ID: "g", Approvals: []stint.Approval{{By: "a", Decision: "approved", At: at, Comment: "ok"}},
		Approvers: []string{"group:x"}, Window: &stint.WindowRef{Policy: "p", Key: "k", Opens: at, Closes: at.Add(time.Hour)},
		ProviderData: map[string]string{"role": "stint_g"}}
	a, b, c, d, err := grantjson.Encode(g)
	if err != nil {
		t.Fatal(err)
	}
	var got stint.Grant
	if err := grantjson.Decode(&got, []byte(a), []byte(b), []byte(c), []byte(d)); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Approvals, g.Approvals) || !reflect.DeepEqual(got.Window, g.Window) ||
		!reflect.DeepEqual(got.Approvers, g.Approvers) || !reflect.DeepEqual(got.ProviderData, g.ProviderData) {
		t.Fatalf("round trip: %+v", got)
	}
	if err := grantjson.Decode(&got, []byte("{"), []byte(b), []byte(c), []byte(d)); err == nil {
		t.Fatal("bad JSON accepted")
	}
}
