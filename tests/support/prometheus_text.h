#ifndef WARDEN_TESTS_SUPPORT_PROMETHEUS_TEXT_H_
#define WARDEN_TESTS_SUPPORT_PROMETHEUS_TEXT_H_

#include <cstring>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace warden::testing {

// A parsed Prometheus text exposition (format 0.0.4), checked against the
// format's rules as it is read:
// https://github.com/prometheus/docs/blob/main/content/docs/instrumenting/exposition_formats.md
//   - every line is a comment (# HELP name text, # TYPE name type), or a
//     sample `name{label="value",...} value`, with names matching
//     [a-zA-Z_:][a-zA-Z0-9_:]* and label values escaping \, " and newline;
//   - a family's TYPE comes before its samples, at most once, and its
//     samples are not split by another family;
//   - a histogram has _bucket samples with an le label, cumulative and
//     ending at le="+Inf" equal to its _count, and a _sum;
//   - the exposition ends with a newline.
struct PrometheusText {
  // "name{labels}" as written -> value.
  std::map<std::string, double> samples;
  std::vector<std::string> errors;

  double Get(const std::string& series) const {
    auto it = samples.find(series);
    return it == samples.end() ? -1 : it->second;
  }

  static PrometheusText Parse(const std::string& text) {
    PrometheusText out;
    static const std::regex kSample(
        R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*)\})? ([-+]?(?:[0-9.eE+-]+|Inf|NaN))$)");
    static const std::regex kHelp(R"(^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .*$)");
    static const std::regex kType(
        R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$)");
    if (!text.empty() && text.back() != '\n') {
      out.errors.push_back("does not end with a newline");
    }
    std::map<std::string, std::string> types;
    std::set<std::string> closed;  // Families whose samples ended.
    std::string current;
    // Histogram checks: family+labels-without-le -> last bucket count.
    std::map<std::string, double> last_bucket, inf_bucket;
    int n = 0;
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      ++n;
      if (line.empty()) continue;
      const std::string l(line);
      std::smatch m;
      auto fail = [&](const std::string& why) {
        out.errors.push_back(absl::StrCat("line ", n, ": ", why, ": ", l));
      };
      if (std::regex_match(l, m, kHelp)) continue;
      if (std::regex_match(l, m, kType)) {
        if (types.contains(m[1])) fail("second TYPE");
        types[m[1]] = m[2];
        continue;
      }
      if (l[0] == '#') {
        fail("malformed comment");
        continue;
      }
      if (!std::regex_match(l, m, kSample)) {
        fail("malformed sample");
        continue;
      }
      const std::string name = m[1];
      std::string family = name;
      for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        const std::string base =
            absl::EndsWith(name, suffix)
                ? name.substr(0, name.size() - strlen(suffix))
                : "";
        if (!base.empty() && types.contains(base) &&
            types[base] == "histogram") {
          family = base;
        }
      }
      if (!types.contains(family)) fail("sample before its TYPE");
      if (family != current) {
        if (closed.contains(family)) fail("family split");
        if (!current.empty()) closed.insert(current);
        current = family;
      }
      double value = 0;
      const std::string v = m[4];
      if (v == "+Inf" || v == "Inf") {
        value = 1e308;
      } else if (!absl::SimpleAtod(v, &value) && v != "NaN") {
        fail("bad value");
      }
      const std::string labels = m[3];
      out.samples[absl::StrCat(
          name, labels.empty() ? "" : "{" + labels + "}")] = value;
      if (types[family] == "histogram" && absl::EndsWith(name, "_bucket")) {
        static const std::regex kLe(R"re((^|,)le="([^"]*)",?)re");
        std::smatch le;
        if (!std::regex_search(labels, le, kLe)) {
          fail("bucket without le");
          continue;
        }
        std::string rest = std::regex_replace(labels, kLe, "$1");
        while (!rest.empty() && rest.back() == ',') rest.pop_back();
        if (!rest.empty() && rest.front() == ',') rest.erase(0, 1);
        const std::string key = family + "{" + rest + "}";
        if (last_bucket.contains(key) && value < last_bucket[key]) {
          fail("buckets not cumulative");
        }
        last_bucket[key] = value;
        if (le[2] == "+Inf") inf_bucket[key] = value;
      }
      if (types[family] == "histogram" && absl::EndsWith(name, "_count")) {
        const std::string key = family + "{" + labels + "}";
        if (!inf_bucket.contains(key) || inf_bucket[key] != value) {
          fail("_count differs from the +Inf bucket");
        }
      }
    }
    return out;
  }
};

}  // namespace warden::testing

#endif  // WARDEN_TESTS_SUPPORT_PROMETHEUS_TEXT_H_
