package main

import (
	"slices"
	"testing"
	"time"
)

func msDurations(vals ...int) []time.Duration {
	ds := make([]time.Duration, len(vals))
	for i, v := range vals {
		ds[i] = time.Duration(v) * time.Millisecond
	}
	return ds
}

func TestPercentile(t *testing.T) {
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty is zero", nil, 50, 0},
		{"one value is every percentile", msDurations(7), 99, 7 * time.Millisecond},
		{"nearest rank p50 of 1..100", msDurations(hundred...), 50, 50 * time.Millisecond},
		{"nearest rank p99 of 1..100", msDurations(hundred...), 99, 99 * time.Millisecond},
		{"p100 is the maximum", msDurations(hundred...), 100, 100 * time.Millisecond},
		{"p50 of an odd count is the median", msDurations(1, 2, 3, 4, 5), 50, 3 * time.Millisecond},
		{"p50 of an even count is the lower middle", msDurations(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of a small set is its maximum", msDurations(1, 2, 3, 4, 5), 99, 5 * time.Millisecond},
		{"tiny p is the minimum", msDurations(1, 2, 3), 0.1, 1 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tc.sorted, tc.p, got, tc.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name string
		in   []time.Duration
		want latencySummary
	}{
		{"empty", nil, latencySummary{}},
		{"unsorted input", msDurations(30, 10, 20, 40), latencySummary{Count: 4, MeanMS: 25, P50MS: 20, P95MS: 40, P99MS: 40, MaxMS: 40}},
		{"p95 below the maximum", msDurations(20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1), latencySummary{Count: 20, MeanMS: 10.5, P50MS: 10, P95MS: 19, P99MS: 20, MaxMS: 20}},
		{"sub-millisecond precision", []time.Duration{1500 * time.Microsecond, 2500 * time.Microsecond}, latencySummary{Count: 2, MeanMS: 2, P50MS: 1.5, P95MS: 2.5, P99MS: 2.5, MaxMS: 2.5}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := slices.Clone(tc.in)
			if got := summarize(tc.in); got != tc.want {
				t.Errorf("summarize(%v) = %+v, want %+v", tc.in, got, tc.want)
			}
			if !slices.Equal(tc.in, before) {
				t.Errorf("summarize changed its input: %v, want %v", tc.in, before)
			}
		})
	}
}

func TestPerSecond(t *testing.T) {
	tests := []struct {
		n    int
		d    time.Duration
		want float64
	}{
		{200, 2 * time.Second, 100},
		{1, 3 * time.Second, 0.3},
		{5, 0, 0},
		{5, -time.Second, 0},
	}
	for _, tc := range tests {
		if got := perSecond(tc.n, tc.d); got != tc.want {
			t.Errorf("perSecond(%d, %v) = %v, want %v", tc.n, tc.d, got, tc.want)
		}
	}
}
