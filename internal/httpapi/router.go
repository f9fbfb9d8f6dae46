package httpapi

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/hafenchat/hafen/internal/matrixerr"
)

// Router maps "METHOD /path/{wildcard}" patterns to handlers on a
// http.ServeMux. Where ServeMux would answer in plain text, Router answers
// with the spec's JSON: a path no route knows is 404 M_UNRECOGNIZED, a known
// path with the wrong method is 405 M_UNRECOGNIZED with an Allow header.
//
// ServeMux answers a path that is not clean ("." or ".." segments, "//")
// with a redirect to the cleaned path and an HTML body. The Matrix API has
// no such redirects: Router routes "." and ".." segments as the literal
// path parameters they are (a state key may be ".."), and a path with an
// empty segment ("//"), which no route has, gets 404 M_UNRECOGNIZED.
type Router struct {
	mux      *http.ServeMux
	patterns []string
	handlers map[string]http.Handler
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
	if rt.handlers == nil {
		rt.handlers = map[string]http.Handler{}
	}
	rt.handlers[pattern] = h
}

// Alias registers, for every route registered so far whose path starts
// with from, the same handler under the path with to in place of from
// ("/_matrix/client/v3/" → "/_matrix/client/r0/"), unless skip reports
// the route's pattern. Routes registered later are not aliased.
func (rt *Router) Alias(from, to string, skip func(pattern string) bool) {
	for _, pattern := range slices.Clone(rt.patterns) {
		method, path, _ := strings.Cut(pattern, " ")
		rest, ok := strings.CutPrefix(path, from)
		if !ok || skip(pattern) {
			continue
		}
		rt.Handle(method+" "+to+rest, rt.handlers[pattern])
	}
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
	r, ok := literalDots(r)
	if !ok {
		return HandlerFunc(rt.unclean), ""
	}
	h, pattern = rt.mux.Handler(r)
	if pattern == fallbackPattern {
		pattern = ""
	}
	return h, pattern
}

// ServeHTTP dispatches r. A request whose path or query, decoded, is no
// UTF-8 text or holds a NUL is refused before routing: every identifier,
// name and token of the Matrix APIs is Unicode text, and PostgreSQL cannot
// store such bytes (SQLite would, and answer them back).
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !textOnly(r.URL) {
		HandlerFunc(invalidText).ServeHTTP(w, r)
		return
	}
	r, ok := literalDots(r)
	if !ok {
		HandlerFunc(rt.unclean).ServeHTTP(w, r)
		return
	}
	rt.mux.ServeHTTP(w, r)
}

// textOnly reports whether u's decoded path and query keys and values are
// valid UTF-8 without NUL.
func textOnly(u *url.URL) bool {
	if !isText(u.Path) {
		return false
	}
	if u.RawQuery == "" {
		return true
	}
	for key, values := range u.Query() {
		if !isText(key) {
			return false
		}
		for _, v := range values {
			if !isText(v) {
				return false
			}
		}
	}
	return true
}

// isText reports whether s is valid UTF-8 without NUL.
func isText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// invalidText answers a request that textOnly refused.
func invalidText(w http.ResponseWriter, r *http.Request) error {
	return matrixerr.InvalidParam("the request's path and query must be UTF-8 text without NUL characters")
}

// unclean answers a path with an empty segment.
func (rt *Router) unclean(w http.ResponseWriter, r *http.Request) error {
	return matrixerr.Unrecognized("unrecognized request")
}

// literalDots returns r with the "." and ".." segments of its path
// percent-encoded, so that ServeMux matches them as literal segments
// instead of redirecting to the cleaned path; the handlers' PathValue still
// decodes them to "." and "..". It reports false for a path with an empty
// segment ("//"), which cannot be routed. A clean path returns r itself.
func literalDots(r *http.Request) (*http.Request, bool) {
	escaped := r.URL.EscapedPath()
	if !strings.HasPrefix(escaped, "/") || r.Method == http.MethodConnect {
		return r, true
	}
	segs := strings.Split(escaped[1:], "/")
	changed := false
	for i, seg := range segs {
		switch {
		case seg == "." || seg == "..":
			segs[i] = strings.ReplaceAll(seg, ".", "%2E")
			changed = true
		case seg == "" && i < len(segs)-1:
			return r, false // "//": only the last segment may be empty
		}
	}
	if !changed {
		return r, true
	}
	r2 := r.Clone(r.Context())
	r2.URL.RawPath = "/" + strings.Join(segs, "/")
	return r2, true
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
