package main_test

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestE2E_Dev runs `stint dev` as the README's quick start does and tries
// the commands its banner suggests.
func TestE2E_Dev(t *testing.T) {
	cmd := exec.Command(stintBin, "dev", "--listen", "127.0.0.1:0", "--log-level", "warn")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	exports := map[string]string{}
	re := regexp.MustCompile(`^\s+(\w+) (\S+):\s+export STINT_ADDR=(\S+) STINT_TOKEN=(\S+)$`)
	sc := bufio.NewScanner(stdout)
	var addr, banner string
	deadline := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	defer deadline.Stop()
	for sc.Scan() {
		line := sc.Text()
		banner += line + "\n"
		if m := re.FindStringSubmatch(line); m != nil {
			exports[m[1]] = m[4]
			addr = m[3]
		}
		if strings.HasPrefix(line, "Ctrl-C") {
			break
		}
	}
	go func() { // keep draining so the server never blocks on stdout
		for sc.Scan() {
		}
	}()
	if len(exports) != 3 || addr == "" || !strings.Contains(banner, addr+"/ui/") {
		t.Fatalf("banner:\n%s", banner)
	}
	run := func(role string, args ...string) (string, int) {
		c := exec.Command(stintBin, args...)
		c.Env = append(os.Environ(), "STINT_ADDR="+addr, "STINT_TOKEN="+exports[role])
		out, err := c.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		}
		return string(out), 0
	}
	if out, code := run("workload", "request", "internal-api/read", "--reason", "nightly report"); code != 0 || !strings.Contains(out, "STINT_ACCESS_TOKEN") {
		t.Fatalf("request: %d\n%s", code, out)
	}
	if out, code := run("workload", "exec", "legacy/operator", "--", "sh", "-c", `echo "I am $LEGACY_USER until $STINT_EXPIRES_AT"`); code != 0 || !strings.Contains(out, "I am stint-") {
		t.Fatalf("exec: %d\n%s", code, out)
	}
	if out, code := run("workload", "request", "internal-api/admin"); code != 3 {
		t.Fatalf("request without reason: %d\n%s", code, out)
	}
	out, code := run("approver", "policy", "explain", "--principal", "svc/demo-app", "--access", "internal-api/admin", "--json")
	var d struct {
		Outcome  string `json:"outcome"`
		Policies []struct{ Policy, Outcome string }
	}
	if code != 0 || json.Unmarshal([]byte(out), &d) != nil || d.Outcome != "deny" || len(d.Policies) == 0 {
		t.Fatalf("explain: %d %s", code, out)
	}
	if out, code := run("admin", "audit", "verify"); code != 0 || !strings.Contains(out, "intact") {
		t.Fatalf("verify: %d %s", code, out)
	}
	if out, code := run("admin", "whoami"); code != 0 || !strings.Contains(out, "root@example.com (human)") || !strings.Contains(out, "admin") {
		t.Fatalf("whoami: %d %s", code, out)
	}
}
