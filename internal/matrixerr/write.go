package matrixerr

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// internalMessage is what a client reads for any KindInternal error; the
// real cause only goes to the log.
const internalMessage = "internal server error"

// Write renders err as the response to r. logger should carry the request's
// attributes (request_id); it may be nil.
//
//   - *UIA → 401 with flows, params, session, completed (and errcode/error
//     of a failed stage).
//   - *Error → the table's status and errcode, plus the kind's extra keys.
//   - *http.MaxBytesError anywhere in the chain → 413 M_TOO_LARGE.
//   - anything else → 500 M_UNKNOWN; the error is logged at Error level.
//
// A request whose client has already gone away (its context is canceled)
// is logged at Debug level only.
func Write(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	if err == nil {
		return
	}
	var uia *UIA
	if errors.As(err, &uia) {
		writeJSON(w, http.StatusUnauthorized, uia.body())
		return
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		e := TooLarge("request body is larger than " + strconv.FormatInt(mbe.Limit, 10) + " bytes")
		writeJSON(w, e.Status(), e.body())
		return
	}
	var me *Error
	if !errors.As(err, &me) || me.Kind == KindInternal {
		logInternal(r, logger, err)
		e := &Error{Kind: KindInternal, Message: internalMessage}
		writeJSON(w, e.Status(), e.body())
		return
	}
	if me.Kind == KindLimitExceeded && me.RetryAfter > 0 {
		secs := (me.RetryAfter + time.Second - 1) / time.Second
		w.Header().Set("Retry-After", strconv.FormatInt(int64(secs), 10))
	}
	writeJSON(w, me.Status(), me.body())
}

func logInternal(r *http.Request, logger *slog.Logger, err error) {
	if logger == nil {
		return
	}
	ctx := context.Background()
	if r != nil {
		ctx = r.Context()
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			logger.DebugContext(ctx, "request canceled by client", "err", err)
			return
		}
	}
	logger.ErrorContext(ctx, "internal error", "err", err)
}

// body is the JSON object of the error response.
func (e *Error) body() map[string]any {
	m := make(map[string]any, 2+len(e.Fields))
	for k, v := range e.Fields {
		m[k] = v
	}
	m["errcode"] = e.Code()
	m["error"] = e.Message
	if e.Kind == KindLimitExceeded && e.RetryAfter > 0 {
		m["retry_after_ms"] = e.RetryAfter.Milliseconds()
	}
	if e.SoftLogout {
		m["soft_logout"] = true
	}
	return m
}

func writeJSON(w http.ResponseWriter, status int, body map[string]any) {
	data, err := json.Marshal(body)
	if err != nil {
		// Only a value in Fields that encoding/json cannot encode gets here.
		status = http.StatusInternalServerError
		data = []byte(`{"errcode":"M_UNKNOWN","error":"internal server error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(data)
}
