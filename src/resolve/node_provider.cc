#include <memory>
#include <string>
#include <unordered_map>
#include <utility>

#include "livemod/image.h"
#include "livemod/library.h"
#include "livemod/manifest.h"
#include "livemod/resolve.h"

namespace livemod {
namespace {

result<module_node> node_from_file(const std::filesystem::path& file) {
  // Shared: the preflight reads the same file next (read_image_shared keeps it per version).
  auto shared = read_image_shared(file);
  if (!shared) return fail(shared.error());
  const image_info* image = shared->get();
  if (!image->manifest_json)
    return fail(errc::manifest_missing, file.string(), "has no .livemod.manifest section",
                "build it with livemod_add_module, or load it as a plain library");
  auto parsed = parse_manifest(*image->manifest_json, file.string());
  if (!parsed) return fail(parsed.error());
  return module_node{std::move(parsed->name), std::move(parsed->version), file,
                     std::move(parsed->dependencies)};
}

}  // namespace

node_provider manifest_provider(module_search_path search) {
  return [search = std::move(search)](const module_ref& ref) -> result<module_node> {
    if (ref.is_path()) return node_from_file(ref.path());
    auto file = find_module(ref.name(), search);
    if (!file) return fail(file.error());
    auto node = node_from_file(*file);
    if (node && node->name != ref.name())
      return fail(
          errc::bad_module_name, file->string(),
          "was found for the module '" + ref.name() + "' but its manifest names it '" + node->name +
              "'",
          "rename the file to " + platform_file_name(node->name) + ", or fix the manifest's name");
    return node;
  };
}

node_provider memory_provider(std::vector<module_node> nodes) {
  // Shared so the provider stays cheap to copy, as std::function copies it.
  struct store {
    std::vector<module_node> nodes;
    std::unordered_map<std::string, std::size_t> by_name;
  };
  auto s = std::make_shared<store>();
  s->nodes = std::move(nodes);
  s->by_name.reserve(s->nodes.size());
  for (std::size_t i = 0; i < s->nodes.size(); ++i) s->by_name.emplace(s->nodes[i].name, i);
  return [s = std::shared_ptr<const store>(std::move(s))](
             const module_ref& ref) -> result<module_node> {
    if (ref.is_path()) {
      for (const module_node& node : s->nodes)
        if (node.file == ref.path()) return node;
    } else if (auto it = s->by_name.find(ref.name()); it != s->by_name.end()) {
      return s->nodes[it->second];
    }
    return fail(errc::module_not_found, ref.display(),
                "not found among the " + std::to_string(s->nodes.size()) + " modules given",
                "add it to the modules given");
  };
}

}  // namespace livemod
