// Package filter owns users' stored sync filters: it validates a filter
// before storing it and hands out its ID, and loads it back for /sync and
// the filter endpoints.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#filtering
package filter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/hafenchat/hafen/internal/clientsync"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// Service stores and loads users' filters. It is safe for concurrent use.
type Service struct {
	// DB holds the filters.
	DB *store.DB
}

// Define validates a filter and stores it for the user, returning its ID.
func (s *Service) Define(ctx context.Context, user id.UserID, f *clientsync.Filter) (string, error) {
	if err := f.Validate(); err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	raw, err := json.Marshal(f)
	if err != nil {
		return "", fmt.Errorf("encode filter: %w", err)
	}
	var fid int64
	err = s.DB.Write(ctx, func(tx *store.Tx) error {
		var err error
		fid, err = tx.AddFilter(ctx, user, raw)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("store filter of %s: %w", user, err)
	}
	return strconv.FormatInt(fid, 10), nil
}

// Get returns a stored filter as JSON: ErrNotFound when the user has none
// with that ID (or the ID is not one this service hands out).
func (s *Service) Get(ctx context.Context, user id.UserID, filterID string) ([]byte, error) {
	fid, err := strconv.ParseInt(filterID, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, filterID)
	}
	raw, err := s.DB.Filter(ctx, user, fid)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, filterID)
	}
	if err != nil {
		return nil, fmt.Errorf("load filter %s of %s: %w", filterID, user, err)
	}
	return raw, nil
}
