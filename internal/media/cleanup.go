package media

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// DefaultOrphanGrace is how old a file without a row must be before the
// janitor removes it, and a staged file before it counts as abandoned: far
// longer than any upload's step from file to row.
const DefaultOrphanGrace = time.Hour

// DefaultJanitorInterval is how often Run sweeps.
const DefaultJanitorInterval = time.Hour

// FreezeLegacy records that the unauthenticated legacy endpoints are
// switched off (frozen true), keeping the time of the first such start,
// and returns it; media stored before it stays available to them. With
// frozen false it forgets the freeze and returns the zero time.
func (s *Service) FreezeLegacy(ctx context.Context, frozen bool) (time.Time, error) {
	var ts int64
	err := s.DB.Write(ctx, func(tx *store.Tx) (err error) {
		if !frozen {
			return tx.ThawLegacyMedia(ctx)
		}
		ts, err = tx.FreezeLegacyMedia(ctx, s.now().UnixMilli())
		return err
	})
	if err != nil || !frozen {
		return time.Time{}, err
	}
	return time.UnixMilli(ts), nil
}

// Quarantine sets or clears the quarantine of a media ID, of this server
// or another: quarantined media is kept but answers 404 to everyone, and
// remote media that is quarantined is not fetched again.
func (s *Service) Quarantine(ctx context.Context, serverName id.ServerName, mediaID string, quarantined bool) error {
	now := s.now().UnixMilli()
	if err := s.DB.Write(ctx, func(tx *store.Tx) error {
		return tx.SetMediaQuarantined(ctx, serverName, mediaID, quarantined, now)
	}); err != nil {
		return fmt.Errorf("quarantine %s/%s: %w", serverName, mediaID, err)
	}
	s.logger().Info("media quarantine changed", "origin", serverName, "media_id", mediaID, "quarantined", quarantined)
	return nil
}

// Delete removes a media ID with its thumbnails, and their files unless
// other media IDs share them. An unknown media ID fails with ErrNotFound.
func (s *Service) Delete(ctx context.Context, serverName id.ServerName, mediaID string) error {
	var sums []string
	err := s.DB.Write(ctx, func(tx *store.Tx) (err error) {
		sums, err = tx.DeleteMedia(ctx, serverName, mediaID)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("delete %s/%s: %w", serverName, mediaID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("delete %s/%s: %w", serverName, mediaID, err)
	}
	s.logger().Info("media deleted", "origin", serverName, "media_id", mediaID)
	_, err = s.RemoveUnreferenced(ctx, sums)
	return err
}

// PurgeRemote removes other servers' media cached before the time before
// (quarantined media excepted), rows and files, and returns what it
// removed. removeFiles false leaves the files to the janitor of the
// running server (a command run beside it must not race its uploads).
func (s *Service) PurgeRemote(ctx context.Context, before time.Time, removeFiles bool) (store.PurgedMedia, error) {
	var p store.PurgedMedia
	if err := s.DB.Write(ctx, func(tx *store.Tx) (err error) {
		p, err = tx.DeleteRemoteMediaBefore(ctx, s.ServerName, before.UnixMilli())
		return err
	}); err != nil {
		return store.PurgedMedia{}, fmt.Errorf("purge remote media: %w", err)
	}
	if removeFiles {
		if _, err := s.RemoveUnreferenced(ctx, p.Sums); err != nil {
			return p, err
		}
	}
	return p, nil
}

// RemoveUnreferenced removes the files among sums that no row references
// and returns how many it removed.
func (s *Service) RemoveUnreferenced(ctx context.Context, sums []string) (int, error) {
	n := 0
	for _, sum := range sums {
		removed, err := s.removeIfUnreferenced(ctx, sum)
		if err != nil {
			return n, err
		}
		if removed {
			n++
		}
	}
	return n, nil
}

// removeIfUnreferenced removes the file of sum when no row references it,
// under refs so that no upload makes it visible meanwhile.
func (s *Service) removeIfUnreferenced(ctx context.Context, sum string) (bool, error) {
	s.refs.Lock()
	defer s.refs.Unlock()
	ref, err := s.DB.MediaReferenced(ctx, sum)
	if err != nil || ref {
		return false, err
	}
	if err := s.Files.Remove(ctx, sum); err != nil {
		return false, err
	}
	return true, nil
}

// SweepResult is what one Sweep removed.
type SweepResult struct {
	// Reservations is how many expired reservations went.
	Reservations int64
	// Orphans is how many files without a row went.
	Orphans int
}

// Sweep removes expired reservations of media IDs, and files that no row
// references and that were last written more than grace ago (a crash
// between a file's write and its row, or a purge run beside the server),
// with abandoned staged files. 0 means DefaultOrphanGrace.
func (s *Service) Sweep(ctx context.Context, grace time.Duration) (SweepResult, error) {
	if grace <= 0 {
		grace = DefaultOrphanGrace
	}
	var res SweepResult
	now := s.now()
	if err := s.DB.Write(ctx, func(tx *store.Tx) (err error) {
		res.Reservations, err = tx.DeleteExpiredReservations(ctx, now.UnixMilli())
		return err
	}); err != nil {
		return res, fmt.Errorf("sweep media: %w", err)
	}
	cutoff := now.Add(-grace)
	var candidates []string
	if err := s.Files.Walk(ctx, cutoff, func(sum string, modified time.Time) error {
		if modified.Before(cutoff) {
			candidates = append(candidates, sum)
		}
		return nil
	}); err != nil {
		return res, err
	}
	for _, sum := range candidates {
		removed, err := s.removeIfUnreferenced(ctx, sum)
		if err != nil {
			return res, err
		}
		if removed {
			res.Orphans++
		}
	}
	if res.Reservations > 0 || res.Orphans > 0 {
		s.logger().Info("media swept", "reservations", res.Reservations, "orphans", res.Orphans)
	}
	return res, nil
}

// Run sweeps every interval (0 means DefaultJanitorInterval) until ctx
// ends; failures are logged and retried at the next round.
func (s *Service) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultJanitorInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.Sweep(ctx, 0); err != nil && ctx.Err() == nil {
			s.logger().Warn("media sweep failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
