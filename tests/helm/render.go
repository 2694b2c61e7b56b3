// Renders the Helm chart with Go's text/template and sprig, the engine Helm
// itself uses, plus the Helm functions the chart calls (include, required,
// toYaml, tpl), then checks the output structurally. There is no helm
// binary on these machines; this is how the chart is tested instead of
// `helm lint` / `helm template`.
//
//	render CHART_DIR [VALUES_FILE ...]
//
// Values files are merged over the chart's values.yaml in order. Prints the
// rendered manifests (and, with RENDER_CONFIG_OUT=FILE, writes the
// ConfigMap's wardend.yaml there) and exits 1 with every problem found:
//   - a template that does not parse or fails to execute;
//   - a document that is not YAML, or lacks apiVersion, kind or
//     metadata.name; a name longer than 63 characters;
//   - a Deployment whose containers lack gRPC liveness and readiness probes,
//     resources, or a securityContext (non-root, read-only root, all
//     capabilities dropped);
//   - a Secret reference (secretKeyRef, secret volume) that names none of
//     the values' existingSecret names, or a Secret rendered by the chart.
package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v3"
)

type problems []string

func (p *problems) add(format string, args ...interface{}) {
	*p = append(*p, fmt.Sprintf(format, args...))
}

// merge copies src over dst, recursing into maps (Helm's values merge).
func merge(dst, src map[string]interface{}) {
	for k, v := range src {
		if sm, ok := v.(map[string]interface{}); ok {
			if dm, ok := dst[k].(map[string]interface{}); ok {
				merge(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

func readYAML(path string) (map[string]interface{}, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]interface{}{}
	if err := yaml.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return out, nil
}

func toYaml(v interface{}) string {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

func render(chart string, valueFiles []string) (string, problems) {
	var errs problems
	values, err := readYAML(filepath.Join(chart, "values.yaml"))
	if err != nil {
		errs.add("%v", err)
		return "", errs
	}
	for _, f := range valueFiles {
		extra, err := readYAML(f)
		if err != nil {
			errs.add("%v", err)
			return "", errs
		}
		merge(values, extra)
	}
	meta, err := readYAML(filepath.Join(chart, "Chart.yaml"))
	if err != nil {
		errs.add("%v", err)
		return "", errs
	}
	top := map[string]interface{}{
		"Values": values,
		"Chart": map[string]interface{}{
			"Name": meta["name"], "Version": meta["version"],
			"AppVersion": meta["appVersion"],
		},
		"Release": map[string]interface{}{
			"Name": "warden", "Namespace": "warden", "Service": "Helm",
			"IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Capabilities": map[string]interface{}{
			"KubeVersion": map[string]interface{}{"Version": "v1.29.0"},
		},
	}

	root := template.New("chart").Option("missingkey=zero")
	funcs := sprig.TxtFuncMap()
	funcs["toYaml"] = toYaml
	funcs["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil || v == "" {
			return nil, fmt.Errorf("%s", msg)
		}
		return v, nil
	}
	funcs["include"] = func(name string, data interface{}) (string, error) {
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
	root.Funcs(funcs)

	files, _ := filepath.Glob(filepath.Join(chart, "templates", "*"))
	sort.Strings(files)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			errs.add("%v", err)
			continue
		}
		if _, err := root.New(filepath.Base(f)).Parse(string(data)); err != nil {
			errs.add("%v", err)
		}
	}
	if len(errs) > 0 {
		return "", errs
	}
	var out strings.Builder
	for _, f := range files {
		name := filepath.Base(f)
		if strings.HasPrefix(name, "_") {
			continue
		}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, name, top); err != nil {
			errs.add("%v", err)
			continue
		}
		if name == "NOTES.txt" {
			if strings.TrimSpace(buf.String()) == "" {
				errs.add("NOTES.txt renders empty")
			}
			continue
		}
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", name, buf.String())
	}
	return out.String(), errs
}

// get walks a path of map keys.
func get(v interface{}, path ...string) interface{} {
	for _, p := range path {
		m, ok := v.(map[string]interface{})
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// secretNames are the existingSecret values the chart may reference.
func secretNames(v interface{}, out map[string]bool) {
	switch t := v.(type) {
	case map[string]interface{}:
		for k, c := range t {
			if k == "existingSecret" {
				if s, ok := c.(string); ok && s != "" {
					out[s] = true
				}
			}
			secretNames(c, out)
		}
	case []interface{}:
		for _, c := range t {
			secretNames(c, out)
		}
	}
}

// secretRefs collects the names of Secrets a manifest references.
func secretRefs(v interface{}, out *[]string) {
	switch t := v.(type) {
	case map[string]interface{}:
		if ref, ok := t["secretKeyRef"].(map[string]interface{}); ok {
			*out = append(*out, fmt.Sprint(ref["name"]))
		}
		if s, ok := t["secret"].(map[string]interface{}); ok {
			if n, ok := s["secretName"]; ok {
				*out = append(*out, fmt.Sprint(n))
			}
		}
		for _, c := range t {
			secretRefs(c, out)
		}
	case []interface{}:
		for _, c := range t {
			secretRefs(c, out)
		}
	}
}

func checkContainer(kind, name string, c map[string]interface{}, probes bool,
	errs *problems) {
	where := fmt.Sprintf("%s/%s container %v", kind, name, c["name"])
	if get(c, "resources", "requests") == nil || get(c, "resources", "limits") == nil {
		errs.add("%s: resources.requests and resources.limits must be set", where)
	}
	sc := get(c, "securityContext")
	if get(sc, "runAsNonRoot") != true {
		errs.add("%s: securityContext.runAsNonRoot must be true", where)
	}
	if get(sc, "readOnlyRootFilesystem") != true {
		errs.add("%s: securityContext.readOnlyRootFilesystem must be true", where)
	}
	if get(sc, "allowPrivilegeEscalation") != false {
		errs.add("%s: securityContext.allowPrivilegeEscalation must be false", where)
	}
	drop, _ := get(sc, "capabilities", "drop").([]interface{})
	if len(drop) != 1 || drop[0] != "ALL" {
		errs.add("%s: securityContext.capabilities.drop must be [ALL]", where)
	}
	if !probes {
		return
	}
	for _, probe := range []string{"livenessProbe", "readinessProbe"} {
		if get(c, probe, "grpc", "port") == nil {
			errs.add("%s: %s must be a gRPC probe", where, probe)
		}
	}
}

func check(manifests string, values map[string]interface{}) problems {
	var errs problems
	allowed := map[string]bool{}
	secretNames(values, allowed)
	kinds := map[string]int{}
	for _, doc := range strings.Split(manifests, "\n---\n") {
		doc = strings.TrimPrefix(doc, "---\n")
		var m map[string]interface{}
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			errs.add("not YAML: %v\n%s", err, doc)
			continue
		}
		if m == nil {
			continue // A template that rendered nothing (disabled).
		}
		kind, _ := m["kind"].(string)
		name, _ := get(m, "metadata", "name").(string)
		if m["apiVersion"] == nil || kind == "" || name == "" {
			errs.add("document without apiVersion, kind or metadata.name:\n%s", doc)
			continue
		}
		kinds[kind]++
		if out := os.Getenv("RENDER_CONFIG_OUT"); out != "" && kind == "ConfigMap" {
			if cfg, ok := get(m, "data", "wardend.yaml").(string); ok {
				if err := os.WriteFile(out, []byte(cfg), 0o644); err != nil {
					errs.add("%v", err)
				}
			}
		}
		if len(name) > 63 {
			errs.add("%s/%s: name longer than 63 characters", kind, name)
		}
		if get(m, "metadata", "labels", "app.kubernetes.io/name") == nil {
			errs.add("%s/%s: no app.kubernetes.io/name label", kind, name)
		}
		if kind == "Secret" {
			errs.add("%s: the chart must reference Secrets, not render them", name)
		}
		var refs []string
		secretRefs(m, &refs)
		for _, r := range refs {
			if !allowed[r] {
				errs.add("%s/%s: references Secret %q, not an existingSecret value",
					kind, name, r)
			}
		}
		var pod interface{}
		switch kind {
		case "Deployment":
			pod = get(m, "spec", "template", "spec")
		case "Job":
			pod = get(m, "spec", "template", "spec")
		default:
			continue
		}
		containers, _ := get(pod, "containers").([]interface{})
		if len(containers) == 0 {
			errs.add("%s/%s: no containers", kind, name)
		}
		for _, c := range containers {
			cm, _ := c.(map[string]interface{})
			checkContainer(kind, name, cm, kind == "Deployment", &errs)
		}
	}
	for _, want := range []string{"Deployment", "Service", "ConfigMap",
		"PodDisruptionBudget", "NetworkPolicy", "Job", "ServiceAccount"} {
		if kinds[want] == 0 {
			errs.add("no %s rendered", want)
		}
	}
	return errs
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: render CHART_DIR [VALUES_FILE ...]")
		os.Exit(2)
	}
	chart, files := os.Args[1], os.Args[2:]
	manifests, errs := render(chart, files)
	if len(errs) == 0 {
		values, _ := readYAML(filepath.Join(chart, "values.yaml"))
		for _, f := range files {
			extra, _ := readYAML(f)
			merge(values, extra)
		}
		errs = check(manifests, values)
	}
	fmt.Print(manifests)
	if len(errs) > 0 {
		for _, e := range errs {
			fmt.Fprintln(os.Stderr, "render:", e)
		}
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "render: %s with %v: OK\n", chart, files)
}
