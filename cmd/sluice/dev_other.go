//go:build !linux

package main

import "syscall"

// devSysProcAttr: elsewhere the nodes share sluice dev's process group, so
// Ctrl-C in the terminal reaches them too; they stop on it by themselves.
func devSysProcAttr() *syscall.SysProcAttr { return nil }
