//go:build !unix

package exec

import osexec "os/exec"

// killGroupOnCancel kills only the command itself where process groups do
// not exist.
func killGroupOnCancel(cmd *osexec.Cmd) {}
