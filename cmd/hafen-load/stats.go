package main

import (
	"math"
	"slices"
	"time"
)

// latencySummary describes a set of durations in milliseconds.
type latencySummary struct {
	Count  int     `json:"count"`
	MeanMS float64 `json:"mean_ms"`
	P50MS  float64 `json:"p50_ms"`
	P95MS  float64 `json:"p95_ms"`
	P99MS  float64 `json:"p99_ms"`
	MaxMS  float64 `json:"max_ms"`
}

// summarize returns count, mean, p50, p95, p99 and maximum of ds. It sorts a copy
// and leaves ds as it is. An empty ds gives the zero summary.
func summarize(ds []time.Duration) latencySummary {
	if len(ds) == 0 {
		return latencySummary{}
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	var sum time.Duration
	for _, d := range sorted {
		sum += d
	}
	return latencySummary{
		Count:  len(sorted),
		MeanMS: ms(sum / time.Duration(len(sorted))),
		P50MS:  ms(percentile(sorted, 50)),
		P95MS:  ms(percentile(sorted, 95)),
		P99MS:  ms(percentile(sorted, 99)),
		MaxMS:  ms(sorted[len(sorted)-1]),
	}
}

// percentile returns the p-th percentile (0 < p ≤ 100) of the ascending
// sorted durations by the nearest-rank method: the smallest value such that
// at least p percent of the values are less than or equal to it. It returns 0
// for an empty slice.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = max(1, min(rank, len(sorted)))
	return sorted[rank-1]
}

// ms converts d to milliseconds, rounded to microseconds.
func ms(d time.Duration) float64 {
	return math.Round(float64(d.Microseconds())) / 1000
}

// perSecond returns n divided by the seconds of d, 0 when d is not positive.
func perSecond(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return math.Round(float64(n)/d.Seconds()*10) / 10
}
