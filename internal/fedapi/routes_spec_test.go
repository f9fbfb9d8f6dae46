package fedapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/httpapi/openapitest"
)

// specDir holds the spec's Server-Server OpenAPI files (see its README).
const specDir = "testdata/openapi"

// implemented are the operations fedapi serves; every other one must
// answer 404 M_UNRECOGNIZED.
var implemented = []string{"getServerKey", "perspectivesKeyQuery", "bulkPerspectivesKeyQuery", "getVersion", "sendTransaction",
	"getEvent", "getRoomState", "getRoomStateIds", "getEventAuth", "backfillRoom", "getMissingPreviousEvents",
	"makeJoin", "sendJoinV2", "makeLeave", "sendLeaveV2",
	"queryProfile", "queryRoomDirectory", "getPublicRooms", "queryPublicRooms", "getSpaceHierarchy", "exchangeOpenIdToken", "makeKnock", "sendKnock", "sendInviteV2", "getContent", "getContentThumbnail"}

// servedElsewhere are operations cmd/hafen routes to another package on the
// federation listener.
var servedElsewhere = map[string]string{"getWellKnown": "clientapi (/.well-known/matrix/server)"}

// specOp is one operation of the spec's OpenAPI files.
type specOp = openapitest.Op

// loadSpecOps reads every operation of the copied OpenAPI files.
func loadSpecOps(t *testing.T) []specOp { return openapitest.Load(t, specDir) }

// samplePath fills each {param} of a spec path with a value.
func samplePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			segs[i] = "_" + strings.Trim(s, "{}")
		}
	}
	return strings.Join(segs, "/")
}

// TestSpecRoutes checks every operation of the Server-Server API: the
// implemented ones are routed at the spec's method and path, every other
// one answers 404 M_UNRECOGNIZED ("Unsupported endpoints"), without
// authentication.
func TestSpecRoutes(t *testing.T) {
	rt := httpapi.NewRouter()
	(&Server{ServerName: "hafen.test"}).Routes(rt)
	ops := loadSpecOps(t)
	routed := map[string]bool{}
	for _, op := range ops {
		if _, ok := servedElsewhere[op.OperationID]; ok {
			continue
		}
		req := httptest.NewRequest(op.Method, samplePath(op.Path), strings.NewReader("{}"))
		_, pattern := rt.Handler(req)
		if slices.Contains(implemented, op.OperationID) {
			if pattern == "" {
				t.Errorf("%s (%s %s in %s) is implemented but not routed", op.OperationID, op.Method, op.Path, op.File)
			}
			routed[op.OperationID] = true
			continue
		}
		if pattern != "" {
			t.Errorf("%s (%s %s) is routed to %q but not listed as implemented", op.OperationID, op.Method, op.Path, pattern)
			continue
		}
		w := httptest.NewRecorder()
		rt.ServeHTTP(w, req)
		var e struct {
			Errcode string `json:"errcode"`
		}
		json.Unmarshal(w.Body.Bytes(), &e)
		if w.Code != http.StatusNotFound || e.Errcode != "M_UNRECOGNIZED" {
			t.Errorf("%s (%s %s) = %d %s, want 404 M_UNRECOGNIZED", op.OperationID, op.Method, op.Path, w.Code, e.Errcode)
		}
	}
	for _, id := range implemented {
		if !routed[id] {
			t.Errorf("%s is listed as implemented but is not in the spec files", id)
		}
	}
	if len(ops) < 30 {
		t.Errorf("only %d operations read from the spec files", len(ops))
	}
}
