package media

// Spec: Server-Server API § Content Repository
// https://spec.matrix.org/v1.19/server-server-api/#content-repository
// and data/api/server-server/content_repository.yaml

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/federation"
	"github.com/hafenchat/hafen/internal/matrixerr"
)

// FederationClient is what FederationFetcher needs of the federation
// client (*federation.Client).
type FederationClient interface {
	Stream(ctx context.Context, req federation.Request) (*http.Response, error)
	GetURL(ctx context.Context, rawURL string) (*http.Response, error)
}

var _ FederationClient = (*federation.Client)(nil)

// FederationFetcher is the Fetcher of other servers' media over
// federation: the authenticated /_matrix/federation/v1/media endpoints
// (multipart answers whose second part is the content or a Location to
// fetch it from), and, for servers that do not know them (404
// M_UNRECOGNIZED, as the spec says, or a 404/405 without a Matrix error),
// the deprecated /_matrix/media/v3 endpoints with allow_remote=false.
type FederationFetcher struct {
	// Client makes the requests (signed, with federation's resolution,
	// timeouts and private-address guard).
	Client FederationClient
}

var _ Fetcher = FederationFetcher{}

// Download implements Fetcher.
func (f FederationFetcher) Download(ctx context.Context, server id.ServerName, mediaID string, maxBytes int64) (RemoteFile, error) {
	esc := url.PathEscape(mediaID)
	return f.fetch(ctx, server, "/_matrix/federation/v1/media/download/"+esc,
		"/_matrix/media/v3/download/"+url.PathEscape(string(server))+"/"+esc+"?allow_remote=false", maxBytes)
}

// Thumbnail implements Fetcher.
func (f FederationFetcher) Thumbnail(ctx context.Context, server id.ServerName, mediaID string, width, height int, method string, maxBytes int64) (RemoteFile, error) {
	esc := url.PathEscape(mediaID)
	q := url.Values{"width": {strconv.Itoa(width)}, "height": {strconv.Itoa(height)}, "method": {method}}
	return f.fetch(ctx, server, "/_matrix/federation/v1/media/thumbnail/"+esc+"?"+q.Encode(),
		"/_matrix/media/v3/thumbnail/"+url.PathEscape(string(server))+"/"+esc+"?allow_remote=false&"+q.Encode(), maxBytes)
}

// fetch asks the federation endpoint at path, then the legacy one when
// the other server does not know it.
func (f FederationFetcher) fetch(ctx context.Context, server id.ServerName, path, legacy string, maxBytes int64) (RemoteFile, error) {
	// The multipart framing adds a few hundred bytes to the content.
	resp, err := f.Client.Stream(ctx, federation.Request{Destination: server, Method: http.MethodGet, Path: path, MaxResponseBytes: maxBytes + 64<<10})
	if err == nil {
		rf, err := f.multipart(ctx, resp, maxBytes)
		if err != nil {
			resp.Body.Close()
			return RemoteFile{}, err
		}
		return rf, nil
	}
	if !unrecognized(err) {
		return RemoteFile{}, remoteErr(err)
	}
	resp, err = f.Client.Stream(ctx, federation.Request{Destination: server, Method: http.MethodGet, Path: legacy, Unsigned: true, MaxResponseBytes: maxBytes})
	if err != nil {
		return RemoteFile{}, remoteErr(err)
	}
	rf := fileOf(resp.Header, resp.Body)
	rf.Legacy = true
	return rf, nil
}

// unrecognized reports whether err is the answer of a server that does not
// know an endpoint.
func unrecognized(err error) bool {
	var he *federation.HTTPError
	if !errors.As(err, &he) {
		return false
	}
	return (he.Status == http.StatusNotFound || he.Status == http.StatusMethodNotAllowed) &&
		(he.Errcode == "" || he.Errcode == matrixerr.KindUnrecognized.Code())
}

// remoteErr classifies another server's refusal.
func remoteErr(err error) error {
	var he *federation.HTTPError
	switch {
	case errors.Is(err, federation.ErrResponseTooLarge):
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	case !errors.As(err, &he):
		return err
	case he.Status == http.StatusNotFound:
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case he.Status == http.StatusGatewayTimeout && he.Errcode == matrixerr.KindNotYetUploaded.Code():
		return fmt.Errorf("%w: %w", ErrNotYetUploaded, err)
	case he.Status == http.StatusBadRequest:
		return fmt.Errorf("%w: %w", ErrNotImage, err)
	case he.Status == http.StatusRequestEntityTooLarge, he.Status == http.StatusBadGateway && he.Errcode == matrixerr.KindTooLarge.Code():
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	}
	return err
}

// multipart reads the answer of a federation media endpoint: a JSON part
// (the metadata, unused) and the content or a Location to fetch it from.
func (f FederationFetcher) multipart(ctx context.Context, resp *http.Response, maxBytes int64) (RemoteFile, error) {
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" || params["boundary"] == "" {
		return RemoteFile{}, fmt.Errorf("media answer of type %q, want multipart/mixed with a boundary", resp.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	meta, err := mr.NextPart()
	if err != nil {
		return RemoteFile{}, fmt.Errorf("read media metadata part: %w", err)
	}
	if ct, _, _ := mime.ParseMediaType(meta.Header.Get("Content-Type")); ct != "application/json" {
		return RemoteFile{}, fmt.Errorf("media metadata part of type %q, want application/json", meta.Header.Get("Content-Type"))
	}
	if _, err := io.Copy(io.Discard, io.LimitReader(meta, 64<<10)); err != nil {
		return RemoteFile{}, fmt.Errorf("read media metadata part: %w", err)
	}
	part, err := mr.NextPart()
	if err != nil {
		return RemoteFile{}, fmt.Errorf("read media content part: %w", err)
	}
	if loc := part.Header.Get("Location"); loc != "" {
		resp.Body.Close()
		lr, err := f.Client.GetURL(ctx, loc)
		if err != nil {
			return RemoteFile{}, remoteErr(err)
		}
		if lr.ContentLength > maxBytes {
			lr.Body.Close()
			return RemoteFile{}, fmt.Errorf("media at its Location is %d bytes: %w", lr.ContentLength, ErrTooLarge)
		}
		return fileOf(lr.Header, lr.Body), nil
	}
	return fileOf(http.Header(part.Header), readCloser{part, resp.Body}), nil
}

// maxRemoteHeader bounds the content type and file name kept of another
// server's answer.
const maxRemoteHeader = 255

// fileOf returns the content of an answer with its type and file name; a
// type that does not parse, or either of them longer than
// maxRemoteHeader, is not kept.
func fileOf(h http.Header, body io.ReadCloser) RemoteFile {
	rf := RemoteFile{ContentType: h.Get("Content-Type"), Body: body}
	if _, _, err := mime.ParseMediaType(rf.ContentType); err != nil || len(rf.ContentType) > maxRemoteHeader {
		rf.ContentType = ""
	}
	if _, params, err := mime.ParseMediaType(h.Get("Content-Disposition")); err == nil && len(params["filename"]) <= maxRemoteHeader {
		rf.FileName = params["filename"]
	}
	return rf
}

// readCloser reads one and closes another.
type readCloser struct {
	io.Reader
	c io.Closer
}

func (r readCloser) Close() error { return r.c.Close() }
