package store

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// key_signatures holds the signatures uploaded with
// /keys/signatures/upload: a signature by signer_user_id's key
// signer_key_id ("ed25519:…") on target_user_id's key target_key_id (a
// device ID, or the public key of a cross-signing key). They are merged
// into the keys /keys/query returns.
const keySignaturesSchema = `
CREATE TABLE key_signatures (
	target_user_id TEXT NOT NULL,
	target_key_id  TEXT NOT NULL,
	signer_user_id TEXT NOT NULL,
	signer_key_id  TEXT NOT NULL,
	signature      TEXT NOT NULL,
	PRIMARY KEY (target_user_id, target_key_id, signer_user_id, signer_key_id)
)`

// KeySignature is one stored signature on a key.
type KeySignature struct {
	TargetKeyID  string
	SignerUserID id.UserID
	SignerKeyID  string
	Signature    string
}

// AddKeySignature stores (or replaces) a signature on target's key.
func (t *Tx) AddKeySignature(ctx context.Context, target id.UserID, sig KeySignature) error {
	_, err := t.q.ExecContext(ctx, `
		INSERT INTO key_signatures (target_user_id, target_key_id, signer_user_id, signer_key_id, signature)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (target_user_id, target_key_id, signer_user_id, signer_key_id) DO UPDATE SET signature = excluded.signature`,
		string(target), sig.TargetKeyID, string(sig.SignerUserID), sig.SignerKeyID, sig.Signature)
	if err != nil {
		return fmt.Errorf("store signature on %s %s: %w", target, sig.TargetKeyID, err)
	}
	return nil
}

// KeySignaturesBy returns the stored signatures signer made on the keys of
// targets, by target.
func (r reader) KeySignaturesBy(ctx context.Context, signer id.UserID, targets []id.UserID) (map[id.UserID][]KeySignature, error) {
	out := map[id.UserID][]KeySignature{}
	err := queryList(ctx, r, `
		SELECT target_user_id, target_key_id, signer_user_id, signer_key_id, signature FROM key_signatures
		WHERE signer_user_id = $1 AND target_user_id `+anyList(2), []any{string(signer)}, idStrings(targets),
		func(scan func(...any) error) error {
			var target string
			var s KeySignature
			if err := scan(&target, &s.TargetKeyID, &s.SignerUserID, &s.SignerKeyID, &s.Signature); err != nil {
				return err
			}
			out[id.UserID(target)] = append(out[id.UserID(target)], s)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("load signatures by %s: %w", signer, err)
	}
	return out, nil
}

// KeySignatures returns the stored signatures on the keys of target.
func (r reader) KeySignatures(ctx context.Context, target id.UserID) ([]KeySignature, error) {
	rows, err := r.q.QueryContext(ctx, `
		SELECT target_key_id, signer_user_id, signer_key_id, signature FROM key_signatures
		WHERE target_user_id = $1 ORDER BY target_key_id, signer_user_id, signer_key_id`, string(target))
	if err != nil {
		return nil, fmt.Errorf("load signatures on keys of %s: %w", target, err)
	}
	defer rows.Close()
	var out []KeySignature
	for rows.Next() {
		var s KeySignature
		if err := rows.Scan(&s.TargetKeyID, &s.SignerUserID, &s.SignerKeyID, &s.Signature); err != nil {
			return nil, fmt.Errorf("load signatures on keys of %s: %w", target, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load signatures on keys of %s: %w", target, err)
	}
	return out, nil
}
