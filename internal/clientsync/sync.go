package clientsync

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
)

// MaxTimeout caps the long-poll timeout a client may ask for.
const MaxTimeout = 5 * time.Minute

// Request is a parsed /sync request.
type Request struct {
	User   id.UserID
	Device id.DeviceID
	// Since is the client's since token, "" for an initial sync.
	Since     string
	Filter    *Filter
	FullState bool
	Timeout   time.Duration
	// SetPresence is the set_presence parameter: online (or empty),
	// unavailable or offline.
	SetPresence string
	// UseStateAfter is the use_state_after parameter: each room's state
	// is given up to the end of its timeline, in state_after.
	UseStateAfter bool
	// UnstableStateAfter tells that the client asked for it with the
	// name of MSC4222 (org.matrix.msc4222.use_state_after, which
	// matrix-js-sdk sends): the answer uses that name's state_after too.
	UnstableStateAfter bool

	// bundles collects the limited timelines of the answer being built
	// whose bundled aggregations are added at its end.
	bundles *bundleBatch
	// prevStates collects the timeline state events of the answer being
	// built whose replaced events are looked up at its end.
	prevStates *prevStateBatch
}

// Sync answers one /sync request: at once for an initial sync, with
// full_state, or when something is new since the token; otherwise it waits
// up to req.Timeout for something to happen.
func (s *Service) Sync(ctx context.Context, req Request) (*Response, error) {
	if req.Filter == nil {
		req.Filter = &Filter{}
	}
	defer s.syncStarted(req.User, req.SetPresence)()
	resp, err := s.sync(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := s.addE2EE(ctx, req, resp); err != nil {
		return nil, err
	}
	if req.UseStateAfter {
		resp.moveStateAfter(req.UnstableStateAfter)
	}
	resp.applyEventFields(req.Filter)
	s.pacing.answered(req.User, req.Device, s.now())
	return resp, nil
}

func (s *Service) sync(ctx context.Context, req Request) (*Response, error) {
	if err := s.caughtUp(ctx); err != nil {
		return nil, err
	}
	if req.Since == "" {
		adPos, rcPos, tyPos, prPos := s.accountDataPos(), s.receiptPos(), s.typingPos(), s.presencePos()
		pos := s.notifier.Position()
		resp, err := s.initial(ctx, req, pos)
		if err != nil {
			return nil, err
		}
		if err := s.addEphemeral(ctx, req, resp, true, SyncToken{}, SyncToken{AccountData: adPos, Receipts: rcPos, Typing: tyPos, Presence: prPos}); err != nil {
			return nil, err
		}
		return resp, nil
	}
	tok, err := ParseSyncToken(req.Since)
	if err != nil {
		return nil, err
	}
	since := tok.Events
	// A token from the future (for example after restoring an older
	// backup) is treated as "now" rather than waiting forever.
	since = min(since, s.notifier.Position())

	timeout := min(max(req.Timeout, 0), MaxTimeout)
	// pollCtx ends at the timeout or when the client goes away; waitCtx
	// also ends when the device may have end-to-end encryption news.
	pollCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// A device that comes back soon after its last answer, while many
	// devices sync, waits out its pace first (see answerPacing); a poll
	// that may not wait (timeout 0) never does.
	if timeout > 0 {
		d, receipts := s.pacing.wait(req.User, req.Device, s.now())
		if d > 0 {
			s.pauseFor(pollCtx, d)
			// A receipt the client posted meanwhile, for the answer
			// before, adds to the wait (see answerPacing.wait).
			if d, more := s.pacing.wait(req.User, req.Device, s.now()); d > 0 && more > receipts {
				s.pauseFor(pollCtx, d)
			}
		}
	}
	waitCtx := s.e2eeWake(pollCtx, req)
	lingered := false
	for {
		seen, news := s.notifier.Changes(), s.notifier.News()
		upto := SyncToken{AccountData: s.accountDataPos(), Receipts: s.receiptPos(), Typing: s.typingPos(), Presence: s.presencePos()}
		pos := s.notifier.Position()
		resp, err := s.incremental(ctx, req, since, pos)
		if err != nil {
			return nil, err
		}
		if err := s.addEphemeral(ctx, req, resp, false, tok, upto); err != nil {
			return nil, err
		}
		resp.fillPrevBatch(Token(pos))
		if req.FullState || pollCtx.Err() != nil {
			return resp, nil
		}
		if waitCtx.Err() != nil {
			// Woken for end-to-end encryption news. A wake may come late,
			// for a change the since token has seen already: the poll
			// answers only if the device has news after the token, and
			// waits on otherwise.
			if waitCtx = s.e2eeWake(pollCtx, req); waitCtx.Err() != nil {
				return resp, nil
			}
		}
		if !resp.isEmpty() {
			if lingered || !resp.onlyReceipts() {
				return resp, nil
			}
			// Only read receipts: a client answered now would poll
			// again at once, and in a busy room every member's receipt
			// would make every member poll. Wait a little for an event
			// (or anything else) to go with them, gathering the
			// receipts that come meanwhile.
			lctx, cancel := context.WithTimeout(waitCtx, s.receiptDelay)
			s.notifier.WaitNews(lctx, news)
			cancel()
			lingered = true
			continue
		}
		// Nothing for this user: wait for the next change of any stream.
		if s.notifier.WaitChange(waitCtx, seen) == seen {
			if pollCtx.Err() != nil || waitCtx.Err() == nil {
				// Timed out, the client went away, or the server stops.
				return resp, nil
			}
			continue // end-to-end encryption news, checked above
		}
		lingered = false
		if s.notifier.News() == news {
			// Only receipts moved: if they are news for this user, the
			// answer would wait for more anyway, so wait first and
			// build it once (in a busy room every member's receipt
			// wakes every waiting member).
			lctx, cancel := context.WithTimeout(waitCtx, s.receiptDelay)
			s.notifier.WaitNews(lctx, news)
			cancel()
			lingered = true
		}
	}
}

// addEphemeral adds what is new in the streams beside the events (account
// data, receipts, typing) between the client's token and upto, and sets
// their positions in next_batch. Positions from the future (a token of
// another server process) count as upto.
func (s *Service) addEphemeral(ctx context.Context, req Request, resp *Response, initial bool, since, upto SyncToken) error {
	if err := s.addAccountData(ctx, req, resp, initial, min(since.AccountData, upto.AccountData), upto.AccountData); err != nil {
		return err
	}
	if err := s.addReceipts(ctx, req, resp, initial, min(since.Receipts, upto.Receipts), upto.Receipts); err != nil {
		return err
	}
	// Typing and presence positions restart with the process: a token
	// from before carries a position this process may not have reached.
	tySince := since.Typing
	if tySince > upto.Typing {
		tySince = 0
	}
	prSince := since.Presence
	if prSince > upto.Presence {
		prSince = 0
	}
	if err := s.addPresence(ctx, req, resp, initial, prSince, upto.Presence); err != nil {
		return err
	}
	if !initial && tySince >= upto.Typing {
		return s.addTyping(req, resp, nil, false, tySince, upto.Typing)
	}
	ms, err := s.memberships(ctx, req.User)
	if err != nil {
		return err
	}
	return s.addTyping(req, resp, ms, initial, tySince, upto.Typing)
}

// onlyReceipts reports whether the news of a non-empty incremental
// response are read receipts only (and the unread counts they moved).
func (r *Response) onlyReceipts() bool {
	if r.Rooms == nil || len(r.Rooms.Invite) > 0 || len(r.Rooms.Knock) > 0 || len(r.Rooms.Leave) > 0 ||
		(r.AccountData != nil && len(r.AccountData.Events) > 0) || len(r.presenceEvents()) > 0 {
		return false
	}
	for _, jr := range r.Rooms.Join {
		if len(jr.Timeline.Events) > 0 || len(jr.State.Events) > 0 || len(jr.AccountData.Events) > 0 ||
			len(jr.Ephemeral.Events) > jr.receiptEvents {
			return false
		}
	}
	return true
}

// fillPrevBatch gives the joined rooms that carry no new timeline events
// (only receipts, typing or account data) the prev_batch of an empty
// timeline: from now back. timeline_batch.yaml lets it be left out only
// when no earlier events are available.
func (r *Response) fillPrevBatch(now string) {
	if r.Rooms == nil {
		return
	}
	for _, jr := range r.Rooms.Join {
		if jr.Timeline.PrevBatch == "" && len(jr.Timeline.Events) == 0 {
			jr.Timeline.PrevBatch = now
		}
	}
}

func (r *Response) isEmpty() bool {
	return (r.Rooms == nil || r.Rooms.empty()) && (r.AccountData == nil || len(r.AccountData.Events) == 0) &&
		len(r.presenceEvents()) == 0
}

// item is one event as sync handles it.
type item struct {
	pos int64
	nid int64 // 0 if not known yet
	pdu *event.PDU
	// txnDevice and txnID identify the sending device's transaction.
	txnDevice id.DeviceID
	txnID     string
	// redactedBecause is the client form of the redaction that applies to
	// the event, whose pdu is then the redacted event; nil otherwise.
	redactedBecause json.RawMessage
	// replaced is the state event this one replaced, as clients see it
	// (for unsigned.prev_content); nil when it replaced nothing or is not
	// a state event. replacedKnown says whether replaced was looked up.
	replaced      *event.PDU
	replacedKnown bool
	// gapBelow marks an event stored above a gap in its room's history
	// (store.Event.GapBelow): a timeline starts at it (startAtGap).
	gapBelow bool
}

// startAtGap returns where a timeline of items (oldest first) that would
// start at start begins instead: at the newest event above a gap in the
// room's history, when that lies after start. A
// timeline never spans a gap: the gap's events never come as new
// (fedfetch stores them as history), so the client must be told that the
// timeline is limited, page back into the gap from the timeline's
// prev_batch (store.DB.RoomTopoPosAt places it just below the event), and
// get the state before the event from its state group, which holds the
// gap's state changes.
func startAtGap(items []item, start int) int {
	for i := len(items) - 1; i > start; i-- {
		if items[i].gapBelow {
			return i
		}
	}
	return start
}

// hasGap reports whether an event of items lies above a gap in the
// room's history.
func hasGap(items []item) bool {
	return slices.ContainsFunc(items, func(it item) bool { return it.gapBelow })
}
