package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
)

// requestInfo is what Middleware attaches to each request's context.
type requestInfo struct {
	id string
	// base is the server's logger; logger is base with the request's
	// attributes, made when first asked for: most requests log nothing
	// but their access log line, and a logger with attributes costs
	// allocations on every request.
	base   *slog.Logger
	logger atomic.Pointer[slog.Logger]
	// userID and deviceID are set once the request is authenticated. They
	// are written by the request's own goroutine only, before the handler
	// hands the request to any other.
	userID, deviceID string
}

type requestInfoKey struct{}

var discardLogger = slog.New(slog.DiscardHandler)

func info(r *http.Request) *requestInfo {
	ri, _ := r.Context().Value(requestInfoKey{}).(*requestInfo)
	return ri
}

// Logger returns the request's logger, which carries its request_id (and,
// once known, user_id). Outside Middleware it returns a logger that
// discards everything, never nil.
func Logger(r *http.Request) *slog.Logger {
	ri := info(r)
	if ri == nil {
		return discardLogger
	}
	if l := ri.logger.Load(); l != nil {
		return l
	}
	attrs := []any{"request_id", ri.id}
	if ri.userID != "" {
		attrs = append(attrs, "user_id", ri.userID)
		if ri.deviceID != "" {
			attrs = append(attrs, "device_id", ri.deviceID)
		}
	}
	l := ri.base.With(attrs...)
	if !ri.logger.CompareAndSwap(nil, l) {
		return ri.logger.Load()
	}
	return l
}

// RequestID returns the ID Middleware gave the request, or "".
func RequestID(r *http.Request) string {
	if ri := info(r); ri != nil {
		return ri.id
	}
	return ""
}

// SetUser records the authenticated user of the request: the request's
// logger gains user_id and device_id attributes and the access log line
// names the user. Call it once, right after authentication.
func SetUser(r *http.Request, userID, deviceID string) {
	ri := info(r)
	if ri == nil {
		return
	}
	ri.userID, ri.deviceID = userID, deviceID
	// A logger made before authentication lacks the user.
	ri.logger.Store(nil)
}

// withInfo returns r with a fresh requestInfo.
func withInfo(r *http.Request, ri *requestInfo) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, ri))
}
