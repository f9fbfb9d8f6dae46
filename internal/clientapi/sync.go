// Spec: Client-Server API § Syncing, § Filtering
// data/api/client-server/sync.yaml, data/api/client-server/filter.yaml

package clientapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hafenchat/hafen/internal/clientsync"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/filter"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
)

// Filters keeps users' filters. filter.Service implements it.
type Filters interface {
	// Define validates and stores a filter and returns its ID; the error
	// wraps filter.ErrInvalid when the filter is not valid.
	Define(ctx context.Context, user id.UserID, f *clientsync.Filter) (string, error)
	// Get returns a stored filter as JSON, or an error wrapping
	// filter.ErrNotFound.
	Get(ctx context.Context, user id.UserID, filterID string) ([]byte, error)
}

// unstableUseStateAfter is use_state_after under the name of MSC4222.
const unstableUseStateAfter = "org.matrix.msc4222.use_state_after"

// filterErr turns an invalid filter into the Matrix error: M_INVALID_PARAM
// when it names a malformed user or room ID, M_BAD_JSON otherwise.
func filterErr(err error) error {
	if errors.Is(err, id.ErrInvalidUserID) || errors.Is(err, id.ErrInvalidRoomID) {
		return matrixerr.InvalidParam("invalid filter: %v", err)
	}
	return matrixerr.BadJSON("invalid filter: %v", err)
}

// sync answers a sync request.
//
// GET /_matrix/client/v3/sync
func (s *Server) sync(w http.ResponseWriter, r *http.Request, sess session) error {
	q := r.URL.Query()
	req := clientsync.Request{User: sess.UserID, Device: sess.DeviceID, Since: q.Get("since")}
	if req.Since != "" {
		if _, err := clientsync.ParseSyncToken(req.Since); err != nil {
			return matrixerr.InvalidParam("since is not a valid sync token")
		}
	}
	switch fs := q.Get("full_state"); fs {
	case "", "false":
	case "true":
		req.FullState = true
	default:
		return matrixerr.InvalidParam("full_state must be true or false")
	}
	// MSC4222's name, which matrix-js-sdk sends, counts when the
	// spec's is absent; the answer then uses MSC4222's state_after too.
	usa, unstable := q.Get("use_state_after"), false
	if !q.Has("use_state_after") && q.Has(unstableUseStateAfter) {
		usa, unstable = q.Get(unstableUseStateAfter), true
	}
	switch usa {
	case "", "false":
	case "true":
		req.UseStateAfter, req.UnstableStateAfter = true, unstable
	default:
		return matrixerr.InvalidParam("use_state_after must be true or false")
	}
	switch q.Get("set_presence") {
	case "", "online", "offline", "unavailable":
		req.SetPresence = q.Get("set_presence")
	default:
		return matrixerr.InvalidParam("set_presence must be online, offline or unavailable")
	}
	ms, err := httpapi.NonNegativeParam(q, "timeout", 0)
	if err != nil {
		return err
	}
	req.Timeout = time.Duration(min(ms, int(clientsync.MaxTimeout/time.Millisecond))) * time.Millisecond
	f, err := s.resolveFilter(r.Context(), sess.UserID, q.Get("filter"))
	if err != nil {
		return err
	}
	req.Filter = f
	resp, err := s.Sync.Sync(r.Context(), req)
	if errors.Is(err, clientsync.ErrBadToken) {
		return matrixerr.InvalidParam("since is not a valid sync token")
	}
	if err != nil {
		return err
	}
	buf := syncBuffers.Get().(*[]byte)
	defer func() {
		if cap(*buf) <= maxPooledSyncBuffer {
			syncBuffers.Put(buf)
		}
	}()
	if *buf, err = resp.AppendJSON((*buf)[:0]); err != nil {
		return err
	}
	return httpapi.OKRawJSON(w, *buf)
}

// syncBuffers holds buffers for encoding sync answers: every answer of a
// busy room is encoded, and a new buffer each time is garbage to collect.
var syncBuffers = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledSyncBuffer is the largest buffer kept for reuse: an initial
// sync's answer may be large, and is rare.
const maxPooledSyncBuffer = 256 << 10

