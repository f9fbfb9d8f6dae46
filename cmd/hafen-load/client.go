package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

const (
	// requestTimeout bounds every request except the long-polling /sync.
	requestTimeout = 30 * time.Second
	// syncPollTimeout is the timeout the syncers ask /sync to wait for.
	syncPollTimeout = 30 * time.Second
	// syncSlack is how much longer than syncPollTimeout a /sync request may
	// take before the client gives up on it.
	syncSlack = 30 * time.Second
	// maxResponseBytes caps how much of one response body is read.
	maxResponseBytes = 32 << 20
	// maxRateLimitRetries bounds how often one request is repeated after a
	// 429 answer.
	maxRateLimitRetries = 5
	// maxRetryWait caps the wait a 429 answer may ask for.
	maxRetryWait = 5 * time.Second
)

// newHTTPClient returns the HTTP client every user of one run shares. It keeps
// enough idle connections to the server for all users, and its Timeout is a
// backstop above the per-request deadlines.
func newHTTPClient(conns int) *http.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns * 2,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	return &http.Client{Transport: tr, Timeout: syncPollTimeout + syncSlack + 30*time.Second}
}

// matrixError is a non-2xx answer of the homeserver.
type matrixError struct {
	Status       int    `json:"-"`
	ErrCode      string `json:"errcode"`
	Message      string `json:"error"`
	RetryAfterMS int64  `json:"retry_after_ms"`
	// Body is the raw response body; the UIA flow reads its flows from it.
	Body []byte `json:"-"`
}

func (e *matrixError) Error() string {
	if e.ErrCode == "" {
		return fmt.Sprintf("status %d: %s", e.Status, truncate(string(e.Body), 200))
	}
	return fmt.Sprintf("status %d %s: %s", e.Status, e.ErrCode, e.Message)
}

// client is one user's session on the homeserver under test. The zero token
// sends unauthenticated requests (registration).
type client struct {
	hc      *http.Client
	baseURL string // without a trailing slash
	token   string
	userID  string
	// retries counts requests repeated after a 429 answer, shared by all
	// clients of a run.
	retries *atomic.Int64
}

// do sends one request with its own deadline and decodes a 2xx JSON answer
// into out (when out is not nil). A non-2xx answer is returned as a
// *matrixError. A 429 answer is retried after the wait it asks for, at most
// maxRateLimitRetries times.
func (c *client) do(ctx context.Context, timeout time.Duration, method, path string, query url.Values, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("encode %s %s: %w", method, path, err)
		}
	}
	for attempt := 0; ; attempt++ {
		err := c.doOnce(ctx, timeout, method, path, query, body, out)
		var me *matrixError
		if !errors.As(err, &me) || me.Status != http.StatusTooManyRequests || attempt >= maxRateLimitRetries {
			return err
		}
		if c.retries != nil {
			c.retries.Add(1)
		}
		wait := time.Duration(me.RetryAfterMS) * time.Millisecond
		if wait <= 0 {
			wait = 500 * time.Millisecond
		}
		if err := sleep(ctx, min(wait, maxRetryWait)); err != nil {
			return fmt.Errorf("wait to retry %s %s: %w", method, path, err)
		}
	}
}

func (c *client) doOnce(ctx context.Context, timeout time.Duration, method, path string, query url.Values, body []byte, out any) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	u := c.baseURL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("build %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("read answer of %s %s: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		me := &matrixError{Status: resp.StatusCode, Body: data}
		_ = json.Unmarshal(data, me) // a body that is not JSON still yields the status
		return fmt.Errorf("%s %s: %w", method, path, me)
	}
	if out == nil {
		return nil
	}
	if d, ok := out.(skimmer); ok {
		data = d.skim(data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode answer of %s %s: %w", method, path, err)
	}
	return nil
}

// skimmer is an answer type that decodes only part of its JSON: skim
// returns the part to decode.
type skimmer interface {
	skim(data []byte) []byte
}

// createRoom creates a public room and returns its ID.
func (c *client) createRoom(ctx context.Context, name string) (string, error) {
	in := map[string]any{"preset": "public_chat", "name": name}
	var out struct {
		RoomID string `json:"room_id"`
	}
	if err := c.do(ctx, requestTimeout, http.MethodPost, "/_matrix/client/v3/createRoom", nil, in, &out); err != nil {
		return "", err
	}
	if out.RoomID == "" {
		return "", errors.New("createRoom answered without room_id")
	}
	return out.RoomID, nil
}

// join joins the room, through the servers in via when the room is on
// another server. via goes out both as the spec's via and as the older
// server_name parameter, which servers of before v1.12 read instead.
func (c *client) join(ctx context.Context, roomID string, via []string) error {
	var q url.Values
	if len(via) > 0 {
		q = url.Values{"via": via, "server_name": via}
	}
	return c.do(ctx, requestTimeout, http.MethodPost, "/_matrix/client/v3/join/"+url.PathEscape(roomID), q, struct{}{}, nil)
}

// sendMessage sends one m.room.message event with the given content under
// the transaction ID txnID.
func (c *client) sendMessage(ctx context.Context, roomID, txnID string, content any) error {
	path := "/_matrix/client/v3/rooms/" + url.PathEscape(roomID) + "/send/m.room.message/" + url.PathEscape(txnID)
	var out struct {
		EventID string `json:"event_id"`
	}
	if err := c.do(ctx, requestTimeout, http.MethodPut, path, nil, content, &out); err != nil {
		return err
	}
	if out.EventID == "" {
		return errors.New("send answered without event_id")
	}
	return nil
}

// syncResponse holds the parts of a /sync answer the syncers read.
type syncResponse struct {
	NextBatch string `json:"next_batch"`
	Rooms     struct {
		Join map[string]struct {
			Timeline struct {
				Events  []syncEvent `json:"events"`
				Limited bool        `json:"limited"`
			} `json:"timeline"`
		} `json:"join"`
	} `json:"rooms"`
}

// skim drops the rooms' ephemeral events (receipts, typing), which the
// syncers do not read, before the answer is decoded.
func (*syncResponse) skim(data []byte) []byte {
	return withoutMembers(data, "ephemeral")
}

// syncEvent is one timeline event of a /sync answer.
type syncEvent struct {
	Type    string          `json:"type"`
	EventID string          `json:"event_id"`
	Content json.RawMessage `json:"content"`
}

// sync calls /sync. An empty since asks for an initial sync, which the server
// answers at once; otherwise the server may wait up to timeout for news.
func (c *client) sync(ctx context.Context, filter, since string, timeout time.Duration) (*syncResponse, error) {
	q := url.Values{}
	q.Set("filter", filter)
	q.Set("timeout", fmt.Sprint(timeout.Milliseconds()))
	if since != "" {
		q.Set("since", since)
	}
	var out syncResponse
	if err := c.do(ctx, timeout+syncSlack, http.MethodGet, "/_matrix/client/v3/sync", q, nil, &out); err != nil {
		return nil, err
	}
	if out.NextBatch == "" {
		return nil, errors.New("sync answered without next_batch")
	}
	return &out, nil
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
