package config

import (
	"bytes"
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite example.yaml from config.go")

// fieldDocs reads the doc comment of every struct field in config.go,
// keyed by "Type.Field".
func fieldDocs(t *testing.T) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "config.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok {
			return true
		}
		st, ok := ts.Type.(*ast.StructType)
		if !ok {
			return false
		}
		for _, fl := range st.Fields.List {
			for _, name := range fl.Names {
				docs[ts.Name.Name+"."+name.Name] = strings.TrimSpace(fl.Doc.Text())
			}
		}
		return false
	})
	return docs
}

const exampleHeader = `# Hafen configuration.
#
# Settings are read in this order, each source overriding the previous one:
# defaults, this file, environment variables, command-line flags. The
# environment variable of a setting is HAFEN_ followed by its path in
# capitals, joined by "_" (HAFEN_SERVER_NAME, HAFEN_RATE_LIMIT_LOGIN_BURST);
# its flag is the path joined by "-" (--server-name, --rate-limit-login-burst).
#
# Every setting below shows its default value, commented out. To change one,
# remove the "#" in front of its key and in front of the section it is in.
`

// yamlKeys maps the Go name of every setting to its YAML key.
func yamlKeys(typ reflect.Type, out map[string]string) {
	for i := range typ.NumField() {
		f := typ.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if key == "" || key == "-" {
			continue
		}
		out[f.Name] = key
		if f.Type.Kind() == reflect.Struct {
			yamlKeys(f.Type, out)
		}
	}
}

// goNames matches identifiers that may be Go field names.
var goNames = regexp.MustCompile(`\b[A-Z][A-Za-z]*\b`)

// generateExample renders example.yaml from the doc comments and Defaults.
// The documentation speaks of settings by their YAML keys, as the operator
// writes them, not by the Go names of config.go.
func generateExample(t *testing.T) []byte {
	t.Helper()
	keys := map[string]string{}
	yamlKeys(reflect.TypeFor[Config](), keys)
	docs := fieldDocs(t)
	for k, doc := range docs {
		docs[k] = goNames.ReplaceAllStringFunc(doc, func(w string) string {
			if key, ok := keys[w]; ok {
				return key
			}
			return w
		})
	}
	var b bytes.Buffer
	b.WriteString(exampleHeader)
	d := Defaults()
	writeStruct(t, &b, docs, reflect.ValueOf(d), "")
	return b.Bytes()
}

func writeStruct(t *testing.T, b *bytes.Buffer, docs map[string]string, v reflect.Value, indent string) {
	typ := v.Type()
	for i := range typ.NumField() {
		f := typ.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if key == "" || key == "-" {
			continue
		}
		doc := docs[typ.Name()+"."+f.Name]
		b.WriteString("\n")
		for _, line := range strings.Split(doc, "\n") {
			if line == "" {
				b.WriteString(indent + "#\n")
				continue
			}
			b.WriteString(indent + "# " + line + "\n")
		}
		if f.Type.Kind() == reflect.Struct {
			b.WriteString(indent + "#" + key + ":\n")
			writeStruct(t, b, docs, v.Field(i), indent+"  ")
			continue
		}
		val, err := yaml.Marshal(v.Field(i).Interface())
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(indent + "#" + key + ": " + strings.TrimSpace(string(val)) + "\n")
	}
}

func TestExampleIsGenerated(t *testing.T) {
	got := generateExample(t)
	if *update {
		if err := os.WriteFile("example.yaml", got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(got, Example()) {
		t.Errorf("example.yaml drifted from config.go; run: go test ./internal/config -run TestExampleIsGenerated -update")
	}
}

// TestExampleSpeaksYAMLKeys: the operator reads the example, so every
// setting is documented under its YAML key and no Go field name shows.
func TestExampleSpeaksYAMLKeys(t *testing.T) {
	keys := map[string]string{}
	yamlKeys(reflect.TypeFor[Config](), keys)
	example := string(Example())
	for goName, key := range keys {
		if regexp.MustCompile(`\b` + goName + `\b`).MatchString(example) {
			t.Errorf("example.yaml mentions the Go name %s instead of %s", goName, key)
		}
	}
	for _, key := range []string{"server_name", "trusted_proxies", "default_room_version", "failed_login"} {
		if !strings.Contains(example, "\n# "+key+" ") && !strings.Contains(example, "  # "+key+" ") {
			t.Errorf("example.yaml has no documentation starting with %s", key)
		}
	}
}

func TestEveryFieldIsDocumented(t *testing.T) {
	for key, doc := range fieldDocs(t) {
		_, field, _ := strings.Cut(key, ".")
		if doc == "" {
			t.Errorf("%s has no doc comment", key)
		} else if !strings.HasPrefix(doc, field+" ") {
			t.Errorf("doc comment of %s does not start with %q", key, field)
		}
	}
}

// uncomment turns every commented key line of the example into a real one,
// leaving documentation lines ("# …") alone.
func uncomment(example []byte) []byte {
	var out []string
	for _, line := range strings.Split(string(example), "\n") {
		trimmed := strings.TrimLeft(line, " ")
		if strings.HasPrefix(trimmed, "#") && len(trimmed) > 1 && trimmed[1] != ' ' {
			indent := line[:len(line)-len(trimmed)]
			line = indent + trimmed[1:]
		}
		out = append(out, line)
	}
	return []byte(strings.Join(out, "\n"))
}

func TestExampleValuesAreTheDefaults(t *testing.T) {
	var got Config
	if err := decodeYAML(uncomment(Example()), &got); err != nil {
		t.Fatalf("uncommented example does not parse: %v", err)
	}
	if want := Defaults(); !reflect.DeepEqual(got, want) {
		t.Errorf("uncommented example = %+v\nwant defaults %+v", got, want)
	}
	// Left as written (all commented out), the example changes nothing.
	got = Defaults()
	if err := decodeYAML(Example(), &got); err != nil || !reflect.DeepEqual(got, Defaults()) {
		t.Errorf("commented example changed the defaults: %+v, %v", got, err)
	}
}
