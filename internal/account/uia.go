package account

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// uiaExpireBatch bounds how many expired UIA sessions one new session
// deletes. Every new session removes up to this many, so the table stays
// small under steady load while no single request pays for a backlog.
const uiaExpireBatch = 100

// uiaParams is the params document of a stored UIA session: what the
// session guards and what it validated.
type uiaParams struct {
	Op       string    `json:"op"`
	UserID   id.UserID `json:"user_id,omitempty"`
	RegToken string    `json:"reg_token,omitempty"`
}

// toStoreUIASession encodes a session for the store.
func toStoreUIASession(sess UIASession) (store.UIASession, error) {
	completed := sess.Completed
	if completed == nil {
		completed = []string{}
	}
	stages, err := json.Marshal(completed)
	if err != nil {
		return store.UIASession{}, fmt.Errorf("encode uia stages: %w", err)
	}
	params, err := json.Marshal(uiaParams{Op: sess.Op, UserID: sess.UserID, RegToken: sess.RegToken})
	if err != nil {
		return store.UIASession{}, fmt.Errorf("encode uia params: %w", err)
	}
	return store.UIASession{SessionID: sess.ID, CreatedTS: sess.Created.UnixMilli(), CompletedStages: stages, Params: params}, nil
}

// CreateUIASession stores a new session and, in the same transaction,
// deletes up to uiaExpireBatch sessions created before expireBefore.
func (s *Service) CreateUIASession(ctx context.Context, sess UIASession, expireBefore time.Time) error {
	row, err := toStoreUIASession(sess)
	if err != nil {
		return err
	}
	return mapErr(s.DB.Write(ctx, func(tx *store.Tx) error {
		if _, err := tx.DeleteUIASessionsBefore(ctx, expireBefore.UnixMilli(), uiaExpireBatch); err != nil {
			return err
		}
		return tx.CreateUIASession(ctx, row)
	}))
}

// UIASession returns a session.
func (s *Service) UIASession(ctx context.Context, sessionID string) (UIASession, error) {
	row, err := s.DB.UIASession(ctx, sessionID)
	if err != nil {
		return UIASession{}, mapErr(err)
	}
	var stages []string
	if err := json.Unmarshal(row.CompletedStages, &stages); err != nil {
		return UIASession{}, fmt.Errorf("decode stages of uia session: %w", err)
	}
	var params uiaParams
	if err := json.Unmarshal(row.Params, &params); err != nil {
		return UIASession{}, fmt.Errorf("decode params of uia session: %w", err)
	}
	return UIASession{
		ID:        row.SessionID,
		Op:        params.Op,
		UserID:    params.UserID,
		Created:   time.UnixMilli(row.CreatedTS),
		Completed: stages,
		RegToken:  params.RegToken,
	}, nil
}

// UpdateUIASession stores a session's completed stages and registration
// token.
func (s *Service) UpdateUIASession(ctx context.Context, sess UIASession) error {
	row, err := toStoreUIASession(sess)
	if err != nil {
		return err
	}
	return mapErr(s.DB.Write(ctx, func(tx *store.Tx) error {
		return tx.UpdateUIASession(ctx, row)
	}))
}

// DeleteUIASession deletes a session and reports whether it was still
// there.
func (s *Service) DeleteUIASession(ctx context.Context, sessionID string) (bool, error) {
	var deleted bool
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		var err error
		deleted, err = tx.DeleteUIASession(ctx, sessionID)
		return err
	})
	return deleted, mapErr(err)
}
