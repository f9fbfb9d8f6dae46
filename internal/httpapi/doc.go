// Package httpapi is the HTTP plumbing shared by Hafen's APIs: a router on
// Go's ServeMux method patterns that answers unknown paths and wrong methods
// with JSON errors, handlers that return errors, JSON request decoding with
// a size cap, the middleware every request passes through (request ID and
// access log, panic recovery, CORS), access-token extraction, a token-bucket
// rate limiter, and the http.Server settings.
//
// It knows nothing about accounts, rooms or storage: the API packages
// (clientapi, …) build on it. Errors are rendered by matrixerr.Write.
//
// # Handlers
//
// A handler returns an error instead of writing one:
//
//	rt := httpapi.NewRouter()
//	rt.Handle("GET /_matrix/client/versions", httpapi.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
//		return httpapi.WriteJSON(w, http.StatusOK, versions)
//	}))
//	srv := httpapi.NewServer(httpapi.Middleware(logger, rt), logger)
//
// # Middleware order
//
// Middleware wraps a handler in, from the outside: request ID and access
// log, panic recovery, CORS. The access log therefore sees the 500 of a
// recovered panic, and OPTIONS requests are answered before any routing.
package httpapi
