package main

import "syscall"

// devSysProcAttr puts a node in its own process group, so that Ctrl-C in
// the terminal reaches only sluice dev (which stops the nodes in order),
// and has the kernel send it SIGTERM should sluice dev die first.
func devSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
