package report

import (
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
)

// linearTicks are four to seven labelled ticks at multiples of 1, 2 or 5
// times a power of ten, labelled briefly (1.5k, 2M), with an unlabelled
// tick halfway between. gonum's default gives only about three.
type linearTicks struct{}

// Ticks implements plot.Ticker.
func (linearTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return nil
	}
	raw := (hi - lo) / 6
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * mag
	for _, m := range []float64{1, 2, 5} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var ts []plot.Tick
	first := math.Ceil(lo/step) * step
	if half := first - step/2; half >= lo {
		ts = append(ts, plot.Tick{Value: half})
	}
	for i := 0; i < 20; i++ {
		v := first + float64(i)*step
		if v > hi+step*1e-9 {
			break
		}
		ts = append(ts, plot.Tick{Value: v, Label: compact(v)})
		if half := v + step/2; half <= hi {
			ts = append(ts, plot.Tick{Value: half})
		}
	}
	return ts
}

// msTicks are log-scale ticks for milliseconds: a labelled tick at each
// power of ten (every second or third one over more than seven decades)
// and unlabelled ones at 2…9 times it. When the axis spans at most two
// decades, 2 and 5 times each power are labelled too.
type msTicks struct{}

// Ticks implements plot.Ticker.
func (msTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0) || !(hi > lo) || math.IsInf(hi, 0) {
		return nil
	}
	first := math.Floor(math.Log10(lo) + 1e-9)
	last := math.Ceil(math.Log10(hi) - 1e-9)
	few := last-first <= 2
	stride := labelStride(int(last - first))
	var ts []plot.Tick
	for e := first; e <= last; e++ {
		for m := 1; m < 10; m++ {
			v := roundSig(float64(m)*math.Pow(10, e), 2)
			if v < lo*(1-1e-9) || v > hi*(1+1e-9) {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 && int(e-first)%stride == 0 || few && (m == 2 || m == 5) {
				t.Label = msLabel(v)
			}
			ts = append(ts, t)
		}
	}
	return ts
}

// labelStride returns n such that labelling every nth of decades+1
// powers of ten gives at most seven labels, which fit side by side.
func labelStride(decades int) int {
	return max(1, (decades+6)/7)
}

// msLabel formats a tick value in milliseconds: 0.001, 0.5, 20, 1,000.
func msLabel(v float64) string {
	if v >= 1000 {
		return thousands(v)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// roundSig rounds v to n significant digits, so that 3*0.001 prints as
// 0.003.
func roundSig(v float64, n int) float64 {
	if v == 0 {
		return 0
	}
	scale := math.Pow(10, float64(n)-math.Ceil(math.Log10(math.Abs(v))))
	return math.Round(v*scale) / scale
}

// percentileTicks label x = 1/(1-p/100) at each power of ten with its
// percentile: 1 is 0%, 10 is 90%, 100 is 99%, 1000 is 99.9%. Over more
// than seven decades only every second (or third) one is labelled.
type percentileTicks struct{}

// Ticks implements plot.Ticker.
func (percentileTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0) || !(hi > lo) || math.IsInf(hi, 0) {
		return nil
	}
	first := max(0, int(math.Ceil(math.Log10(lo)-1e-9)))
	last := min(9, int(math.Floor(math.Log10(hi)+1e-9)))
	stride := labelStride(last - first)
	var ts []plot.Tick
	for k := first; k <= last; k++ {
		t := plot.Tick{Value: math.Pow10(k)}
		if (k-first)%stride == 0 {
			t.Label = percentileLabel(k)
		}
		ts = append(ts, t)
	}
	return ts
}

// percentileLabel is the percentile at x = 10^k.
func percentileLabel(k int) string {
	switch k {
	case 0:
		return "0%"
	case 1:
		return "90%"
	}
	return "99" + strings.TrimSuffix("."+strings.Repeat("9", k-2), ".") + "%"
}
