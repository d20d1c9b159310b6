#include "rflow/io/nearest_path.h"

#include <filesystem>
#include <system_error>
#include <vector>

#include "rflow/core/registry.h"

namespace fs = std::filesystem;

namespace rflow::io {

std::string nearest_existing_path(const std::string& path) {
  std::error_code ec;
  if (path.empty() || fs::exists(path, ec)) return "";
  fs::path p(path);
  while (!p.empty() && p.filename().empty()) p = p.parent_path();  // "runs/frist/" names runs/frist
  const fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  if (!fs::is_directory(dir, ec)) return "";
  std::vector<std::string> names;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) names.push_back(it->path().filename().string());
  const std::string near = closest_name(names, p.filename().string());
  if (near.empty()) return "";
  return p.parent_path().empty() ? near : (p.parent_path() / near).string();
}

std::string did_you_mean_path(const std::string& path) {
  const std::string near = nearest_existing_path(path);
  return near.empty() ? "" : "; did you mean '" + near + "'?";
}

}  // namespace rflow::io
