#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "livemod/manifest.h"
#include "livemod/sdk/module.h"
#include "testing/matchers.h"

namespace livemod {
namespace {

using json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing_support::HasCode;
using testing_support::HasCodeAndMessage;
using testing_support::IsOk;

// The full example from livemod/manifest.h, every field used.
json full() {
  return json::parse(R"({
    "schema": 1,
    "name": "calculator",
    "version": "1.2.0-rc.1+git.abc",
    "abi": 1,
    "fingerprint": {"compiler": "gcc", "compiler_major": 12, "cxx11_abi": 1, "arch": "x86_64",
                    "exceptions": true, "rtti": true, "glibcxx_debug": false, "asan": false,
                    "tsan": false},
    "dependencies": [
      {"name": "math", "version": ">=1.2 <2", "kind": "required"},
      {"name": "log.core", "version": "^0.3", "kind": "weak"},
      {"name": "host-app", "kind": "upward"}
    ],
    "interfaces": [
      {"id": "6f1c7a52-1f0e-4d3c-9b1e-2a7d3c1e9a01", "name": "calculator_api", "methods": 2,
       "layout_hash": "0x9e3779b97f4a7c15"},
      {"id": "second", "methods": 0, "layout_hash": 1234}
    ],
    "state_schema": 3,
    "permissions": ["network", "threads"],
    "entry_points": {"on_load": "calc_on_load", "on_unload": "calc_on_unload",
                     "save_state": "calc_save", "restore_state": "calc_restore"},
    "x-team": {"owner": "payments"}
  })");
}

json minimal() { return json{{"schema", 1}, {"name", "m"}, {"version", "0.1.0"}, {"abi", 1}}; }

result<manifest> parse(const json& j) { return parse_manifest(j.dump(), "libm.so"); }

TEST(ManifestTest, ParsesTheFullExample) {
  auto m = parse(full());
  ASSERT_THAT(m, IsOk());
  EXPECT_EQ(m->schema, 1);
  EXPECT_EQ(m->name, "calculator");
  EXPECT_EQ(m->version.to_string(), "1.2.0-rc.1+git.abc");
  EXPECT_EQ(m->abi, 1u);
  ASSERT_TRUE(m->fingerprint.has_value());
  EXPECT_EQ(m->fingerprint->arch, "x86_64");
  EXPECT_EQ(m->fingerprint->compiler_major, 12);

  ASSERT_EQ(m->dependencies.size(), 3u);
  EXPECT_EQ(m->dependencies[0].name, "math");
  EXPECT_EQ(m->dependencies[0].range.text(), ">=1.2 <2");
  EXPECT_TRUE(m->dependencies[0].range.contains(*parse_semver("1.5.0")));
  EXPECT_FALSE(m->dependencies[0].range.contains(*parse_semver("2.0.0")));
  EXPECT_EQ(m->dependencies[0].kind, dependency_kind::required);
  EXPECT_EQ(m->dependencies[1].name, "log.core");
  EXPECT_EQ(m->dependencies[1].kind, dependency_kind::weak);
  EXPECT_FALSE(m->dependencies[1].range.contains(*parse_semver("0.4.0")));
  EXPECT_EQ(m->dependencies[2].kind, dependency_kind::upward);
  EXPECT_EQ(m->dependencies[2].range.text(), "*");  // no "version": any

  ASSERT_EQ(m->interfaces.size(), 2u);
  EXPECT_EQ(m->interfaces[0].id, "6f1c7a52-1f0e-4d3c-9b1e-2a7d3c1e9a01");
  EXPECT_EQ(m->interfaces[0].name, "calculator_api");
  EXPECT_EQ(m->interfaces[0].methods, 2u);
  EXPECT_EQ(m->interfaces[0].layout_hash, 0x9e3779b97f4a7c15u);
  EXPECT_EQ(m->interfaces[1].name, "");
  EXPECT_EQ(m->interfaces[1].methods, 0u);
  EXPECT_EQ(m->interfaces[1].layout_hash, 1234u);

  EXPECT_EQ(m->state_schema, 3u);
  EXPECT_THAT(m->permissions, ElementsAre("network", "threads"));
  EXPECT_EQ(m->entry_points.on_load, "calc_on_load");
  EXPECT_EQ(m->entry_points.on_unload, "calc_on_unload");
  EXPECT_EQ(m->entry_points.save_state, "calc_save");
  EXPECT_EQ(m->entry_points.restore_state, "calc_restore");
}

TEST(ManifestTest, OptionalFieldsTakeTheirDefaults) {
  auto m = parse(minimal());
  ASSERT_THAT(m, IsOk());
  EXPECT_FALSE(m->fingerprint.has_value());
  EXPECT_TRUE(m->dependencies.empty());
  EXPECT_TRUE(m->interfaces.empty());
  EXPECT_EQ(m->state_schema, 0u);
  EXPECT_TRUE(m->permissions.empty());
  EXPECT_EQ(m->entry_points.on_load, "");
  EXPECT_EQ(m->entry_points.save_state, "");

  json j = minimal();
  j["dependencies"] = json::array({{{"name", "math"}}});
  j["interfaces"] = json::array({{{"id", "i"}, {"methods", 1}}});
  auto d = parse(j);
  ASSERT_THAT(d, IsOk());
  EXPECT_EQ(d->dependencies[0].kind, dependency_kind::required);
  EXPECT_EQ(d->dependencies[0].range.text(), "*");
  EXPECT_EQ(d->interfaces[0].layout_hash, 0u);
}

TEST(ManifestTest, IgnoresTheTerminatingNulOfTheSection) {
  std::string text = minimal().dump();
  text.push_back('\0');
  text.push_back('\0');
  EXPECT_THAT(parse_manifest(text, "libm.so"), IsOk());
}

TEST(ManifestTest, ReportsAMissingRequiredField) {
  for (const char* field : {"schema", "name", "version", "abi"}) {
    json j = minimal();
    j.erase(field);
    EXPECT_THAT(parse(j), HasCodeAndMessage(errc::manifest_schema,
                                            StartsWith(std::string("libm.so: manifest field \"") +
                                                       field + "\" is missing, expected ")))
        << field;
  }
}

TEST(ManifestTest, ReportsAMissingRequiredMemberOfAnElement) {
  json j = minimal();
  j["dependencies"] = json::array({{{"name", "a"}}, {{"version", "1"}}});
  EXPECT_THAT(parse(j), HasCodeAndMessage(errc::manifest_schema,
                                          HasSubstr("\"dependencies[1].name\" is missing")));
  j = minimal();
  j["interfaces"] = json::array({{{"methods", 1}}});
  EXPECT_THAT(parse(j), HasCodeAndMessage(errc::manifest_schema,
                                          HasSubstr("\"interfaces[0].id\" is missing")));
  j = minimal();
  j["interfaces"] = json::array({{{"id", "x"}}});
  EXPECT_THAT(parse(j), HasCodeAndMessage(errc::manifest_schema,
                                          HasSubstr("\"interfaces[0].methods\" is missing")));
  j = minimal();
  j["fingerprint"] = full()["fingerprint"];
  j["fingerprint"].erase("asan");
  EXPECT_THAT(parse(j), HasCodeAndMessage(errc::manifest_schema,
                                          HasSubstr("\"fingerprint.asan\" is missing")));
}

struct field_case {
  const char* pointer;  // JSON pointer into full()
  json value;
  const char* message;  // expected part of the message
};

std::ostream& operator<<(std::ostream& os, const field_case& c) {
  return os << c.pointer << " = " << c.value.dump();
}

class ManifestFieldTest : public ::testing::TestWithParam<field_case> {};

TEST_P(ManifestFieldTest, RefusesTheValue) {
  json j = full();
  j[json::json_pointer(GetParam().pointer)] = GetParam().value;
  auto m = parse(j);
  EXPECT_THAT(m, HasCodeAndMessage(errc::manifest_schema, HasSubstr(GetParam().message)));
  if (!m) {
    EXPECT_THAT(m.error().message(), StartsWith("libm.so: manifest field \""));
  }
}

// Each wrong type.
INSTANTIATE_TEST_SUITE_P(
    WrongType, ManifestFieldTest,
    ::testing::Values(
        field_case{"/schema", "1", "\"schema\" is \"1\", expected an integer"},
        field_case{"/name", 7, "\"name\" is 7, expected a name of lowercase letters"},
        field_case{"/version", 1, "\"version\" is 1, expected a semantic version"},
        field_case{"/abi", "1", "\"abi\" is \"1\", expected an integer from 1 to 4294967295"},
        field_case{"/abi", 1.0, "\"abi\" is 1.0, expected an integer"},
        field_case{"/abi", nullptr, "\"abi\" is null, expected an integer"},
        field_case{"/fingerprint", "gcc", "\"fingerprint\" is \"gcc\", expected an object"},
        field_case{"/fingerprint/rtti", "yes",
                   "\"fingerprint.rtti\" is \"yes\", expected true "
                   "or false"},
        field_case{"/dependencies", json::object(),
                   "\"dependencies\" is an object, expected an "
                   "array"},
        field_case{"/dependencies/0", "math",
                   "\"dependencies[0]\" is \"math\", expected an "
                   "object"},
        field_case{"/dependencies/1/name", true, "\"dependencies[1].name\" is true"},
        field_case{"/dependencies/1/version", 1,
                   "\"dependencies[1].version\" is 1, expected a "
                   "version range"},
        field_case{"/dependencies/1/kind", json::array(),
                   "\"dependencies[1].kind\" is an "
                   "array, expected one of"},
        field_case{"/interfaces", "none", "\"interfaces\" is \"none\", expected an array"},
        field_case{"/interfaces/0/id", 5,
                   "\"interfaces[0].id\" is 5, expected a non-empty "
                   "string"},
        field_case{"/interfaces/0/name", 5, "\"interfaces[0].name\" is 5, expected a string"},
        field_case{"/interfaces/0/methods", "2", "\"interfaces[0].methods\" is \"2\""},
        field_case{"/interfaces/0/layout_hash", true,
                   "\"interfaces[0].layout_hash\" is true, "
                   "expected a hex string"},
        field_case{"/state_schema", "1", "\"state_schema\" is \"1\", expected an integer"},
        field_case{"/permissions", "network",
                   "\"permissions\" is \"network\", expected an "
                   "array"},
        field_case{"/permissions/0", 1, "\"permissions[0]\" is 1, expected one of"},
        field_case{"/entry_points", "calc_on_load",
                   "\"entry_points\" is \"calc_on_load\", "
                   "expected an object"},
        field_case{"/entry_points/on_load", 0,
                   "\"entry_points.on_load\" is 0, expected a c "
                   "identifier"}));

// Each value of the right type but out of range.
INSTANTIATE_TEST_SUITE_P(
    OutOfRange, ManifestFieldTest,
    ::testing::Values(
        field_case{"/schema", 0, "\"schema\" is 0, expected an integer from 1"},
        field_case{"/name", "", "\"name\" is \"\", expected a name"},
        field_case{"/name", "Calculator", "\"name\" is \"Calculator\", expected a name"},
        field_case{"/name", "calc/x", "\"name\" is \"calc/x\""},
        field_case{"/name", ".hidden", "\"name\" is \".hidden\""},
        field_case{"/name", "-opt", "\"name\" is \"-opt\""},
        field_case{"/name", std::string(65, 'a'), "at most 64 characters"},
        field_case{"/abi", 0, "\"abi\" is 0, expected an integer from 1 to 4294967295"},
        field_case{"/abi", -1, "\"abi\" is -1, expected an integer from 1"},
        field_case{"/abi", 4294967296u,
                   "\"abi\" is 4294967296, expected an integer from 1 to "
                   "4294967295"},
        field_case{"/fingerprint/cxx11_abi", 3, "\"fingerprint.cxx11_abi\" is 3"},
        field_case{"/dependencies/1/name", "Log", "\"dependencies[1].name\" is \"Log\""},
        field_case{"/dependencies/1/name", "math",
                   "\"dependencies[1].name\" is \"math\", "
                   "already listed"},
        field_case{"/dependencies/1/name", "calculator", "the module's own name"},
        field_case{"/dependencies/1/kind", "optional",
                   "manifest field \"dependencies[1].kind\" is \"optional\", expected one of "
                   "\"required\", \"weak\", \"upward\"; fix the module's manifest json"},
        field_case{"/interfaces/0/id", "", "\"interfaces[0].id\" is \"\", expected a non-empty"},
        field_case{"/interfaces/1/id", "6f1c7a52-1f0e-4d3c-9b1e-2a7d3c1e9a01",
                   "\"interfaces[1].id\" is \"6f1c7a52-1f0e-4d3c-9b1e-2a7d3c1e9a01\", already"},
        field_case{"/interfaces/0/methods", -1,
                   "\"interfaces[0].methods\" is -1, expected an "
                   "integer from 0 to 4294967295"},
        field_case{"/interfaces/0/methods", 4294967296u, "is 4294967296"},
        field_case{"/interfaces/0/layout_hash", "0x", "\"interfaces[0].layout_hash\" is \"0x\""},
        field_case{"/interfaces/0/layout_hash", "9e37", "is \"9e37\", expected a hex string"},
        field_case{"/interfaces/0/layout_hash", "0x12345678901234567", "1 to 16 digits"},
        field_case{"/interfaces/0/layout_hash", "0xfg", "is \"0xfg\""},
        field_case{"/interfaces/0/layout_hash", -5, "is -5"},
        field_case{"/state_schema", -1, "\"state_schema\" is -1"},
        field_case{"/permissions/1", "root",
                   "\"permissions[1]\" is \"root\", expected one of "
                   "\"filesystem.read\", \"filesystem.write\", "
                   "\"network\", \"process.spawn\", \"threads\""},
        field_case{"/permissions/1", "network", "\"permissions[1]\" is \"network\", already"},
        field_case{"/entry_points/on_load", "",
                   "\"entry_points.on_load\" is \"\", expected a c "
                   "identifier"},
        field_case{"/entry_points/on_load", "1load", "is \"1load\""},
        field_case{"/entry_points/on_unload", "calc-unload", "is \"calc-unload\""},
        field_case{"/entry_points/save_state", "ns::save", "is \"ns::save\""}));

// Keys nobody declared: typos must not pass.
INSTANTIATE_TEST_SUITE_P(
    UnknownKey, ManifestFieldTest,
    ::testing::Values(field_case{"/verison", "1.0.0",
                                 "\"verison\" is unknown (did you mean \"version\"?)"},
                      field_case{"/permission", json::array(),
                                 "\"permission\" is unknown (did you mean "
                                 "\"permissions\"?)"},
                      field_case{"/colour", 1, "\"colour\" is unknown"},
                      field_case{"/dependencies/0/knd", "weak",
                                 "\"dependencies[0].knd\" is unknown (did you "
                                 "mean \"kind\"?)"},
                      field_case{"/interfaces/0/method", 2,
                                 "\"interfaces[0].method\" is unknown (did you mean "
                                 "\"methods\"?)"},
                      field_case{"/entry_points/onload", "f",
                                 "\"entry_points.onload\" is unknown (did you "
                                 "mean \"on_load\"?)"}));

TEST(ManifestTest, UnknownKeyRemedySaysHowToKeepPrivateData) {
  json j = minimal();
  j["colour"] = 1;
  auto m = parse(j);
  ASSERT_THAT(m, HasCode(errc::manifest_schema));
  EXPECT_EQ(m.error().message(),
            "libm.so: manifest field \"colour\" is unknown; remove it, or prefix it with \"x-\" "
            "to keep private data");
}

TEST(ManifestTest, AllowsPrivateKeysEverywhereButTheFingerprintIsOpen) {
  json j = full();
  j["x-build-host"] = "ci-7";
  j["dependencies"][0]["x-note"] = json::object();
  j["interfaces"][0]["x-doc"] = "https://example.com";
  j["entry_points"]["x-init"] = "whatever";
  j["fingerprint"]["from_the_future"] = 1;  // newer builds may add members
  EXPECT_THAT(parse(j), IsOk());
}

TEST(ManifestTest, RefusesAnotherSchemaVersionWithAnUpgradeRemedy) {
  json j = minimal();
  j["schema"] = 2;
  auto m = parse(j);
  ASSERT_THAT(m,
              HasCodeAndMessage(errc::manifest_schema, HasSubstr("\"schema\" is 2, expected 1")));
  EXPECT_THAT(m.error().remedy(), HasSubstr("upgrade livemod"));
}

TEST(ManifestTest, RefusesSaveStateWithoutRestoreState) {
  json j = full();
  j["entry_points"].erase("restore_state");
  EXPECT_THAT(parse(j),
              HasCodeAndMessage(errc::manifest_schema,
                                HasSubstr("\"entry_points.restore_state\" is missing, expected "
                                          "it beside \"entry_points.save_state\"")));
  j = full();
  j["entry_points"].erase("save_state");
  EXPECT_THAT(parse(j), HasCodeAndMessage(errc::manifest_schema,
                                          HasSubstr("\"entry_points.save_state\" is missing")));
}

TEST(ManifestTest, BadVersionHasItsOwnCode) {
  json j = minimal();
  j["version"] = "1.02";
  auto m = parse(j);
  EXPECT_THAT(m, HasCodeAndMessage(errc::manifest_bad_version,
                                   StartsWith("libm.so: manifest field \"version\": \"1.02\" is "
                                              "not a semantic version: ")));
  j["version"] = "1.2.3-01";
  EXPECT_THAT(parse(j), HasCodeAndMessage(errc::manifest_bad_version, HasSubstr("leading zero")));
}

TEST(ManifestTest, BadRangeHasItsOwnCode) {
  json j = full();
  j["dependencies"][1]["version"] = ">=1.2 <";
  EXPECT_THAT(parse(j), HasCodeAndMessage(errc::manifest_bad_range,
                                          StartsWith("libm.so: manifest field "
                                                     "\"dependencies[1].version\": \">=1.2 <\" "
                                                     "is not a version range: ")));
  j["dependencies"][1]["version"] = "";
  EXPECT_THAT(parse(j), HasCode(errc::manifest_bad_range));
}

TEST(ManifestTest, RefusesAManifestThatIsNotAnObject) {
  EXPECT_THAT(parse_manifest("[1, 2]", "libm.so"),
              HasCodeAndMessage(errc::manifest_schema,
                                HasSubstr("the manifest is an array, expected an object")));
  EXPECT_THAT(parse_manifest("\"calculator\"", "libm.so"),
              HasCodeAndMessage(errc::manifest_schema,
                                HasSubstr("the manifest is \"calculator\", expected an object")));
}

TEST(ManifestTest, RefusesADuplicatedKeyNamingItsPath) {
  EXPECT_THAT(
      parse_manifest(R"({"schema":1,"name":"a","version":"1.0.0","abi":1,"abi":2})", "libm.so"),
      HasCodeAndMessage(errc::manifest_schema, HasSubstr("manifest field \"abi\" appears twice")));
  EXPECT_THAT(parse_manifest(R"({"schema":1,"name":"a","version":"1.0.0","abi":1,
                                 "dependencies":[{"name":"b"},{"name":"c","kind":"weak",
                                 "kind":"upward"}]})",
                             "libm.so"),
              HasCodeAndMessage(errc::manifest_schema,
                                HasSubstr("\"dependencies[1].kind\" appears twice")));
  // The same key in different objects is fine.
  EXPECT_THAT(parse_manifest(R"({"schema":1,"name":"a","version":"1.0.0","abi":1,
                                 "dependencies":[{"name":"b"},{"name":"c"}]})",
                             "libm.so"),
              IsOk());
}

