package fedsender

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/hafenchat/hafen/internal/federation"
	"github.com/hafenchat/hafen/internal/store"
)

// maxErrorLen caps the error text stored for a destination.
const maxErrorLen = 500

// run is a destination's goroutine: it sends its queue, one transaction
// at a time, until the queue is empty or ctx ends.
func (s *Sender) run(ctx context.Context, d *destination) {
	log := s.cfg.Logger.With("destination", string(d.name))
	for {
		if !s.waitRetry(ctx, d) {
			return
		}
		s.mu.Lock()
		d.pending = false
		s.mu.Unlock()
		// A contact that came before this attempt is answered by it.
		select {
		case <-d.poke:
		default:
		}
		sent, err := s.sendNext(ctx, d, log)
		if isCanceled(ctx, err) {
			return
		}
		if err != nil {
			s.failed(ctx, d, log, err)
			continue
		}
		if sent {
			continue
		}
		s.mu.Lock()
		if d.pending {
			s.mu.Unlock()
			continue
		}
		delete(s.dests, d.name)
		s.mu.Unlock()
		return
	}
}

// waitRetry waits until the destination's next retry, or until it
// contacts us or answers a probe; false means ctx ended. While the wait
// is longer than the probe interval (and the failures began less than
// ProbeFor ago), it probes the destination every interval.
func (s *Sender) waitRetry(ctx context.Context, d *destination) bool {
	for {
		now := s.cfg.Now()
		wait := d.nextRetry.Sub(now)
		if d.nextRetry.IsZero() || wait <= 0 {
			return ctx.Err() == nil
		}
		probe := s.cfg.ProbeInterval > 0 && wait > s.cfg.ProbeInterval &&
			(d.failingSince.IsZero() || now.Sub(d.failingSince) < s.cfg.ProbeFor)
		if probe {
			wait = s.cfg.ProbeInterval
		}
		select {
		case <-s.cfg.After(wait):
		case <-d.poke:
			return true
		case <-ctx.Done():
			return false
		}
		if !probe {
			return true
		}
		if s.answers(ctx, d) {
			return true
		}
	}
}

// probeTimeout bounds one probe.
const probeTimeout = 5 * time.Second

// answers probes a destination in backoff with a cheap request (GET
// /_matrix/federation/v1/version) and reports whether it answered: with
// success, or with an error of its own (4xx); a 5xx is a proxy in front
// of a server that is still away. The request is signed, as servers that
// authenticate every federation request (Hafen among them) want, and so
// it also tells the destination that this server is up.
func (s *Sender) answers(ctx context.Context, d *destination) bool {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	_, err := s.cfg.Client.Do(ctx, federation.Request{
		Destination: d.name, Method: http.MethodGet, Path: "/_matrix/federation/v1/version",
	})
	var he *federation.HTTPError
	return err == nil || errors.As(err, &he) && he.Status < 500
}

// backoff returns the pause after the nth failure in a row.
func (s *Sender) backoff(n int) time.Duration {
	b := s.cfg.FirstBackoff
	for i := 1; i < n && b < s.cfg.MaxBackoff; i++ {
		b *= 2
	}
	return min(b, s.cfg.MaxBackoff)
}

// failed records a failed attempt and schedules the next one.
func (s *Sender) failed(ctx context.Context, d *destination, log *slog.Logger, err error) {
	d.failures++
	s.setDown(d, true)
	now := s.cfg.Now()
	if d.failingSince.IsZero() {
		d.failingSince = now
	}
	wait := s.backoff(d.failures)
	d.nextRetry = now.Add(wait)
	msg := err.Error()
	if len(msg) > maxErrorLen {
		msg = msg[:maxErrorLen]
	}
	log.Warn("federation transaction failed", "failures", d.failures, "retry_in", wait.String(), "err", err)
	werr := s.cfg.DB.Write(ctx, func(tx *store.Tx) error {
		return tx.RecordFailure(ctx, d.name, d.failures, d.nextRetry.UnixMilli(), msg, now.UnixMilli())
	})
	if werr != nil && !isCanceled(ctx, werr) {
		log.Warn("record federation failure", "err", werr)
	}
}

// compact cuts a backlog longer than one transaction down to the newest
// event of each room.
func (s *Sender) compact(ctx context.Context, d *destination, log *slog.Logger) error {
	n, err := s.cfg.DB.QueueLength(ctx, d.name)
	if err != nil || n <= MaxPDUs {
		return err
	}
	var removed int64
	err = s.cfg.DB.Write(ctx, func(tx *store.Tx) (err error) {
		removed, err = tx.CompactQueue(ctx, d.name)
		return err
	})
	if err == nil && removed > 0 {
		log.Warn("federation destination catches up with the newest event of each room", "queued", n, "dropped", removed)
	}
	return err
}

// newTxnID returns a transaction ID never used before by this server: the
// time and random letters.
func newTxnID(now time.Time) string {
	return fmt.Sprintf("%d.%s", now.UnixMilli(), rand.Text()[:12])
}
