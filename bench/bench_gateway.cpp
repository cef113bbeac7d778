// The latency the gateway adds to one API request: streamed Messages
// requests to the mock API, alternately direct and through an in-process
// gateway (its limiter hooks grant at once, so the figure is the gateway's
// own: parsing, holding, forwarding, settling). The client keeps its
// connection alive, as the CLI does.
//
//   bench_gateway <mock URL> [requests]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <curl/curl.h>

#include "bridge/gateway/gateway.hpp"

using namespace troupe;
using clock_type = std::chrono::steady_clock;

namespace {

struct client {
  CURL* c = curl_easy_init();
  curl_slist* hs = nullptr;
  std::string body;
  client() {
    hs = curl_slist_append(hs, "content-type: application/json");
    hs = curl_slist_append(hs, "x-api-key: sk-bench");
    hs = curl_slist_append(hs, "anthropic-version: 2023-06-01");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION,
                     +[](char* d, size_t a, size_t b, void* p) -> size_t {
                       static_cast<std::string*>(p)->append(d, a * b);
                       return a * b;
                     });
  }
  ~client() {
    curl_slist_free_all(hs);
    curl_easy_cleanup(c);
  }
  /// One request, until its last byte; microseconds (-1: failed).
  double post(const std::string& url, const std::string& request) {
    body.clear();
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.c_str());
    auto t0 = clock_type::now();
    auto rc = curl_easy_perform(c);
    auto us = std::chrono::duration<double, std::micro>(clock_type::now() - t0).count();
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    return rc == CURLE_OK && status == 200 && body.find("message_stop") != std::string::npos
             ? us
             : -1;
  }
};

double pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_gateway <mock URL> [requests]\n");
    return 2;
  }
  std::string mock = argv[1];
  int n = argc > 2 ? std::atoi(argv[2]) : 500;
  gateway_settings s;
  s.upstream = mock;
  gateway_hooks h;
  h.acquire = [](permit_ask a) -> std::optional<permit_ask> { return a; };
  h.settle = [](const permit_ask&, double, const usage&) {};
  gateway gw{s, h};
  std::string err;
  if (!gw.start(err)) {
    std::fprintf(stderr, "error: %s\n", err.c_str());
    return 1;
  }
  // A CLI-sized prompt: 12 tool schemas' worth of text, a cached system
  // prompt, one user turn.
  std::string request =
    R"({"model":"claude-sonnet-4-5","max_tokens":4096,"stream":true,"system":[{"type":"text","text":")"
    + std::string(48000, 's')
    + R"(","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"Say hello."}]})";
  client direct, through;
  std::vector<double> d, g;
  for (int i = 0; i < n + 20; ++i) {
    auto a = direct.post(mock + "/v1/messages", request);
    auto b = through.post(gw.url() + "/v1/messages", request);
    if (a < 0 || b < 0) {
      std::fprintf(stderr, "error: request %d failed (%s)\n", i, a < 0 ? "direct" : "gateway");
      return 1;
    }
    if (i >= 20) { // the first ones warm connections and caches
      d.push_back(a);
      g.push_back(b);
    }
  }
  std::printf("gateway latency, %d streamed requests of %zu KB each, alternating:\n", n,
              request.size() / 1024);
  std::printf("  direct to the mock (floor):  p50 %7.0f us   p99 %7.0f us\n", pct(d, 0.5),
              pct(d, 0.99));
  std::printf("  through the gateway:         p50 %7.0f us   p99 %7.0f us\n", pct(g, 0.5),
              pct(g, 0.99));
  std::printf("  added by the gateway:        p50 %7.0f us   p99 %7.0f us\n",
              pct(g, 0.5) - pct(d, 0.5), pct(g, 0.99) - pct(d, 0.99));
  gw.stop();
  return 0;
}