struct bad_json_case {
  const char* text;
  std::size_t byte;
};

class ManifestBadJsonTest : public ::testing::TestWithParam<bad_json_case> {};

TEST_P(ManifestBadJsonTest, GivesTheByteOffset) {
  auto m = parse_manifest(GetParam().text, "libm.so");
  ASSERT_THAT(m, HasCode(errc::manifest_bad_json));
  EXPECT_THAT(m.error().message(), StartsWith("libm.so: manifest is not valid json at byte " +
                                              std::to_string(GetParam().byte) + " (line "));
  EXPECT_THAT(m.error().message(), ::testing::Not(HasSubstr("json.exception")));
  EXPECT_EQ(m.error().remedy(), "fix the module's manifest json");
}

// The offset is 0-based and points at the character the parser stopped at.
INSTANTIATE_TEST_SUITE_P(Json, ManifestBadJsonTest,
                         ::testing::Values(bad_json_case{"{\"schema\": 1,}", 13},
                                           bad_json_case{"{\"schema\" 1}", 10},
                                           bad_json_case{"{\n  \"name\": tru\n}", 15},
                                           bad_json_case{"{} {}", 3}, bad_json_case{"", 0},
                                           bad_json_case{"{\"a\": \"\x01\"}", 7}));

TEST(ManifestTest, BadJsonMessageNamesLineAndColumn) {
  auto m = parse_manifest("{\n  \"name\": tru\n}", "libm.so");
  ASSERT_THAT(m, HasCode(errc::manifest_bad_json));
  EXPECT_EQ(m.error().message(),
            "libm.so: manifest is not valid json at byte 15 (line 2, column 14): syntax error "
            "while parsing value - invalid literal; last read: '\"name\": tru<U+000A>'; fix the "
            "module's manifest json");
}

TEST(ManifestTest, SupportedAbiIsTheHeaders) {
  EXPECT_EQ(supported_abi_version(), static_cast<std::uint32_t>(LIVEMOD_ABI_VERSION));
}

TEST(ManifestTest, NamesAndPermissions) {
  EXPECT_TRUE(valid_module_name("calc"));
  EXPECT_TRUE(valid_module_name("_x.y-z9"));
  EXPECT_TRUE(valid_module_name(std::string(64, 'a')));
  EXPECT_FALSE(valid_module_name(std::string(65, 'a')));
  EXPECT_FALSE(valid_module_name(""));
  EXPECT_FALSE(valid_module_name("../x"));
  EXPECT_FALSE(valid_module_name("a b"));
  EXPECT_EQ(known_permissions().size(), 5u);
  EXPECT_EQ(to_string(dependency_kind::upward), "upward");
}

}  // namespace
}  // namespace livemod
