// Spec: Client-Server API § Push Rules: API
// OpenAPI: data/api/client-server/pushrules.yaml
// https://spec.matrix.org/v1.19/client-server-api/#push-rules-api

package clientapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/hafenchat/hafen/internal/core/pushrules"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
)

// pushRuleErr maps the rule edits' errors to the spec's: an unknown rule
// is 404 M_NOT_FOUND, a malformed kind, rule ID or body 400
// M_INVALID_PARAM, and an edit the API forbids (a server-default rule, a
// before or after rule that does not exist) 400 M_UNKNOWN, the code of the
// spec's example for "a problem configuring this push rule".
func pushRuleErr(err error) error {
	switch {
	case errors.Is(err, pushrules.ErrNotFound):
		return matrixerr.NotFound("push rule not found")
	case errors.Is(err, pushrules.ErrInvalid):
		return matrixerr.Wrap(matrixerr.KindInvalidParam, err, ruleMessage(err, pushrules.ErrInvalid))
	case errors.Is(err, pushrules.ErrDefaultRule):
		return matrixerr.Wrap(matrixerr.KindUnknown, err, ruleMessage(err, pushrules.ErrDefaultRule))
	case errors.Is(err, pushrules.ErrRelative):
		return matrixerr.Wrap(matrixerr.KindUnknown, err, ruleMessage(err, pushrules.ErrRelative))
	}
	return err
}

// ruleMessage returns what a client is told of err, an error of the push
// rules wrapping sentinel: its text from the sentinel on, without the
// context the layers above added (the account data write, the user).
func ruleMessage(err, sentinel error) string {
	msg := err.Error()
	if i := strings.Index(msg, sentinel.Error()); i >= 0 {
		return msg[i:]
	}
	return sentinel.Error()
}

// pathKind reads {kind}: 400 M_INVALID_PARAM for an unknown kind.
func pathKind(r *http.Request) (string, error) {
	kind := r.PathValue("kind")
	if !pushrules.ValidKind(kind) {
		return "", matrixerr.InvalidParam("unknown push rule kind %q", kind)
	}
	return kind, nil
}

// getPushRules returns all the user's push rules.
//
// GET /_matrix/client/v3/pushrules/
func (s *Server) getPushRules(w http.ResponseWriter, r *http.Request, sess session) error {
	rs, err := s.AccountData.PushRules(r.Context(), sess.UserID)
	if err != nil {
		return err
	}
	return httpapi.OK(w, pushrules.Rules{Global: rs})
}

// getPushRulesGlobal returns the user's global ruleset.
//
// GET /_matrix/client/v3/pushrules/global/
func (s *Server) getPushRulesGlobal(w http.ResponseWriter, r *http.Request, sess session) error {
	rs, err := s.AccountData.PushRules(r.Context(), sess.UserID)
	if err != nil {
		return err
	}
	return httpapi.OK(w, rs)
}

// pushRule loads the rule the path names.
func (s *Server) pushRule(r *http.Request, sess session) (pushrules.Rule, error) {
	kind, err := pathKind(r)
	if err != nil {
		return pushrules.Rule{}, err
	}
	rs, err := s.AccountData.PushRules(r.Context(), sess.UserID)
	if err != nil {
		return pushrules.Rule{}, err
	}
	rule, err := rs.Get(kind, r.PathValue("ruleId"))
	if err != nil {
		return pushrules.Rule{}, pushRuleErr(err)
	}
	return rule, nil
}

// getPushRule returns one push rule.
//
// GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}
func (s *Server) getPushRule(w http.ResponseWriter, r *http.Request, sess session) error {
	rule, err := s.pushRule(r, sess)
	if err != nil {
		return err
	}
	return httpapi.OK(w, rule)
}

// editPushRule applies edit to the user's rules and answers {}.
func (s *Server) editPushRule(w http.ResponseWriter, r *http.Request, sess session, edit func(rs *pushrules.Ruleset, kind, ruleID string) error) error {
	kind, err := pathKind(r)
	if err != nil {
		return err
	}
	ruleID := r.PathValue("ruleId")
	err = s.AccountData.EditPushRules(r.Context(), sess.UserID, func(rs *pushrules.Ruleset) error { return edit(rs, kind, ruleID) })
	if err != nil {
		return pushRuleErr(err)
	}
	return httpapi.OK(w, struct{}{})
}

// deletePushRule removes a user-defined push rule.
//
// DELETE /_matrix/client/v3/pushrules/global/{kind}/{ruleId}
func (s *Server) deletePushRule(w http.ResponseWriter, r *http.Request, sess session) error {
	return s.editPushRule(w, r, sess, func(rs *pushrules.Ruleset, kind, ruleID string) error {
		return rs.Delete(kind, ruleID)
	})
}

// setPushRule adds or replaces a user-defined push rule.
//
// PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}
func (s *Server) setPushRule(w http.ResponseWriter, r *http.Request, sess session) error {
	var nr pushrules.NewRule
	if err := httpapi.DecodeJSON(w, r, &nr); err != nil {
		return err
	}
	if nr.Actions == nil {
		return matrixerr.MissingParam("actions")
	}
	q := r.URL.Query()
	return s.editPushRule(w, r, sess, func(rs *pushrules.Ruleset, kind, ruleID string) error {
		return rs.Put(kind, ruleID, nr, q.Get("before"), q.Get("after"))
	})
}

// isPushRuleEnabled says whether a push rule is enabled.
//
// GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled
func (s *Server) isPushRuleEnabled(w http.ResponseWriter, r *http.Request, sess session) error {
	rule, err := s.pushRule(r, sess)
	if err != nil {
		return err
	}
	return httpapi.OK(w, map[string]bool{"enabled": rule.Enabled})
}

// setPushRuleEnabled enables or disables a push rule.
//
// PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled
func (s *Server) setPushRuleEnabled(w http.ResponseWriter, r *http.Request, sess session) error {
	var req struct {
		Enabled *bool `json:"enabled"`
	}
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Enabled == nil {
		return matrixerr.MissingParam("enabled")
	}
	return s.editPushRule(w, r, sess, func(rs *pushrules.Ruleset, kind, ruleID string) error {
		return rs.SetEnabled(kind, ruleID, *req.Enabled)
	})
}

// getPushRuleActions returns a push rule's actions.
//
// GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/actions
func (s *Server) getPushRuleActions(w http.ResponseWriter, r *http.Request, sess session) error {
	rule, err := s.pushRule(r, sess)
	if err != nil {
		return err
	}
	acts := rule.Actions
	if acts == nil {
		acts = []json.RawMessage{}
	}
	return httpapi.OK(w, map[string]any{"actions": acts})
}

// setPushRuleActions replaces a push rule's actions.
//
// PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/actions
func (s *Server) setPushRuleActions(w http.ResponseWriter, r *http.Request, sess session) error {
	var req struct {
		Actions []json.RawMessage `json:"actions"`
	}
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Actions == nil {
		return matrixerr.MissingParam("actions")
	}
	return s.editPushRule(w, r, sess, func(rs *pushrules.Ruleset, kind, ruleID string) error {
		return rs.SetActions(kind, ruleID, req.Actions)
	})
}
