package main

import (
	"strings"
	"testing"
)

func TestParseStatus(t *testing.T) {
	const status = "Name:\tdendrite\nVmPeak:\t 1000 kB\nVmHWM:\t   61234 kB\nVmRSS:\t   45678 kB\nThreads:\t12\n"
	got, err := parseStatus(strings.NewReader(status))
	if err != nil {
		t.Fatalf("parseStatus: %v", err)
	}
	if want := (memory{RSSKiB: 45678, PeakKiB: 61234}); got != want {
		t.Errorf("parseStatus = %+v, want %+v", got, want)
	}
	if _, err := parseStatus(strings.NewReader("Name:\tkthreadd\n")); err == nil {
		t.Errorf("parseStatus without VmRSS = nil error, want an error")
	}
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		stat    string
		want    float64
		wantErr bool
	}{
		{"plain", "4242 (dendrite) S 1 4242 4242 0 -1 4194560 9000 0 0 0 150 75 0 0 20 0 12 0", 2.25, false},
		{"command name with spaces and parens", "7 (a b) c)) R 1 7 7 0 -1 0 0 0 0 0 1000 1 0 0 20 0 1 0", 10.01, false},
		{"truncated", "7 (x) R 1 2 3", 0, true},
		{"no command name", "7 x R", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStat(tc.stat)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("parseStat(%q) = %v, %v; want %v, error %v", tc.stat, got, err, tc.want, tc.wantErr)
			}
		})
	}
}
