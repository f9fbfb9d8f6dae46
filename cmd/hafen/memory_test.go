package main

import (
	"path/filepath"
	"runtime/debug"
	"testing"
)

// TestServeAppliesMemoryLimit checks that serve sets the Go runtime's soft
// memory limit from memory_limit while it runs and puts the previous one
// back when it stops.
func TestServeAppliesMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	stop := serveUntilStopped(t, filepath.Join(t.TempDir(), "data"), freeAddr(t), "--memory-limit", "96MiB")
	if got := debug.SetMemoryLimit(-1); got != 96<<20 {
		t.Errorf("memory limit while serving = %d, want %d", got, 96<<20)
	}
	stop()
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("memory limit after serve stopped = %d, want the previous %d", got, before)
	}
}
