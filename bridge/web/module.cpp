#include "bridge/web/module.hpp"

namespace troupe {

namespace {

class loaded_web final : public web_api {
public:
  loaded_web(const web_settings& s, const web_hooks& h) : srv_(s, h) {}
  bool start(std::string& error) override { return srv_.start(error); }
  std::string url() const override { return srv_.url(); }
  void publish(std::string event_json, const std::string& kind,
               const std::string& worker) override {
    srv_.publish(std::move(event_json), kind, worker);
  }
  void observe(const task_observation& t) override { srv_.observe(t); }
  bool watched() const override { return srv_.watched(); }
  void stop() override { srv_.stop(); }

private:
  web_server srv_;
};

} // namespace

} // namespace troupe

extern "C" __attribute__((visibility("default"))) troupe::web_api*
troupe_web_make(const troupe::web_settings& s, const troupe::web_hooks& h) {
  return new troupe::loaded_web(s, h);
}
