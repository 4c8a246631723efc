//go:build !unix

package cmd

import "os/exec"

// killGroup: without process groups, cancelling kills the command only.
func killGroup(*exec.Cmd) {}
