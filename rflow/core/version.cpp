#include "rflow/core/version.h"

#include "rflow_revision.h"  // generated at build time by cmake/revision.cmake

namespace rflow {

const char* version() { return RFLOW_VERSION; }
const char* git_revision() { return RFLOW_GIT_REVISION; }
std::string version_line() { return std::string("rflow ") + version() + " (git " + git_revision() + ")"; }

}  // namespace rflow
