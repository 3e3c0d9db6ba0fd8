#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

#include "livemod/image.h"
#include "livemod/library.h"
#include "livemod/manifest.h"
#include "livemod/resolve.h"

namespace livemod {
namespace {

result<module_node> node_from_image(const std::filesystem::path& file,
                                    result<std::shared_ptr<const image_info>> shared) {
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

// Shared: the preflight reads the same file next (read_image_shared keeps it per version).
result<module_node> node_from_file(const std::filesystem::path& file) {
  return node_from_image(file, read_image_shared(file));
}

// The nodes of file versions read before, by path: a node is a function of the file's bytes,
// as the image it comes from is, so it is kept the way read_image_shared keeps images (one
// entry per path, replaced when the file changes). Resolving a graph again then costs a stat
// and a copy per module, where reading the manifest from the image costs a parse.
struct node_cache {
  struct entry {
    file_identity version;
    module_node node;
  };
  std::mutex mutex;
  std::unordered_map<std::string, entry> by_path;
};

node_cache& nodes() {
  static node_cache* cache = new node_cache;  // never destroyed: safe in exit-time callers
  return *cache;
}

constexpr std::size_t k_max_nodes = 4096;  // as many as read_image_shared keeps images

}  // namespace

result<module_node> module_node_of(const std::filesystem::path& file, const file_identity& version) {
  node_cache& cache = nodes();
  {
    std::lock_guard lock(cache.mutex);
    if (auto it = cache.by_path.find(file.native());
        it != cache.by_path.end() && it->second.version == version)
      return it->second.node;
  }
  auto node = node_from_image(file, read_image_shared(file, version));
  if (node) {
    std::lock_guard lock(cache.mutex);
    if (cache.by_path.size() >= k_max_nodes) cache.by_path.clear();
    cache.by_path.insert_or_assign(file.native(), node_cache::entry{version, *node});
  }
  return node;
}

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
