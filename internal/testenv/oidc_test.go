package testenv_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/stint-io/stint/internal/testenv"
)

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}

func TestStartOIDC(t *testing.T) {
	o := testenv.StartOIDC(t)
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	getJSON(t, o.Issuer()+"/.well-known/openid-configuration", &doc)
	if doc.Issuer != o.Issuer() || doc.JWKSURI == "" {
		t.Fatalf("discovery %+v", doc)
	}
	var set jose.JSONWebKeySet
	getJSON(t, doc.JWKSURI, &set)

	tok := o.Token(map[string]any{"sub": "x", "aud": "a"})
	jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	keys := set.Key(jws.Signatures[0].Header.KeyID)
	if len(keys) != 1 || jws.Signatures[0].Header.KeyID != o.KeyID() {
		t.Fatalf("kid %q not in JWKS", jws.Signatures[0].Header.KeyID)
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	_ = json.Unmarshal(payload, &claims)
	if claims["iss"] != o.Issuer() || claims["sub"] != "x" || claims["exp"] == nil || claims["iat"] == nil {
		t.Fatalf("claims %v", claims)
	}

	t.Run("RotateKey", func(t *testing.T) {
		old := o.KeyID()
		o.RotateKey()
		var set jose.JSONWebKeySet
		getJSON(t, doc.JWKSURI, &set)
		if o.KeyID() == old || len(set.Key(old)) != 1 || len(set.Key(o.KeyID())) != 1 {
			t.Fatalf("after rotation: kid %s, JWKS %v", o.KeyID(), set.Keys)
		}
	})
	t.Run("SetDown", func(t *testing.T) {
		o.SetDown(true)
		n := o.Requests()
		if code := getJSON(t, doc.JWKSURI, nil); code != http.StatusServiceUnavailable || o.Requests() != n+1 {
			t.Fatalf("down: %d", code)
		}
		o.SetDown(false)
	})
}
