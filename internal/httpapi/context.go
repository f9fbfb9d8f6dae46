package httpapi

import (
	"context"
	"log/slog"
	"net/http"
)

// requestInfo is what Middleware attaches to each request's context.
type requestInfo struct {
	id     string
	logger *slog.Logger
	// userID is set once the request is authenticated, for the access log.
	// It is written and read by the request's own goroutine only.
	userID string
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
	if ri := info(r); ri != nil {
		return ri.logger
	}
	return discardLogger
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
	ri.userID = userID
	attrs := []any{"user_id", userID}
	if deviceID != "" {
		attrs = append(attrs, "device_id", deviceID)
	}
	ri.logger = ri.logger.With(attrs...)
}

// withInfo returns r with a fresh requestInfo.
func withInfo(r *http.Request, ri *requestInfo) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, ri))
}
