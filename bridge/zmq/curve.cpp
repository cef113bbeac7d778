#include "bridge/zmq/curve.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <sys/stat.h>

#include "bridge/zmq/frames.hpp"
#include "core/atomic_file.hpp"

namespace troupe::zmqx {

namespace fs = std::filesystem;

namespace {

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.pop_back();
  size_t b = 0;
  while (b < s.size() && std::isspace(static_cast<unsigned char>(s[b])))
    ++b;
  return s.substr(b);
}

} // namespace

std::string keygen(const std::string& prefix) {
  char pub[41], sec[41];
  if (zmq_curve_keypair(pub, sec) != 0)
    return std::string{"cannot make a key pair: "} + zmq_strerror(zmq_errno())
           + " (is libzmq built with CURVE?)";
  auto dir = fs::path{prefix}.parent_path();
  std::error_code ec;
  if (!dir.empty())
    fs::create_directories(dir, ec);
  auto secret_path = prefix + ".secret";
  // Created 0600 from the start: the secret never sits readable.
  auto tmp = secret_path + ".tmp";
  {
    auto old = ::umask(077);
    std::ofstream out{tmp, std::ios::trunc};
    ::umask(old);
    if (!out)
      return "cannot write " + tmp + ": " + std::strerror(errno);
    out << sec << "\n";
  }
  ::chmod(tmp.c_str(), 0600);
  fs::rename(tmp, secret_path, ec);
  if (ec)
    return "cannot write " + secret_path + ": " + ec.message();
  if (auto err = write_file_atomic(prefix + ".pub", std::string{pub} + "\n");
      !err.empty())
    return err;
  return {};
}

std::optional<std::string> read_key(const std::string& path, bool secret,
                                    std::string& error) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) {
    error = path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  if (secret && (st.st_mode & 077) != 0) {
    error = path + ": a secret key must not be readable by group or others "
                   "(chmod 600 " + path + ")";
    return std::nullopt;
  }
  std::ifstream in{path};
  std::stringstream ss;
  ss << in.rdbuf();
  auto key = trim(ss.str());
  uint8_t raw[32];
  if (key.size() != 40 || !zmq_z85_decode(raw, key.c_str())) {
    error = path + ": not a Z85 CURVE key (40 characters)";
    return std::nullopt;
  }
  return key;
}

std::optional<std::set<std::string>> read_allow_list(const std::string& dir,
                                                     std::string& error) {
  std::set<std::string> keys;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    error = dir + ": not a folder of *.pub files";
    return std::nullopt;
  }
  for (auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() != ".pub")
      continue;
    auto k = read_key(e.path().string(), false, error);
    if (!k)
      return std::nullopt;
    keys.insert(*k);
  }
  return keys;
}

std::string public_of(const std::string& secret_z85) {
  char pub[41];
  if (zmq_curve_public(pub, secret_z85.c_str()) != 0)
    return {};
  return pub;
}

void make_server(zmq::socket_t& s, const curve_server& c) {
  s.set(zmq::sockopt::curve_server, 1);
  s.set(zmq::sockopt::curve_secretkey, c.secret);
  // Every connection goes through ZAP, which checks the allow-list.
  s.set(zmq::sockopt::zap_domain, "troupe");
}

void make_client(zmq::socket_t& s, const curve_client& c) {
  s.set(zmq::sockopt::curve_serverkey, c.server_key);
  s.set(zmq::sockopt::curve_publickey, c.public_key);
  s.set(zmq::sockopt::curve_secretkey, c.secret);
}

zap_handler::zap_handler(zmq::context_t& ctx, std::set<std::string> allowed)
  : sock_(ctx, zmq::socket_type::rep), allowed_(std::move(allowed)) {
  sock_.bind("inproc://zeromq.zap.01");
  thread_ = std::thread([this] { loop(); });
}

zap_handler::~zap_handler() {
  if (thread_.joinable())
    thread_.join();
}

void zap_handler::loop() {
  for (;;) {
    std::vector<zmq::message_t> req;
    try {
      zmq::message_t m;
      do {
        if (!sock_.recv(m))
          continue;
        req.emplace_back(std::move(m));
        m = zmq::message_t{};
      } while (req.back().more());
    } catch (const zmq::error_t&) {
      break; // the context is shutting down
    }
    // version, request id, domain, address, identity, mechanism, creds...
    if (req.size() < 6)
      continue;
    auto version = req[0].to_string();
    auto request_id = req[1].to_string();
    auto mechanism = req[5].to_string();
    std::string code = "400", text = "key not allowed";
    if (mechanism == "CURVE" && req.size() >= 7 && req[6].size() == 32) {
      char z85[41];
      zmq_z85_encode(z85, static_cast<const uint8_t*>(req[6].data()), 32);
      if (allowed_.count(z85)) {
        code = "200";
        text = "OK";
      }
    } else if (mechanism != "CURVE") {
      text = "CURVE required";
    }
    try {
      send_frames(sock_, {version, request_id, code, text, "", ""});
    } catch (const zmq::error_t&) {
      break;
    }
  }
  sock_.close();
}

} // namespace troupe::zmqx
