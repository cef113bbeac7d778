#include "bridge/gateway/upstream.hpp"

#include <mutex>

#include <curl/curl.h>

namespace troupe {

namespace {

/// One connection cache (and DNS and TLS sessions) for every call: a
/// request reuses a kept-alive connection to the API instead of a new TLS
/// handshake each time.
class shared_connections {
public:
  shared_connections() {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    share_ = curl_share_init();
    curl_share_setopt(share_, CURLSHOPT_LOCKFUNC, &lock);
    curl_share_setopt(share_, CURLSHOPT_UNLOCKFUNC, &unlock);
    curl_share_setopt(share_, CURLSHOPT_USERDATA, this);
    curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  }
  CURLSH* get() const { return share_; }

private:
  static void lock(CURL*, curl_lock_data d, curl_lock_access, void* self) {
    static_cast<shared_connections*>(self)->mx_[slot(d)].lock();
  }
  static void unlock(CURL*, curl_lock_data d, void* self) {
    static_cast<shared_connections*>(self)->mx_[slot(d)].unlock();
  }
  static size_t slot(curl_lock_data d) {
    return static_cast<size_t>(d) % lock_slots;
  }
  static constexpr size_t lock_slots = 8;
  CURLSH* share_;
  std::mutex mx_[lock_slots];
};

CURLSH* shared() {
  // Never destroyed: calls may still end while the process exits.
  static auto* s = new shared_connections;
  return s->get();
}

} // namespace

struct upstream_call::impl {
  CURL* easy = nullptr;
  CURLM* multi = nullptr;
  curl_slist* headers_out = nullptr;
  std::string body; // curl reads the request body from here
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  bool headers_done = false;
  bool finished = false;
  std::string pending; // body bytes not yet handed on
  std::string error;
  const std::atomic<bool>* cancel = nullptr;
  const std::atomic<bool>* abort = nullptr;
  char errbuf[CURL_ERROR_SIZE] = {0};

  static size_t on_header(char* data, size_t size, size_t n, void* self) {
    auto* p = static_cast<impl*>(self);
    std::string_view line{data, size * n};
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r'))
      line.remove_suffix(1);
    if (line.rfind("HTTP/", 0) == 0) {
      // A new response (after a 1xx): its headers replace the last ones.
      p->headers.clear();
      auto sp = line.find(' ');
      p->status = sp == std::string_view::npos
                    ? 0
                    : std::atoi(std::string{line.substr(sp + 1, 3)}.c_str());
    } else if (line.empty()) {
      if (p->status >= 200)
        p->headers_done = true;
    } else if (auto colon = line.find(':'); colon != std::string_view::npos) {
      auto value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
      p->headers.emplace_back(std::string{line.substr(0, colon)}, std::string{value});
    }
    return size * n;
  }

  static size_t on_body(char* data, size_t size, size_t n, void* self) {
    static_cast<impl*>(self)->pending.append(data, size * n);
    return size * n;
  }

  /// One round of the transfer: perform, then wait (at most a second) for
  /// the socket if nothing is ready.
  void pump() {
    int running = 0;
    curl_multi_perform(multi, &running);
    int left = 0;
    while (auto* m = curl_multi_info_read(multi, &left)) {
      if (m->msg != CURLMSG_DONE)
        continue;
      finished = true;
      if (m->data.result != CURLE_OK)
        error = std::string{curl_easy_strerror(m->data.result)}
                + (errbuf[0] ? std::string{": "} + errbuf : std::string{});
    }
    if (!finished && pending.empty())
      curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
    if (!finished && cancel && *cancel) {
      finished = true;
      error = "the gateway is stopping";
    }
    if (!finished && abort && *abort) {
      finished = true;
      error = "its task was cancelled";
    }
  }
};

upstream_call::upstream_call(const upstream_request& req) : p_(new impl) {
  auto* share = shared();
  p_->body = req.body;
  p_->cancel = req.cancel;
  p_->abort = req.abort;
  p_->easy = curl_easy_init();
  p_->multi = curl_multi_init();
  auto* e = p_->easy;
  curl_easy_setopt(e, CURLOPT_SHARE, share);
  curl_easy_setopt(e, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, p_->errbuf);
  if (req.method == "GET") {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, p_->body.data());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(p_->body.size()));
  }
  for (auto& [k, v] : req.headers)
    p_->headers_out = curl_slist_append(p_->headers_out, (k + ": " + v).c_str());
  // No "Expect: 100-continue" round trip before a large prompt.
  p_->headers_out = curl_slist_append(p_->headers_out, "Expect:");
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, p_->headers_out);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &impl::on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, p_.get());
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &impl::on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, p_.get());
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT,
                   static_cast<long>(req.connect_timeout.count()));
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME,
                   static_cast<long>(req.idle_timeout.count()));
  if (!req.ca_file.empty())
    curl_easy_setopt(e, CURLOPT_CAINFO, req.ca_file.c_str());
  curl_multi_add_handle(p_->multi, e);
}

upstream_call::~upstream_call() {
  curl_multi_remove_handle(p_->multi, p_->easy);
  curl_easy_cleanup(p_->easy);
  curl_multi_cleanup(p_->multi);
  curl_slist_free_all(p_->headers_out);
}

bool upstream_call::await_headers() {
  while (!p_->headers_done && !p_->finished)
    p_->pump();
  if (!p_->headers_done && p_->error.empty())
    p_->error = "the upstream closed the connection before answering";
  return p_->headers_done;
}

int upstream_call::status() const { return p_->status; }

const std::vector<std::pair<std::string, std::string>>&
upstream_call::headers() const {
  return p_->headers;
}

bool upstream_call::next(std::string& out) {
  while (p_->pending.empty() && !p_->finished)
    p_->pump();
  out.append(p_->pending);
  p_->pending.clear();
  return !p_->finished;
}

const std::string& upstream_call::error() const { return p_->error; }

} // namespace troupe
