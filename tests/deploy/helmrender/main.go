// helmrender renders the ciap chart's templates the way `helm template` does, for the tests:
// Go's text/template (Helm's engine) with the template functions the chart uses, implemented
// here with the semantics of Helm and its sprig library. No helm binary is installable on the
// project's machines; this keeps the templates honest (syntax, includes, contexts, the YAML they
// produce). It is not Helm: a function the chart starts using must be added below.
//
// Usage: go run main.go CHART_DIR < input.json > output.json
//
//	input:  {"values": {...merged values...}, "release": {"Name": "...", "Namespace": "..."},
//	         "chart": {"Name": "...", "Version": "...", "AppVersion": "..."}}
//	output: {"manifests": {"ciap/templates/x.yaml": "..."}, "notes": "...", "error": "..."}
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"
)

type files map[string]string

// Get returns a chart file's content, "" when absent (as Helm's .Files.Get).
func (f files) Get(name string) string { return f[name] }

type input struct {
	Values  map[string]interface{} `json:"values"`
	Release map[string]interface{} `json:"release"`
	Chart   map[string]interface{} `json:"chart"`
}

type output struct {
	Manifests map[string]string `json:"manifests"`
	Notes     string            `json:"notes"`
	Error     string            `json:"error,omitempty"`
}

func main() {
	out := output{Manifests: map[string]string{}}
	if err := run(os.Args[1], &out); err != nil {
		out.Error = err.Error()
	}
	json.NewEncoder(os.Stdout).Encode(out)
}

func run(chartDir string, out *output) error {
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		return err
	}
	chartFiles := files{}
	filepath.Walk(chartDir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			rel, _ := filepath.Rel(chartDir, p)
			data, _ := os.ReadFile(p)
			chartFiles[filepath.ToSlash(rel)] = string(data)
		}
		return nil
	})
	top := map[string]interface{}{
		"Values": in.Values, "Release": in.Release, "Chart": in.Chart, "Files": chartFiles,
	}

	root := template.New("chart")
	includeDepth := 0
	funcs := sprigFuncs()
	funcs["include"] = func(name string, data interface{}) (string, error) {
		includeDepth++
		defer func() { includeDepth-- }()
		if includeDepth > 100 {
			return "", errors.New("include: recursion too deep")
		}
		var buf bytes.Buffer
		err := root.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := root.Clone()
		if err != nil {
			return "", err
		}
		t, err = t.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		err = t.Execute(&buf, data)
		return buf.String(), err
	}
	funcs["required"] = func(message string, v interface{}) (interface{}, error) {
		if empty(v) {
			return nil, errors.New(message)
		}
		return v, nil
	}
	funcs["fail"] = func(message string) (string, error) { return "", errors.New(message) }
	root.Funcs(funcs)
	// Helm's engine: a missing map key renders as "" rather than "<no value>".
	root.Option("missingkey=zero")

	var names []string
	for name := range chartFiles {
		if strings.HasPrefix(name, "templates/") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		if _, err := root.New("ciap/" + name).Parse(chartFiles[name]); err != nil {
			return err
		}
	}
	for _, name := range names {
		base := filepath.Base(name)
		if strings.HasPrefix(base, "_") {
			continue
		}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, "ciap/"+name, top); err != nil {
			return err
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if base == "NOTES.txt" {
			out.Notes = text
		} else {
			out.Manifests["ciap/"+name] = text
		}
	}
	return nil
}

// ----- the sprig functions the chart uses -----

