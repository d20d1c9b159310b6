// The deterministic rewriter's state transitions: new scenes, edits by place and by name, adding
// rows and columns, removing, swapping (identities move with their garments), undo and start over,
// and the answers to what it cannot do. Scripts made for every layout are understood turn by turn.
#include <random>

#include <gtest/gtest.h>

#include "rflow/data/fashion_composites.h"
#include "rflow/pipeline/chat/rule_rewriter.h"
#include "rflow/pipeline/chat/scripted_conversations.h"

using namespace rflow::chat;

namespace {

struct Chat {
  RuleRewriter rules;
  Scene scene;
  int64_t next_id = 0;
  // Applies an edit (asserting it is one) and returns the reply.
  Rewrite say(const std::string& m) {
    Rewrite r = rules.rewrite(scene, m, next_id);
    if (r.kind == Rewrite::Kind::kEdit) scene = r.scene;
    return r;
  }
};

std::vector<int64_t> ids(const Scene& s) {
  std::vector<int64_t> out;
  for (const auto& g : s.cells) out.push_back(g.id);
  return out;
}

}  // namespace

TEST(RuleRewriter, NormalisesCaseFillersAndPunctuation) {
  EXPECT_EQ(normalise_message("Now, please make the LEFT one a Sandal!"), "make the left one a sandal");
  EXPECT_EQ(normalise_message("  OK   and then   swap them. "), "swap them");
  EXPECT_EQ(normalise_message("now"), "now");  // a filler alone stays (and is not understood)
}

