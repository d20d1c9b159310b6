// `rflow delta`: PeRFlow's plug-in accelerator — a student's weight difference to its teacher
// added to another model of the teacher's architecture, written as one self-describing weight file.
#include <iostream>

#include "rflow/pipeline/weight_delta.h"
#include "tools/rflow/commands.h"

namespace rflow::cli {

void add_delta(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "delta", "add a student's weight difference to its teacher to another model of that architecture (PeRFlow's plug-in)");
  cmd->footer("\nWrites BASE + scale × (STUDENT − TEACHER) (EMA weights of each) as one weight file that rflow sample,\n"
              "eval and info read; it samples with the student's solver settings.\n"
              "\nExample:\n  rflow delta runs/finetuned --student runs/perflow_8gaussians --teacher runs/demo_2d -o fast.safetensors");
  struct Args {
    std::string base, student, teacher, out = "accelerated.safetensors";
    double scale = 1.0;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("base", a->base, "the model to accelerate: a run, checkpoint or weight file of the teacher's architecture")->required();
  cmd->add_option("--student", a->student, "the student trained from the teacher (e.g. a PeRFlow run)")->required();
  cmd->add_option("--teacher", a->teacher, "the teacher the student started from")->required();
  cmd->add_option("--scale", a->scale, "how much of the difference to add")->capture_default_str();
  cmd->add_option("-o,--out", a->out, "the weight file to write")->capture_default_str();
  cmd->callback([a] { std::cout << write_accelerated(a->base, a->student, a->teacher, a->scale, a->out) << std::endl; });
}

}  // namespace rflow::cli
