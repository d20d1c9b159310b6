// "Did you mean" for paths: the existing entry of a missing path's folder whose name is nearest to
// the one typed (runs/frist → runs/first, configs/demo_2.toml → configs/demo_2d.toml), so every
// "no such file" answer can say what was probably meant.
#pragma once

#include <string>

namespace rflow::io {

// "" when the path exists, its folder does not, or no name there is close.
std::string nearest_existing_path(const std::string& path);
// "; did you mean 'X'?" or "": ready to append to a hint.
std::string did_you_mean_path(const std::string& path);

}  // namespace rflow::io
