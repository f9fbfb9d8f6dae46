package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// report is the result of one run. Its JSON form is what --json prints.
type report struct {
	URL string `json:"url"`
	// RemoteURL is the federated server the syncers used, empty when they
	// used URL too.
	RemoteURL         string `json:"remote_url,omitempty"`
	RunID             string `json:"run_id"`
	RoomID            string `json:"room_id"`
	Senders           int    `json:"senders"`
	MessagesPerSender int    `json:"messages_per_sender"`
	Syncers           int    `json:"syncers"`
	// Complete is true when every message that was sent was seen by every
	// syncer before the deadline.
	Complete     bool    `json:"complete"`
	SetupSeconds float64 `json:"setup_seconds"`
	// WarmupSeconds is how long the warm-up message took to reach every
	// syncer on the remote server (part of the setup).
	WarmupSeconds float64 `json:"warmup_seconds,omitempty"`

	// Messages is the number of messages the run meant to send; Sent got a
	// 200, SendFailed got an error, NotSent never started (deadline).
	Messages   int `json:"messages"`
	Sent       int `json:"sent"`
	SendFailed int `json:"send_failed"`
	NotSent    int `json:"not_sent"`

	// SendSeconds runs from the first send's start to the last 200;
	// WallSeconds from the first send's start until the last syncer saw the
	// last message (or the run ended).
	SendSeconds float64 `json:"send_seconds"`
	WallSeconds float64 `json:"wall_seconds"`
	// SendThroughput is Sent per SendSeconds; DeliveredThroughput is
	// SeenByAll per WallSeconds.
	SendThroughput      float64 `json:"send_throughput_per_s"`
	DeliveredThroughput float64 `json:"delivered_throughput_per_s"`

	SendLatency latencySummary `json:"send_latency"`
	// SyncLatency is over every syncer–message pair that was seen;
	// AllSyncedLatency is per message, until the last syncer saw it.
	SyncLatency      latencySummary `json:"send_to_sync_latency"`
	AllSyncedLatency latencySummary `json:"send_to_all_synced_latency"`

	SeenByAll       int      `json:"seen_by_all"`
	MissingPairs    int      `json:"missing_pairs"`
	MissingMessages int      `json:"missing_messages"`
	MissingSample   []string `json:"missing_sample,omitempty"`

	SyncPolls        int64 `json:"sync_polls"`
	LimitedTimelines int64 `json:"limited_timelines"`
	RateLimitRetries int64 `json:"rate_limit_retries"`

	// Receipts is true when the syncers posted m.read receipts. ReceiptsSent
	// got a 200, ReceiptsFailed an error; ReceiptsSuperseded were replaced
	// by a newer message before they went out. ReceiptIntervalMS is
	// --receipt-interval.
	Receipts           bool  `json:"receipts"`
	ReceiptIntervalMS  int64 `json:"receipt_interval_ms"`
	ReceiptsSent       int64 `json:"receipts_sent"`
	ReceiptsFailed     int64 `json:"receipts_failed"`
	ReceiptsSuperseded int64 `json:"receipts_superseded"`

	Errors        int            `json:"errors"`
	ErrorsByPhase map[string]int `json:"errors_by_phase,omitempty"`
	ErrorSamples  []string       `json:"error_samples,omitempty"`

	// LoadCPUSeconds is the CPU time hafen-load itself used from the first
	// send to the end of the run: on a machine it shares with the server,
	// CPU the server could not use.
	LoadCPUSeconds float64 `json:"load_cpu_seconds"`

	Server *serverReport `json:"server,omitempty"`
	// RemoteServer describes the process given by --remote-pid.
	RemoteServer *serverReport `json:"remote_server,omitempty"`
}

// serverReport describes the server process given by --pid: its memory
// before and after the run, and the CPU time it used during the run.
type serverReport struct {
	PID    int    `json:"pid"`
	Before memory `json:"memory_before"`
	After  memory `json:"memory_after"`
	// CPUSeconds is the user plus system CPU time the server used from the
	// start of the setup to the end of the run.
	CPUSeconds float64 `json:"cpu_seconds"`
	// MeasuredCPUSeconds is the part of CPUSeconds from the first send to
	// the end of the run (registration and initial syncs left out).
	MeasuredCPUSeconds float64 `json:"measured_cpu_seconds"`
}

