// Package media is Hafen's content repository: it stores uploaded files,
// keeps their metadata in the store (tables media and media_thumbnails),
// reserves media IDs for asynchronous uploads and generates thumbnails.
//
// The bytes live behind the Files interface, content-addressed by SHA-256 so
// identical uploads are stored once; DirFiles keeps them in sharded
// directories under the data directory and writes each one through a temp
// file, fsync and rename, so a crash never leaves a half file where a
// database row points. A file whose row was never written is invisible to
// clients, which only reach files through their row.
//
// Image decoding is bounded: an image's declared size is read first and
// images with more than MaxImagePixels pixels are refused before any pixel
// is decoded, at most a few thumbnails are generated at once, and each
// generation is time-boxed. Decoding is pure Go (JPEG, PNG, GIF's first
// frame, WebP); animated thumbnails are not generated.
//
// Other servers' media is fetched through a Fetcher (FederationFetcher:
// the federation media endpoints, then the legacy ones of servers without
// them), cached in the same tables and files under the other server's
// name, one fetch at a time per file however many requests ask for it.
//
// A janitor (Run, Sweep) removes expired reservations and files no row
// references; files are made visible (Files.Stage, then Commit) and rows
// written under a lock the janitor takes to delete, so it never removes a
// file an upload is about to reference. Administrators quarantine and
// delete media (Quarantine, Delete) and purge old remote media
// (PurgeRemote).
//
// URL previews (Previewer) read the OpenGraph metadata of a page's head
// and store its og:image as media of this server, fetching through a
// client that refuses non-public and denied addresses at dial time.
//
// The package speaks HTTP only as a client of other servers:
// internal/clientapi and internal/fedapi map its errors to Matrix errors.
//
//	svc := &media.Service{ServerName: "example.org", DB: db, Files: media.DirFiles{Root: dir}}
//	m, err := svc.Upload(ctx, userID, media.Upload{ContentType: "image/png", Body: r})
package media
