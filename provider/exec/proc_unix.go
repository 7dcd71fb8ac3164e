//go:build unix

package exec

import (
	osexec "os/exec"
	"syscall"
)

// killGroupOnCancel runs cmd in its own process group and makes a timeout
// kill the whole group, so that children of a script do not linger.
func killGroupOnCancel(cmd *osexec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
