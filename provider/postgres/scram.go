package postgres

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
)

// ScramIterations is the PBKDF2 iteration count of the verifiers the
// provider computes. It is far below RFC 7677's 4096 on purpose: iterations
// only slow down guessing a low-entropy password from a leaked verifier,
// and issued passwords are 256 random bits, beyond guessing at any count.
// The count is paid on every use of the verifier: PostgreSQL runs it once
// at CREATE/ALTER ROLE (to reject an empty password; 3 ms of server CPU per
// issue at 4096) and each client runs it at every login.
const ScramIterations = 16

// passwordBytes is the entropy of an issued password (256 bits).
const passwordBytes = 32

// newPassword returns a random password: 32 bytes, base64url without padding
// (43 characters, safe in a URL without escaping).
func newPassword() string {
	b := make([]byte, passwordBytes)
	rand.Read(b) // never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

// ScramVerifier returns the SCRAM-SHA-256 verifier of password (RFC 5802,
// RFC 7677) in the form PostgreSQL stores and accepts in CREATE/ALTER ROLE
// ... PASSWORD: SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>,
// with a random 16-byte salt. The password must be ASCII without control
// characters, for which SASLprep is the identity (issued passwords are).
func ScramVerifier(password string) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	return scramVerifier(password, salt, ScramIterations)
}

func scramVerifier(password string, salt []byte, iter int) string {
	salted, err := pbkdf2.Key(sha256.New, password, salt, iter, sha256.Size)
	if err != nil {
		panic(err) // only for FIPS-mode parameter limits, which these meet
	}
	clientKey := hmacSHA256(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	serverKey := hmacSHA256(salted, "Server Key")
	enc := base64.StdEncoding
	return "SCRAM-SHA-256$" + strconv.Itoa(iter) + ":" + enc.EncodeToString(salt) +
		"$" + enc.EncodeToString(storedKey[:]) + ":" + enc.EncodeToString(serverKey)
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}
