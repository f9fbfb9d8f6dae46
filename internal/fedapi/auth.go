// Spec: Server-Server API § Request Authentication
// https://spec.matrix.org/v1.19/server-server-api/#request-authentication

package fedapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
)

// MaxRequestBytes caps the body of an authenticated federation request: a
// transaction of 50 PDUs of at most 64 KiB and 100 EDUs fits.
const MaxRequestBytes = 10 << 20

// authedHandler is a handler of an authenticated endpoint; origin is the
// server whose signature was verified.
type authedHandler func(w http.ResponseWriter, r *http.Request, origin id.ServerName) error

// authed wraps h in X-Matrix request authentication. Every failure is
// 401 M_UNAUTHORIZED, as Synapse and Dendrite answer: a missing or
// malformed header, a destination other than this server (which the spec
// names: "must deny the request with an HTTP status code 401"), an origin
// whose key cannot be found or is no longer valid, and a signature that
// does not cover this method, URI, destination and body. A body that is
// not JSON is 400 M_NOT_JSON. The body is read once (at most
// MaxRequestBytes) and handed on to h.
func (s *Server) authed(h authedHandler) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		header := r.Header.Get("Authorization")
		if header == "" {
			return matrixerr.Unauthorized("missing X-Matrix authorization header")
		}
		x, err := signing.ParseXMatrix(header)
		if err != nil {
			return matrixerr.Wrap(matrixerr.KindUnauthorized, err, "malformed X-Matrix authorization header")
		}
		// Servers older than v1.3 leave the destination out; it is then
		// this server, which they signed as the destination.
		dest := x.Destination
		if dest == "" {
			dest = s.ServerName
		} else if dest != s.ServerName {
			return matrixerr.Unauthorized("request is addressed to another server")
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return matrixerr.TooLarge(fmt.Sprintf("request body is larger than %d bytes", mbe.Limit))
			}
			return matrixerr.Wrap(matrixerr.KindNotJSON, err, "could not read the request body")
		}
		if len(body) > 0 && !json.Valid(body) {
			return matrixerr.NotJSON("request body is not JSON")
		}
		pub, err := s.Keys.RequestKey(r.Context(), x.Origin, x.KeyID)
		if err != nil {
			if r.Context().Err() != nil {
				return err
			}
			return matrixerr.Wrap(matrixerr.KindUnauthorized, err, "no valid key "+string(x.KeyID)+" of "+string(x.Origin))
		}
		req := signing.Request{Method: r.Method, URI: r.RequestURI, Origin: x.Origin, Destination: dest, Content: body}
		if err := signing.VerifyRequest(req, x, pub); err != nil {
			httpapi.Logger(r).Warn("bad request signature", "origin", string(x.Origin), "err", err)
			return matrixerr.Wrap(matrixerr.KindUnauthorized, err, "invalid signature")
		}
		if s.Contacted != nil {
			s.Contacted(x.Origin)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		return h(w, r, x.Origin)
	}
}

// optionallyAuthed serves an endpoint the spec leaves open to anyone
// (such as /version): a request without an Authorization header reaches h
// with an empty origin, one with a header is authenticated as by authed —
// a forged signature is still 401, and a signed request tells Contacted.
// Synapse treats these endpoints the same way.
func (s *Server) optionallyAuthed(h authedHandler) httpapi.HandlerFunc {
	checked := s.authed(h)
	return func(w http.ResponseWriter, r *http.Request) error {
		if r.Header.Get("Authorization") == "" {
			return h(w, r, "")
		}
		return checked(w, r)
	}
}
