package httpapi

import (
	"net/http"
	"slices"
	"strings"

	"github.com/hafenchat/hafen/internal/matrixerr"
)

// Router maps "METHOD /path/{wildcard}" patterns to handlers on a
// http.ServeMux. Where ServeMux would answer in plain text, Router answers
// with the spec's JSON: a path no route knows is 404 M_UNRECOGNIZED, a known
// path with the wrong method is 405 M_UNRECOGNIZED with an Allow header.
type Router struct {
	mux      *http.ServeMux
	patterns []string
}

// fallbackPattern catches every request no route matches.
const fallbackPattern = "/"

// NewRouter returns an empty router.
func NewRouter() *Router {
	rt := &Router{mux: http.NewServeMux()}
	rt.mux.Handle(fallbackPattern, HandlerFunc(rt.notFound))
	return rt
}

// Handle registers h for pattern, which must name a method:
// "GET /_matrix/client/v3/devices/{deviceId}". A GET route also answers
// HEAD. It panics on a malformed or conflicting pattern, as ServeMux does,
// so a bad route table fails at startup (and in tests).
func (rt *Router) Handle(pattern string, h http.Handler) {
	method, _, ok := strings.Cut(pattern, " ")
	if !ok || method == "" || strings.HasPrefix(method, "/") {
		panic("httpapi: route pattern without a method: " + pattern)
	}
	rt.mux.Handle(pattern, h)
	rt.patterns = append(rt.patterns, pattern)
}

// Patterns returns the patterns registered with Handle, in the order they
// were registered.
func (rt *Router) Patterns() []string {
	return slices.Clone(rt.patterns)
}

// Handler returns the handler and pattern that r would be dispatched to,
// without calling the handler. Requests no route matches get the 404/405
// fallback and an empty pattern.
func (rt *Router) Handler(r *http.Request) (h http.Handler, pattern string) {
	h, pattern = rt.mux.Handler(r)
	if pattern == fallbackPattern {
		pattern = ""
	}
	return h, pattern
}

// ServeHTTP dispatches r.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt.mux.ServeHTTP(w, r)
}

// notFound answers requests no route matched: 405 when the path is known
// under another method, 404 otherwise.
func (rt *Router) notFound(w http.ResponseWriter, r *http.Request) error {
	// Try the other methods to tell "unknown path" from "wrong method".
	probeMethods := []string{
		http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete, http.MethodPatch,
	}
	var allowed []string
	probe := r.Clone(r.Context())
	for _, m := range probeMethods {
		if m == r.Method {
			continue
		}
		probe.Method = m
		if _, pattern := rt.mux.Handler(probe); pattern != "" && pattern != fallbackPattern {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) == 0 {
		return matrixerr.Unrecognized("unrecognized request")
	}
	if slices.Contains(allowed, http.MethodGet) {
		allowed = append(allowed, http.MethodHead)
	}
	allowed = append(allowed, http.MethodOptions)
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	return matrixerr.MethodNotAllowed("method " + r.Method + " is not allowed on this endpoint")
}
