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
//     the values' existingSecret names, or a Secret rendered by the chart;
//   - values (the chart's merged with the files given) that break
//     values.schema.json, as Helm would refuse them (a subset of JSON
//     Schema draft-07; a keyword outside it is itself a problem), and a
//     value in the chart's values.yaml without a comment;
//   - a selector of wardend's pods (Deployment, Service, PodDisruptionBudget,
//     NetworkPolicy, anti-affinity, topology spread) without
//     app.kubernetes.io/component: server, that misses the Deployment's pods
//     or matches the migration Job's pod; a ServiceMonitor that misses the
//     Service;
//   - no gRPC startupProbe; a PodDisruptionBudget that blocks node drains at
//     the replica count rendered (or the HPA's minimum);
//   - a config that serves plaintext off loopback without
//     tls.insecure_plaintext (wardend would refuse to start);
//   - NOTES whose wardenctl command lacks --tls-ca (and, with client
//     certificates, --tls-cert/--tls-key) while TLS is on, or that does not
//     give the HPA's range while autoscaling is on.
//
// With RENDER_NOTES_OUT=FILE the rendered NOTES.txt is written there.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
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

// merge copies src over dst, recursing into maps (Helm's values merge);
// a null in src deletes the key, as in Helm.
func merge(dst, src map[string]interface{}) {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
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

func render(chart string, valueFiles []string) (string, string, problems) {
	var errs problems
	values, err := readYAML(filepath.Join(chart, "values.yaml"))
	if err != nil {
		errs.add("%v", err)
		return "", "", errs
	}
	for _, f := range valueFiles {
		extra, err := readYAML(f)
		if err != nil {
			errs.add("%v", err)
			return "", "", errs
		}
		merge(values, extra)
	}
	meta, err := readYAML(filepath.Join(chart, "Chart.yaml"))
	if err != nil {
		errs.add("%v", err)
		return "", "", errs
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
		return "", "", errs
	}
	var out strings.Builder
	notes := ""
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
			notes = buf.String()
			if strings.TrimSpace(notes) == "" {
				errs.add("NOTES.txt renders empty")
			}
			continue
		}
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", name, buf.String())
	}
	return out.String(), notes, errs
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
	for _, probe := range []string{"startupProbe", "livenessProbe", "readinessProbe"} {
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
	var docs []map[string]interface{}
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
		docs = append(docs, m)
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
	checkSelectors(docs, &errs)
	checkDisruptionBudget(docs, &errs)
	checkPlaintext(docs, &errs)
	return errs
}

// The first document of `kind`, or nil.
func find(docs []map[string]interface{}, kind string) map[string]interface{} {
	for _, d := range docs {
		if d["kind"] == kind {
			return d
		}
	}
	return nil
}

// matches says whether every label of `selector` is in `labels`.
func matches(selector, labels interface{}) bool {
	sel, _ := selector.(map[string]interface{})
	lab, _ := labels.(map[string]interface{})
	if len(sel) == 0 {
		return false // An empty or missing selector is reported as such.
	}
	for k, v := range sel {
		if fmt.Sprint(lab[k]) != fmt.Sprint(v) || lab[k] == nil {
			return false
		}
	}
	return true
}

