// Cards: every shipped card loads, every shipped data set and backbone has one, malformed cards
// are refused naming the field, and the rules (d % heads) are checked against resolved values.
#include <filesystem>
#include <fstream>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "rflow/automl/card.h"
#include "rflow/core/error.h"
#include "rflow/data/distribution.h"
#include "rflow/nn/model_config.h"
#include "tests/test_util.h"

using namespace rflow::automl;
namespace fs = std::filesystem;

namespace {

std::set<std::string> card_names(const std::string& kind) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(std::string(RFLOW_SOURCE_DIR) + "/cards/" + kind)) out.insert(e.path().stem().string());
  return out;
}

std::string card_error(const rflow::test::TempDir& dir, const std::string& text, bool model) {
  const std::string path = dir.file("card.toml");
  std::ofstream(path) << text;
  try {
    if (model) ModelCard::load(path);
    else DataCard::load(path);
  } catch (const rflow::Error& e) {
    return e.what();
  }
  return "";
}

const char* kGoodData = "name = \"d\"\nmodality = \"points\"\nshape = [2]\nmetric = \"w2\"\nsettings = [\"data.target.name=moons\"]\n";
const char* kGoodModel = "name = \"m\"\nfamily = \"mlp\"\nmodalities = [\"points\"]\nsettings = [\"model.arch=mlp\"]\n";

}  // namespace

TEST(Cards, EveryShippedCardLoadsAndNamesItsFile) {
  for (const std::string kind : {"data", "models"})
    for (const auto& e : fs::directory_iterator(std::string(RFLOW_SOURCE_DIR) + "/cards/" + kind)) {
      SCOPED_TRACE(e.path().string());
      const std::string name = kind == "data" ? DataCard::load(e.path().string()).name : ModelCard::load(e.path().string()).name;
      EXPECT_EQ(name, e.path().stem().string());
    }
}

TEST(Cards, EveryShippedDataSetAndBackboneHasACard) {
  // Loaders of the user's own files (and the noise source) describe no data set of their own.
  const std::set<std::string> loaders{"captioned_images", "demos", "idx", "image_folder", "npy", "gaussian", "sentence_latents"};
  const auto data = card_names("data");
  for (const auto& name : rflow::distributions().names())
    if (!loaders.count(name)) EXPECT_TRUE(data.count(name)) << "no data card for the data set " << name;
  const auto models = card_names("models");
  for (const auto& name : rflow::models().names())
    if (name != "torchscript") EXPECT_TRUE(models.count(name)) << "no model card for the backbone " << name;
}

TEST(Cards, MalformedCardsAreRefusedNamingTheField) {
  rflow::test::TempDir dir;
  EXPECT_EQ(card_error(dir, kGoodData, false), "");
  EXPECT_EQ(card_error(dir, kGoodModel, true), "");
  EXPECT_NE(card_error(dir, std::string(kGoodData) + "modality2 = 1\n", false).find("modality"), std::string::npos);  // unknown key, nearest named
  const std::string bad_modality = card_error(dir, "name = \"d\"\nmodality = \"audio\"\nshape = [2]\nmetric = \"w2\"\nsettings = [\"a=b\"]\n", false);
  EXPECT_NE(bad_modality.find("modality"), std::string::npos) << bad_modality;
  EXPECT_NE(bad_modality.find("points | images"), std::string::npos) << bad_modality;
  EXPECT_NE(card_error(dir, "name = \"d\"\nmodality = \"points\"\nshape = [0]\nmetric = \"w2\"\nsettings = [\"a=b\"]\n", false).find("shape"),
            std::string::npos);
  EXPECT_NE(card_error(dir, "name = \"d\"\nmodality = \"points\"\nshape = [2]\nmetric = \"w2\"\nsettings = [\"no equals\"]\n", false).find("settings[0]"),
            std::string::npos);
  EXPECT_NE(card_error(dir, std::string(kGoodData) + "[budget]\nminutes = 0\n", false).find("budget"), std::string::npos);
  EXPECT_NE(card_error(dir, "name = \"d\"\nmodality = [\n", false).find("line"), std::string::npos);  // syntax: the line
  EXPECT_NE(card_error(dir, std::string(kGoodModel) + "[[constraint]]\nkey = \"model.mlp.hidden\"\n", true).find("constraint[0]"),
            std::string::npos);
  EXPECT_NE(card_error(dir, std::string(kGoodModel) + "[[tunable]]\nkey = \"train.lr\"\nlow = 1\nhigh = 0\n", true).find("tunable[0]"),
            std::string::npos);
  EXPECT_NE(card_error(dir, "name = \"m\"\nfamily = \"rnn\"\nmodalities = [\"points\"]\n", true).find("family"), std::string::npos);
}

TEST(Cards, ConstraintsHoldOnlyWhereTheDivisionIsExact) {
  const nlohmann::json cfg = {{"model", {{"dit", {{"hidden", 96}, {"heads", 4}}}}}};
  EXPECT_TRUE((Constraint{"model.dit.hidden", {"model.dit.heads"}, ""}.holds(cfg)));
  EXPECT_TRUE((Constraint{"model.dit.hidden", {"model.dit.heads", "4"}, ""}.holds(cfg)));   // 96 % 16
  EXPECT_FALSE((Constraint{"model.dit.hidden", {"model.dit.heads", "5"}, ""}.holds(cfg)));  // 96 % 20 = 16
  std::string why;
  const nlohmann::json odd = {{"model", {{"dit", {{"hidden", 90}, {"heads", 4}}}}}};
  EXPECT_FALSE((Constraint{"model.dit.hidden", {"model.dit.heads"}, "heads split the width"}.holds(odd, &why)));
  EXPECT_NE(why.find("90"), std::string::npos) << why;
  EXPECT_NE(why.find("heads split the width"), std::string::npos) << why;
  EXPECT_FALSE((Constraint{"model.dit.missing", {"4"}, ""}.holds(cfg)));  // an absent key never holds
}
