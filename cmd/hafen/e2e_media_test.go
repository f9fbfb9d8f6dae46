package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"maunium.net/go/mautrix"
)

// TestMediaEndToEnd drives the media endpoints of a real server with a
// client SDK: the configured upload limit, an upload and its authenticated
// download, an asynchronous upload, and the file stored under media.dir.
func TestMediaEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			args := append([]string{"--open-registration", "--rate-limit=false", "--media-max-upload-size", "4096"}, dbArgs(t)...)
			base, _, logs := startServe(t, dataDir, args...)
			ctx := context.Background()
			alice := register(t, base, "alice")

			cfg, err := alice.GetMediaConfig(ctx)
			if err != nil || cfg.UploadSize != 4096 {
				t.Fatalf("media config = %+v, %v\n%s", cfg, err, logs)
			}
			data := []byte("a small PDF, in spirit")
			up, err := alice.UploadBytesWithName(ctx, data, "application/pdf", "spirit.pdf")
			if err != nil {
				t.Fatalf("upload: %v\n%s", err, logs)
			}
			got, err := alice.DownloadBytes(ctx, up.ContentURI)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("download = %q, %v", got, err)
			}
			if _, err := alice.UploadBytes(ctx, make([]byte, 4097), "application/octet-stream"); err == nil {
				t.Fatal("an upload over media.max_upload_size succeeded")
			}

			created, err := alice.CreateMXC(ctx)
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			if _, err := alice.UploadMedia(ctx, mautrix.ReqUploadMedia{
				MXC: created.ContentURI, ContentBytes: []byte("later"), ContentType: "text/plain",
			}); err != nil {
				t.Fatalf("upload to reserved %s: %v", created.ContentURI, err)
			}
			res, err := alice.Download(ctx, created.ContentURI)
			if err != nil {
				t.Fatalf("download reserved: %v", err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if string(body) != "later" {
				t.Fatalf("reserved download = %q", body)
			}

			var files int
			filepath.WalkDir(filepath.Join(dataDir, "media"), func(_ string, e os.DirEntry, _ error) error {
				if e != nil && !e.IsDir() {
					files++
				}
				return nil
			})
			if files != 2 {
				t.Errorf("%d files under the data directory's media, want 2", files)
			}
		})
	}
}
