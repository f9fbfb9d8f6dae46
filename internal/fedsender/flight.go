package fedsender

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/federation"
	"github.com/hafenchat/hafen/internal/store"
)

// transaction is the body of PUT /send/{txnId}.
type transaction struct {
	Origin         id.ServerName     `json:"origin"`
	OriginServerTS int64             `json:"origin_server_ts"`
	PDUs           []json.RawMessage `json:"pdus"`
	EDUs           []json.RawMessage `json:"edus"`
}

// flight is a transaction to send or being sent: its ID, its queued PDUs
// and EDUs, the ephemeral EDUs it carries, and, while the commit that
// marks its entries with its ID has not returned, that commit's outcome.
type flight struct {
	txnID     string
	entries   []store.QueuedPDU
	queued    []store.QueuedEDU
	ephemeral []json.RawMessage
	// marked receives the outcome of the commit that marks the entries
	// (and completes the transaction before); nil when they are marked.
	marked <-chan error
}

// sendNext sends the destination's next transaction: the one claimed
// when the last one was delivered, else the one in flight in the
// database (after a failure or a restart), else a new one with the
// oldest queued PDUs and EDUs; false means nothing was queued.
//
// A new transaction is sent while the commit that marks its entries runs,
// and that commit also removes the entries of the transaction delivered
// before it: one commit per transaction, off the time between two
// transactions. The commit's outcome is awaited before the answer counts,
// so what the database says is in flight is always what may have been
// sent under that ID; if the commit fails, the entries go again in a
// later transaction, under another ID, and the receiver finds their PDUs
// stored already.
func (s *Sender) sendNext(ctx context.Context, d *destination, log *slog.Logger) (bool, error) {
	f := d.next
	d.next = nil
	if f == nil {
		var err error
		if f, err = s.prepare(ctx, d, log); err != nil || f == nil {
			return false, err
		}
	}
	err := s.send(ctx, d, log, f)
	if f.marked != nil {
		if merr := <-f.marked; err == nil {
			err = merr
		}
	}
	if err != nil {
		return false, err
	}
	next, err := s.claimNext(ctx, d, f.txnID)
	if err != nil {
		return false, err
	}
	d.failures, d.nextRetry, d.failingSince = 0, time.Time{}, time.Time{}
	d.flightTxn, d.flightEphemeral = "", nil
	if next != nil {
		d.next = next
		d.flightTxn, d.flightEphemeral = next.txnID, next.ephemeral
	}
	if d.down {
		s.setDown(d, false)
	}
	return true, nil
}

// prepare returns the destination's transaction in flight in the
// database, or else a new one with what is queued, or nil.
func (s *Sender) prepare(ctx context.Context, d *destination, log *slog.Logger) (*flight, error) {
	db := s.cfg.DB
	if d.failures > 0 {
		if err := s.compact(ctx, d, log); err != nil {
			return nil, err
		}
	}
	txnID, entries, err := db.InFlightPDUs(ctx, d.name)
	if err != nil {
		return nil, err
	}
	eduTxn, queued, err := db.InFlightEDUs(ctx, d.name, txnID)
	if err != nil {
		return nil, err
	}
	if txnID == "" {
		txnID = eduTxn
	}
	if txnID != "" {
		f := &flight{txnID: txnID, entries: entries, queued: queued}
		if d.flightTxn == txnID {
			f.ephemeral = d.flightEphemeral
		}
		return f, nil
	}
	if entries, err = db.QueuedPDUs(ctx, d.name, 1); err != nil {
		return nil, err
	}
	if queued, err = db.QueuedEDUs(ctx, d.name, 1); err != nil {
		return nil, err
	}
	if len(entries) > 0 || len(queued) > 0 {
		f, err := s.claimNext(ctx, d, "")
		if f != nil {
			d.flightTxn, d.flightEphemeral = f.txnID, f.ephemeral
		}
		return f, err
	}
	ephemeral, err := s.takeEphemeral(d.name, MaxEDUs)
	if err != nil || len(ephemeral) == 0 {
		return nil, err
	}
	// Ephemeral EDUs alone: nothing to mark.
	f := &flight{txnID: newTxnID(s.cfg.Now()), ephemeral: ephemeral}
	d.flightTxn, d.flightEphemeral = f.txnID, f.ephemeral
	return f, nil
}

