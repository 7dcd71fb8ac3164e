package main

import (
	"net/http"

	"github.com/stint-io/stint/internal/httpapi"
	"github.com/stint-io/stint/provider/ssh"
)

// mountSSH serves the SSH CA's public keys and the key revocation list,
// without authentication: SSH servers fetch them (TrustedUserCAKeys,
// RevokedKeys; replace the KRL file atomically, sshd re-reads it at every
// login).
func (a *App) mountSSH(api *httpapi.Server) {
	f, _ := a.factories[ssh.Type].(*ssh.Factory)
	if f == nil {
		return
	}
	api.Handle("GET /v1/ssh/ca.pub", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "max-age=60")
		w.Write(f.CAPublicKeys())
	}))
	api.Handle("GET /v1/ssh/krl", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		krl, err := f.KRL()
		if err != nil {
			api.WriteError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(krl)
	}))
}
