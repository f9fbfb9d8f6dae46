package fedapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/hafenchat/hafen/internal/httpapi"
)

// specDir holds the spec's Server-Server OpenAPI files (see its README).
const specDir = "testdata/openapi"

// implemented are the operations fedapi serves; every other one must
// answer 404 M_UNRECOGNIZED.
var implemented = []string{"getServerKey", "perspectivesKeyQuery", "bulkPerspectivesKeyQuery", "getVersion", "sendTransaction",
	"getEvent", "getRoomState", "getRoomStateIds", "getEventAuth", "backfillRoom", "getMissingPreviousEvents",
	"makeJoin", "sendJoinV2", "makeLeave", "sendLeaveV2",
	"queryProfile", "queryRoomDirectory", "makeKnock", "sendKnock", "sendInviteV2"}

// servedElsewhere are operations cmd/hafen routes to another package on the
// federation listener.
var servedElsewhere = map[string]string{"getWellKnown": "clientapi (/.well-known/matrix/server)"}

type specOp struct {
	file, operationID, method, path string
}

// loadSpecOps reads every operation of the copied OpenAPI files.
func loadSpecOps(t *testing.T) []specOp {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(specDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no OpenAPI files in %s: %v", specDir, err)
	}
	if _, err := os.Stat(filepath.Join(specDir, "LICENSE")); err != nil {
		t.Errorf("the spec's LICENSE must sit next to its copied files: %v", err)
	}
	var ops []specOp
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Servers []struct {
				URL       string `yaml:"url"`
				Variables map[string]struct {
					Default string `yaml:"default"`
				} `yaml:"variables"`
			} `yaml:"servers"`
			Paths map[string]map[string]yaml.Node `yaml:"paths"`
		}
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if len(doc.Servers) == 0 {
			t.Fatalf("%s: no servers block", file)
		}
		srv := doc.Servers[0]
		expanded := srv.URL
		for v, d := range srv.Variables {
			expanded = strings.ReplaceAll(expanded, "{"+v+"}", d.Default)
		}
		u, err := url.Parse(expanded)
		if err != nil {
			t.Fatalf("%s: server URL %q: %v", file, expanded, err)
		}
		base := strings.TrimSuffix(u.Path, "/")
		for path, item := range doc.Paths {
			for _, method := range []string{"get", "put", "post", "delete"} {
				node, ok := item[method]
				if !ok {
					continue
				}
				var op struct {
					OperationID string `yaml:"operationId"`
				}
				if err := node.Decode(&op); err != nil {
					t.Fatal(err)
				}
				ops = append(ops, specOp{filepath.Base(file), op.OperationID, strings.ToUpper(method), base + strings.TrimSpace(path)})
			}
		}
	}
	return ops
}

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
		if _, ok := servedElsewhere[op.operationID]; ok {
			continue
		}
		req := httptest.NewRequest(op.method, samplePath(op.path), strings.NewReader("{}"))
		_, pattern := rt.Handler(req)
		if slices.Contains(implemented, op.operationID) {
			if pattern == "" {
				t.Errorf("%s (%s %s in %s) is implemented but not routed", op.operationID, op.method, op.path, op.file)
			}
			routed[op.operationID] = true
			continue
		}
		if pattern != "" {
			t.Errorf("%s (%s %s) is routed to %q but not listed as implemented", op.operationID, op.method, op.path, pattern)
			continue
		}
		w := httptest.NewRecorder()
		rt.ServeHTTP(w, req)
		var e struct {
			Errcode string `json:"errcode"`
		}
		json.Unmarshal(w.Body.Bytes(), &e)
		if w.Code != http.StatusNotFound || e.Errcode != "M_UNRECOGNIZED" {
			t.Errorf("%s (%s %s) = %d %s, want 404 M_UNRECOGNIZED", op.operationID, op.method, op.path, w.Code, e.Errcode)
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
