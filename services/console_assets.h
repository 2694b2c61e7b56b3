#ifndef WARDEN_SERVICES_CONSOLE_ASSETS_H_
#define WARDEN_SERVICES_CONSOLE_ASSETS_H_

#include <string_view>
#include <vector>

namespace warden {

// The web console's files (services/console/), built into the binary so
// that wardend serves it with no files and no network at run time.
struct ConsoleAsset {
  std::string_view name;  // "index.html", "app.js", ...
  std::string_view content_type;
  std::string_view body;
};

const std::vector<ConsoleAsset>& ConsoleAssets();

}  // namespace warden

#endif  // WARDEN_SERVICES_CONSOLE_ASSETS_H_
