// Checks what Helm rendered from the chart, structurally. Helm itself
// renders the chart and validates the values against values.schema.json;
// this checks what neither does:
//
//	check_chart CHART_DIR RELEASE_JSON [VALUES_FILE ...]
//
// RELEASE_JSON is `helm install NAME CHART --dry-run=client -o json` with
// the same values files: its manifests (hooks included) and NOTES are
// checked, and the values are the chart's merged with the files in order.
// Exits 1 with every problem found:
//   - a document that is not YAML, or lacks apiVersion, kind or
//     metadata.name; a name longer than 63 characters;
//   - a Deployment whose containers lack gRPC startup, liveness and
//     readiness probes, resources, or a securityContext (non-root, read-only
//     root, all capabilities dropped);
//   - a Secret reference (secretKeyRef, secret volume) that names none of
//     the values' existingSecret names, or a Secret rendered by the chart;
//   - a value in the chart's values.yaml without a comment;
//   - a selector of wardend's pods (Deployment, Service, PodDisruptionBudget,
//     NetworkPolicy, anti-affinity, topology spread) without
//     app.kubernetes.io/component: server, that misses the Deployment's pods
//     or matches the migration Job's pod; a ServiceMonitor that misses the
//     Service;
//   - a PodDisruptionBudget that blocks node drains at the replica count
//     rendered (or the HPA's minimum);
//   - a config that serves plaintext off loopback without
//     tls.insecure_plaintext (wardend would refuse to start);
//   - with grafana.dashboards.enabled, a dashboard ConfigMap missing, not
//     JSON, or with a panel whose query names a metric wardend does not
//     export or reads outside the reporting schema (checkDashboards);
//   - NOTES whose wardenctl command lacks --tls-ca (and, with client
//     certificates, --tls-cert/--tls-key) while TLS is on, or that does not
//     give the HPA's range while autoscaling is on.
//
// With CHECK_CONFIG_OUT=FILE the ConfigMap's wardend.yaml is written there,
// with CHECK_NOTES_OUT=FILE the NOTES, and with CHECK_MANIFESTS_OUT=FILE
// the manifests.
package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

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
		if out := os.Getenv("CHECK_CONFIG_OUT"); out != "" && kind == "ConfigMap" {
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
	checkDashboards(docs, values, &errs)
	return errs
}

