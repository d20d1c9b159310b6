// rflow's public API in one include: load a trained run or checkpoint, build and solve its
// velocity field, compute sample metrics and likelihoods, read and write arrays, run the whole
// pipeline from a config. Link the rflow::rflow target (find_package(rflow)); docs/library.md.
// Headers not reached from here are internals and may change between releases.
#pragma once

#include "rflow/core/error.h"
#include "rflow/core/version.h"
#include "rflow/eval/compare.h"
#include "rflow/eval/straightness.h"
#include "rflow/flow/cond.h"
#include "rflow/flow/velocity_field.h"
#include "rflow/io/npy.h"
#include "rflow/io/safetensors.h"
#include "rflow/nn/fast_mlp.h"
#include "rflow/nn/mlp.h"
#include "rflow/pipeline/report/compare_runs.h"
#include "rflow/pipeline/pipeline.h"
#include "rflow/pipeline/run_config.h"
#include "rflow/pipeline/run_context.h"
#include "rflow/solve/butcher.h"
#include "rflow/solve/likelihood.h"
#include "rflow/solve/solver.h"
