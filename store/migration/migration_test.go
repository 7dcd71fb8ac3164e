package migration_test

import (
	"testing"
	"testing/fstest"

	"github.com/stint-io/stint/store/migration"
)

func TestLoad(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0002_b.sql":   {Data: []byte("B")},
		"m/0001_a.sql":   {Data: []byte("A")},
		"m/README":       {Data: []byte("not sql")},
		"bad/x.sql":      {Data: []byte("")},
		"dup/0001_a.sql": {Data: []byte("")},
		"dup/0001_b.sql": {Data: []byte("")},
	}
	ms, err := migration.Load(fsys, "m")
	if err != nil || len(ms) != 2 || ms[0].Version != 1 || ms[0].Name != "0001_a.sql" || ms[1].SQL != "B" {
		t.Fatalf("%+v %v", ms, err)
	}
	if _, err := migration.Load(fsys, "bad"); err == nil {
		t.Error("bad name accepted")
	}
	if _, err := migration.Load(fsys, "dup"); err == nil {
		t.Error("duplicate number accepted")
	}
}
