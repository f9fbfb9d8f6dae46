package matrixerr

import "strings"

// Flow is one way through User-Interactive Authentication: its stages, in
// order.
type Flow struct {
	Stages []string `json:"stages"`
}

// UIA is the 401 response of User-Interactive Authentication: the flows the
// client may follow, the parameters of their stages, the session and the
// stages already completed. Err, when set, is the failure of the stage the
// client just attempted ("M_FORBIDDEN: invalid password"); its errcode and
// error are added to the same 401 body, as the spec's "User-interactive API
// in the REST API" describes.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#user-interactive-api-in-the-rest-api
type UIA struct {
	Flows     []Flow
	Params    map[string]any
	Session   string
	Completed []string
	Err       *Error
}

// Error describes the challenge; it is not sent to the client.
func (u *UIA) Error() string {
	var b strings.Builder
	b.WriteString("user-interactive authentication required")
	if u.Err != nil {
		b.WriteString(": ")
		b.WriteString(u.Err.Error())
	}
	return b.String()
}

// Unwrap returns the stage failure, if any.
func (u *UIA) Unwrap() error {
	if u.Err == nil {
		return nil
	}
	return u.Err
}

// body is the JSON object of the 401 response.
func (u *UIA) body() map[string]any {
	flows := u.Flows
	if flows == nil {
		flows = []Flow{}
	}
	params := u.Params
	if params == nil {
		params = map[string]any{}
	}
	m := map[string]any{"flows": flows, "params": params}
	if u.Session != "" {
		m["session"] = u.Session
	}
	if len(u.Completed) > 0 {
		m["completed"] = u.Completed
	}
	if u.Err != nil {
		m["errcode"] = u.Err.Code()
		m["error"] = u.Err.Message
	}
	return m
}