// checkSelectors: every selector of wardend's pods names the server
// component, selects the Deployment's pods and not the migration Job's.
func checkSelectors(docs []map[string]interface{}, errs *problems) {
	deploy := find(docs, "Deployment")
	if deploy == nil {
		return
	}
	podLabels := get(deploy, "spec", "template", "metadata", "labels")
	var jobLabels interface{}
	if job := find(docs, "Job"); job != nil {
		jobLabels = get(job, "spec", "template", "metadata", "labels")
		if get(jobLabels, "app.kubernetes.io/component") != "migrate" {
			errs.add("Job: its pod lacks app.kubernetes.io/component: migrate")
		}
	}
	selectors := map[string]interface{}{
		"Deployment spec.selector.matchLabels": get(deploy, "spec", "selector", "matchLabels"),
	}
	terms, _ := get(deploy, "spec", "template", "spec", "affinity", "podAntiAffinity",
		"preferredDuringSchedulingIgnoredDuringExecution").([]interface{})
	for i, t := range terms {
		selectors[fmt.Sprintf("Deployment podAntiAffinity term %d", i)] =
			get(t, "podAffinityTerm", "labelSelector", "matchLabels")
	}
	spread, _ := get(deploy, "spec", "template", "spec", "topologySpreadConstraints").([]interface{})
	for i, c := range spread {
		selectors[fmt.Sprintf("Deployment topologySpreadConstraints %d", i)] =
			get(c, "labelSelector", "matchLabels")
	}
	if d := find(docs, "Service"); d != nil {
		selectors["Service spec.selector"] = get(d, "spec", "selector")
	}
	if d := find(docs, "PodDisruptionBudget"); d != nil {
		selectors["PodDisruptionBudget spec.selector.matchLabels"] =
			get(d, "spec", "selector", "matchLabels")
	}
	if d := find(docs, "NetworkPolicy"); d != nil {
		selectors["NetworkPolicy spec.podSelector.matchLabels"] =
			get(d, "spec", "podSelector", "matchLabels")
	}
	names := make([]string, 0, len(selectors))
	for n := range selectors {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		sel := selectors[n]
		if get(sel, "app.kubernetes.io/component") != "server" {
			errs.add("%s: lacks app.kubernetes.io/component: server", n)
		}
		if !matches(sel, podLabels) {
			errs.add("%s: does not select the Deployment's pods", n)
		}
		if jobLabels != nil && matches(sel, jobLabels) {
			errs.add("%s: also selects the migration Job's pod", n)
		}
	}
	if sm := find(docs, "ServiceMonitor"); sm != nil {
		svc := find(docs, "Service")
		if svc == nil || !matches(get(sm, "spec", "selector", "matchLabels"),
			get(svc, "metadata", "labels")) {
			errs.add("ServiceMonitor: its selector does not match the Service")
		}
	}
}

// number reads a YAML integer.
func number(v interface{}) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case float64:
		return int(n), n == math.Trunc(n)
	}
	return 0, false
}

// checkDisruptionBudget: the PDB lets at least one pod be evicted at the
// replica count the Deployment (or the HPA's minimum) runs.
func checkDisruptionBudget(docs []map[string]interface{}, errs *problems) {
	pdb := find(docs, "PodDisruptionBudget")
	deploy := find(docs, "Deployment")
	if pdb == nil || deploy == nil {
		return
	}
	replicas, ok := number(get(deploy, "spec", "replicas"))
	if hpa := find(docs, "HorizontalPodAutoscaler"); hpa != nil {
		replicas, ok = number(get(hpa, "spec", "minReplicas"))
	}
	if !ok {
		errs.add("Deployment: no replica count (and no HorizontalPodAutoscaler)")
		return
	}
	spec, _ := get(pdb, "spec").(map[string]interface{})
	min, hasMin := spec["minAvailable"]
	max, hasMax := spec["maxUnavailable"]
	if hasMin == hasMax {
		errs.add("PodDisruptionBudget: give exactly one of minAvailable, maxUnavailable")
		return
	}
	// How many pods the budget keeps; a percentage of the replicas rounds
	// up for minAvailable and down for maxUnavailable, as Kubernetes does.
	count := func(v interface{}, up bool) int {
		if n, ok := number(v); ok {
			return n
		}
		var pct int
		if _, err := fmt.Sscanf(fmt.Sprint(v), "%d%%", &pct); err != nil {
			errs.add("PodDisruptionBudget: %v is neither a number nor a percentage", v)
			return 0
		}
		if up {
			return (pct*replicas + 99) / 100
		}
		return pct * replicas / 100
	}
	blocks := false
	if hasMin {
		blocks = count(min, true) >= replicas
	} else {
		blocks = count(max, false) < 1
	}
	if blocks {
		errs.add("PodDisruptionBudget: minAvailable %v / maxUnavailable %v with %d "+
			"replica(s) allows no eviction: it blocks node drains", min, max, replicas)
	}
}

// checkPlaintext: a config that listens off loopback without TLS must say
// so (tls.insecure_plaintext), or wardend refuses to start.
func checkPlaintext(docs []map[string]interface{}, errs *problems) {
	cm := find(docs, "ConfigMap")
	text, _ := get(cm, "data", "wardend.yaml").(string)
	cfg := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(text), &cfg); err != nil {
		errs.add("ConfigMap wardend.yaml: not YAML: %v", err)
		return
	}
	listen := fmt.Sprint(cfg["listen"])
	host := listen
	if i := strings.LastIndex(listen, ":"); i >= 0 {
		host = listen[:i]
	}
	loopback := host == "127.0.0.1" || host == "[::1]" || host == "localhost"
	if get(cfg, "tls", "cert_file") == nil && !loopback &&
		get(cfg, "tls", "insecure_plaintext") != true {
		errs.add("ConfigMap wardend.yaml: listens on %s without TLS and without "+
			"tls.insecure_plaintext: wardend refuses to start", listen)
	}
}

