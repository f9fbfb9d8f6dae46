package fedsender

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
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

// transaction is the body of PUT /send/{txnId}.
type transaction struct {
	Origin         id.ServerName     `json:"origin"`
	OriginServerTS int64             `json:"origin_server_ts"`
	PDUs           []json.RawMessage `json:"pdus"`
	EDUs           []json.RawMessage `json:"edus"`
}

// sendNext sends the destination's transaction in flight, or else starts
// one with the oldest queued PDUs and EDUs; false means nothing was
// queued.
func (s *Sender) sendNext(ctx context.Context, d *destination, log *slog.Logger) (bool, error) {
	db := s.cfg.DB
	if d.failures > 0 {
		if err := s.compact(ctx, d, log); err != nil {
			return false, err
		}
	}
	txnID, entries, err := db.InFlightPDUs(ctx, d.name)
	if err != nil {
		return false, err
	}
	eduTxn, queued, err := db.InFlightEDUs(ctx, d.name, txnID)
	if err != nil {
		return false, err
	}
	if txnID == "" {
		txnID = eduTxn
	}
	var ephemeral []json.RawMessage
	switch {
	case txnID != "":
		if d.flightTxn == txnID {
			ephemeral = d.flightEphemeral
		}
	default:
		if entries, err = db.QueuedPDUs(ctx, d.name, MaxPDUs); err != nil {
			return false, err
		}
		if queued, err = db.QueuedEDUs(ctx, d.name, MaxEDUs); err != nil {
			return false, err
		}
		if ephemeral, err = s.takeEphemeral(d.name, MaxEDUs-len(queued)); err != nil {
			return false, err
		}
		if len(entries) == 0 && len(queued) == 0 && len(ephemeral) == 0 {
			return false, nil
		}
		txnID = newTxnID(s.cfg.Now())
		if len(entries) > 0 || len(queued) > 0 {
			positions := make([]int64, len(entries))
			for i, e := range entries {
				positions[i] = e.StreamPos
			}
			eduIDs := make([]int64, len(queued))
			for i, e := range queued {
				eduIDs[i] = e.ID
			}
			if err := db.Write(ctx, func(tx *store.Tx) error {
				if err := tx.StartTransaction(ctx, d.name, txnID, positions); err != nil {
					return err
				}
				return tx.StartEDUTransaction(ctx, d.name, txnID, eduIDs)
			}); err != nil {
				return false, err
			}
		}
		d.flightTxn, d.flightEphemeral = txnID, ephemeral
	}
	txn := transaction{Origin: s.cfg.ServerName, OriginServerTS: s.cfg.Now().UnixMilli(), PDUs: []json.RawMessage{}, EDUs: []json.RawMessage{}}
	if len(entries) > 0 {
		ids := make([]id.EventID, len(entries))
		for i, e := range entries {
			ids[i] = e.EventID
		}
		evs, err := db.EventsByID(ctx, ids)
		if err != nil {
			return false, fmt.Errorf("load events of transaction %s: %w", txnID, err)
		}
		byID := make(map[id.EventID][]byte, len(evs))
		for _, e := range evs {
			byID[e.EventID] = e.JSON
		}
		for _, e := range entries {
			if j := byID[e.EventID]; j != nil {
				txn.PDUs = append(txn.PDUs, j)
			}
		}
	}
	if txn.EDUs, err = encodeEDUs(queued); err != nil {
		return false, err
	}
	txn.EDUs = append(txn.EDUs, ephemeral...)
	body, err := json.Marshal(txn)
	if err != nil {
		return false, fmt.Errorf("encode transaction %s: %w", txnID, err)
	}
	resp, err := s.cfg.Client.Do(ctx, federation.Request{
		Destination: d.name, Method: http.MethodPut,
		Path: "/_matrix/federation/v1/send/" + url.PathEscape(txnID), Body: body,
	})
	if err != nil {
		return false, err
	}
	var result struct {
		PDUs map[id.EventID]struct {
			Error string `json:"error"`
		} `json:"pdus"`
	}
	if json.Unmarshal(resp, &result) == nil {
		for eventID, r := range result.PDUs {
			if r.Error != "" {
				log.Warn("federation destination refused event", "event_id", string(eventID), "err", r.Error)
			}
		}
	}
	// The completion and the start of the next transaction, with what
	// queued meanwhile, are one commit: a busy destination costs the
	// writer one transaction per cycle, not two.
	nextTxn := newTxnID(s.cfg.Now())
	var next bool
	var nextEDUs int
	if err := db.Write(ctx, func(tx *store.Tx) (err error) {
		if err := tx.CompleteTransaction(ctx, d.name, txnID, s.cfg.Now().UnixMilli()); err != nil {
			return err
		}
		next, nextEDUs, err = claim(ctx, tx, d.name, nextTxn)
		return err
	}); err != nil {
		return false, err
	}
	d.failures, d.nextRetry, d.failingSince = 0, time.Time{}, time.Time{}
	d.flightTxn, d.flightEphemeral = "", nil
	if next {
		// The next transaction carries the ephemeral EDUs waiting now;
		// those that come later wait for the one after it.
		ephemeral, err := s.takeEphemeral(d.name, MaxEDUs-nextEDUs)
		if err != nil {
			return false, err
		}
		d.flightTxn, d.flightEphemeral = nextTxn, ephemeral
	}
	if d.down {
		s.setDown(d, false)
	}
	return true, nil
}

// claim marks the oldest queued PDUs and EDUs of a destination that are
// in no transaction yet (up to MaxPDUs and MaxEDUs) as the transaction
// txnID, in tx, and returns the number of EDUs marked; false means nothing
// was queued.
func claim(ctx context.Context, tx *store.Tx, dest id.ServerName, txnID string) (bool, int, error) {
	entries, err := tx.QueuedPDUs(ctx, dest, MaxPDUs)
	if err != nil {
		return false, 0, err
	}
	queued, err := tx.QueuedEDUs(ctx, dest, MaxEDUs)
	if err != nil {
		return false, 0, err
	}
	if len(entries) == 0 && len(queued) == 0 {
		return false, 0, nil
	}
	positions := make([]int64, len(entries))
	for i, e := range entries {
		positions[i] = e.StreamPos
	}
	eduIDs := make([]int64, len(queued))
	for i, e := range queued {
		eduIDs[i] = e.ID
	}
	if err := tx.StartTransaction(ctx, dest, txnID, positions); err != nil {
		return false, 0, err
	}
	return true, len(queued), tx.StartEDUTransaction(ctx, dest, txnID, eduIDs)
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
