package crosscheck

// Adapters from the generator's events to gomatrixserverlib.

import (
	"context"
	"fmt"
	"os"
	"sync"

	gmsl "github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

func gmslUserID(_ spec.RoomID, s spec.SenderID) (*spec.UserID, error) {
	return spec.NewUserID(string(s), true)
}

// gmslParse parses a generated event as gomatrixserverlib would on receipt.
func gmslParse(ev *genEvent, rv gmsl.IRoomVersion) (gmsl.PDU, error) {
	return rv.NewEventFromUntrustedJSON(ev.JSON)
}

// gmslAllowed runs gomatrixserverlib's auth check of e against the given
// auth state.
func gmslAllowed(e gmsl.PDU, state []gmsl.PDU) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	provider, err := gmsl.NewAuthEvents(state)
	if err != nil {
		return err
	}
	return gmsl.Allowed(e, provider, gmslUserID)
}

// stdoutMu serialises the redirection of os.Stdout below.
var stdoutMu sync.Mutex

// quietStdout runs f with os.Stdout sent to /dev/null: gomatrixserverlib's
// v2.1 resolver prints every conflicted subgraph it finds with fmt.Printf.
func quietStdout(f func()) {
	stdoutMu.Lock()
	defer stdoutMu.Unlock()
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		f()
		return
	}
	old := os.Stdout
	os.Stdout = devnull
	defer func() {
		os.Stdout = old
		devnull.Close()
	}()
	f()
}

// gmslResolve resolves state sets with gomatrixserverlib. authEvents must
// hold the auth chains of every event in the state sets.
func gmslResolve(rv gmsl.IRoomVersion, stateSets [][]gmsl.PDU, authEvents []gmsl.PDU) (res map[skey]string, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	var out []gmsl.PDU
	quietStdout(func() {
		out, err = gmsl.ResolveConflictsNew(rv.Version(), stateSets, authEvents, gmslUserID,
			func(string) bool { return false })
	})
	if err != nil {
		return nil, err
	}
	res = make(map[skey]string, len(out))
	for _, e := range out {
		res[skey{e.Type(), *e.StateKey()}] = e.EventID()
	}
	return res, nil
}

// keyVerifier is a gomatrixserverlib JSONVerifier backed by the generator's
// fixed server keys.
type keyVerifier struct{ keys map[string]*signingKey }

func (k keyVerifier) VerifyJSONs(_ context.Context, reqs []gmsl.VerifyJSONRequest) ([]gmsl.VerifyJSONResult, error) {
	res := make([]gmsl.VerifyJSONResult, len(reqs))
	for i, r := range reqs {
		key, ok := k.keys[string(r.ServerName)]
		if !ok {
			res[i].Error = fmt.Errorf("no key for %s", r.ServerName)
			continue
		}
		res[i].Error = gmsl.VerifyJSON(string(r.ServerName), gmsl.KeyID(key.keyID), key.pub, r.Message)
	}
	return res, nil
}

func gmslVerify(e gmsl.PDU, keys map[string]*signingKey) error {
	return gmsl.VerifyEventSignatures(context.Background(), e, keyVerifier{keys}, gmslUserID)
}