// checkNotes: the wardenctl command NOTES prints works with the chart's TLS
// settings, and NOTES states the HPA's range when it is on.
func checkNotes(notes string, values map[string]interface{}) problems {
	var errs problems
	var commands []string
	for _, line := range strings.Split(notes, "\n") {
		if strings.Contains(line, "wardenctl --server") {
			commands = append(commands, line)
		}
	}
	if len(commands) == 0 {
		errs.add("NOTES.txt: no wardenctl --server command")
	}
	for _, c := range commands {
		if get(values, "tls", "enabled") == true && !strings.Contains(c, "--tls-ca") {
			errs.add("NOTES.txt: TLS is on but the command lacks --tls-ca: %s", c)
		}
		if ca, _ := get(values, "tls", "clientCa", "existingSecret").(string); ca != "" &&
			get(values, "tls", "enabled") == true &&
			(!strings.Contains(c, "--tls-cert") || !strings.Contains(c, "--tls-key")) {
			errs.add("NOTES.txt: client certificates are required but the command "+
				"lacks --tls-cert/--tls-key: %s", c)
		}
	}
	if get(values, "autoscaling", "enabled") == true {
		want := fmt.Sprintf("%v to %v replicas", get(values, "autoscaling", "minReplicas"),
			get(values, "autoscaling", "maxReplicas"))
		if !strings.Contains(notes, want) {
			errs.add("NOTES.txt: autoscaling is on but NOTES does not say %q", want)
		}
	}
	return errs
}

// The JSON Schema keywords validate understands; any other in the chart's
// schema is reported, so that the schema never claims more than is checked.
var schemaKeywords = map[string]bool{
	"$schema": true, "title": true, "description": true, "definitions": true,
	"$ref": true, "type": true, "enum": true, "required": true,
	"properties": true, "additionalProperties": true, "minimum": true,
	"maximum": true, "minLength": true, "minProperties": true, "pattern": true,
}

// resolve follows a local "$ref": "#/definitions/NAME".
func resolve(root, s map[string]interface{}) map[string]interface{} {
	ref, ok := s["$ref"].(string)
	if !ok {
		return s
	}
	def, _ := get(root, "definitions", strings.TrimPrefix(ref, "#/definitions/")).(map[string]interface{})
	return def
}

func typeOf(v interface{}) []string {
	switch n := v.(type) {
	case nil:
		return []string{"null"}
	case bool:
		return []string{"boolean"}
	case string:
		return []string{"string"}
	case int:
		return []string{"integer", "number"}
	case float64:
		if n == math.Trunc(n) {
			return []string{"integer", "number"}
		}
		return []string{"number"}
	case []interface{}:
		return []string{"array"}
	case map[string]interface{}:
		return []string{"object"}
	}
	return []string{fmt.Sprintf("%T", v)}
}

