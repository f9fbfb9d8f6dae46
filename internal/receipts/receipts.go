// Package receipts owns read receipts and read markers: it stores a
// user's receipts (m.read, m.read.private, per thread) and the m.fully_read
// marker, and tells sync of each new receipt so that it reaches the room's
// members as an m.receipt ephemeral event and moves the user's unread
// counts.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#receipts
// https://spec.matrix.org/v1.19/client-server-api/#fully-read-markers
package receipts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hafenchat/hafen/internal/accountdata"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// Receipt and read marker types.
const (
	TypeRead        = "m.read"
	TypeReadPrivate = "m.read.private"
	TypeFullyRead   = "m.fully_read"
)

// ErrInvalid: the receipt type or thread ID is not acceptable.
var ErrInvalid = errors.New("invalid receipt")

// Service stores receipts. It is safe for concurrent use.
type Service struct {
	// DB holds the receipts.
	DB *store.DB
	// AccountData keeps the m.fully_read markers.
	AccountData *accountdata.Service
	// Changed, when set, is called with the receipts of each commit (their
	// StreamPos set, in stream order), in commit order, from the store's
	// after-commit hook: once per batch, so that sync wakes its waiters
	// once for a busy room's receipts.
	Changed func([]store.Receipt)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// ServerName is this server's name.
	ServerName id.ServerName
	// Federation, when set, sends local users' public receipts to the
	// other servers of the room: Post queues an m.receipt EDU for them
	// in the receipt's own transaction and wakes them after the commit
	// (*fedsender.Sender).
	Federation interface{ Wake(dests []id.ServerName) }
	// Delay is how long a batch of receipts may wait to join a write of
	// the event path before it is committed on its own (see
	// store.DB.WriteSoon); 0 means DefaultDelay.
	Delay time.Duration

	// mu guards queue and writing: the receipts waiting for the next
	// batch, and whether a batch is being written (receipts are written
	// a batch at a time, see post).
	mu      sync.Mutex
	queue   []*postJob
	writing bool
	// batches counts the batches written.
	batches atomic.Int64
}

// receiptEDU returns the content of the m.receipt EDU of public receipts
// of one room, at most one per user.
func receiptEDU(roomID id.RoomID, rcs []store.Receipt) ([]byte, error) {
	users := map[id.UserID]any{}
	for _, rc := range rcs {
		data := map[string]any{"ts": rc.TS}
		if rc.ThreadID != "" {
			data["thread_id"] = rc.ThreadID
		}
		users[rc.UserID] = map[string]any{"event_ids": []id.EventID{rc.EventID}, "data": data}
	}
	return json.Marshal(map[id.RoomID]any{roomID: map[string]any{TypeRead: users}})
}

// AddRemote stores receipts of other servers' users, received over
// federation (the caller checked that each user belongs to the sending
// server and is joined to the room).
func (s *Service) AddRemote(ctx context.Context, rcs []store.Receipt) error {
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		stored := make([]store.Receipt, 0, len(rcs))
		for _, rc := range rcs {
			pos, err := tx.SetReceipt(ctx, rc)
			if err != nil {
				return err
			}
			rc.StreamPos = pos
			stored = append(stored, rc)
		}
		if s.Changed != nil && len(stored) > 0 {
			tx.AfterCommit(func() { s.Changed(stored) })
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store remote receipts: %w", err)
	}
	return nil
}

// ValidType reports whether typ is a receipt type the receipt endpoint
// accepts.
func ValidType(typ string) bool {
	return typ == TypeRead || typ == TypeReadPrivate || typ == TypeFullyRead
}

// ValidThreadID reports whether a receipt's thread_id is acceptable: "main"
// or an event ID (the thread's root).
func ValidThreadID(threadID string) bool {
	if threadID == "main" {
		return true
	}
	_, err := id.ParseEventID(threadID)
	return err == nil
}

// Post records the user's receipt of type typ for eventID in a room the
// caller has checked the user may read. threadID is "" for an unthreaded
// receipt. m.fully_read sets the room's read marker and takes no thread.
func (s *Service) Post(ctx context.Context, user id.UserID, roomID id.RoomID, typ string, eventID id.EventID, threadID string) error {
	switch {
	case !ValidType(typ):
		return fmt.Errorf("%w: unknown receipt type %q", ErrInvalid, typ)
	case threadID != "" && typ == TypeFullyRead:
		return fmt.Errorf("%w: m.fully_read takes no thread_id", ErrInvalid)
	case threadID != "" && !ValidThreadID(threadID):
		return fmt.Errorf("%w: thread_id %q is neither main nor an event ID", ErrInvalid, threadID)
	case typ == TypeFullyRead:
		content, err := json.Marshal(map[string]id.EventID{"event_id": eventID})
		if err != nil {
			return err
		}
		return s.AccountData.SetServerControlled(ctx, user, roomID, TypeFullyRead, content)
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	rc := store.Receipt{RoomID: roomID, UserID: user, Type: typ, ThreadID: threadID, EventID: eventID, TS: now().UnixMilli()}
	if err := s.post(ctx, rc); err != nil {
		return fmt.Errorf("store %s receipt of %s in %s: %w", typ, user, roomID, err)
	}
	return nil
}

// DefaultDelay is the default Service.Delay: a receipt is committed at
// most this much later than at once, and in a busy room shares the commit
// of the next message instead of adding one.
const DefaultDelay = 20 * time.Millisecond

// maxBatch bounds the receipts of one write.
const maxBatch = 256

// postJob is a receipt waiting to be written, and its outcome.
type postJob struct {
	rc   store.Receipt
	done chan error // buffered: delivery never blocks
}

// post writes rc and returns once it is committed. Receipts posted while a
// batch is being written wait and go together in the next one, in one
// write function that joins the next write of the event path: in a busy
// room every member posts a receipt per message, and one write (and
// commit) each would crowd the messages out of the single writer. The caller that finds no batch in progress writes one on its
// own goroutine; the batches after it run on a goroutine of their own.
func (s *Service) post(ctx context.Context, rc store.Receipt) error {
	j := &postJob{rc: rc, done: make(chan error, 1)}
	s.mu.Lock()
	s.queue = append(s.queue, j)
	lead := !s.writing
	s.writing = true
	s.mu.Unlock()
	if lead {
		s.writeNext()
	}
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		// The receipt may still be written; the caller answers an
		// error either way.
		return ctx.Err()
	}
}