// resolveFilter turns sync's filter parameter (an inline JSON filter or the
// ID of a stored one) into a filter.
func (s *Server) resolveFilter(ctx context.Context, user id.UserID, param string) (*clientsync.Filter, error) {
	if param == "" {
		return &clientsync.Filter{}, nil
	}
	if strings.HasPrefix(strings.TrimSpace(param), "{") {
		return s.parseFilter([]byte(param))
	}
	if _, err := strconv.ParseInt(param, 10, 64); err != nil {
		return nil, matrixerr.InvalidParam("filter is neither a filter ID nor a JSON object")
	}
	// A stored filter never changes: one read per user and ID.
	key := storedFilterKey{user: user, id: param}
	if f := s.filters.getStored(key); f != nil {
		return f, nil
	}
	raw, err := s.Filters.Get(ctx, user, param)
	if errors.Is(err, filter.ErrNotFound) {
		return nil, matrixerr.InvalidParam("unknown filter ID")
	}
	if err != nil {
		return nil, err
	}
	f, err := s.parseFilter(raw)
	if err != nil {
		return nil, err
	}
	s.filters.putStored(key, f)
	return f, nil
}

// parseFilter parses a filter's JSON, once per distinct JSON.
func (s *Server) parseFilter(raw []byte) (*clientsync.Filter, error) {
	if f := s.filters.get(raw); f != nil {
		return f, nil
	}
	f, err := clientsync.ParseFilter(raw)
	if err != nil {
		return nil, filterErr(err)
	}
	s.filters.put(raw, f)
	return f, nil
}

// maxParsedFilters bounds the parsed filters kept; beyond it the cache
// starts afresh.
const maxParsedFilters = 1024

// parsedFilters keeps filters parsed by their JSON, and stored filters by
// their user and ID, so that a client that syncs with the same filter
// again and again has it read and parsed once. The filters are shared
// between requests: sync only reads them.
type parsedFilters struct {
	// mu guards byJSON and byID. A leaf.
	mu     sync.Mutex
	byJSON map[string]*clientsync.Filter
	byID   map[storedFilterKey]*clientsync.Filter
}

// storedFilterKey names a stored filter: IDs are per user.
type storedFilterKey struct {
	user id.UserID
	id   string
}

func (p *parsedFilters) getStored(k storedFilterKey) *clientsync.Filter {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.byID[k]
}

func (p *parsedFilters) putStored(k storedFilterKey, f *clientsync.Filter) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byID == nil || len(p.byID) >= maxParsedFilters {
		p.byID = map[storedFilterKey]*clientsync.Filter{}
	}
	p.byID[k] = f
}

func (p *parsedFilters) get(raw []byte) *clientsync.Filter {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.byJSON[string(raw)]
}

func (p *parsedFilters) put(raw []byte, f *clientsync.Filter) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byJSON == nil || len(p.byJSON) >= maxParsedFilters {
		p.byJSON = map[string]*clientsync.Filter{}
	}
	p.byJSON[string(raw)] = f
}

// defineFilter stores a filter for later syncs.
//
// POST /_matrix/client/v3/user/{userId}/filter
func (s *Server) defineFilter(w http.ResponseWriter, r *http.Request, sess session) error {
	if err := s.ownUserPath(r, sess); err != nil {
		return err
	}
	var f clientsync.Filter
	if err := httpapi.DecodeJSON(w, r, &f); err != nil {
		return err
	}
	fid, err := s.Filters.Define(r.Context(), sess.UserID, &f)
	if errors.Is(err, filter.ErrInvalid) {
		return filterErr(err)
	}
	if err != nil {
		return err
	}
	return httpapi.OK(w, map[string]string{"filter_id": fid})
}

// getFilter returns a stored filter.
//
// GET /_matrix/client/v3/user/{userId}/filter/{filterId}
func (s *Server) getFilter(w http.ResponseWriter, r *http.Request, sess session) error {
	if err := s.ownUserPath(r, sess); err != nil {
		return err
	}
	raw, err := s.Filters.Get(r.Context(), sess.UserID, r.PathValue("filterId"))
	if errors.Is(err, filter.ErrNotFound) {
		return matrixerr.NotFound("unknown filter")
	}
	if err != nil {
		return err
	}
	return httpapi.OKRawJSON(w, raw)
}

// ownUserPath checks that the {userId} of the path is a user ID (400
// M_INVALID_PARAM) and the requester (403 M_FORBIDDEN).
func (s *Server) ownUserPath(r *http.Request, sess session) error {
	user, err := pathUserID(r)
	if err != nil {
		return err
	}
	if user != sess.UserID {
		return matrixerr.Forbidden("cannot access another user's filters")
	}
	return nil
}
