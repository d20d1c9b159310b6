// POST /v1/chat {model, messages, seed, hold, rewriter, solver, steps, guidance}: a text-to-image
// model's multi-turn refinement (`rflow chat`) over HTTP. Stateless: the client sends the whole
// conversation so far and gets every turn back — the reply, the scene's prompt, which cells were
// redrawn and the picture (a base64 PNG). A conversation's garments draw their noise from (seed,
// identity), so replaying it gives the same pictures and a new last message changes only its turn.
#include <torch/torch.h>

#include "rflow/io/base64.h"
#include "rflow/io/image_file.h"
#include "rflow/pipeline/chat/conversation.h"
#include "rflow/serve/endpoint.h"
#include "rflow/serve/request_fields.h"
#include "rflow/serve/serve_metrics.h"
#include "rflow/serve/serve_options.h"
#include "rflow/serve/solve_request.h"

namespace rflow::serve {

namespace {

constexpr size_t kMaxMessages = 32;

nlohmann::json turn_json(const chat::Turn& t) {
  nlohmann::json image = nullptr;
  if (t.image.defined()) image = io::base64(io::encode_png(io::image_grid(t.image.unsqueeze(0), 1, /*pad=*/0), "chat image"));
  return {{"message", t.message}, {"reply", t.reply},     {"prompt", t.prompt},  {"changed", t.changed},
          {"drawn", t.drawn},     {"redrawn", t.redrawn}, {"image_png", image}};
}

Response chat_turns(const Request& req, ServeContext& ctx) {
  const nlohmann::json body = solve_body(req, {"messages", "hold", "rewriter"});
  ServedModel& sm = requested_model(body, ctx.models);
  const InProgress counted(sm);
  if (sm.kind != "composites")
    throw HttpError(400, "'" + sm.name + "' (" + sm.kind + ") draws no captioned composites", "request field 'model'",
                    "chat edits the pictures of a text-to-image model");
  const auto messages = strings_field(body, "messages", kMaxMessages, static_cast<size_t>(ctx.options.max_prompt_chars));
  if (messages.empty()) throw HttpError(400, "is missing", "request field 'messages'", "e.g. [\"a bag left of a sneaker\"]");
  chat::ChatOptions opt;
  // The conversation's own defaults (20 steps, guidance 2) where the request sets none.
  SolveOptions solve = sm.m.cfg.sample.solve;
  FieldOptions field = sm.m.cfg.sample.field;
  solve.steps = opt.solve.steps, field.guidance = opt.field.guidance;
  const SolveRequest sr = solve_request(body, solve, field, ctx.options);
  opt.solve = sr.solve, opt.field = sr.field;
  opt.seed = static_cast<int64_t>(sr.seed & 0x7fffffffffffffffULL);
  opt.hold = bool_field(body, "hold", opt.hold);
  opt.rewriter = string_field(body, "rewriter", opt.rewriter, 64);
  if (!chat::rewriters().contains(opt.rewriter))
    throw HttpError(400, "unknown rewriter '" + opt.rewriter + "'", "request field 'rewriter'", "rewriters: " + chat::rewriters().joined());
  nlohmann::json turns = nlohmann::json::array();
  std::vector<std::string> layouts;
  {
    std::lock_guard<std::mutex> lock(sm.solving);
    torch::NoGradGuard no_grad;
    chat::Conversation conv(sm.m, opt);
    for (const auto& m : messages) turns.push_back(turn_json(conv.say(m)));
    layouts = conv.drawable_layouts();
  }
  ctx.metrics.sampled(sm.name, static_cast<int64_t>(messages.size()));
  return Response::json({{"model", sm.name}, {"layouts", layouts}, {"turns", turns}});
}

}  // namespace

EndpointEntry chat_endpoint() { return {"POST", chat_turns}; }

}  // namespace rflow::serve