// ok reports whether the run sent every message and every syncer saw it.
func (r *report) ok() bool {
	return r.Complete && r.Errors == 0 && r.Sent == r.Messages && r.MissingPairs == 0
}

// writeJSON writes r as indented JSON.
func (r *report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// writeText writes r for a person to read.
func (r *report) writeText(w io.Writer) error {
	var b strings.Builder
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "  %-22s %s\n", label, fmt.Sprintf(format, args...))
	}
	lat := func(s latencySummary) string {
		return fmt.Sprintf("p50 %.1f ms  p95 %.1f ms  p99 %.1f ms  max %.1f ms  mean %.1f ms  (n=%d)", s.P50MS, s.P95MS, s.P99MS, s.MaxMS, s.MeanMS, s.Count)
	}
	fmt.Fprintf(&b, "hafen-load %s against %s\n", r.RunID, r.URL)
	syncLabel := "send→sync latency"
	if r.RemoteURL != "" {
		fmt.Fprintf(&b, "  syncers on the federated server %s\n", r.RemoteURL)
		syncLabel = "send→seen remotely"
	}
	line("load", "%d senders × %d messages, %d syncers, room %s", r.Senders, r.MessagesPerSender, r.Syncers, r.RoomID)
	line("setup", "%.2f s", r.SetupSeconds)
	if r.RemoteURL != "" {
		line("warm-up", "%.2f s until the first message reached every syncer", r.WarmupSeconds)
	}
	line("messages", "%d of %d sent, %d failed, %d not sent", r.Sent, r.Messages, r.SendFailed, r.NotSent)
	line("send time", "%.2f s", r.SendSeconds)
	line("wall time", "%.2f s (until every syncer saw every message)", r.WallSeconds)
	line("send throughput", "%.1f messages/s", r.SendThroughput)
	line("delivered throughput", "%.1f messages/s seen by all syncers", r.DeliveredThroughput)
	line("send latency", "%s", lat(r.SendLatency))
	line(syncLabel, "%s over syncer–message pairs", lat(r.SyncLatency))
	line("send→all synced", "%s", lat(r.AllSyncedLatency))
	line("seen by all syncers", "%d messages", r.SeenByAll)
	line("missing", "%d syncer–message pairs, %d messages", r.MissingPairs, r.MissingMessages)
	for _, m := range r.MissingSample {
		line("", "%s", m)
	}
	line("sync polls", "%d (%d with a limited timeline)", r.SyncPolls, r.LimitedTimelines)
	line("rate-limit retries", "%d", r.RateLimitRetries)
	if r.Receipts {
		line("read receipts", "%d sent, %d failed, %d superseded by a newer message", r.ReceiptsSent, r.ReceiptsFailed, r.ReceiptsSuperseded)
		if r.ReceiptIntervalMS > 0 {
			line("", "at most one per syncer every %d ms", r.ReceiptIntervalMS)
		}
	}
	line("errors", "%d", r.Errors)
	for _, phase := range slices.Sorted(maps.Keys(r.ErrorsByPhase)) {
		line("", "%s: %d", phase, r.ErrorsByPhase[phase])
	}
	for _, e := range r.ErrorSamples {
		line("", "%s", e)
	}
	for _, p := range []struct {
		label string
		sv    *serverReport
	}{{"server", r.Server}, {"remote server", r.RemoteServer}} {
		label, sv := p.label, p.sv
		if sv == nil {
			continue
		}
		line(label+" memory", "pid %d: RSS before %.1f MiB, after %.1f MiB, peak %.1f MiB",
			sv.PID, mib(sv.Before.RSSKiB), mib(sv.After.RSSKiB), mib(sv.After.PeakKiB))
		line(label+" CPU", "%.2f s during the run, %.2f s of it while sending and syncing", sv.CPUSeconds, sv.MeasuredCPUSeconds)
	}
	line("hafen-load CPU", "%.2f s while sending and syncing", r.LoadCPUSeconds)
	result := "complete"
	if !r.ok() {
		result = "INCOMPLETE"
	}
	line("result", "%s", result)
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func mib(kib int64) float64 { return float64(kib) / 1024 }