// validate checks v against schema node s (draft-07, the keywords above),
// as Helm checks values against values.schema.json.
func validate(root, s map[string]interface{}, v interface{}, path string, errs *problems) {
	if s == nil {
		errs.add("values.schema.json: %s: unresolvable schema", path)
		return
	}
	for k := range s {
		if !schemaKeywords[k] {
			errs.add("values.schema.json: %s: keyword %q is not checked by render.go", path, k)
		}
	}
	if _, ok := s["$ref"]; ok {
		validate(root, resolve(root, s), v, path, errs)
		return
	}
	if t, ok := s["type"]; ok {
		var want []string
		switch w := t.(type) {
		case string:
			want = []string{w}
		case []interface{}:
			for _, x := range w {
				want = append(want, fmt.Sprint(x))
			}
		}
		okType := false
		for _, have := range typeOf(v) {
			for _, w := range want {
				okType = okType || have == w
			}
		}
		if !okType {
			errs.add("values: %s: %v is not of type %v", path, v, t)
			return
		}
	}
	if enum, ok := s["enum"].([]interface{}); ok {
		found := false
		for _, e := range enum {
			found = found || fmt.Sprint(e) == fmt.Sprint(v)
		}
		if !found {
			errs.add("values: %s: %v is not one of %v", path, v, enum)
		}
	}
	if n, ok := number(v); ok {
		if min, ok := s["minimum"].(float64); ok && float64(n) < min {
			errs.add("values: %s: %v is below %v", path, v, min)
		}
		if max, ok := s["maximum"].(float64); ok && float64(n) > max {
			errs.add("values: %s: %v is above %v", path, v, max)
		}
	}
	if str, ok := v.(string); ok {
		if min, ok := s["minLength"].(float64); ok && float64(len(str)) < min {
			errs.add("values: %s: %q is shorter than %v", path, str, min)
		}
		if pat, ok := s["pattern"].(string); ok && !regexp.MustCompile(pat).MatchString(str) {
			errs.add("values: %s: %q does not match %s", path, str, pat)
		}
	}
	obj, ok := v.(map[string]interface{})
	if !ok {
		return
	}
	if min, ok := s["minProperties"].(float64); ok && float64(len(obj)) < min {
		errs.add("values: %s: needs at least %v entries", path, min)
	}
	if req, ok := s["required"].([]interface{}); ok {
		for _, r := range req {
			if _, ok := obj[fmt.Sprint(r)]; !ok {
				errs.add("values: %s: %v is required", path, r)
			}
		}
	}
	props, _ := s["properties"].(map[string]interface{})
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		sub := path + "." + k
		if p, ok := props[k].(map[string]interface{}); ok {
			validate(root, p, obj[k], sub, errs)
			continue
		}
		switch extra := s["additionalProperties"].(type) {
		case bool:
			if !extra {
				errs.add("values: %s: unknown key (not in values.schema.json)", sub)
			}
		case map[string]interface{}:
			validate(root, extra, obj[k], sub, errs)
		}
	}
}

// checkComments: every key of values.yaml whose value is a leaf, or an
// object the schema leaves free-form (no "properties"), has a comment.
func checkComments(root, s map[string]interface{}, node *yaml.Node, path string, errs *problems) {
	if node.Kind != yaml.MappingNode {
		return
	}
	props, _ := s["properties"].(map[string]interface{})
	for i := 0; i+1 < len(node.Content); i += 2 {
		key, val := node.Content[i], node.Content[i+1]
		sub := strings.TrimPrefix(path+"."+key.Value, ".")
		ks, _ := props[key.Value].(map[string]interface{})
		if ks != nil {
			ks = resolve(root, ks)
		}
		if _, structured := ks["properties"]; structured && val.Kind == yaml.MappingNode {
			checkComments(root, ks, val, sub, errs)
			continue
		}
		if strings.TrimSpace(key.HeadComment+key.LineComment+val.LineComment) == "" {
			errs.add("values.yaml: %s has no comment", sub)
		}
	}
}

// checkValues validates the merged values against the chart's schema and
// the chart's values.yaml for comments.
func checkValues(chart string, values map[string]interface{}) problems {
	var errs problems
	data, err := os.ReadFile(filepath.Join(chart, "values.schema.json"))
	if err != nil {
		errs.add("%v", err)
		return errs
	}
	schema := map[string]interface{}{}
	if err := json.Unmarshal(data, &schema); err != nil {
		errs.add("values.schema.json: %v", err)
		return errs
	}
	validate(schema, schema, values, "values", &errs)
	text, err := os.ReadFile(filepath.Join(chart, "values.yaml"))
	if err != nil {
		errs.add("%v", err)
		return errs
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(text, &doc); err != nil || len(doc.Content) == 0 {
		errs.add("values.yaml: %v", err)
		return errs
	}
	checkComments(schema, schema, doc.Content[0], "", &errs)
	return errs
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: render CHART_DIR [VALUES_FILE ...]")
		os.Exit(2)
	}
	chart, files := os.Args[1], os.Args[2:]
	manifests, notes, errs := render(chart, files)
	if len(errs) == 0 {
		values, _ := readYAML(filepath.Join(chart, "values.yaml"))
		for _, f := range files {
			extra, _ := readYAML(f)
			merge(values, extra)
		}
		errs = check(manifests, values)
		errs = append(errs, checkValues(chart, values)...)
		errs = append(errs, checkNotes(notes, values)...)
		if out := os.Getenv("RENDER_NOTES_OUT"); out != "" {
			if err := os.WriteFile(out, []byte(notes), 0o644); err != nil {
				errs.add("%v", err)
			}
		}
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
