// The OTLP/HTTP exporter as a module (libtroupe-otlp.so), loaded only when
// OTEL_EXPORTER_OTLP_ENDPOINT is set: libcurl weighs megabytes of resident
// memory that a node exporting nothing should not carry. A C entry point.

#include <cstdio>
#include <string>

#include <curl/curl.h>

namespace {

size_t discard(char*, size_t size, size_t n, void*) { return size * n; }

} // namespace

/// POSTs `body` (JSON) to `url` with the extra `headers` ("k=v,k2=v2", as
/// OTEL_EXPORTER_OTLP_HEADERS), within 10 s; 0 on a 2xx, else -1 with
/// what went wrong in `error`.
extern "C" __attribute__((visibility("default"))) int
troupe_otlp_post(const char* url, const char* headers, const char* body, char* error,
                 size_t error_size) {
  auto* c = curl_easy_init();
  if (!c) {
    std::snprintf(error, error_size, "libcurl cannot start");
    return -1;
  }
  curl_slist* hs = curl_slist_append(nullptr, "Content-Type: application/json");
  std::string h = headers ? headers : "";
  for (size_t at = 0; at < h.size();) {
    auto comma = h.find(',', at);
    auto item = h.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    if (auto eq = item.find('='); eq != std::string::npos)
      hs = curl_slist_append(hs, (item.substr(0, eq) + ": " + item.substr(eq + 1)).c_str());
    if (comma == std::string::npos)
      break;
    at = comma + 1;
  }
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
  auto rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(hs);
  curl_easy_cleanup(c);
  if (rc != CURLE_OK) {
    std::snprintf(error, error_size, "%s", curl_easy_strerror(rc));
    return -1;
  }
  if (status < 200 || status >= 300) {
    std::snprintf(error, error_size, "the collector answered HTTP %ld", status);
    return -1;
  }
  return 0;
}
