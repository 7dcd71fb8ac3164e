package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/stint-io/stint"
)

// Headers of a FormatJSON message.
const (
	HeaderEvent     = "X-Stint-Event"
	HeaderTimestamp = "X-Stint-Timestamp" // Unix seconds
	HeaderSignature = "X-Stint-Signature" // "sha256=" + hex HMAC-SHA256
)

// DefaultTolerance is how far a signed timestamp may be from the receiver's
// clock before VerifySignature refuses it as stale.
const DefaultTolerance = 5 * time.Minute

const signaturePrefix = "sha256="

// Sign returns the X-Stint-Signature value of body sent at timestamp (Unix
// seconds, as sent in X-Stint-Timestamp): "sha256=" followed by the hex
// HMAC-SHA256 with key secret over timestamp + "." + body.
func Sign(secret, timestamp string, body []byte) string {
	return signaturePrefix + hex.EncodeToString(mac(secret, timestamp, body))
}

func mac(secret, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// VerifySignature checks a received FormatJSON message, for receivers:
// timestamp and header are the X-Stint-Timestamp and X-Stint-Signature
// values, body the raw request body. The timestamp must be within tolerance
// of now (DefaultTolerance when tolerance <= 0), which bounds replays.
// Returns EUNAUTHORIZED for a missing, malformed, stale or wrong signature,
// and when secret is empty (a receiver without a secret cannot check
// anything, so it refuses).
func VerifySignature(secret, timestamp string, body []byte, header string, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	switch {
	case secret == "":
		return stint.Errorf(stint.EUNAUTHORIZED, "notify: no secret to verify the signature with")
	case header == "":
		return stint.Errorf(stint.EUNAUTHORIZED, "notify: missing %s", HeaderSignature)
	case timestamp == "":
		return stint.Errorf(stint.EUNAUTHORIZED, "notify: missing %s", HeaderTimestamp)
	}
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return stint.Errorf(stint.EUNAUTHORIZED, "notify: malformed %s", HeaderTimestamp)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return stint.Errorf(stint.EUNAUTHORIZED, "notify: stale %s (%s from now)", HeaderTimestamp, d.Round(time.Second))
	}
	hexSig, ok := strings.CutPrefix(strings.TrimSpace(header), signaturePrefix)
	if !ok {
		return stint.Errorf(stint.EUNAUTHORIZED, "notify: malformed %s: want sha256=HEX", HeaderSignature)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return stint.Errorf(stint.EUNAUTHORIZED, "notify: malformed %s: want sha256=HEX", HeaderSignature)
	}
	if !hmac.Equal(got, mac(secret, timestamp, body)) {
		return stint.Errorf(stint.EUNAUTHORIZED, "notify: signature mismatch")
	}
	return nil
}
