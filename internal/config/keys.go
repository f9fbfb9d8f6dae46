package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// checkKeys reports every key of the YAML document that names no setting,
// by its line and YAML path, with the closest valid key as a suggestion
// (the decoder's own message names Go types, which mean nothing to an
// operator).
func checkKeys(data []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 {
		return nil // syntax errors are the decoder's to report
	}
	var errs []error
	checkMapping(doc.Content[0], reflect.TypeFor[Config](), nil, &errs)
	return errors.Join(errs...)
}

func checkMapping(n *yaml.Node, t reflect.Type, prefix []string, errs *[]error) {
	if n.Kind != yaml.MappingNode {
		return
	}
	fields := map[string]reflect.Type{}
	var names []string
	for i := range t.NumField() {
		key, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if key == "" || key == "-" {
			continue
		}
		fields[key] = t.Field(i).Type
		names = append(names, key)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		path := append(append([]string{}, prefix...), k.Value)
		ft, ok := fields[k.Value]
		if !ok {
			msg := fmt.Sprintf("line %d: unknown setting %q", k.Line, strings.Join(path, "."))
			if s := closest(k.Value, names); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", strings.Join(append(append([]string{}, prefix...), s), "."))
			}
			*errs = append(*errs, errors.New(msg))
			continue
		}
		if ft.Kind() == reflect.Struct {
			checkMapping(v, ft, path, errs)
		}
	}
}

// closest returns the candidate nearest to s by edit distance, or "" when
// none is near enough to be a plausible misspelling.
func closest(s string, candidates []string) string {
	best, bestDist := "", len(s)/2+2
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
