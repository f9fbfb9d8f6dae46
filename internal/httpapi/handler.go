package httpapi

import (
	"net/http"

	"github.com/hafenchat/hafen/internal/matrixerr"
)

// HandlerFunc is an HTTP handler that returns its failure instead of writing
// it. A non-nil error is rendered by matrixerr.Write with the request's
// logger, so a handler never picks an HTTP status or errcode for an error.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// ServeHTTP calls f and writes its error, if any.
func (f HandlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := f(w, r); err != nil {
		matrixerr.Write(w, r, Logger(r), err)
	}
}
