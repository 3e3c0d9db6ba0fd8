#include "registry/preflight_pool.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "testing/matchers.h"

namespace livemod::registry_detail {
namespace {

namespace fs = std::filesystem;
using testing_support::HasCode;
using testing_support::IsOk;

struct identified {
  fs::path file;
  file_identity version;
};

// Every module of the registry fixtures, and one that fails its check (a future ABI).
std::vector<identified> fixture_files() {
  std::vector<identified> out;
  for (const auto& entry : fs::directory_iterator(LIVEMOD_FIXTURE_REGISTRY_DIR)) {
    if (entry.path().extension() != ".so") continue;
    auto version = identify_file(entry.path());
    if (version) out.push_back({entry.path(), *version});
  }
  auto future = identify_file(LIVEMOD_FIXTURE_COMPAT_FUTURE_ABI);
  if (future) out.push_back({LIVEMOD_FIXTURE_COMPAT_FUTURE_ABI, *future});
  return out;
}

// A verdict as text, to compare the pool's with a check made in place.
std::string shown(const early_verdict& v) {
  if (v.thrown) return "threw";
  if (!v.verdict) return "error: " + v.verdict.error().describe();
  return "ok: on_load=" + v.verdict->entry.on_load + " abi=" +
         std::to_string(v.verdict->manifest_abi) + " runtime=" + v.verdict->sanitizer_runtime;
}

std::string shown(const result<detail::preflight_verdict>& v) {
  early_verdict e;
  e.verdict = v;
  return shown(e);
}

TEST(PreflightPool, VerdictsAreThoseOfACheckInPlaceWhateverTheThreads) {
  const auto files = fixture_files();
  ASSERT_GE(files.size(), 8u);
  std::vector<std::string> expected;
  for (const auto& f : files) expected.push_back(shown(run_preflight(f.file, f.version, {})));
  EXPECT_THAT(expected, ::testing::Contains(::testing::StartsWith("error: ")));
  EXPECT_THAT(expected, ::testing::Contains(::testing::StartsWith("ok: ")));

  for (unsigned threads : {1u, 2u, 4u}) {
    preflight_pool pool({}, threads);
    for (const auto& f : files) pool.submit(f.file, f.version);
    for (std::size_t i = 0; i < files.size(); ++i)
      EXPECT_EQ(shown(pool.take(files[i].file, files[i].version)), expected[i])
          << threads << " threads, " << files[i].file;
  }
}

TEST(PreflightPool, AFileNeverSubmittedIsCheckedInPlace) {
  preflight_pool pool({}, 4);
  auto version = identify_file(LIVEMOD_FIXTURE_COMPAT_FUTURE_ABI);
  ASSERT_THAT(version, IsOk());
  const early_verdict v = pool.take(LIVEMOD_FIXTURE_COMPAT_FUTURE_ABI, *version);
  EXPECT_THAT(v.verdict, HasCode(errc::abi_unsupported));
  EXPECT_GT(v.took.count(), 0);
}

TEST(PreflightPool, ANewerVersionOfAFileIsCheckedAgain) {
  // Submitted as one version and taken as another (the file changed between resolve and the
  // load): the verdict is that of the version taken, not the stale one.
  const auto files = fixture_files();
  ASSERT_FALSE(files.empty());
  const identified passing = files.front();
  auto future = identify_file(LIVEMOD_FIXTURE_COMPAT_FUTURE_ABI);
  ASSERT_THAT(future, IsOk());
  preflight_pool pool({}, 2);
  for (int i = 0; i < 8; ++i) pool.submit(passing.file, passing.version);  // queued once
  file_identity other = passing.version;
  other.mtime_ns += 1;
  const early_verdict again = pool.take(passing.file, other);
  EXPECT_EQ(shown(again), shown(run_preflight(passing.file, passing.version, {})));
  EXPECT_EQ(shown(pool.take(passing.file, passing.version)), shown(again));
}

TEST(PreflightPool, AbandonsQueuedChecksWhenFinishedEarly) {
  // A load that fails at its first module leaves the rest of the queue: the pool must end
  // without checking them all first, and without hanging.
  const auto files = fixture_files();
  preflight_pool pool({}, 2);
  for (int round = 0; round < 20; ++round)
    for (const auto& f : files) {
      file_identity v = f.version;
      v.mtime_ns += round;  // a distinct version each round, so each is queued
      pool.submit(f.file, v);
    }
  const early_verdict first = pool.take(files.front().file, files.front().version);
  EXPECT_FALSE(first.thrown);
  pool.finish();
  pool.finish();  // twice is harmless, as is the destructor after it
}

}  // namespace
}  // namespace livemod::registry_detail