func sprigFuncs() template.FuncMap {
	return template.FuncMap{
		"default": func(d interface{}, given ...interface{}) interface{} {
			if len(given) == 0 || empty(given[0]) {
				return d
			}
			return given[0]
		},
		"empty": empty,
		"ternary": func(vt, vf interface{}, cond bool) interface{} {
			if cond {
				return vt
			}
			return vf
		},
		"trunc": func(n int, s string) string {
			if len(s) > n {
				return s[:n]
			}
			return s
		},
		"trimSuffix": func(suffix, s string) string { return strings.TrimSuffix(s, suffix) },
		"trim":       strings.TrimSpace,
		"contains":   func(substr, s string) bool { return strings.Contains(s, substr) },
		"replace":    func(old, new, s string) string { return strings.ReplaceAll(s, old, new) },
		"quote": func(v ...interface{}) string {
			var parts []string
			for _, x := range v {
				if x != nil {
					parts = append(parts, strconv.Quote(toString(x)))
				}
			}
			return strings.Join(parts, " ")
		},
		"toString": toString,
		"join": func(sep string, v interface{}) string {
			var parts []string
			for _, x := range toList(v) {
				parts = append(parts, toString(x))
			}
			return strings.Join(parts, sep)
		},
		"indent": func(n int, s string) string {
			pad := strings.Repeat(" ", n)
			return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
		},
		"nindent": func(n int, s string) string {
			pad := strings.Repeat(" ", n)
			return "\n" + pad + strings.ReplaceAll(s, "\n", "\n"+pad)
		},
		"sha256sum": func(s string) string {
			sum := sha256.Sum256([]byte(s))
			return hex.EncodeToString(sum[:])
		},
		"dict": func(kv ...interface{}) map[string]interface{} {
			m := map[string]interface{}{}
			for i := 0; i+1 < len(kv); i += 2 {
				m[toString(kv[i])] = kv[i+1]
			}
			return m
		},
		"list": func(v ...interface{}) []interface{} { return v },
		"has": func(needle interface{}, haystack interface{}) bool {
			for _, x := range toList(haystack) {
				if reflect.DeepEqual(x, needle) {
					return true
				}
			}
			return false
		},
		"get": func(m map[string]interface{}, key string) interface{} {
			if v, ok := m[key]; ok {
				return v
			}
			return ""
		},
		"set": func(m map[string]interface{}, key string, v interface{}) map[string]interface{} {
			m[key] = v
			return m
		},
		"hasKey": func(m map[string]interface{}, key string) bool {
			_, ok := m[key]
			return ok
		},
		"deepCopy": func(v interface{}) (interface{}, error) {
			data, err := json.Marshal(v)
			if err != nil {
				return nil, err
			}
			var c interface{}
			err = json.Unmarshal(data, &c)
			return c, err
		},
		"mul": func(a interface{}, v ...interface{}) int64 {
			r := toInt64(a)
			for _, x := range v {
				r *= toInt64(x)
			}
			return r
		},
		// Regular expressions (sprig: Go's regexp; a bad pattern panics, as in sprig's Must forms).
		"regexMatch": func(re, s string) bool { return regexp.MustCompile(re).MatchString(s) },
		"regexFind":  func(re, s string) string { return regexp.MustCompile(re).FindString(s) },
		"regexFindAll": func(re, s string, n int) []string {
			return regexp.MustCompile(re).FindAllString(s, n)
		},
		"hasPrefix":  func(prefix, s string) bool { return strings.HasPrefix(s, prefix) },
		"trimPrefix": func(prefix, s string) string { return strings.TrimPrefix(s, prefix) },
		// Numbers: sprig's int/int64 arithmetic and float64 (…f) arithmetic; Helm hands values'
		// numbers to templates as float64, so templates convert before comparing.
		"atoi":    func(s string) int { n, _ := strconv.Atoi(s); return n },
		"int":     func(v interface{}) int { return int(toInt64(v)) },
		"float64": toFloat64,
		"add": func(v ...interface{}) int64 {
			var r int64
			for _, x := range v {
				r += toInt64(x)
			}
			return r
		},
		"addf": func(v ...interface{}) float64 {
			var r float64
			for _, x := range v {
				r += toFloat64(x)
			}
			return r
		},
		"mulf": func(a interface{}, v ...interface{}) float64 {
			r := toFloat64(a)
			for _, x := range v {
				r *= toFloat64(x)
			}
			return r
		},
		"ceil": func(v interface{}) float64 { return math.Ceil(toFloat64(v)) },
		// Lists and maps.
		"append": func(list interface{}, v interface{}) ([]interface{}, error) {
			rv := reflect.ValueOf(list)
			if list != nil && rv.Kind() != reflect.Slice {
				return nil, fmt.Errorf("cannot push on type %T", list)
			}
			return append(toList(list), v), nil
		},
		"dig": func(ps ...interface{}) (interface{}, error) {
			if len(ps) < 3 {
				return nil, errors.New("dig needs at least three arguments")
			}
			m, ok := ps[len(ps)-1].(map[string]interface{})
			if !ok {
				return nil, fmt.Errorf("dig: last argument is %T, not a dict", ps[len(ps)-1])
			}
			def := ps[len(ps)-2]
			var cur interface{} = m
			for _, k := range ps[:len(ps)-2] {
				cm, ok := cur.(map[string]interface{})
				if !ok {
					return def, nil
				}
				if cur, ok = cm[toString(k)]; !ok {
					return def, nil
				}
			}
			return cur, nil
		},
		// Helm's fromJson: a dict, or {"Error": message} when the text is not a JSON object.
		"fromJson": func(s string) map[string]interface{} {
			m := map[string]interface{}{}
			if err := json.Unmarshal([]byte(s), &m); err != nil {
				m["Error"] = err.Error()
			}
			return m
		},
		"toYaml": func(v interface{}) string {
			var b strings.Builder
			emitYaml(&b, v, 0, false)
			return strings.TrimSuffix(b.String(), "\n")
		},
		"toJson": func(v interface{}) string {
			data, _ := json.Marshal(v)
			return string(data)
		},
	}
}

