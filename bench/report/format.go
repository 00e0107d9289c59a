package report

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// na is shown for a value that was not measured or has no meaning, such
// as the publish latency of a run with acks none.
const na = "–"

// sig3 formats v with three significant digits, and with thousands
// separators and no fraction from 1,000 up: 0.00123, 1.23, 12.3, 123,
// 1,235.
func sig3(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return na
	}
	if v == 0 {
		return "0"
	}
	if math.Abs(v) >= 999.5 {
		return thousands(math.Round(v))
	}
	// Round first, so that 9.996 becomes 10.0 and not 10.00.
	mag := math.Floor(math.Log10(math.Abs(v)))
	scale := math.Pow(10, 2-mag)
	r := math.Round(v*scale) / scale
	if math.Abs(r) >= 999.5 {
		return thousands(r)
	}
	decimals := max(0, 2-int(math.Floor(math.Log10(math.Abs(r)))))
	return strconv.FormatFloat(r, 'f', decimals, 64)
}

// thousands formats the integer part of v with comma separators.
func thousands(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return na
	}
	if math.Abs(v) >= 1e18 {
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	return groupDigits(strconv.FormatInt(int64(math.Round(v)), 10))
}

// count formats an integer with comma separators.
func count(n int64) string {
	return groupDigits(strconv.FormatInt(n, 10))
}

// groupDigits inserts a comma every three digits of a decimal integer.
func groupDigits(s string) string {
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return sign + b.String()
}

// rate formats records/s: whole numbers from 1,000 up, three significant
// digits below.
func rate(v float64) string {
	if math.Abs(v) >= 999.5 {
		return thousands(v)
	}
	return sig3(v)
}

// compact formats an axis tick value briefly: 950, 1.5k, 12k, 2.5M.
func compact(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return trimZeros(v/1e9) + "G"
	case a >= 1e6:
		return trimZeros(v/1e6) + "M"
	case a >= 1e3:
		return trimZeros(v/1e3) + "k"
	}
	return trimZeros(v)
}

// trimZeros formats v with at most two decimals and no trailing zeros.
func trimZeros(v float64) string {
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}

// bytesIEC formats a byte count: 512 B, 1.50 KiB, 230 MiB, 1.20 GiB.
func bytesIEC(n int64) string {
	const unit = 1024
	if n < unit {
		return count(n) + " B"
	}
	v := float64(n)
	suffixes := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	i := -1
	for v >= unit && i < len(suffixes)-1 {
		v /= unit
		i++
	}
	return sig3(v) + " " + suffixes[i]
}

// minutes formats a workload duration given in minutes: 30 s, 5 min,
// 1 h 30 min.
func minutes(m float64) string {
	if m <= 0 || math.IsNaN(m) || math.IsInf(m, 0) || m > 1e6 {
		return na
	}
	d := time.Duration(m * float64(time.Minute)).Round(time.Second)
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + " s"
	case d%time.Minute != 0:
		return sig3(d.Minutes()) + " min"
	case d >= time.Hour:
		h, rest := d/time.Hour, (d%time.Hour)/time.Minute
		if rest == 0 {
			return strconv.Itoa(int(h)) + " h"
		}
		return strconv.Itoa(int(h)) + " h " + strconv.Itoa(int(rest)) + " min"
	}
	return strconv.Itoa(int(d/time.Minute)) + " min"
}

// ratio formats how result b compares with the baseline a. For a metric
// where higher is better (throughput) it is "x2.31" (b/a); for one where
// lower is better (latency, resource use) it is "2.31x lower" or "2.31x
// higher". It also says whether b is better, worse or about the same,
// for colouring. A zero or missing value gives na.
func ratio(a, b float64, higherBetter bool) (text string, verdict int) {
	if !(a > 0) || !(b > 0) || math.IsInf(a, 0) || math.IsInf(b, 0) {
		return na, 0
	}
	q := b / a
	verdict = 0
	if q > 1.05 {
		verdict = 1
	} else if q < 1/1.05 {
		verdict = -1
	}
	if higherBetter {
		return "x" + sig3(q), verdict
	}
	verdict = -verdict
	switch {
	case q < 1/1.005:
		return sig3(1/q) + "x lower", verdict
	case q > 1.005:
		return sig3(q) + "x higher", verdict
	}
	return "same", verdict
}
