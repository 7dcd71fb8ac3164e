package config_test

import (
	"errors"
	"os"
	"testing"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/config"
)

func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("testdata/contract.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(base))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("storage: ${env:X}${file:/nope}\n"))
	var got pgConfig
	factories := fakeFactories()
	factories["postgres"] = strictFactory(&got)
	factories["exec"] = &fakeFactory{typ: "exec", validate: func(s stint.ResourceSpec) error {
		var m map[string]any
		return s.Decode(&m)
	}}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := config.Parse("f.yaml", data, factories, testOptions(testEnv))
		if (c == nil) == (err == nil) {
			t.Fatalf("config %v and error %v", c, err)
		}
		var ce *config.Error
		if err != nil && (!errors.As(err, &ce) || len(ce.Problems) == 0) {
			t.Fatalf("error %T %v", err, err)
		}
	})
}
