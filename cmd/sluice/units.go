package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// parseRetention parses a retention by age: a Go duration ("36h",
// "90m"), days ("7d", "1d12h"), or "0", "none" or "unlimited" for no
// limit.
func parseRetention(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "0", "none", "unlimited":
		return 0, nil
	case "":
		return 0, fmt.Errorf("empty duration")
	}
	orig := s
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		// At most what a Duration holds (106751 days): more wrapped to a
		// negative retention.
		n, err := strconv.ParseUint(s[:i], 10, 31)
		if err != nil || n > math.MaxInt64/uint64(24*time.Hour) {
			return 0, fmt.Errorf("%q is not a duration such as 7d, 36h or 90m", orig)
		}
		days, s = time.Duration(n)*24*time.Hour, s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d > math.MaxInt64-days {
		return 0, fmt.Errorf("%q is not a duration such as 7d, 36h or 90m", orig)
	}
	return days + d, nil
}

// formatRetention renders a retention by age; 0 is unlimited.
func formatRetention(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d <= 0:
		return "unlimited"
	case d%day == 0:
		return strconv.FormatInt(int64(d/day), 10) + "d"
	case d > day:
		return strconv.FormatInt(int64(d/day), 10) + "d" + (d % day).String()
	}
	return d.String()
}

// byteUnits are the size suffixes parseBytes accepts.
var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40},
	{"B", 1},
}

// parseBytes parses a size: a number of bytes with an optional unit (KiB,
// MiB, GiB, TiB; KB, MB, GB, TB; K, M, G, T as binary), or "0", "none" or
// "unlimited" for no limit.
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	orig := s
	switch strings.ToLower(s) {
	case "none", "unlimited":
		return 0, nil
	}
	mult := int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(strings.ToUpper(s), strings.ToUpper(u.suffix)) {
			s, mult = strings.TrimSpace(s[:len(s)-len(u.suffix)]), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size such as 500MiB, 10GB or 1048576", orig)
	}
	return n * mult, nil
}

// formatBytes renders a size; 0 is unlimited.
func formatBytes(n int64) string {
	if n <= 0 {
		return "unlimited"
	}
	for _, u := range []struct {
		s string
		m int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n%u.m == 0 {
			return strconv.FormatInt(n/u.m, 10) + u.s
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}
