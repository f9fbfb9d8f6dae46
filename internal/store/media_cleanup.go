package store

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// mediaCleanupSchema adds what administrators and the media janitor need
// of the media tables: a quarantine flag, and indexes to find the rows
// that reference a file (so an unreferenced file can be deleted) and other
// servers' cached media by age.
const mediaCleanupSchema = `
ALTER TABLE media ADD COLUMN quarantined BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX media_sha256 ON media (sha256);
CREATE INDEX media_thumbnails_sha256 ON media_thumbnails (sha256);
CREATE INDEX media_created ON media (created_ts)`

// SetMediaQuarantined sets or clears the quarantine of a media ID. A media
// ID without a row (another server's media not cached here) gets a row
// without content, so that it is not fetched and served later either.
func (t *Tx) SetMediaQuarantined(ctx context.Context, serverName id.ServerName, mediaID string, quarantined bool, now int64) error {
	_, err := t.q.ExecContext(ctx, `
		INSERT INTO media (`+mediaColumns+`) VALUES ($1, $2, '', '', '', 0, '', $3, 0, $4)
		ON CONFLICT (server_name, media_id) DO UPDATE SET quarantined = $4`,
		string(serverName), mediaID, now, quarantined)
	if err != nil {
		return fmt.Errorf("quarantine media %s/%s: %w", serverName, mediaID, err)
	}
	return nil
}

// DeleteMedia removes a media ID's row and its thumbnails' rows, returning
// the SHA-256 sums they referenced (the files may now be unreferenced). A
// media ID without rows returns an error wrapping ErrNotFound.
func (t *Tx) DeleteMedia(ctx context.Context, serverName id.ServerName, mediaID string) ([]string, error) {
	sums, err := t.mediaSums(ctx, `SELECT sha256 FROM media WHERE server_name = $1 AND media_id = $2
		UNION SELECT sha256 FROM media_thumbnails WHERE server_name = $1 AND media_id = $2`, string(serverName), mediaID)
	if err != nil {
		return nil, fmt.Errorf("delete media %s/%s: %w", serverName, mediaID, err)
	}
	if _, err := t.q.ExecContext(ctx, `DELETE FROM media_thumbnails WHERE server_name = $1 AND media_id = $2`, string(serverName), mediaID); err != nil {
		return nil, fmt.Errorf("delete thumbnails of %s/%s: %w", serverName, mediaID, err)
	}
	res, err := t.q.ExecContext(ctx, `DELETE FROM media WHERE server_name = $1 AND media_id = $2`, string(serverName), mediaID)
	if err != nil {
		return nil, fmt.Errorf("delete media %s/%s: %w", serverName, mediaID, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 && len(sums) == 0 {
		return nil, fmt.Errorf("delete media %s/%s: %w", serverName, mediaID, ErrNotFound)
	}
	return sums, nil
}

// PurgedMedia is what DeleteRemoteMediaBefore removed.
type PurgedMedia struct {
	// Media is how many media IDs were removed.
	Media int
	// Bytes is their total size, thumbnails included (files shared with
	// other rows stay).
	Bytes int64
	// Sums are the SHA-256 sums the removed rows referenced.
	Sums []string
}

// DeleteRemoteMediaBefore removes the cached copies of other servers'
// media (every server but local) fetched before the time before
// (milliseconds), with their thumbnails, except quarantined ones (their
// row keeps them from being fetched again). Thumbnails of media whose
// original was never fetched go by the same rule through their media
// row's absence: they are removed when no row of theirs is newer.
func (t *Tx) DeleteRemoteMediaBefore(ctx context.Context, local id.ServerName, before int64) (PurgedMedia, error) {
	var p PurgedMedia
	const old = `SELECT server_name, media_id FROM media WHERE server_name <> $1 AND created_ts < $2 AND NOT quarantined`
	if err := t.q.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(size), 0) FROM media
		WHERE server_name <> $1 AND created_ts < $2 AND NOT quarantined`, string(local), before).Scan(&p.Media, &p.Bytes); err != nil {
		return PurgedMedia{}, fmt.Errorf("count remote media: %w", err)
	}
	var thumbBytes int64
	if err := t.q.QueryRowContext(ctx, `SELECT COALESCE(SUM(size), 0) FROM media_thumbnails th
		WHERE th.server_name <> $1 AND NOT EXISTS (SELECT 1 FROM media m WHERE m.server_name = th.server_name
			AND m.media_id = th.media_id AND (m.created_ts >= $2 OR m.quarantined))`, string(local), before).Scan(&thumbBytes); err != nil {
		return PurgedMedia{}, fmt.Errorf("count remote thumbnails: %w", err)
	}
	p.Bytes += thumbBytes
	sums, err := t.mediaSums(ctx, `SELECT sha256 FROM media WHERE server_name <> $1 AND created_ts < $2 AND NOT quarantined
		UNION SELECT th.sha256 FROM media_thumbnails th WHERE th.server_name <> $1 AND NOT EXISTS (SELECT 1 FROM media m
			WHERE m.server_name = th.server_name AND m.media_id = th.media_id AND (m.created_ts >= $2 OR m.quarantined))`,
		string(local), before)
	if err != nil {
		return PurgedMedia{}, fmt.Errorf("list remote media files: %w", err)
	}
	p.Sums = sums
	if _, err := t.q.ExecContext(ctx, `DELETE FROM media_thumbnails WHERE server_name <> $1 AND NOT EXISTS (SELECT 1 FROM media m
		WHERE m.server_name = media_thumbnails.server_name AND m.media_id = media_thumbnails.media_id
			AND (m.created_ts >= $2 OR m.quarantined))`, string(local), before); err != nil {
		return PurgedMedia{}, fmt.Errorf("delete remote thumbnails: %w", err)
	}
	if _, err := t.q.ExecContext(ctx, `DELETE FROM media WHERE (server_name, media_id) IN (`+old+`)`, string(local), before); err != nil {
		return PurgedMedia{}, fmt.Errorf("delete remote media: %w", err)
	}
	return p, nil
}

// DeleteExpiredReservations removes media IDs reserved for an
// asynchronous upload whose content never came before now (milliseconds)
// and returns how many.
func (t *Tx) DeleteExpiredReservations(ctx context.Context, now int64) (int64, error) {
	res, err := t.q.ExecContext(ctx, `DELETE FROM media WHERE sha256 = '' AND expires_ts > 0 AND expires_ts <= $1 AND NOT quarantined`, now)
	if err != nil {
		return 0, fmt.Errorf("delete expired media reservations: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete expired media reservations: %w", err)
	}
	return n, nil
}

// mediaSums runs a query of SHA-256 sums and returns the non-empty ones.
func (t *Tx) mediaSums(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := t.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var sum string
		if err := rows.Scan(&sum); err != nil {
			return nil, err
		}
		if sum != "" {
			out = append(out, sum)
		}
	}
	return out, rows.Err()
}

// MediaReferenced reports whether any media or thumbnail row references
// the content with this SHA-256.
func (r reader) MediaReferenced(ctx context.Context, sum string) (bool, error) {
	var n int
	err := r.q.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM media WHERE sha256 = $1)
		+ (SELECT COUNT(*) FROM media_thumbnails WHERE sha256 = $1)`, sum).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("look up references to media file %s: %w", sum, err)
	}
	return n > 0, nil
}

