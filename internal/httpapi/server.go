package httpapi

import (
	"log/slog"
	"net/http"
	"time"
)

// The limits of every Hafen HTTP server. There is no overall read or write
// timeout: long-polling endpoints (sync) hold responses open and set their
// own deadline.
const (
	// ReadHeaderTimeout bounds how long a client may take to send the
	// request line and headers (slowloris protection).
	ReadHeaderTimeout = 10 * time.Second
	// IdleTimeout closes keep-alive connections idle for this long.
	IdleTimeout = 2 * time.Minute
	// MaxHeaderBytes caps the size of the request headers.
	MaxHeaderBytes = 64 << 10
)

// NewServer returns an http.Server for handler with Hafen's timeouts and
// header cap. Errors of net/http itself (TLS handshakes, bad requests) go
// to logger at Warn level.
func NewServer(handler http.Handler, logger *slog.Logger) *http.Server {
	if logger == nil {
		logger = discardLogger
	}
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: ReadHeaderTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}
