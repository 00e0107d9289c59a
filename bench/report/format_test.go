package report

import (
	"math"
	"slices"
	"testing"
)

func TestSig3(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0"}, {0.00123456, "0.00123"}, {0.5, "0.500"}, {1.234, "1.23"}, {9.996, "10.0"},
		{12.34, "12.3"}, {123.4, "123"}, {999.4, "999"}, {999.6, "1,000"}, {1234.5, "1,235"},
		{-2.5, "-2.50"}, {math.NaN(), na}, {math.Inf(1), na},
	}
	for _, tt := range tests {
		if got := sig3(tt.in); got != tt.want {
			t.Errorf("sig3(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNumbers(t *testing.T) {
	t.Parallel()
	tests := []struct{ got, want string }{
		{count(0), "0"}, {count(999), "999"}, {count(1000), "1,000"}, {count(-1234567), "-1,234,567"},
		{rate(152340.4), "152,340"}, {rate(12.345), "12.3"},
		{compact(1500), "1.5k"}, {compact(20000), "20k"}, {compact(2.5e6), "2.5M"}, {compact(950), "950"},
		{bytesIEC(512), "512 B"}, {bytesIEC(1536), "1.50 KiB"}, {bytesIEC(330 << 20), "330 MiB"},
		{minutes(0.5), "30 s"}, {minutes(5), "5 min"}, {minutes(90), "1 h 30 min"}, {minutes(0), na},
		{percentileLabel(0), "0%"}, {percentileLabel(1), "90%"}, {percentileLabel(2), "99%"},
		{percentileLabel(3), "99.9%"}, {percentileLabel(5), "99.999%"},
		{msLabel(0.001), "0.001"}, {msLabel(roundSig(3*0.001, 2)), "0.003"}, {msLabel(10000), "10,000"},
	}
	for i, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("case %d: got %q, want %q", i, tt.got, tt.want)
		}
	}
}

func TestRatio(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b         float64
		higherBetter bool
		want         string
		verdict      int
	}{
		{10000, 23100, true, "x2.31", 1},
		{10000, 5000, true, "x0.500", -1},
		{10, 5, false, "2.00x lower", 1},
		{5, 10, false, "2.00x higher", -1},
		{5, 5.01, false, "same", 0},
		{0, 5, true, na, 0},
		{5, 0, false, na, 0},
		{math.NaN(), 5, true, na, 0},
	}
	for _, tt := range tests {
		got, v := ratio(tt.a, tt.b, tt.higherBetter)
		if got != tt.want || v != tt.verdict {
			t.Errorf("ratio(%v, %v, %v) = %q, %d; want %q, %d", tt.a, tt.b, tt.higherBetter, got, v, tt.want, tt.verdict)
		}
	}
}

func TestTicks(t *testing.T) {
	t.Parallel()
	labelled := func(ts []string) []string {
		var out []string
		for _, s := range ts {
			if s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	var got []string
	for _, tk := range (msTicks{}).Ticks(0.1, 1000) {
		got = append(got, tk.Label)
	}
	if want := []string{"0.1", "1", "10", "100", "1,000"}; !slices.Equal(labelled(got), want) {
		t.Errorf("msTicks(0.1, 1000) labels = %v, want %v", labelled(got), want)
	}
	got = nil
	for _, tk := range (msTicks{}).Ticks(1, 10) {
		got = append(got, tk.Label)
	}
	if want := []string{"1", "2", "5", "10"}; !slices.Equal(labelled(got), want) {
		t.Errorf("msTicks(1, 10) labels = %v, want %v", labelled(got), want)
	}
	got = nil
	for _, tk := range (percentileTicks{}).Ticks(1, 1e4) {
		got = append(got, tk.Label)
	}
	if want := []string{"0%", "90%", "99%", "99.9%", "99.99%"}; !slices.Equal(got, want) {
		t.Errorf("percentileTicks(1, 1e4) = %v, want %v", got, want)
	}
	got = nil
	for _, tk := range (linearTicks{}).Ticks(0, 52000) {
		got = append(got, tk.Label)
	}
	if want := []string{"0", "10k", "20k", "30k", "40k", "50k"}; !slices.Equal(labelled(got), want) {
		t.Errorf("linearTicks(0, 52000) labels = %v, want %v", labelled(got), want)
	}
	for _, bad := range [][2]float64{{0, 10}, {-1, 10}, {5, 5}, {math.NaN(), 1}} {
		if ts := (msTicks{}).Ticks(bad[0], bad[1]); len(ts) != 0 {
			t.Errorf("msTicks(%v) = %v, want none", bad, ts)
		}
		if ts := (linearTicks{}).Ticks(bad[1], bad[0]); len(ts) != 0 {
			t.Errorf("linearTicks(%v, %v) = %v, want none", bad[1], bad[0], ts)
		}
	}
}
