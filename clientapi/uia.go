package clientapi

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/hafenchat/hafen/core/id"
	"github.com/hafenchat/hafen/matrixerr"
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

// uiaSession is one UIA session: the operation it guards and the stages
// completed so far. Sessions are kept in memory: they last minutes, and a
// restart only makes clients start the authentication again.
type uiaSession struct {
	op        string // method and path of the guarded request
	userID    id.UserID
	created   time.Time
	completed []string
	// regToken is the registration token the session validated, used up
	// when the account is created.
	regToken string
}

// uiaSessions is the set of live sessions. The zero value is ready.
type uiaSessions struct {
	mu       sync.Mutex
	sessions map[string]*uiaSession
}

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
	op := r.Method + " " + r.URL.Path
	now := s.now()
	flows := make([]matrixerr.Flow, len(req.flows))
	for i, f := range req.flows {
		flows[i] = matrixerr.Flow{Stages: f}
	}
	challenge := func(sessID string, sess *uiaSession, stageErr *matrixerr.Error) error {
		u := &matrixerr.UIA{Flows: flows, Session: sessID, Err: stageErr}
		if sess != nil {
			u.Completed = slices.Clone(sess.completed)
		}
		return u
	}

	var auth authData
	if len(req.auth) > 0 && string(req.auth) != "null" {
		if err := json.Unmarshal(req.auth, &auth); err != nil {
			return uiaResult{}, matrixerr.BadJSON("\"auth\" must be an authentication data object")
		}
	} else {
		// A request without auth always gets the challenge, even when a
		// dummy stage would do (spec: "never succeeds without auth").
		sessID, _ := s.uia.start(op, req.userID, now)
		return uiaResult{}, challenge(sessID, nil, nil)
	}

	sessID, sess, known := s.uia.lookup(op, req.userID, auth.Session, now)
	if !known && auth.Session != "" {
		// An unknown, expired or foreign session: start over.
		return uiaResult{}, challenge(sessID, sess, matrixerr.Unknown("unknown authentication session"))
	}
	// The spec allows a first attempt without a session; lookup made one.

	if auth.Type != "" && !slices.Contains(sess.completed, auth.Type) {
		if !nextStageAllowed(req.flows, sess.completed, auth.Type) {
			return uiaResult{}, challenge(sessID, sess, matrixerr.Forbidden("authentication type "+auth.Type+" is not expected now"))
		}
		regToken, stageErr := s.runStage(r, req, auth)
		if stageErr != nil {
			if stageErr.Kind == matrixerr.KindInternal || stageErr.Kind == matrixerr.KindLimitExceeded {
				return uiaResult{}, stageErr
			}
			return uiaResult{}, challenge(sessID, sess, stageErr)
		}
		if regToken != "" {
			sess.regToken = regToken
		}
		sess.completed = append(sess.completed, auth.Type)
	}
	for _, f := range req.flows {
		if slices.Equal(f, sess.completed) {
			if !s.uia.finish(sessID) {
				// A concurrent request with the same session finished first.
				return uiaResult{}, matrixerr.Forbidden("the authentication session was already used")
			}
			return uiaResult{regToken: sess.regToken}, nil
		}
	}
	s.uia.save(sessID, sess)
	return uiaResult{}, challenge(sessID, sess, nil)
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

// start creates a session for op.
func (u *uiaSessions) start(op string, userID id.UserID, now time.Time) (string, *uiaSession) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.expireLocked(now)
	return u.startLocked(op, userID, now)
}

// lookup returns a copy of the session sessID if it exists and guards the
// same operation for the same user (known = true); otherwise it starts a
// new session. The caller changes the copy and stores it with save or
// finish, so that no lock is held during slow stage checks.
func (u *uiaSessions) lookup(op string, userID id.UserID, sessID string, now time.Time) (string, *uiaSession, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.expireLocked(now)
	if sess := u.sessions[sessID]; sess != nil && sess.op == op && sess.userID == userID {
		cp := *sess
		cp.completed = slices.Clone(sess.completed)
		return sessID, &cp, true
	}
	newID, sess := u.startLocked(op, userID, now)
	cp := *sess
	return newID, &cp, false
}

// save stores the session's progress, unless it expired or finished
// meanwhile.
func (u *uiaSessions) save(sessID string, sess *uiaSession) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.sessions[sessID]; ok {
		u.sessions[sessID] = sess
	}
}

// finish removes a completed session and reports whether it was still
// there: a session authorizes one request only.
func (u *uiaSessions) finish(sessID string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.sessions[sessID]; !ok {
		return false
	}
	delete(u.sessions, sessID)
	return true
}

func (u *uiaSessions) startLocked(op string, userID id.UserID, now time.Time) (string, *uiaSession) {
	if u.sessions == nil {
		u.sessions = map[string]*uiaSession{}
	}
	sessID := rand.Text()
	sess := &uiaSession{op: op, userID: userID, created: now}
	u.sessions[sessID] = sess
	return sessID, sess
}

// expireLocked drops sessions older than uiaTTL.
func (u *uiaSessions) expireLocked(now time.Time) {
	for k, sess := range u.sessions {
		if now.Sub(sess.created) > uiaTTL {
			delete(u.sessions, k)
		}
	}
}
