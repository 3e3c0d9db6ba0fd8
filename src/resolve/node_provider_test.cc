#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "livemod/resolve.h"
#include "testing/temp_dir.h"
#include "testing/matchers.h"

namespace livemod {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing_support::HasCode;
using testing_support::HasCodeAndMessage;
using testing_support::IsOk;
using testing_support::temp_dir;
namespace fs = std::filesystem;

const fs::path calculator = LIVEMOD_FIXTURE_CALCULATOR;

TEST(ManifestProvider, FindsByNameAndReadsTheManifest) {
  node_provider provider =
      manifest_provider(module_search_path({calculator.parent_path()}, "", {}));
  auto node = provider(module_ref::named("calculator"));
  ASSERT_THAT(node, IsOk());
  EXPECT_EQ(node->name, "calculator");
  EXPECT_EQ(node->version.to_string(), "1.0.0");
  EXPECT_EQ(node->file, calculator.parent_path() / "libcalculator.so");
}

TEST(ManifestProvider, ResolvesAGraphFromRealFiles) {
  std::vector<module_ref> want = {module_ref::named("calculator")};
  auto g = resolve_graph(want,
                         manifest_provider(module_search_path({calculator.parent_path()}, "", {})));
  ASSERT_THAT(g, IsOk());
  ASSERT_EQ(g->modules().size(), 1u);
  EXPECT_THAT(g->init_order(), ElementsAre(0u));
}

TEST(ManifestProvider, TakesAPathAsIs) {
  node_provider provider = manifest_provider(module_search_path({}, "", {}));
  auto node = provider(module_ref::from_path(calculator));
  ASSERT_THAT(node, IsOk());
  EXPECT_EQ(node->name, "calculator");
}

TEST(ManifestProvider, AFileRewrittenAtTheSamePathIsReadAgain) {
  // Images are shared per file version (read_image_shared): a rebuild is a new version.
  temp_dir dir;
  const fs::path file = dir.path() / "libmodule.so";
  fs::copy_file(calculator, file);
  node_provider provider = manifest_provider(module_search_path({dir.path()}, "", {}));
  auto before = provider(module_ref::from_path(file));
  ASSERT_THAT(before, IsOk());
  EXPECT_EQ(before->name, "calculator");

  testing_support::overwrite_in_place(file, LIVEMOD_FIXTURE_COMPAT_FUTURE_ABI);
  auto after = provider(module_ref::from_path(file));
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(after->name, "future_abi");
}

TEST(ModuleNodeOf, GivesWhatTheProviderGivesAndFollowsARewrite) {
  temp_dir dir;
  const fs::path file = dir.path() / "libmodule.so";
  fs::copy_file(calculator, file);
  auto version = identify_file(file);
  ASSERT_THAT(version, IsOk());
  auto node = module_node_of(file, *version);
  ASSERT_THAT(node, IsOk());
  auto from_provider = manifest_provider(module_search_path({}, "", {}))(module_ref::from_path(file));
  ASSERT_THAT(from_provider, IsOk());
  EXPECT_EQ(node->name, from_provider->name);
  EXPECT_EQ(node->version, from_provider->version);
  EXPECT_EQ(node->file, file);
  EXPECT_EQ(node->dependencies.size(), from_provider->dependencies.size());
  // Kept per version: asked again, the same node, with no file read.
  auto again = module_node_of(file, *version);
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->name, "calculator");

  testing_support::overwrite_in_place(file, LIVEMOD_FIXTURE_COMPAT_FUTURE_ABI);
  auto rebuilt = identify_file(file);
  ASSERT_THAT(rebuilt, IsOk());
  auto after = module_node_of(file, *rebuilt);
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(after->name, "future_abi");
}

TEST(ModuleNodeOf, AFileWithoutManifestIsRefused) {
  auto version = identify_file(LIVEMOD_FIXTURE_ABSENT_STUB);
  ASSERT_THAT(version, IsOk());
  EXPECT_THAT(module_node_of(LIVEMOD_FIXTURE_ABSENT_STUB, *version),
              HasCode(errc::manifest_missing));
}

TEST(ManifestProvider, FileWithoutManifestIsRefused) {
  node_provider provider = manifest_provider(module_search_path({}, "", {}));
  EXPECT_THAT(provider(module_ref::from_path(LIVEMOD_FIXTURE_ABSENT_STUB)),
              HasCodeAndMessage(errc::manifest_missing, HasSubstr("livemod_add_module")));
}

TEST(ManifestProvider, FileFoundUnderAnotherNameIsRefused) {
  temp_dir tmp;
  fs::copy_file(calculator, tmp.path() / "libadder.so");
  node_provider provider = manifest_provider(module_search_path({tmp.path()}, "", {}));
  EXPECT_THAT(
      provider(module_ref::named("adder")),
      HasCodeAndMessage(errc::bad_module_name, HasSubstr("its manifest names it 'calculator'")));
}

TEST(ManifestProvider, DuplicateFilesOfOneModuleAreNamed) {
  temp_dir tmp;
  fs::copy_file(calculator, tmp.path() / "libcalculator.so");
  fs::copy_file(calculator, tmp.path() / "libcalculator-copy.so");
  std::vector<module_ref> want = {module_ref::from_path(tmp.path() / "libcalculator.so"),
                                  module_ref::from_path(tmp.path() / "libcalculator-copy.so")};
  EXPECT_THAT(resolve_graph(want, manifest_provider(module_search_path({}, "", {}))),
              HasCodeAndMessage(errc::duplicate_module, HasSubstr("libcalculator-copy.so")));
}

TEST(ManifestProvider, NotFoundComesFromTheSearch) {
  temp_dir tmp;
  node_provider provider = manifest_provider(module_search_path({tmp.path()}, "", {}));
  EXPECT_THAT(provider(module_ref::named("calculator")),
              HasCodeAndMessage(errc::module_not_found,
                                HasSubstr((tmp.path() / "libcalculator.so").string())));
}

TEST(MemoryProvider, FindsByNameAndByFile) {
  module_node a{"a", parse_semver("1.0.0").value(), "/x/liba.so", {}};
  node_provider provider = memory_provider({a});
  EXPECT_THAT(provider(module_ref::named("a")), IsOk());
  EXPECT_THAT(provider(module_ref::from_path("/x/liba.so")), IsOk());
  EXPECT_THAT(provider(module_ref::named("b")), HasCode(errc::module_not_found));
  EXPECT_THAT(provider(module_ref::from_path("/y/liba.so")), HasCode(errc::module_not_found));
}

}  // namespace
}  // namespace livemod
