package clientapi

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/hafenchat/hafen/internal/account"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
)

// Spec: https://spec.matrix.org/v1.19/client-server-api/#user-interactive-authentication-api

// Authentication types (stages) Hafen offers.
const (
	stageDummy             = "m.login.dummy"
	stagePassword          = "m.login.password"
	stageRegistrationToken = "m.login.registration_token"
)

// uiaTTL is how long a UIA session lives after it was created.
const uiaTTL = 15 * time.Minute

// authData is the "auth" object of a request that uses UIA. Only the keys
// of the stages Hafen offers are decoded.
type authData struct {
	Type       string     `json:"type"`
	Session    string     `json:"session"`
	Identifier identifier `json:"identifier"`
	User       string     `json:"user"` // deprecated form of identifier
	Password   Password   `json:"password"`
	Token      string     `json:"token"`
}

// identifier is a user identifier object.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#identifier-types
type identifier struct {
	Type    string `json:"type"`
	User    string `json:"user"`
	Medium  string `json:"medium"`
	Address string `json:"address"`
}

// UIASession is one UIA session: the operation it guards and the stages
// completed so far (it expires uiaTTL after its creation). Sessions live in
// the AccountStore, not in the Server, so that every process sharing the
// database can serve any step of a flow.
type UIASession = account.UIASession

// uiaRequest describes the request being authenticated.
type uiaRequest struct {
	flows [][]string
	// userID is the authenticated user the password stage must match; empty
	// for registration.
	userID id.UserID
	// auth is the raw "auth" object, nil when absent.
	auth json.RawMessage
}

// uiaResult is what a completed authentication leaves for the handler.
type uiaResult struct {
	regToken string
}

// checkUIA runs User-Interactive Authentication for r. It returns nil
// error once a flow is complete (the session is then used up) and a
// *matrixerr.UIA (401) while stages remain or a stage failed.
func (s *Server) checkUIA(r *http.Request, req uiaRequest) (uiaResult, error) {
	ctx := r.Context()
	op := r.Method + " " + r.URL.Path
	now := s.now()
	flows := make([]matrixerr.Flow, len(req.flows))
	for i, f := range req.flows {
		flows[i] = matrixerr.Flow{Stages: f}
	}
	challenge := func(sess UIASession, stageErr *matrixerr.Error) error {
		return &matrixerr.UIA{Flows: flows, Session: sess.ID, Completed: slices.Clone(sess.Completed), Err: stageErr}
	}

	var auth authData
	if httpapi.Given(req.auth) {
		if err := json.Unmarshal(req.auth, &auth); err != nil {
			return uiaResult{}, matrixerr.BadJSON("\"auth\" must be an authentication data object")
		}
	} else {
		// A request without auth always gets the challenge, even when a
		// dummy stage would do (spec: "never succeeds without auth").
		sess, err := s.startUIA(ctx, op, req.userID, now)
		if err != nil {
			return uiaResult{}, err
		}
		return uiaResult{}, challenge(sess, nil)
	}

	sess, known, err := s.lookupUIA(ctx, op, req.userID, auth.Session, now)
	if err != nil {
		return uiaResult{}, err
	}
	if !known && auth.Session != "" {
		// An unknown, expired or foreign session: start over.
		return uiaResult{}, challenge(sess, matrixerr.Unknown("unknown authentication session"))
	}
	// The spec allows a first attempt without a session; lookupUIA made one.

	progressed := false
	if auth.Type != "" && !slices.Contains(sess.Completed, auth.Type) {
		if !nextStageAllowed(req.flows, sess.Completed, auth.Type) {
			return uiaResult{}, challenge(sess, matrixerr.Forbidden("authentication type "+auth.Type+" is not expected now"))
		}
		regToken, stageErr := s.runStage(r, req, auth)
		if stageErr != nil {
			if stageErr.Kind == matrixerr.KindInternal || stageErr.Kind == matrixerr.KindLimitExceeded {
				return uiaResult{}, stageErr
			}
			return uiaResult{}, challenge(sess, stageErr)
		}
		if regToken != "" {
			sess.RegToken = regToken
		}
		sess.Completed = append(sess.Completed, auth.Type)
		progressed = true
	}
	for _, f := range req.flows {
		if slices.Equal(f, sess.Completed) {
			// Deleting the session claims it: a session authorizes one
			// request only, whichever process serves it.
			deleted, err := s.Store.DeleteUIASession(ctx, sess.ID)
			if err != nil {
				return uiaResult{}, matrixerr.Internal(err, "finish authentication session")
			}
			if !deleted {
				// A concurrent request with the same session finished first.
				return uiaResult{}, matrixerr.Forbidden("the authentication session was already used")
			}
			return uiaResult{regToken: sess.RegToken}, nil
		}
	}
	if progressed {
		// A session that expired or finished meanwhile stays gone.
		if err := s.Store.UpdateUIASession(ctx, sess); err != nil && !isNotFound(err) {
			return uiaResult{}, matrixerr.Internal(err, "save authentication session")
		}
	}
	return uiaResult{}, challenge(sess, nil)
}

