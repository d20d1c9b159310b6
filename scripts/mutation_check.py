#!/usr/bin/env python3
"""Mutation check: plants known bugs one at a time and shows which tests catch each.

First a baseline: the unmutated build runs every filter, and a test that already fails there is
never counted as a catch. Then for each mutation: replace one line of the library, rebuild
(scripts/build.sh), run the tests named by the mutation's filter (unit tests, and the end-to-end
binary where the filter names e2e tests with an `e2e:` prefix), record the tests that fail, restore
the file with git. A test binary that crashes or times out counts as a catch only when reported as
such (the crash is named). A mutation that no test catches is reported as SURVIVED and makes the
exit status 1. The working tree must have no uncommitted changes in the mutated files (they are
restored with `git checkout`).

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
     "    tvec.fill_(t + plan.c[s] * dt);", "    tvec.fill_(plan.stages() == 1 ? t + dt : t + plan.c[s] * dt);",
     "Solver*:*Order*:Conformance*"),
    ("dopri5 error weight 10x too lenient", "rflow/solve/adaptive_rk.cpp",
     "    return opt_.atol + opt_.rtol * torch::max(a.abs(), b.abs());",
     "    return 10 * (opt_.atol + opt_.rtol * torch::max(a.abs(), b.abs()));",
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
    # The newer code: methods, transformer layers, the run's safety nets and the one RK loop.
    ("PeRFlow's windows off by one", "rflow/methods/perflow.cpp",
     "return (t.to(torch::kFloat64) * double(windows)).floor().to(torch::kInt64).clamp(0, windows - 1);",
     "return (t.to(torch::kFloat64) * double(windows)).floor().to(torch::kInt64).clamp(0, windows - 1) + 1;",
     "PerFlow*:PeRFlow*:RkStages*:e2e:Cli.PerFlowConsistencyFmAndDeltaThroughTheCli"),
    ("Consistency-FM's jump to the segment end without (s − t)", "rflow/methods/consistency_fm.cpp",
     "const at::Tensor f = xt + v * col(s - t);", "const at::Tensor f = xt + v;",
     "ConsistencyFm*:e2e:Cli.PerFlowConsistencyFmAndDeltaThroughTheCli"),
    ("AdaFlow's step η·σ instead of η/σ", "rflow/solve/adaflow_solver.cpp",
     "at::Tensor dt = (opt.eta * span / sigma.to(torch::kFloat64).clamp_min(1e-12)).clamp_min(min_dt);",
     "at::Tensor dt = (opt.eta * span * sigma.to(torch::kFloat64).clamp_min(1e-12)).clamp_min(min_dt);",
     "AdaFlow*:VarianceAdaptive*:AdaflowSolver*:FastMlp*"),
    ("MoE routing bias pushed away from balance", "rflow/nn/layers/moe.cpp",
     "routing_bias.add_((torch::sign(mean - load) * opt_.bias_rate).to(routing_bias.options()));",
     "routing_bias.add_((torch::sign(load - mean) * opt_.bias_rate).to(routing_bias.options()));",
     "Moe*:DiT*"),
    ("MLA's absorbed decode without the rotary part", "rflow/nn/layers/mla.cpp",
     'at::Tensor scores = torch::einsum("bhtc,bsc->bhts", {q_lat, c}) + torch::einsum("bhtr,bsr->bhts", {p.q_rope, kr});',
     'at::Tensor scores = torch::einsum("bhtc,bsc->bhts", {q_lat, c});',
     "Mla*:TokenTransformer*"),
    ("MTP predicts the token it was given, not the next", "rflow/nn/token_transformer.cpp",
     "out.mtp.push_back(ce(logits_of(hk), tokens.narrow(1, k + 1, n)));",
     "out.mtp.push_back(ce(logits_of(hk), tokens.narrow(1, k, n)));",
     "TokenTransformer*:Mtp*"),
    ("the run lock locks nothing", "rflow/io/directory_lock.cpp",
     "if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {", "if (false && ::flock(fd_, LOCK_EX | LOCK_NB) != 0) {",
     "DirectoryLock*:Pipeline*"),
    ("no fallback to an older intact checkpoint", "rflow/train/checkpoint.cpp",
     '    skipped += (skipped.empty() ? "" : "; ") + dir.filename().string() + " (" + problem + ")";',
     '    return dir.string();',
     "Checkpoint*"),
    ("the stage loop evaluates every stage at the step's start", "rflow/solve/rk_fixed.cpp",
     "    tvec.fill_(t + plan.c[s] * dt);", "    tvec.fill_(t);",
     "Solver*:*Order*:RkStages*:Conformance*"),
    ("an online coupling's teacher left out of the train stage's record", "rflow/pipeline/stage_train.cpp",
     "if (reads == CouplingInput::kTeacher && !cfg.data.teacher.empty())",
     "if (false && reads == CouplingInput::kTeacher)",
     "Pipeline*:StageKeys*:Chain*"),
    ("masked text positions read as tokens, not padding vectors", "rflow/nn/dit.cpp",
     "  return torch::where(present.unsqueeze(-1), ctx, pad);", "  return ctx;",
     "TextDiT*:TextEncoder*"),
    ("prompt dropout at twice the rate", "rflow/methods/cond_dropout.cpp",
     "torch::TensorOptions().device(dev)) < p;", "torch::TensorOptions().device(dev)) < 2 * p;",
     "CondDropout*"),
    ("captioned images drawn with another image's caption", "rflow/data/captioned_images.cpp",
     "d.cond.context = context_.context.index_select(0, idx), d.cond.mask = context_.mask.index_select(0, idx);",
     "d.cond.context = context_.context.index_select(0, idx.flip(0)), d.cond.mask = context_.mask.index_select(0, idx.flip(0));",
     "CaptionedImages*"),
    ("a composite's perceptual distance sums its cells", "rflow/eval/fidnet.cpp",
     ".view({pred.size(0), cells}).mean(1);", ".view({pred.size(0), cells}).sum(1);",
     "FidNet.FeatureDistancesReadCompositesCellByCell"),
    ("a swap moves the garments' classes but not their identities", "rflow/pipeline/chat/rule_rewriter.cpp",
     "std::swap(s.cells[static_cast<size_t>(a.first)], s.cells[static_cast<size_t>(b.first)]);",
     "std::swap(s.cells[static_cast<size_t>(a.first)].cls, s.cells[static_cast<size_t>(b.first)].cls);",
     "RuleRewriter*:ChatTest*"),
    ("a recoloured garment held as it was", "rflow/pipeline/chat/conversation.cpp",
     "      if (!(before.scene.cells[j] == g)) continue;", "      if (before.scene.cells[j].id != g.id) continue;",
     "ChatTest*"),
    ("a joint step that raises the reconstruction is kept", "rflow/train/lexicographic.cpp",
     "  if (s.primary_after > s.primary_before + o.tolerance * std::abs(s.primary_before)) {",
     "  if (false) {",
     "Lexicographic*"),
    ("free bits ignored", "rflow/nn/sentence_vae.cpp",
     "at::Tensor free_bits_kl(const at::Tensor& kl_per_dim, double lambda) { return kl_per_dim.clamp_min(lambda).sum(); }",
     "at::Tensor free_bits_kl(const at::Tensor& kl_per_dim, double lambda) { return kl_per_dim.sum(); }",
     "SentenceVae*"),
    ("content kept counts the edited attribute's words", "rflow/text/grammar_corpus.cpp",
     "    if (is_attribute_word(attribute, w)) continue;\n", "",
     "GrammarCorpus*"),
    ("tiling ties broken toward more waste", "rflow/data/dynamic_tiling.cpp",
     "(kept == best_kept && waste < best_waste)", "(kept == best_kept && waste > best_waste)",
     "DynamicTiling*"),
    ("unshuffle channels in (dy, dx, c) order", "rflow/nn/tile_encoder.cpp",
     "y = y.reshape({M, C, s, 2, s, 2}).permute({0, 2, 4, 1, 3, 5}).reshape({M, s, s, 4 * C});",
     "y = y.reshape({M, C, s, 2, s, 2}).permute({0, 2, 4, 3, 5, 1}).reshape({M, s, s, 4 * C});",
     "DynamicTiling*"),
    ("the prompt cache keeps growing across ODE steps", "rflow/nn/janusflow.cpp",
     "  for (auto& cache : pc.caches) cache.length = pc.length;\n", "",
     "JanusFlow.*"),
    ("the open image block left causal", "rflow/nn/layers/attention.cpp",
     "  if (open_tail > 0) allowed.narrow(0, tq - open_tail, open_tail).narrow(1, tk - open_tail, open_tail).fill_(true);\n",
     "", "Mla*:JanusFlow.*"),
]


def run(cmd, **kw):
    return subprocess.run(cmd, shell=True, cwd=ROOT, capture_output=True, text=True, **kw)


def split_filter(tests):
    """'A*:e2e:Cli.X' → ('A*', 'Cli.X'): unit and end-to-end gtest filters."""
    unit, e2e = [], []
    for part in tests.split(":"):
        if part == "e2e":
            continue
        (e2e if part in E2E_NAMES else unit).append(part)
    return ":".join(unit), ":".join(e2e)


E2E_NAMES = set()


def failing(binary, filt, env):
    """The tests of `binary` matching `filt` that fail, or one entry naming a crash or timeout."""
    if not filt:
        return set()
    try:
        r = run(f"build/{binary} --gtest_filter='{filt}' --gtest_brief=1", env=env, timeout=1800)
    except subprocess.TimeoutExpired:
        return {f"{binary}: TIMEOUT"}
    failed = {l.split()[3] for l in r.stdout.splitlines()
              if l.startswith("[  FAILED  ]") and len(l.split()) > 3 and "." in l.split()[3]}
    if r.returncode != 0 and not failed:
        failed = {f"{binary}: CRASH (exit {r.returncode})"}
    return failed


def failing_all(tests, env):
    unit, e2e = split_filter(tests)
    return failing("rflow_tests", unit, env) | failing("rflow_e2e_tests", e2e, env)


def main():
    picks = [int(a) for a in sys.argv[1:]] or range(len(MUTATIONS))
    dirty = run("git status --porcelain -- " + " ".join(m[1] for m in MUTATIONS)).stdout.strip()
    if dirty:
        sys.exit("mutation_check: commit or stash these first (they are restored with git checkout):\n" + dirty)
    survived = 0
    env = dict(os.environ, OMP_NUM_THREADS="2")
    # e2e names follow an "e2e" marker in a filter: "Unit*:e2e:Cli.Test".
    for m in MUTATIONS:
        parts = m[4].split(":")
        for j, part in enumerate(parts):
            if part == "e2e" and j + 1 < len(parts):
                E2E_NAMES.add(parts[j + 1])
    if run("bash scripts/build.sh").returncode != 0:
        sys.exit("mutation_check: the unmutated tree does not build")
    baseline = {}
    for i in picks:
        baseline[i] = failing_all(MUTATIONS[i][4], env)
        if baseline[i]:
            print(f"[{i}] baseline: already failing without the mutation (not counted): " + ", ".join(sorted(baseline[i])))
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
            failed = sorted(failing_all(tests, env) - baseline[i])
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
