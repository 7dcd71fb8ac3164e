package testenv

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// SSHD binaries, by absolute path (sshd refuses to run otherwise).
const (
	SSHDPath   = "/usr/sbin/sshd"
	SSHPath    = "/usr/bin/ssh"
	SSHKeygen  = "/usr/bin/ssh-keygen"
	SSHDRunDir = "/run/sshd" // sshd's privilege-separation directory
)

// SSHUser is the login user StartSSHD makes sure exists.
const SSHUser = "stintdeploy"

// ErrNoSSHD is returned when the OpenSSH server or client is not installed.
var ErrNoSSHD = errors.New("testenv: OpenSSH not found (" + SSHDPath + ", " + SSHPath + ", " + SSHKeygen + "); install openssh-server and openssh-client")

// SSHD is a running throwaway OpenSSH server on 127.0.0.1 that trusts one
// user CA, checks a KRL at every login, and accepts nothing else (no
// authorized_keys, no passwords).
type SSHD struct {
	Host    string // always 127.0.0.1
	Port    int
	Dir     string // temporary directory holding the files below
	Config  string // sshd_config
	CAFile  string // TrustedUserCAKeys
	KRLPath string // RevokedKeys
	LogFile string // sshd's stderr (-e)

	cmd  *exec.Cmd
	done chan struct{}
}

// StartSSHD starts sshd for tb, trusting the user CA caPub (authorized_keys
// lines) and reading revocations from krlPath (a file in its own directory
// when empty), which it first fills with an empty KRL made by ssh-keygen: a
// missing RevokedKeys file makes sshd refuse every key. It makes sure user
// SSHUser exists. It stops sshd and removes its directory in tb.Cleanup.
// Without OpenSSH it skips tb, or fails it when STINT_REQUIRE_SERVICES is set.
func StartSSHD(tb testing.TB, caPub []byte, krlPath string) *SSHD {
	tb.Helper()
	for _, bin := range []string{SSHDPath, SSHPath, SSHKeygen} {
		if !isExec(bin) {
			if os.Getenv(EnvRequireServices) == "" {
				tb.Skip(ErrNoSSHD.Error())
			}
			tb.Fatal(ErrNoSSHD)
		}
	}
	EnsureUser(tb, SSHUser)
	dir, err := os.MkdirTemp("/tmp", "stint-sshd-")
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	if krlPath == "" {
		krlPath = filepath.Join(dir, "krl")
	}
	d := &SSHD{
		Host: "127.0.0.1", Dir: dir, Config: filepath.Join(dir, "sshd_config"),
		CAFile: filepath.Join(dir, "ca.pub"), KRLPath: krlPath, LogFile: filepath.Join(dir, "sshd.log"),
	}
	if err := d.prepare(caPub); err != nil {
		tb.Fatal(err)
	}
	for attempt := 0; ; attempt++ {
		if d.Port, err = freePort(); err != nil {
			tb.Fatal(err)
		}
		if err = d.start(); err == nil {
			break
		}
		if attempt == 2 {
			tb.Fatal(err)
		}
	}
	tb.Cleanup(d.stop)
	return d
}

func (d *SSHD) prepare(caPub []byte) error {
	if err := os.MkdirAll(SSHDRunDir, 0o755); err != nil {
		return fmt.Errorf("testenv: %w", err)
	}
	_, hostKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("testenv: host key: %w", err)
	}
	blk, err := gossh.MarshalPrivateKey(hostKey, "stint testenv host key")
	if err != nil {
		return fmt.Errorf("testenv: host key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(d.Dir, "host_key"), pem.EncodeToMemory(blk), 0o600); err != nil {
		return fmt.Errorf("testenv: %w", err)
	}
	if err := os.WriteFile(d.CAFile, caPub, 0o644); err != nil {
		return fmt.Errorf("testenv: %w", err)
	}
	// An empty KRL, made by OpenSSH itself, written then renamed into place.
	tmp := d.KRLPath + ".new"
	if out, err := exec.Command(SSHKeygen, "-k", "-f", tmp, "-s", d.CAFile, "/dev/null").CombinedOutput(); err != nil {
		return fmt.Errorf("testenv: ssh-keygen -k: %w\n%s", err, out)
	}
	if err := os.Rename(tmp, d.KRLPath); err != nil {
		return fmt.Errorf("testenv: %w", err)
	}
	return nil
}

