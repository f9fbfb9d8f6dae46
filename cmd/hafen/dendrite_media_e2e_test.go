package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/hafenchat/hafen/internal/dendritetest"
)

// TestDendriteMediaEndToEnd: media crosses between Hafen and Dendrite
// v0.13.8 both ways. Dendrite v0.13.8 answers the federation media
// endpoints (multipart), so Hafen reads another implementation's
// multipart answers here; the legacy fallback for servers without them
// is covered by TestRemoteMediaFetch in internal/media. Dendrite fetching
// from Hafen exercises Hafen's federation media endpoints.
func TestDendriteMediaEndToEnd(t *testing.T) {
	dendritetest.Require(t)
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) { testDendriteMedia(t, dbArgs(t)) })
	}
}

func testDendriteMedia(t *testing.T, dbArgs []string) {
	d := dendritetest.Start(t)
	h := startFedServer(t, append([]string{"--log-level", "debug"}, dbArgs...)...)
	ctx := context.Background()
	dan := register(t, d.ClientURL, "dan")
	bob := register(t, h.base, "bob")

	// Dendrite's media through Hafen, and a thumbnail of it.
	data := testPNG(t, 120, 80)
	up, err := dan.UploadBytesWithName(ctx, data, "image/png", "dendrite.png")
	if err != nil {
		t.Fatalf("upload to Dendrite: %v\n%s", err, d.Logs())
	}
	st, hdr, body := rawGet(t, h.base, bob.AccessToken, "/_matrix/client/v1/media/download/"+d.Name+"/"+up.ContentURI.FileID)
	if st != 200 || !bytes.Equal(body, data) || hdr.Get("Content-Type") != "image/png" {
		t.Fatalf("Dendrite's media through Hafen = %d %s, %d bytes (want %d)\n%s", st, hdr.Get("Content-Type"), len(body), len(data), h.logs)
	}
	if !strings.Contains(h.logs.String(), `msg="remote media cached" origin=`+d.Name) {
		t.Errorf("Hafen did not log caching Dendrite's media:\n%s", h.logs)
	}
	st, _, body = rawGet(t, h.base, bob.AccessToken, "/_matrix/client/v1/media/thumbnail/"+d.Name+"/"+up.ContentURI.FileID+"?width=32&height=32&method=crop")
	if st != 200 || len(body) == 0 {
		t.Fatalf("thumbnail of Dendrite's media through Hafen = %d", st)
	}

	// Hafen's media through Dendrite.
	mine := []byte("a document uploaded to Hafen")
	up2, err := bob.UploadBytesWithName(ctx, mine, "text/plain", "hafen.txt")
	if err != nil {
		t.Fatal(err)
	}
	got, err := dan.DownloadBytes(ctx, up2.ContentURI)
	if err != nil || !bytes.Equal(got, mine) {
		t.Fatalf("Hafen's media through Dendrite = %q, %v\n%s", got, err, d.Logs())
	}
	if !strings.Contains(h.logs.String(), "path=/_matrix/federation/v1/media/download/"+up2.ContentURI.FileID+" status=200") {
		t.Errorf("Dendrite did not fetch through Hafen's federation media endpoint:\n%s", h.logs)
	}
}
