// Package matrixerr owns the Matrix standard error response: the one table
// that maps an error Kind to its errcode and HTTP status, the Error type that
// handlers return, the 401 body of User-Interactive Authentication (UIA),
// and Write, the single function that renders any error as JSON.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#standard-error-response
//
// Handlers never pick an HTTP status or an errcode by hand. They return an
// error built with a constructor of this package:
//
//	if !ok {
//		return matrixerr.Forbidden("invalid username or password")
//	}
//
// and the HTTP layer calls Write, which answers
//
//	{"errcode": "M_FORBIDDEN", "error": "invalid username or password"}
//
// with status 403. An error this package does not know (a database failure,
// a bug) becomes 500 M_UNKNOWN; its text is logged, never sent.
//
// The package does no I/O beyond writing the response it is given, and it
// keeps no state.
package matrixerr
