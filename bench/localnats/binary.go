package localnats

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Version is the nats-server release that bench/install-nats-server.sh
// installs and the benchmarks are written against.
const Version = "v2.15.2"

// EnvBinary names the environment variable that, when set, holds the path
// of the nats-server binary to use. CI sets it from the install script's
// output.
const EnvBinary = "SLUICE_NATS_SERVER"

// DefaultBinaryPath is where bench/install-nats-server.sh installs the
// binary when given no directory:
// ${XDG_CACHE_HOME:-$HOME/.cache}/sluice/nats-server-<Version>/nats-server.
// It computes the path the way the script does (not with os.UserCacheDir,
// which differs on macOS) and does not check that the file exists.
func DefaultBinaryPath() (string, error) {
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("localnats: default install path: %w", err)
		}
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "sluice", "nats-server-"+Version, "nats-server"), nil
}

// FindBinary returns the absolute path of the nats-server binary to run:
// $SLUICE_NATS_SERVER if set, else the install script's default path if a
// binary is there, else nats-server on PATH. When none is usable it
// returns a *NoBinaryError (matching ErrNoBinary) that tells how to
// install one. A set but unusable $SLUICE_NATS_SERVER is an error, not a
// reason to fall back, so a CI misconfiguration is not hidden.
func FindBinary() (string, error) {
	var tried []string
	if p := os.Getenv(EnvBinary); p != "" {
		abs, err := executable(p)
		if err == nil {
			return abs, nil
		}
		return "", &NoBinaryError{Tried: []string{fmt.Sprintf("$%s=%s: %v", EnvBinary, p, err)}}
	}
	tried = append(tried, "$"+EnvBinary+": not set")
	if p, err := DefaultBinaryPath(); err != nil {
		tried = append(tried, err.Error())
	} else if abs, err := executable(p); err == nil {
		return abs, nil
	} else {
		tried = append(tried, fmt.Sprintf("%s: %v", p, err))
	}
	p, err := exec.LookPath("nats-server")
	if err == nil {
		if abs, err := executable(p); err == nil {
			return abs, nil
		}
	}
	tried = append(tried, "nats-server on $PATH: not found")
	return "", &NoBinaryError{Tried: tried}
}

// executable returns p made absolute if it names an executable regular
// file.
func executable(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", errors.New("no such file")
		}
		return "", err
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return "", errors.New("not an executable file")
	}
	return abs, nil
}
