package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/hafenchat/hafen/internal/matrixerr"
)

// Middleware wraps h in the middleware every Hafen API request passes
// through, outermost first: request ID and access log, panic recovery,
// the request body deadline (BodyDeadline with its defaults), CORS.
func Middleware(logger *slog.Logger, h http.Handler) http.Handler {
	return AccessLog(logger, Recover(BodyDeadline(BodyReadGrace, BodyMinRate, CORS(h))))
}

// AccessLog gives each request an ID and a logger carrying it (see Logger
// and RequestID), and logs one line when the request ends with method,
// path, status, duration and, when authenticated, user_id. The query string
// is never logged: it may hold an access token.
func AccessLog(logger *slog.Logger, next http.Handler) http.Handler {
	if logger == nil {
		logger = discardLogger
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := newRequestID()
		ri := &requestInfo{id: id, base: logger}
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, withInfo(r, ri))
		attrs := []slog.Attr{
			slog.String("request_id", id),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", sw.statusCode()),
			slog.Duration("duration", time.Since(start)),
		}
		if ri.userID != "" {
			attrs = append(attrs, slog.String("user_id", ri.userID))
		}
		logger.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
	})
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// statusWriter records the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (sw *statusWriter) WriteHeader(code int) {
	if sw.status == 0 {
		sw.status = code
	}
	sw.ResponseWriter.WriteHeader(code)
}

func (sw *statusWriter) Write(b []byte) (int, error) {
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	return sw.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer (for
// flushing and per-request deadlines).
func (sw *statusWriter) Unwrap() http.ResponseWriter { return sw.ResponseWriter }

func (sw *statusWriter) statusCode() int {
	if sw.status == 0 {
		return http.StatusOK
	}
	return sw.status
}

// wrote reports whether the handler already started its response.
func (sw *statusWriter) wrote() bool { return sw.status != 0 }

// Recover turns a panic in next into 500 M_UNKNOWN and logs it with its
// stack. http.ErrAbortHandler is passed on: it is net/http's way to abort a
// response on purpose.
func Recover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw, ok := w.(*statusWriter)
		if !ok {
			sw = &statusWriter{ResponseWriter: w}
		}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v)
			}
			Logger(r).Error("panic in handler", "panic", v, "stack", string(debug.Stack()))
			if sw.wrote() {
				// Too late for an error response; abort the connection so the
				// client does not take a truncated body for a whole one.
				panic(http.ErrAbortHandler)
			}
			matrixerr.Write(sw, r, nil, matrixerr.Internal(nil, "panic"))
		}()
		next.ServeHTTP(sw, r)
	})
}

// CORS adds the headers the spec recommends to every response and answers
// OPTIONS requests itself, without running any endpoint logic, as the spec
// requires.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#web-browser-clients
func CORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, DELETE, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "X-Requested-With, Content-Type, Authorization")
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
