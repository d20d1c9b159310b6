#!/usr/bin/env python3
"""Mutation check: plants known bugs one at a time and shows which tests catch each.

For each mutation: replace one line of the library, rebuild (scripts/build.sh), run the unit tests
named by the mutation's filter, record the failing ones, restore the file with git. A mutation that
no test catches is reported as SURVIVED and makes the exit status 1. The working tree must have
no uncommitted changes in the mutated files (they are restored with `git checkout`).

Usage: /usr/bin/python3 scripts/mutation_check.py [index ...]   (default: all; run from anywhere)
docs/TESTING.md lists the mutations and the tests that caught them.
"""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (name, file, original text, mutated text, gtest filter of the tests expected to catch it)
MUTATIONS = [
    ("velocity target sign flipped", "rflow/flow/path.cpp",
     "auto target = x1 - x0;", "auto target = x0 - x1;",
     "LinearPath*:RectifiedFlow*:*Path*:Conformance*"),
    ("Euler step evaluates the field at t + dt", "rflow/solve/rk_fixed.cpp",
     "tvec.fill_(t + tab_.c[s] * dt);", "tvec.fill_(S == 1 ? t + dt : t + tab_.c[s] * dt);",
     "Solver*:*Order*:Conformance*"),
    ("dopri5 error weight 10x too lenient", "rflow/solve/adaptive_rk.cpp",
     "return opt.atol + opt.rtol * torch::max(a.abs(), b.abs()); };",
     "return 10 * (opt.atol + opt.rtol * torch::max(a.abs(), b.abs())); };",
     "Dopri5*:EmbeddedRk*:AdaptiveRK*:Conformance*"),
    ("EMA decay ignored", "rflow/nn/ema.cpp",
     "const double d = warmup_ ? std::min(decay_, (1.0 + updates_) / (10.0 + updates_)) : decay_;",
     "const double d = 0.0;",
     "Ema*:FusedAdam*:Checkpoint*"),
    ("likelihood divergence sign flipped", "rflow/solve/likelihood.cpp",
     "  r.div_integral = -ell.cpu();", "  r.div_integral = ell.cpu();",
     "Likelihood*"),
    ("pair shards written with z0 and z1 swapped", "rflow/data/pair_shards.cpp",
     'io::NamedTensors t{{"z0", p.z0.cpu().contiguous()}, {"z1", p.z1.cpu().contiguous()}};',
     'io::NamedTensors t{{"z0", p.z1.cpu().contiguous()}, {"z1", p.z0.cpu().contiguous()}};',
     "*Pair*:Reflow*"),
    ("W2 without the square root", "rflow/eval/distances.cpp",
     "  return std::sqrt(total / static_cast<double>(n));\n}", "  return total / static_cast<double>(n);\n}",
     "W2Exact*:SlicedW2*"),
    ("class accuracy compares with labels one off", "rflow/eval/fidnet.cpp",
     ".eq(labels.cpu()).to(torch::kFloat64)", ".eq(labels.cpu() + 1).to(torch::kFloat64)",
     "FidNet*"),
    ("checkpoint does not save the EMA", "rflow/train/checkpoint.cpp",
     'if (ema) io::save_safetensors((tmp / "ema.safetensors").string()',
     'if (false && ema) io::save_safetensors((tmp / "ema.safetensors").string()',
     "Checkpoint*"),
    ("learning-rate warmup off by one", "rflow/train/train_config.cpp",
     "return cfg.lr * double(step + 1) / double(cfg.warmup);", "return cfg.lr * double(step) / double(cfg.warmup);",
     "LearningRate*:Checkpoint*"),
    ("AdamW's decoupled decay dropped", "rflow/train/fused_adam.cpp",
     "s.decay_factor = decoupled_ ? static_cast<float>(1 - lr * weight_decay_) : 1.0f;",
     "s.decay_factor = 1.0f;",
     "Trainer*:FusedAdam*"),
    ("a rerun stage leaves the later stages marked done", "rflow/pipeline/pipeline.cpp",
     '        fs::remove(markers / (*later + ".done"));', "        (void)*later;",
     "Pipeline*"),
    ("teachers identified by their step only", "rflow/train/checkpoint.cpp",
     "  return fingerprint_hex(h);", "  return fingerprint_hex(h * 0);",
     "Pipeline*"),
]


def run(cmd, **kw):
    return subprocess.run(cmd, shell=True, cwd=ROOT, capture_output=True, text=True, **kw)


def main():
    picks = [int(a) for a in sys.argv[1:]] or range(len(MUTATIONS))
    dirty = run("git status --porcelain -- " + " ".join(m[1] for m in MUTATIONS)).stdout.strip()
    if dirty:
        sys.exit("mutation_check: commit or stash these first (they are restored with git checkout):\n" + dirty)
    survived = 0
    env = dict(os.environ, OMP_NUM_THREADS="2")
    for i in picks:
        name, path, old, new, tests = MUTATIONS[i]
        full = os.path.join(ROOT, path)
        src = open(full).read()
        if src.count(old) != 1:
            print(f"[{i}] {name}: the line to mutate is not in {path} exactly once; update this script")
            survived += 1
            continue
        open(full, "w").write(src.replace(old, new))
        try:
            b = run("bash scripts/build.sh")
            if b.returncode != 0:
                print(f"[{i}] {name}: the mutant does not build\n{b.stdout[-1500:]}")
                survived += 1
                continue
            r = run(f"build/rflow_tests --gtest_filter='{tests}' --gtest_brief=1", env=env, timeout=1800)
            failed = sorted({l.split()[3] for l in r.stdout.splitlines()
                             if l.startswith("[  FAILED  ]") and len(l.split()) > 3 and "." in l.split()[3]})
            if failed:
                print(f"[{i}] {name} ({path}): caught by " + ", ".join(failed), flush=True)
            else:
                print(f"[{i}] {name} ({path}): SURVIVED ({tests})", flush=True)
                survived += 1
        finally:
            run(f"git checkout -- {path}")
    run("bash scripts/build.sh")  # leave the build matching the sources
    sys.exit(1 if survived else 0)


if __name__ == "__main__":
    main()
