package account

// Spec: Client-Server API § Token-authenticated registration
// https://spec.matrix.org/v1.19/client-server-api/#token-authenticated-registration

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/hafenchat/hafen/internal/store"
)

// ErrInvalidToken: a registration token the operator chose is not one the
// spec allows.
var ErrInvalidToken = errors.New("invalid registration token")

// ErrTokenExists: the registration token exists already.
var ErrTokenExists = errors.New("registration token exists")

// validRegistrationToken is the spec's form of a registration token: at
// most 64 characters of [A-Za-z0-9._~-].
var validRegistrationToken = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,64}$`)

// NewRegistrationToken is a registration token to create.
type NewRegistrationToken struct {
	// Token is the token; empty makes a random one.
	Token string
	// UsesAllowed bounds the registrations that may use it; 0 allows any
	// number.
	UsesAllowed int64
	// Expires is when it stops working; zero never.
	Expires time.Time
}

// CreateRegistrationToken creates a token that lets whoever has it
// register (when registration requires one) and returns it.
func (s *Service) CreateRegistrationToken(ctx context.Context, n NewRegistrationToken) (store.RegistrationToken, error) {
	rt := store.RegistrationToken{Token: n.Token}
	if rt.Token == "" {
		// 26 characters of A-Z and 2-7 (128 bits): easy to pass on, and
		// never starting with "-", which a command line would take for a
		// flag.
		rt.Token = rand.Text()
	}
	if !validRegistrationToken.MatchString(rt.Token) {
		return store.RegistrationToken{}, fmt.Errorf("%w: want 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', '~' and '-'", ErrInvalidToken)
	}
	if n.UsesAllowed < 0 {
		return store.RegistrationToken{}, fmt.Errorf("%w: the uses allowed must not be negative", ErrInvalidToken)
	}
	if n.UsesAllowed > 0 {
		rt.UsesAllowed = &n.UsesAllowed
	}
	if !n.Expires.IsZero() {
		ms := n.Expires.UnixMilli()
		rt.ExpiryTime = &ms
	}
	err := s.DB.Write(ctx, func(tx *store.Tx) error { return tx.CreateRegistrationToken(ctx, rt) })
	if errors.Is(err, store.ErrExists) {
		return store.RegistrationToken{}, fmt.Errorf("%w: %s", ErrTokenExists, rt.Token)
	}
	if err != nil {
		return store.RegistrationToken{}, fmt.Errorf("create registration token: %w", err)
	}
	return rt, nil
}

// RegistrationTokens returns every registration token, ordered by token.
func (s *Service) RegistrationTokens(ctx context.Context) ([]store.RegistrationToken, error) {
	return s.DB.RegistrationTokens(ctx)
}

// DeleteRegistrationToken deletes a registration token: registrations
// that have not used it yet can no longer; ErrNotFound for an unknown one.
func (s *Service) DeleteRegistrationToken(ctx context.Context, token string) error {
	err := s.DB.Write(ctx, func(tx *store.Tx) error { return tx.DeleteRegistrationToken(ctx, token) })
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: registration token %s", ErrNotFound, token)
	}
	return err
}
