package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix"

	"github.com/hafenchat/hafen/internal/store/storetest"
)

// BenchmarkSendSequential measures the latency of one uncontended send: one
// client sends messages into one room one after another, each awaited,
// through the real HTTP stack of an in-process server on loopback. It
// reports the client's p50 and the server's p50 (the access log's duration
// of each send, from the request's arrival to the handler's return).
func BenchmarkSendSequential(b *testing.B) {
	type variant struct {
		name string
		args func(b *testing.B) []string
	}
	variants := []variant{
		{"sqlite", func(*testing.B) []string { return nil }},
	}
	if extra := os.Getenv("HAFEN_BENCH_SERVE_ARGS"); extra != "" {
		// Extra variants of the server's flags, separated by ";", for
		// comparing settings in one run.
		for _, v := range strings.Split(extra, ";") {
			args := strings.Fields(v)
			variants = append(variants, variant{"sqlite" + strings.Join(args, ""), func(*testing.B) []string { return args }})
		}
	}
	if os.Getenv(storetest.PostgresDSNEnv) != "" {
		variants = append(variants, variant{"postgres", func(b *testing.B) []string {
			return []string{"--database", storetest.PostgresDSN(b)}
		}})
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			benchmarkSendSequential(b, v.args(b))
		})
	}
}

func benchmarkSendSequential(b *testing.B, dbArgs []string) {
	args := append([]string{"--open-registration", "--rate-limit=false", "--log-format", "json"}, dbArgs...)
	base, _, logs := startServe(b, filepath.Join(b.TempDir(), "data"), args...)
	ctx := context.Background()
	alice := register(b, base, "alice")
	created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"})
	if err != nil {
		b.Fatalf("createRoom: %v", err)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	url := fmt.Sprintf("%s/_matrix/client/v3/rooms/%s/send/m.room.message/", base, created.RoomID)
	body := []byte(`{"msgtype":"m.text","body":"hello"}`)
	send := func(txn string) {
		req, err := http.NewRequest(http.MethodPut, url+txn, bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+alice.AccessToken)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatalf("send: %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("send: status %d", resp.StatusCode)
		}
	}
	for i := range 20 { // warm up connections, statements and caches
		send(fmt.Sprintf("warm%d", i))
	}
	marker := len(logs.String())
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		send(fmt.Sprintf("b%d", i))
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	b.ReportMetric(float64(percentile(lat, 50).Microseconds()), "client-p50-µs")
	b.ReportMetric(float64(percentile(lat, 99).Microseconds()), "client-p99-µs")
	var server []time.Duration
	for _, line := range strings.Split(logs.String()[marker:], "\n") {
		var rec struct {
			Msg      string        `json:"msg"`
			Method   string        `json:"method"`
			Path     string        `json:"path"`
			Duration time.Duration `json:"duration"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil || rec.Msg != "request" || rec.Method != http.MethodPut ||
			!strings.Contains(rec.Path, "/send/") {
			continue
		}
		server = append(server, rec.Duration)
	}
	if len(server) != b.N {
		b.Fatalf("found %d send durations in the access log, want %d", len(server), b.N)
	}
	b.ReportMetric(float64(percentile(server, 50).Microseconds()), "server-p50-µs")
	b.ReportMetric(float64(percentile(server, 99).Microseconds()), "server-p99-µs")
	b.ReportMetric(0, "ns/op")
}

// percentile returns the p-th percentile of ds.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}