// MediaUsage returns the total size of the content userID uploaded, the
// thumbnails made of it excluded.
func (r reader) MediaUsage(ctx context.Context, userID id.UserID) (int64, error) {
	var n int64
	if err := r.q.QueryRowContext(ctx, `SELECT COALESCE(SUM(size), 0) FROM media WHERE user_id = $1`, string(userID)).Scan(&n); err != nil {
		return 0, fmt.Errorf("sum media of %s: %w", userID, err)
	}
	return n, nil
}

// MediaStats are the figures of `hafen media stats`.
type MediaStats struct {
	// LocalCount and LocalBytes: this server's uploads.
	LocalCount int64
	LocalBytes int64
	// RemoteCount and RemoteBytes: other servers' media cached here.
	RemoteCount int64
	RemoteBytes int64
	// ThumbnailCount and ThumbnailBytes: generated or fetched thumbnails.
	ThumbnailCount int64
	ThumbnailBytes int64
	// Pending counts media IDs reserved and not uploaded yet.
	Pending int64
	// Quarantined counts quarantined media IDs.
	Quarantined int64
}

// MediaStats counts the media rows by kind. Sizes are as recorded per row:
// content shared by several rows counts once per row.
func (r reader) MediaStats(ctx context.Context, local id.ServerName) (MediaStats, error) {
	var s MediaStats
	err := r.q.QueryRowContext(ctx, `SELECT
		COALESCE(SUM(CASE WHEN server_name = $1 AND sha256 <> '' THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN server_name = $1 THEN size ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN server_name <> $1 AND sha256 <> '' THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN server_name <> $1 THEN size ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN sha256 = '' AND NOT quarantined THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN quarantined THEN 1 ELSE 0 END), 0)
		FROM media`, string(local)).Scan(&s.LocalCount, &s.LocalBytes, &s.RemoteCount, &s.RemoteBytes, &s.Pending, &s.Quarantined)
	if err != nil {
		return MediaStats{}, fmt.Errorf("count media: %w", err)
	}
	if err := r.q.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(size), 0) FROM media_thumbnails`).Scan(&s.ThumbnailCount, &s.ThumbnailBytes); err != nil {
		return MediaStats{}, fmt.Errorf("count thumbnails: %w", err)
	}
	return s, nil
}
