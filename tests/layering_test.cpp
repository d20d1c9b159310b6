// The layering rule of docs/design.md, checked on the sources: a folder of rflow/ includes only
// folders before it in core → io → text → flow → solve → nn → data → train → methods → eval → pipeline → serve,
// and no header includes <torch/torch.h>. The per-layer static libraries catch calls that point
// up at link time; this catches includes (a header-only upward use links fine but is still a cycle).
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include <gtest/gtest.h>

namespace fs = std::filesystem;

namespace {

// The order CMake builds the per-layer libraries in (RFLOW_LAYERS), passed in by the build so the
// list is written once.
std::vector<std::string> layers() {
  std::vector<std::string> out;
  std::istringstream in(RFLOW_LAYER_LIST);
  for (std::string l; std::getline(in, l, ',');)
    if (!l.empty()) out.push_back(l);
  return out;
}
const std::vector<std::string> kLayers = layers();

int rank_of(const std::string& layer) {
  for (size_t i = 0; i < kLayers.size(); ++i)
    if (kLayers[i] == layer) return static_cast<int>(i);
  return -1;
}

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Upward includes of one source text, as "layer -> included layer (header)".
std::vector<std::string> upward_includes(const std::string& layer, const std::string& text) {
  static const std::regex inc(R"re(#\s*include\s*"rflow/(\w+)/([^"]+)")re");
  std::vector<std::string> out;
  for (std::sregex_iterator it(text.begin(), text.end(), inc), end; it != end; ++it) {
    const std::string target = (*it)[1];
    const int r = rank_of(target);
    if (r < 0 || r > rank_of(layer)) out.push_back(layer + " -> " + target + "/" + std::string((*it)[2]));
  }
  return out;
}

}  // namespace

TEST(Layering, NoIncludePointsUp) {
  const fs::path root = fs::path(RFLOW_SOURCE_DIR) / "rflow";
  std::vector<std::string> bad;
  int files = 0;
  for (const auto& layer : kLayers) {
    ASSERT_TRUE(fs::is_directory(root / layer)) << layer;
    for (const auto& e : fs::recursive_directory_iterator(root / layer)) {  // rooms (core/kernels, ...) included
      if (!e.is_regular_file()) continue;
      ++files;
      for (const auto& b : upward_includes(layer, read(e.path()))) bad.push_back(e.path().filename().string() + ": " + b);
    }
  }
  EXPECT_GE(kLayers.size(), 10u);
  EXPECT_GT(files, 50);
  for (const auto& b : bad) ADD_FAILURE() << "include points up the layers: " << b;
  // Every folder under rflow/ is a known layer: a new folder must be placed in the order first.
  for (const auto& e : fs::directory_iterator(root))
    if (e.is_directory()) EXPECT_GE(rank_of(e.path().filename().string()), 0) << "unknown layer " << e.path();
}

TEST(Layering, HeadersStayLight) {
  const fs::path root = fs::path(RFLOW_SOURCE_DIR) / "rflow";
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.path().extension() != ".h" || e.path().filename() == "pch.h") continue;
    EXPECT_EQ(read(e.path()).find("#include <torch/torch.h>"), std::string::npos)
        << e.path() << " includes <torch/torch.h> (~20 s per including file): include the narrow headers";
  }
}

// The checker itself must catch what it names (a check that cannot fail is no check).
TEST(Layering, CheckerCatchesAnUpwardInclude) {
  EXPECT_EQ(upward_includes("methods", "#include \"rflow/eval/fidnet.h\"\n").size(), 1u);
  EXPECT_EQ(upward_includes("core", "#include \"rflow/pipeline/stages.h\"").size(), 1u);
  EXPECT_TRUE(upward_includes("eval", "#include \"rflow/methods/distill.h\"\n#include \"rflow/core/error.h\"").empty());
  EXPECT_EQ(upward_includes("nn", "#include \"rflow/nowhere/x.h\"").size(), 1u);
}

// A prebuilt LibTorch 2 exports its own std::filesystem::remove_all, which the dynamic linker binds
// first and which crashes: trees are removed through rflow::io::remove_tree everywhere.
TEST(Layering, NoCallOfStdRemoveAll) {
  const std::regex call(R"re(\bremove_all\s*\()re");
  for (const char* dir : {"rflow", "tools", "tests", "bench", "examples", "fuzz"}) {
    const fs::path root = fs::path(RFLOW_SOURCE_DIR) / dir;
    if (!fs::is_directory(root)) continue;
    for (const auto& e : fs::recursive_directory_iterator(root)) {
      const auto ext = e.path().extension();
      if (ext != ".cpp" && ext != ".h") continue;
      if (e.path().filename() == "layering_test.cpp") continue;
      EXPECT_FALSE(std::regex_search(read(e.path()), call)) << e.path() << " calls remove_all: use rflow::io::remove_tree";
    }
  }
}
