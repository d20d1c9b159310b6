// Which rflow a binary is: the release version (CMake's project version) and the git revision it
// was built from ("-dirty" when tracked files differed from that commit, "unknown" outside git).
// `rflow --version`, run records and reports carry them, so a figure can be traced to its code.
#pragma once

#include <string>

namespace rflow {

const char* version();       // "0.1.0"
const char* git_revision();  // "1a2b3c4d5e6f", "1a2b3c4d5e6f-dirty" or "unknown"
std::string version_line();  // "rflow 0.1.0 (git 1a2b3c4d5e6f)"

}  // namespace rflow