// claimNext starts the commit that completes the delivered transaction
// done (none when "") and marks the oldest queued entries as a new
// transaction, and returns that transaction as soon as its entries are
// chosen, before the commit returns; nil when nothing was queued (the
// commit has then returned).
func (s *Sender) claimNext(ctx context.Context, d *destination, done string) (*flight, error) {
	type claimed struct {
		entries []store.QueuedPDU
		queued  []store.QueuedEDU
	}
	txnID := newTxnID(s.cfg.Now())
	nowMS := s.cfg.Now().UnixMilli()
	chosen := make(chan claimed, 1)
	committed := make(chan error, 1)
	go func() {
		committed <- s.cfg.DB.Write(ctx, func(tx *store.Tx) error {
			if done != "" {
				if err := tx.CompleteTransaction(ctx, d.name, done, nowMS); err != nil {
					return err
				}
			}
			entries, queued, err := claim(ctx, tx, d.name, txnID)
			if err != nil {
				return err
			}
			chosen <- claimed{entries, queued}
			return nil
		})
	}()
	var c claimed
	marked := (<-chan error)(committed)
	select {
	case c = <-chosen:
	case err := <-committed:
		if err != nil {
			return nil, err
		}
		c, marked = <-chosen, nil
	}
	if len(c.entries) == 0 && len(c.queued) == 0 {
		if marked != nil {
			return nil, <-marked
		}
		return nil, nil
	}
	// The ephemeral EDUs waiting now go with it; later ones wait for the
	// transaction after it.
	ephemeral, err := s.takeEphemeral(d.name, MaxEDUs-len(c.queued))
	if err != nil {
		if marked != nil {
			<-marked
		}
		return nil, err
	}
	return &flight{txnID: txnID, entries: c.entries, queued: c.queued, ephemeral: ephemeral, marked: marked}, nil
}

// claim marks the oldest queued PDUs and EDUs of a destination that are
// in no transaction yet (up to MaxPDUs and MaxEDUs) as the transaction
// txnID, in tx, and returns them; none when nothing was queued.
func claim(ctx context.Context, tx *store.Tx, dest id.ServerName, txnID string) ([]store.QueuedPDU, []store.QueuedEDU, error) {
	entries, err := tx.QueuedPDUs(ctx, dest, MaxPDUs)
	if err != nil {
		return nil, nil, err
	}
	queued, err := tx.QueuedEDUs(ctx, dest, MaxEDUs)
	if err != nil {
		return nil, nil, err
	}
	if len(entries) == 0 && len(queued) == 0 {
		return nil, nil, nil
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
		return nil, nil, err
	}
	if err := tx.StartEDUTransaction(ctx, dest, txnID, eduIDs); err != nil {
		return nil, nil, err
	}
	return entries, queued, nil
}

// send sends one transaction and logs the PDUs the destination refused.
func (s *Sender) send(ctx context.Context, d *destination, log *slog.Logger, f *flight) error {
	txn := transaction{Origin: s.cfg.ServerName, OriginServerTS: s.cfg.Now().UnixMilli(), PDUs: []json.RawMessage{}, EDUs: []json.RawMessage{}}
	if len(f.entries) > 0 {
		ids := make([]id.EventID, len(f.entries))
		for i, e := range f.entries {
			ids[i] = e.EventID
		}
		evs, err := s.cfg.DB.EventsByID(ctx, ids)
		if err != nil {
			return fmt.Errorf("load events of transaction %s: %w", f.txnID, err)
		}
		byID := make(map[id.EventID][]byte, len(evs))
		for _, e := range evs {
			byID[e.EventID] = e.JSON
		}
		for _, e := range f.entries {
			if j := byID[e.EventID]; j != nil {
				txn.PDUs = append(txn.PDUs, j)
			}
		}
	}
	var err error
	if txn.EDUs, err = encodeEDUs(f.queued); err != nil {
		return err
	}
	txn.EDUs = append(txn.EDUs, f.ephemeral...)
	body, err := json.Marshal(txn)
	if err != nil {
		return fmt.Errorf("encode transaction %s: %w", f.txnID, err)
	}
	resp, err := s.cfg.Client.Do(ctx, federation.Request{
		Destination: d.name, Method: http.MethodPut,
		Path: "/_matrix/federation/v1/send/" + url.PathEscape(f.txnID), Body: body,
	})
	if err != nil {
		return err
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
	return nil
}
