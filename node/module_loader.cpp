#include "node/module_loader.hpp"

#include <filesystem>
#include <map>
#include <mutex>
#include <utility>

#include <dlfcn.h>

namespace troupe::node {

void* load_module_entry(const char* file_name, const char* entry, std::string& why) {
  static std::mutex mx;
  static std::map<std::string, std::pair<void*, std::string>> tried; // by entry
  std::lock_guard<std::mutex> g{mx};
  auto [i, fresh] = tried.try_emplace(entry);
  auto& [fn, error] = i->second;
  if (fresh) {
    std::error_code ec;
    auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    auto dir = ec ? std::filesystem::path{"."} : exe.parent_path();
    for (auto& p : {dir / file_name, dir / "../lib/troupe" / file_name}) {
      if (!std::filesystem::exists(p, ec))
        continue;
      if (void* h = ::dlopen(p.c_str(), RTLD_NOW | RTLD_LOCAL)) {
        fn = ::dlsym(h, entry);
        if (!fn)
          error = p.string() + " has no " + entry;
      } else {
        error = ::dlerror();
      }
      break;
    }
    if (!fn && error.empty())
      error = std::string{file_name} + " is not beside " + exe.string() + " nor in ../lib/troupe/";
  }
  if (!fn)
    why = error;
  return fn;
}

} // namespace troupe::node
