#include "rflow/solve/field_options.h"

#include <cmath>

#include "rflow/core/error.h"

namespace rflow {

void FieldOptions::validate(const std::string& where) const {
  RF_CHECK(std::isfinite(guidance), "guidance must be finite", where + ".guidance", "1 = plain conditional model");
  RF_CHECK(std::isfinite(eta) && eta > 0, "eta must be > 0", where + ".eta", "AdaFlow uses 0.1 to 0.5");
}

}  // namespace rflow