TEST(RuleRewriter, ACaptionStartsASceneWithFreshIdentities) {
  Chat c;
  const Rewrite r = c.say("Draw a bag left of a sneaker.");
  ASSERT_EQ(r.kind, Rewrite::Kind::kEdit);
  EXPECT_EQ(c.scene.layout(), "row2");
  EXPECT_EQ(c.scene.classes(), (std::vector<int64_t>{8, 7}));
  EXPECT_EQ(ids(c.scene), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(c.next_id, 2);
  EXPECT_EQ(c.scene.caption(), "a bag left of a sneaker");
  EXPECT_NE(r.reply.find("a bag left of a sneaker"), std::string::npos) << r.reply;
}

TEST(RuleRewriter, ChangesAGarmentByPlaceOrByNameKeepingItsIdentity) {
  Chat c;
  c.say("a bag left of a sneaker");
  EXPECT_EQ(c.say("now make the left one a sandal").kind, Rewrite::Kind::kEdit);
  EXPECT_EQ(c.scene.classes(), (std::vector<int64_t>{5, 7}));
  EXPECT_EQ(ids(c.scene), (std::vector<int64_t>{0, 1}));
  c.say("replace the sneaker with a coat");
  EXPECT_EQ(c.scene.classes(), (std::vector<int64_t>{5, 4}));
  c.say("turn the right one into an ankle boot");
  EXPECT_EQ(c.scene.classes(), (std::vector<int64_t>{5, 9}));
  c.say("change the sandal to a dress");
  EXPECT_EQ(c.scene.classes(), (std::vector<int64_t>{3, 9}));
  EXPECT_EQ(c.next_id, 2);  // no garment was added
  const Rewrite same = c.say("make the left one a dress");
  EXPECT_EQ(same.kind, Rewrite::Kind::kNothing);
  EXPECT_NE(same.reply.find("already a dress"), std::string::npos) << same.reply;
}

TEST(RuleRewriter, SwapsMoveIdentitiesWithTheirGarments) {
  Chat c;
  c.say("a coat left of a shirt left of a bag");
  c.say("swap the left one and the bag");
  EXPECT_EQ(c.scene.classes(), (std::vector<int64_t>{8, 6, 4}));
  EXPECT_EQ(ids(c.scene), (std::vector<int64_t>{2, 1, 0}));
  Chat two;
  two.say("a coat above a shirt");
  two.say("swap them");
  EXPECT_EQ(two.scene.classes(), (std::vector<int64_t>{6, 4}));
  EXPECT_EQ(c.say("swap them").kind, Rewrite::Kind::kNothing);  // three garments: which two?
}

TEST(RuleRewriter, AddingGrowsTheLayoutWhereItCan) {
  Chat c;
  c.say("a bag");
  c.say("put a coat on the right");
  EXPECT_EQ(c.scene.caption(), "a bag left of a coat");
  c.say("add a sandal on the left");
  EXPECT_EQ(c.scene.caption(), "a sandal left of a bag left of a coat");
  EXPECT_EQ(ids(c.scene), (std::vector<int64_t>{2, 0, 1}));
  EXPECT_EQ(c.say("put a shirt on the right").kind, Rewrite::Kind::kNothing);  // four in a row: no layout
  Chat g;
  g.say("a bag left of a coat");
  const Rewrite one = g.say("put a dress below");
  EXPECT_EQ(one.kind, Rewrite::Kind::kNothing);
  EXPECT_NE(one.reply.find("2 garment"), std::string::npos) << one.reply;
  g.say("put a dress and a shirt below");
  EXPECT_EQ(g.scene.layout(), "grid");
  EXPECT_EQ(g.scene.caption(), "a bag left of a coat above a dress left of a shirt");
  Chat col;
  col.say("a bag");
  col.say("put a coat on top");
  EXPECT_EQ(col.scene.caption(), "a coat above a bag");
  col.say("add a sneaker");  // a column grows downwards when no place is said
  EXPECT_EQ(col.scene.caption(), "a coat above a bag above a sneaker");
}

TEST(RuleRewriter, RemovingShrinksRowsAndColumnsButNotGrids) {
  Chat c;
  c.say("a coat left of a shirt left of a bag");
  c.say("remove the middle one");
  EXPECT_EQ(c.scene.caption(), "a coat left of a bag");
  EXPECT_EQ(ids(c.scene), (std::vector<int64_t>{0, 2}));
  c.say("delete the coat");
  c.say("remove it");
  EXPECT_TRUE(c.scene.empty());
  Chat g;
  g.say("a bag left of a coat above a dress left of a shirt");
  const Rewrite r = g.say("remove the top left one");
  EXPECT_EQ(r.kind, Rewrite::Kind::kNothing);
  g.say("make the bottom right one a sandal");
  EXPECT_EQ(g.scene.classes(), (std::vector<int64_t>{8, 4, 3, 5}));
}

TEST(RuleRewriter, AsksInsteadOfGuessing) {
  Chat c;
  c.say("a bag left of a bag");
  const Rewrite which = c.say("make the bag a coat");
  EXPECT_EQ(which.kind, Rewrite::Kind::kNothing);
  EXPECT_NE(which.reply.find("which bag"), std::string::npos) << which.reply;
  EXPECT_NE(which.reply.find("the left one or the right one"), std::string::npos) << which.reply;
  c.say("make the right bag a coat");
  EXPECT_EQ(c.scene.classes(), (std::vector<int64_t>{8, 4}));
  const Rewrite missing = c.say("make the dress a shirt");
  EXPECT_EQ(missing.kind, Rewrite::Kind::kNothing);
  EXPECT_NE(missing.reply.find("do not see"), std::string::npos) << missing.reply;
  Chat g;
  g.say("a bag left of a coat above a dress left of a shirt");
  EXPECT_NE(g.say("make the left one a sandal").reply.find("top left one or the bottom left one"), std::string::npos);
  const Rewrite nonsense = c.say("what is the weather like");
  EXPECT_EQ(nonsense.kind, Rewrite::Kind::kNothing);
  EXPECT_NE(nonsense.reply.find("Try:"), std::string::npos);
  EXPECT_EQ(c.scene.classes(), (std::vector<int64_t>{8, 4}));  // unchanged by what was not understood
  const Rewrite bad = c.say("a bag left of a hat");
  EXPECT_NE(bad.reply.find("not a garment"), std::string::npos) << bad.reply;
}

TEST(RuleRewriter, UndoAndStartOver) {
  Chat c;
  c.say("a bag left of a coat");
  EXPECT_EQ(c.say("undo").kind, Rewrite::Kind::kUndo);
  EXPECT_EQ(c.say("go back").kind, Rewrite::Kind::kUndo);
  const Rewrite r = c.say("Start over!");
  EXPECT_EQ(r.kind, Rewrite::Kind::kEdit);
  EXPECT_TRUE(c.scene.empty());
  EXPECT_EQ(c.say("make the left one a sandal").kind, Rewrite::Kind::kNothing);
}

TEST(RuleRewriter, IsDeterministicAndRegistered) {
  Chat a, b;
  const std::vector<std::pair<std::string, std::string>> steps{
      {"a bag left of a coat", "a bag left of a coat"},
      {"put a dress on the left", "a dress left of a bag left of a coat"},
      {"swap the dress and the coat", "a coat left of a bag left of a dress"},
      {"remove the bag", "a coat left of a dress"}};
  for (const auto& [m, want] : steps) {
    a.say(m), b.say(m);
    EXPECT_EQ(a.scene.caption(), want) << m;
    EXPECT_EQ(a.scene, b.scene) << m;  // identities too
  }
  EXPECT_EQ(ids(a.scene), (std::vector<int64_t>{1, 2}));
  EXPECT_TRUE(rewriters().contains("rules"));
}

TEST(RuleRewriter, ScriptsForEveryLayoutAreUnderstoodTurnByTurn) {
  std::mt19937_64 rng(7);
  for (const auto& l : rflow::composite_layouts()) {
    for (int k = 0; k < 20; ++k) {
      Chat c;
      std::vector<Scene> shown{Scene{}};
      for (const auto& m : random_script(l.rows, l.cols, 10, rng)) {
        const Rewrite r = c.say(m);
        ASSERT_NE(r.kind, Rewrite::Kind::kNothing) << l.name << ": " << m << " → " << r.reply;
        if (r.kind == Rewrite::Kind::kUndo && shown.size() > 1) shown.pop_back(), c.scene = shown.back();
        if (r.kind == Rewrite::Kind::kEdit) shown.push_back(c.scene);
        ASSERT_TRUE(c.scene.empty() || c.scene.layout() == l.name) << m;
      }
    }
  }
}

TEST(RuleRewriter, ReadsEverydayPhrasings) {
  Chat c;
  c.say("a bag left of a sneaker");
  c.say("change the left one to be a sandal please");
  EXPECT_EQ(c.scene.caption(), "a sandal left of a sneaker");
  c.say("replace the sneaker with another coat");
  EXPECT_EQ(c.scene.caption(), "a sandal left of a coat");
  c.say("make the one on the right an ankle-boot instead");
  EXPECT_EQ(c.scene.caption(), "a sandal left of an ankle boot");
  EXPECT_EQ(c.say("the sandal on the left should be a dress").kind, Rewrite::Kind::kNothing);  // no verb: asked again
  c.say("turn the sandal on the left into a dress");
  EXPECT_EQ(c.scene.caption(), "a dress left of an ankle boot");
  c.say("swap the left and right ones");
  EXPECT_EQ(c.scene.caption(), "an ankle boot left of a dress");
  EXPECT_EQ(c.say("let\xE2\x80\x99s start over").kind, Rewrite::Kind::kEdit);  // a phone's apostrophe
  EXPECT_TRUE(c.scene.empty());
  c.say("a coat");
  c.say("put a bag next to it");
  EXPECT_EQ(c.scene.caption(), "a coat left of a bag");
  const Rewrite what = c.say("make the left one");
  EXPECT_EQ(what.kind, Rewrite::Kind::kNothing);
  EXPECT_NE(what.reply.find("into what"), std::string::npos) << what.reply;
  const Rewrite where = c.say("put something on the right");
  EXPECT_NE(where.reply.find("places: on the right"), std::string::npos) << where.reply;
}