// nextStageAllowed reports whether stage may follow completed in one of
// the flows: stages must be completed in order.
func nextStageAllowed(flows [][]string, completed []string, stage string) bool {
	for _, f := range flows {
		n := len(completed)
		if len(f) > n && slices.Equal(f[:n], completed) && f[n] == stage {
			return true
		}
	}
	return false
}

// runStage checks one stage's credentials. For the registration token
// stage it returns the validated token.
func (s *Server) runStage(r *http.Request, req uiaRequest, auth authData) (string, *matrixerr.Error) {
	ctx := r.Context()
	switch auth.Type {
	case stageDummy:
		return "", nil
	case stagePassword:
		if err := s.Limiter.Check(ActionAccount, string(req.userID)); err != nil {
			return "", asMatrixErr(err)
		}
		who := auth.Identifier.User
		if auth.Identifier.Type == "" && who == "" {
			who = auth.User
		} else if auth.Identifier.Type != "m.id.user" {
			return "", matrixerr.Forbidden("only m.id.user identifiers are supported")
		}
		userID, err := s.localUserID(who)
		if err != nil || userID != req.userID {
			return "", matrixerr.Forbidden("the identifier does not match the authenticated user")
		}
		hash, deactivated, err := s.Store.UserPassword(ctx, userID)
		if err != nil && !isNotFound(err) {
			return "", matrixerr.Internal(err, "load password")
		}
		if !checkPassword(hash, auth.Password) || deactivated {
			return "", matrixerr.Forbidden("invalid password")
		}
		return "", nil
	case stageRegistrationToken:
		ok, err := s.Store.RegistrationTokenValid(ctx, auth.Token, s.now())
		if err != nil {
			return "", matrixerr.Internal(err, "check registration token")
		}
		if !ok {
			return "", matrixerr.Unauthorized("invalid registration token")
		}
		return auth.Token, nil
	}
	return "", matrixerr.Forbidden("unsupported authentication type " + auth.Type)
}

// startUIA creates a session for op. The store drops some expired
// sessions at the same time, so that abandoned flows do not pile up.
func (s *Server) startUIA(ctx context.Context, op string, userID id.UserID, now time.Time) (UIASession, error) {
	sess := UIASession{ID: rand.Text(), Op: op, UserID: userID, Created: now}
	if err := s.Store.CreateUIASession(ctx, sess, now.Add(-uiaTTL)); err != nil {
		return UIASession{}, matrixerr.Internal(err, "start authentication session")
	}
	return sess, nil
}

// lookupUIA returns the session sessID if it exists, has not expired and
// guards the same operation for the same user (known = true); otherwise it
// starts a new session. The caller stores its progress with
// UpdateUIASession, or claims it with DeleteUIASession; no lock is held
// during slow stage checks.
func (s *Server) lookupUIA(ctx context.Context, op string, userID id.UserID, sessID string, now time.Time) (UIASession, bool, error) {
	if sessID != "" {
		sess, err := s.Store.UIASession(ctx, sessID)
		switch {
		case err == nil:
			if sess.Op == op && sess.UserID == userID && now.Sub(sess.Created) <= uiaTTL {
				return sess, true, nil
			}
		case !isNotFound(err):
			return UIASession{}, false, matrixerr.Internal(err, "load authentication session")
		}
	}
	sess, err := s.startUIA(ctx, op, userID, now)
	return sess, false, err
}
