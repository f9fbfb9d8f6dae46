package main

import (
	"net"
	"net/http"
	"runtime/debug"
	"sync"

	"github.com/hafenchat/hafen/internal/config"
)

// connMemory is what each open connection adds to the soft memory limit.
// A connection brings memory the garbage collector cannot free while it is
// open: net/http's read and write buffers (4 KiB each), the goroutine that
// serves it and, while a request runs, a second one that watches for the
// client going away (their stacks are 8 KiB or more). A limit that did not
// grow with them would leave less room to the heap with every client that
// connects, and the collector would run ever more often: with 100 clients
// each holding a long poll and a second connection for its receipts, the
// default limit left the heap about 2 MB of room between collections,
// and collecting took most of the CPU the receipts cost.
const connMemory = 32 << 10

// connsInLimit is how many open connections memory_limit itself covers:
// the default limit was measured with a few clients connected, each with
// a connection or two, and the connections beyond these add connMemory.
const connsInLimit = 32

// memoryLimit holds the Go runtime's soft memory limit at memory_limit
// plus connMemory for each open connection of serve's listeners beyond
// the first connsInLimit. The runtime's limit is one per process: a
// process runs one serve.
type memoryLimit struct {
	mu    sync.Mutex
	base  int64 // memory_limit in bytes; 0 when off (serve reads it before the listeners start)
	prev  int64 // the limit before serve started
	conns int64
	set   int64 // the limit set last
}

// applyMemoryLimit sets the Go runtime's soft memory limit from
// memory_limit; "off" leaves it alone (the runtime's default, or
// GOMEMLIMIT) and makes connState do nothing.
func applyMemoryLimit(cfg config.Config) (*memoryLimit, error) {
	n, err := cfg.MemoryLimitBytes()
	if err != nil {
		return nil, err
	}
	m := &memoryLimit{base: n, set: n}
	if n > 0 {
		m.prev = debug.SetMemoryLimit(n)
	}
	return m, nil
}

// connState is the listeners' http.Server.ConnState hook: it counts the
// open connections and moves the limit with them.
func (m *memoryLimit) connState(_ net.Conn, state http.ConnState) {
	var delta int64
	switch state {
	case http.StateNew:
		delta = 1
	case http.StateClosed, http.StateHijacked:
		// A hijacked connection is never reported closed.
		delta = -1
	default:
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.conns += delta
	if limit := m.base + max(m.conns-connsInLimit, 0)*connMemory; m.base > 0 && limit != m.set {
		debug.SetMemoryLimit(limit)
		m.set = limit
	}
}

// restore puts back the limit there was before serve started; later
// connection changes leave it alone.
func (m *memoryLimit) restore() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.base > 0 {
		debug.SetMemoryLimit(m.prev)
		m.base = 0
	}
}