// writeNext writes the waiting receipts, up to maxBatch, then hands the
// role on to a new goroutine if more are waiting, or gives it up.
func (s *Service) writeNext() {
	s.mu.Lock()
	n := min(len(s.queue), maxBatch)
	batch := s.queue[:n:n]
	s.queue = append([]*postJob(nil), s.queue[n:]...)
	s.mu.Unlock()

	if err := s.writeBatch(batch); err != nil && len(batch) > 1 {
		// One bad receipt must not fail the others: each on its own.
		for _, j := range batch {
			j.done <- s.writeBatch([]*postJob{j})
		}
	} else {
		for _, j := range batch {
			j.done <- err
		}
	}

	s.mu.Lock()
	more := len(s.queue) > 0
	s.writing = more
	s.mu.Unlock()
	if more {
		go s.writeNext()
	}
}

// writeBatch stores the receipts of batch in one write function. Of
// receipts with the same room, user, type and thread the last one is
// stored; the ones it replaced were never visible and need no position.
func (s *Service) writeBatch(batch []*postJob) error {
	s.batches.Add(1)
	type key struct {
		room        id.RoomID
		user        id.UserID
		typ, thread string
	}
	last := make(map[key]int, len(batch))
	for i, j := range batch {
		last[key{j.rc.RoomID, j.rc.UserID, j.rc.Type, j.rc.ThreadID}] = i
	}
	rcs := make([]store.Receipt, 0, len(last))
	for i, j := range batch {
		if last[key{j.rc.RoomID, j.rc.UserID, j.rc.Type, j.rc.ThreadID}] == i {
			rcs = append(rcs, j.rc)
		}
	}
	// The batch's statements belong to every caller in it: none of their
	// contexts may abort it.
	ctx := context.Background()
	delay := s.Delay
	if delay <= 0 {
		delay = DefaultDelay
	}
	// The servers to send the public receipts to are read before the
	// write, from the read pool: inside it each read would hold up the
	// single writer, and with it the room's messages, for a round trip.
	// A server whose first user joins meanwhile misses these receipts,
	// as it would had they been posted a moment earlier.
	var rooms []id.RoomID
	public := map[id.RoomID][]store.Receipt{}
	dests := map[id.RoomID][]id.ServerName{}
	if s.Federation != nil {
		for _, rc := range rcs {
			if rc.Type != TypeRead {
				continue
			}
			if _, ok := dests[rc.RoomID]; !ok {
				servers, err := s.DB.JoinedServers(ctx, rc.RoomID, s.ServerName)
				if err != nil {
					return fmt.Errorf("servers of %s: %w", rc.RoomID, err)
				}
				dests[rc.RoomID] = servers
				if len(servers) > 0 {
					rooms = append(rooms, rc.RoomID)
				}
			}
			if len(dests[rc.RoomID]) > 0 {
				public[rc.RoomID] = append(public[rc.RoomID], rc)
			}
		}
	}
	return s.DB.WriteSoon(ctx, delay, func(tx *store.Tx) error {
		// The positions are known once the statement has run, before
		// the commit, so before the after-commit functions.
		stored := slices.Clone(rcs)
		err := tx.SetReceiptsLater(ctx, rcs, func(pos []int64) {
			for i := range stored {
				stored[i].StreamPos = pos[i]
			}
		})
		if err != nil {
			return err
		}
		if s.Changed != nil {
			tx.AfterCommit(func() { s.Changed(stored) })
		}
		for _, roomID := range rooms {
			if err := s.sendEDU(ctx, tx, roomID, dests[roomID], public[roomID]); err != nil {
				return err
			}
		}
		return nil
	})
}

// sendEDU queues one m.receipt EDU with the public receipts of a room for
// dests, the other servers in it, and wakes them after the commit.
func (s *Service) sendEDU(ctx context.Context, tx *store.Tx, roomID id.RoomID, dests []id.ServerName, rcs []store.Receipt) error {
	// An EDU holds one receipt per user: a user with receipts in two
	// threads has the second in a second EDU.
	byUser := map[id.UserID][]store.Receipt{}
	var users []id.UserID
	for _, rc := range rcs {
		if byUser[rc.UserID] == nil {
			users = append(users, rc.UserID)
		}
		byUser[rc.UserID] = append(byUser[rc.UserID], rc)
	}
	for round := 0; ; round++ {
		var part []store.Receipt
		for _, u := range users {
			if round < len(byUser[u]) {
				part = append(part, byUser[u][round])
			}
		}
		if len(part) == 0 {
			break
		}
		content, err := receiptEDU(roomID, part)
		if err != nil {
			return err
		}
		if err := tx.EnqueueEDU(ctx, dests, "m.receipt", content); err != nil {
			return err
		}
	}
	tx.AfterCommit(func() { s.Federation.Wake(dests) })
	return nil
}