// empty: sprig's notion (zero values, empty collections, nil).
func empty(v interface{}) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String, reflect.Array, reflect.Slice, reflect.Map:
		return rv.Len() == 0
	case reflect.Bool:
		return !rv.Bool()
	case reflect.Int, reflect.Int64, reflect.Int32:
		return rv.Int() == 0
	case reflect.Float64, reflect.Float32:
		return rv.Float() == 0
	case reflect.Ptr, reflect.Interface:
		return rv.IsNil()
	}
	return false
}

func toString(v interface{}) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

func toInt64(v interface{}) int64 {
	switch x := v.(type) {
	case float64:
		return int64(x)
	case int:
		return int64(x)
	case int64:
		return x
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	}
	return 0
}

func toFloat64(v interface{}) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case string:
		f, _ := strconv.ParseFloat(x, 64)
		return f
	case bool:
		if x {
			return 1
		}
	}
	return 0
}

func toList(v interface{}) []interface{} {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice {
		return nil
	}
	out := make([]interface{}, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out
}

// ----- toYaml: block style, sorted keys, strings quoted unless plainly safe -----

var plainSafe = regexp.MustCompile(`^[A-Za-z0-9_./][A-Za-z0-9_./@+=-]*( [A-Za-z0-9_./@+=-]+)*$`)
var looksSpecial = regexp.MustCompile(`^([-+]?[0-9][0-9_.eE+-]*|true|false|yes|no|on|off|null|~|y|n|\.inf|\.nan)$`)

func scalar(v interface{}) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(x)
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	case string:
		if plainSafe.MatchString(x) && !looksSpecial.MatchString(strings.ToLower(x)) {
			return x
		}
		data, _ := json.Marshal(x)
		return string(data)
	}
	return fmt.Sprint(v)
}

func emitYaml(b *strings.Builder, v interface{}, indent int, inList bool) {
	pad := strings.Repeat(" ", indent)
	switch x := v.(type) {
	case map[string]interface{}:
		if len(x) == 0 {
			b.WriteString("{}\n")
			return
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			if !(inList && i == 0) {
				b.WriteString(pad)
			}
			b.WriteString(scalar(k) + ":")
			writeValue(b, x[k], indent+2, false)
		}
	case []interface{}:
		if len(x) == 0 {
			b.WriteString("[]\n")
			return
		}
		for _, item := range x {
			b.WriteString(pad + "- ")
			switch item.(type) {
			case map[string]interface{}:
				if len(item.(map[string]interface{})) == 0 {
					b.WriteString("{}\n")
				} else {
					emitYaml(b, item, indent+2, true)
				}
			case []interface{}:
				if len(item.([]interface{})) == 0 {
					b.WriteString("[]\n")
				} else {
					b.WriteString("\n")
					emitYaml(b, item, indent+2, false)
				}
			default:
				b.WriteString(scalar(item) + "\n")
			}
		}
	default:
		b.WriteString(pad + scalar(v) + "\n")
	}
}

func writeValue(b *strings.Builder, v interface{}, indent int, _ bool) {
	switch x := v.(type) {
	case map[string]interface{}:
		if len(x) == 0 {
			b.WriteString(" {}\n")
			return
		}
		b.WriteString("\n")
		emitYaml(b, x, indent, false)
	case []interface{}:
		if len(x) == 0 {
			b.WriteString(" []\n")
			return
		}
		// go-yaml (Helm's toYaml) writes a list under a key at the key's own indentation.
		b.WriteString("\n")
		emitYaml(b, x, indent-2, false)
	default:
		b.WriteString(" " + scalar(v) + "\n")
	}
}
