// The networks rflow ships (models/ in the source tree, share/rflow/models when installed), each
// trained by `rflow fidnet train --net NAME` and pinned by the fingerprint of its weights, so that
// image figures mean the same on every machine: "fidnet" scores (FID-proxy, class accuracy),
// "percept" is the feature loss one distils with, "judge" is a second opinion that neither training
// nor the FID-proxy uses (its class accuracy and per-class diversity).
#pragma once

#include <string>
#include <vector>

#include "rflow/eval/fidnet.h"

namespace rflow::eval {

struct PinnedNet {
  std::string name;  // fidnet | percept | judge
  std::string role;  // one line: what it is for
  std::string file;  // under models_dir()
  std::string id;    // weights_id of the shipped weights
  FidNetTrainOptions recipe;  // architecture, seed, epochs: what rebuilds it
};

const std::vector<PinnedNet>& pinned_nets();
// Throws rflow::Error naming the valid names.
const PinnedNet& pinned_net(const std::string& name);

// Where the shipped networks are: $RFLOW_MODELS_DIR, else share/rflow/models beside an installed
// rflow program, else the install prefix's, else the source tree's models/.
std::string models_dir();
std::string pinned_net_path(const std::string& name);

// The shipped network, refused (rflow::Error with what to do) when missing or when its weights do
// not match the pinned fingerprint.
FidNet load_pinned_net(const std::string& name, FidNetInfo* info = nullptr);

}  // namespace rflow::eval
