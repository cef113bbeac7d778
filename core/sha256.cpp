#include "core/sha256.hpp"

#include <openssl/evp.h>

#include <cstdio>
#include <memory>

namespace troupe {

namespace {

struct md_ctx_free {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using md_ctx = std::unique_ptr<EVP_MD_CTX, md_ctx_free>;

std::string hex(const unsigned char* p, unsigned n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (unsigned i = 0; i < n; ++i) {
    out.push_back(digits[p[i] >> 4]);
    out.push_back(digits[p[i] & 15]);
  }
  return out;
}

std::string finish(EVP_MD_CTX* c) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  EVP_DigestFinal_ex(c, md, &n);
  return hex(md, n);
}

} // namespace

std::optional<std::string> sha256_file(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f{std::fopen(path.c_str(), "rb"),
                                          &std::fclose};
  if (!f)
    return std::nullopt;
  md_ctx c{EVP_MD_CTX_new()};
  EVP_DigestInit_ex(c.get(), EVP_sha256(), nullptr);
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0)
    EVP_DigestUpdate(c.get(), buf, n);
  if (std::ferror(f.get()))
    return std::nullopt;
  return finish(c.get());
}

std::string sha256_hex(std::string_view data) {
  md_ctx c{EVP_MD_CTX_new()};
  EVP_DigestInit_ex(c.get(), EVP_sha256(), nullptr);
  EVP_DigestUpdate(c.get(), data.data(), data.size());
  return finish(c.get());
}

} // namespace troupe