// checkDashboards: with grafana.dashboards.enabled, exactly one ConfigMap
// labelled grafana_dashboard: "1" whose JSON dashboard has a uid, a title
// and panels, each (rows aside) with targets: PromQL naming only metrics
// wardend exports (CHECK_METRICS, space-separated), or SQL reading only the
// reporting schema (all that warden_reporting may read). Without it, none.
func checkDashboards(docs []map[string]interface{}, values map[string]interface{}, errs *problems) {
	enabled, _ := get(values, "grafana", "dashboards", "enabled").(bool)
	var found []map[string]interface{}
	for _, d := range docs {
		if d["kind"] == "ConfigMap" && get(d, "metadata", "labels", "grafana_dashboard") == "1" {
			found = append(found, d)
		}
	}
	if !enabled {
		if len(found) > 0 {
			errs.add("a Grafana dashboard ConfigMap rendered while grafana.dashboards.enabled is false")
		}
		return
	}
	if len(found) != 1 {
		errs.add("grafana.dashboards.enabled: %d ConfigMaps labelled grafana_dashboard \"1\", want 1", len(found))
		return
	}
	exported := map[string]bool{}
	for _, m := range strings.Fields(os.Getenv("CHECK_METRICS")) {
		exported[m] = true
	}
	metric := regexp.MustCompile(`\bwarden_[a-z_]+`)
	suffix := regexp.MustCompile(`_(bucket|sum|count)$`)
	relation := regexp.MustCompile(`(?i)\b(?:from|join)\s+([a-z_."]+)`)
	data, _ := get(found[0], "data").(map[string]interface{})
	if len(data) == 0 {
		errs.add("the Grafana dashboard ConfigMap has no data")
	}
	for key, v := range data {
		text, _ := v.(string)
		var dash struct {
			UID    string `json:"uid"`
			Title  string `json:"title"`
			Panels []struct {
				Title   string `json:"title"`
				Type    string `json:"type"`
				Targets []struct {
					Expr   string `json:"expr"`
					RawSQL string `json:"rawSql"`
				} `json:"targets"`
			} `json:"panels"`
		}
		if err := json.Unmarshal([]byte(text), &dash); err != nil {
			errs.add("dashboard %s: not JSON: %v", key, err)
			continue
		}
		if dash.UID == "" || dash.Title == "" || len(dash.Panels) == 0 {
			errs.add("dashboard %s: needs a uid, a title and panels", key)
		}
		for _, p := range dash.Panels {
			if p.Type == "row" {
				continue
			}
			if len(p.Targets) == 0 {
				errs.add("dashboard %s: panel %q has no query", key, p.Title)
			}
			for _, t := range p.Targets {
				for _, m := range metric.FindAllString(t.Expr, -1) {
					if !exported[suffix.ReplaceAllString(m, "")] {
						errs.add("dashboard %s: panel %q uses %s, which wardend does not export", key, p.Title, m)
					}
				}
				for _, r := range relation.FindAllStringSubmatch(t.RawSQL, -1) {
					if !strings.HasPrefix(r[1], "reporting.") {
						errs.add("dashboard %s: panel %q reads %s, outside the reporting schema", key, p.Title, r[1])
					}
				}
				if t.Expr == "" && t.RawSQL == "" {
					errs.add("dashboard %s: panel %q has an empty query", key, p.Title)
				}
			}
		}
	}
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

// resolve follows a local "$ref": "#/definitions/NAME".
func resolve(root, s map[string]interface{}) map[string]interface{} {
	ref, ok := s["$ref"].(string)
	if !ok {
		return s
	}
	def, _ := get(root, "definitions", strings.TrimPrefix(ref, "#/definitions/")).(map[string]interface{})
	return def
}

// checkComments: every value in values.yaml has a comment (a structured
// value, one the schema gives properties, has them on its leaves).
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

// checkValueComments reads the chart's schema and values.yaml.
func checkValueComments(chart string) problems {
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

// release is the part of Helm's `-o json` output checked here.
type release struct {
	Manifest string `json:"manifest"`
	Hooks    []struct {
		Manifest string `json:"manifest"`
	} `json:"hooks"`
	Info struct {
		Notes string `json:"notes"`
	} `json:"info"`
}

func writeOut(env, text string, errs *problems) {
	if out := os.Getenv(env); out != "" {
		if err := os.WriteFile(out, []byte(text), 0o644); err != nil {
			errs.add("%v", err)
		}
	}
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: check_chart CHART_DIR RELEASE_JSON [VALUES_FILE ...]")
		os.Exit(2)
	}
	chart, files := os.Args[1], os.Args[3:]
	var errs problems
	data, err := os.ReadFile(os.Args[2])
	var r release
	if err == nil {
		err = json.Unmarshal(data, &r)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "check_chart:", os.Args[2], err)
		os.Exit(1)
	}
	manifests := r.Manifest
	for _, h := range r.Hooks {
		manifests += "\n---\n" + h.Manifest
	}
	values, err := readYAML(filepath.Join(chart, "values.yaml"))
	if err != nil {
		errs.add("%v", err)
	}
	for _, f := range files {
		extra, err := readYAML(f)
		if err != nil {
			errs.add("%v", err)
		}
		merge(values, extra)
	}
	errs = append(errs, check(manifests, values)...)
	errs = append(errs, checkValueComments(chart)...)
	errs = append(errs, checkNotes(r.Info.Notes, values)...)
	writeOut("CHECK_NOTES_OUT", r.Info.Notes, &errs)
	writeOut("CHECK_MANIFESTS_OUT", manifests, &errs)
	if len(errs) > 0 {
		for _, e := range errs {
			fmt.Fprintln(os.Stderr, "check_chart:", e)
		}
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "check_chart: %s with %v: OK\n", chart, files)
}