func (d *SSHD) config(penalties bool) string {
	c := fmt.Sprintf(`# written by testenv
Port %d
ListenAddress 127.0.0.1
HostKey %s
PidFile %s
TrustedUserCAKeys %s
RevokedKeys %s
AuthorizedKeysFile none
AuthorizedPrincipalsFile none
UsePAM no
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
MaxStartups 100
LogLevel VERBOSE
`, d.Port, filepath.Join(d.Dir, "host_key"), filepath.Join(d.Dir, "sshd.pid"), d.CAFile, d.KRLPath)
	if penalties {
		// OpenSSH 9.8+ penalises addresses with failed logins; tests fail logins on purpose.
		c += "PerSourcePenalties no\n"
	}
	return c
}

func (d *SSHD) start() error {
	// Newer servers know PerSourcePenalties; older ones reject it.
	if err := os.WriteFile(d.Config, []byte(d.config(true)), 0o644); err != nil {
		return fmt.Errorf("testenv: %w", err)
	}
	if out, err := exec.Command(SSHDPath, "-t", "-f", d.Config).CombinedOutput(); err != nil {
		if err := os.WriteFile(d.Config, []byte(d.config(false)), 0o644); err != nil {
			return fmt.Errorf("testenv: %w", err)
		}
		if out2, err := exec.Command(SSHDPath, "-t", "-f", d.Config).CombinedOutput(); err != nil {
			return fmt.Errorf("testenv: sshd -t: %w\n%s\n%s", err, out, out2)
		}
	}
	logf, err := os.OpenFile(d.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("testenv: %w", err)
	}
	cmd := exec.Command(SSHDPath, "-D", "-e", "-f", d.Config)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("testenv: start sshd: %w", err)
	}
	d.cmd, d.done = cmd, make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(d.done) }()

	deadline := time.Now().Add(15 * time.Second)
	addr := net.JoinHostPort(d.Host, fmt.Sprint(d.Port))
	for {
		select {
		case <-d.done:
			log, _ := os.ReadFile(d.LogFile)
			return fmt.Errorf("testenv: sshd exited at start:\n%s", tail(string(log), 2000))
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			d.stop()
			return fmt.Errorf("testenv: sshd not listening on %s after 15s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (d *SSHD) stop() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	d.cmd.Process.Kill()
	<-d.done
}

// ServerLog returns sshd's log so far (the reasons it refused logins).
func (d *SSHD) ServerLog() string {
	b, _ := os.ReadFile(d.LogFile)
	return string(b)
}

// WriteKRL replaces the RevokedKeys file with krl atomically (write, then
// rename); sshd reads it at the next login.
func (d *SSHD) WriteKRL(tb testing.TB, krl []byte) {
	tb.Helper()
	f, err := os.CreateTemp(filepath.Dir(d.KRLPath), ".krl-*")
	if err == nil {
		_, err = f.Write(krl)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Chmod(f.Name(), 0o644)
		}
		if err == nil {
			err = os.Rename(f.Name(), d.KRLPath)
		}
		if err != nil {
			os.Remove(f.Name())
		}
	}
	if err != nil {
		tb.Fatalf("testenv: write KRL: %v", err)
	}
}

// Login logs in as user with the private key keyFile and the certificate
// certFile and runs `true`. It returns nil when the login succeeded, and an
// error with ssh's output when it was refused. keyFile must be mode 0600.
func (d *SSHD) Login(tb testing.TB, certFile, keyFile, user string) error {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, SSHPath, "-F", "/dev/null",
		"-i", keyFile, "-o", "CertificateFile="+certFile, "-o", "IdentitiesOnly=yes",
		"-o", "IdentityAgent=none",
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
		"-p", fmt.Sprint(d.Port), user+"@"+d.Host, "true")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("ssh %s@%s:%d: %w: %s", user, d.Host, d.Port, err, bytes.TrimSpace(out))
	}
	return nil
}

var userMu sync.Mutex

// EnsureUser creates the local user name (`useradd -m -p '*'`: unlocked,
// without password, which sshd with UsePAM no needs) unless it exists.
func EnsureUser(tb testing.TB, name string) {
	tb.Helper()
	userMu.Lock()
	defer userMu.Unlock()
	if _, err := user.Lookup(name); err == nil {
		return
	}
	out, err := exec.Command("useradd", "-m", "-s", "/bin/sh", "-p", "*", name).CombinedOutput()
	if err != nil {
		// Another test process may have made it meanwhile.
		if _, lerr := user.Lookup(name); lerr == nil {
			return
		}
		tb.Fatalf("testenv: useradd %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
}
