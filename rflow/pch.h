// Precompiled header shared by every rflow target: LibTorch's umbrella header costs ~20 s and
// ~1 GB per translation unit, so it is parsed once here and never included from rflow headers.
#pragma once
#include <torch/torch.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
