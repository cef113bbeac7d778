#include "bridge/gateway/module.hpp"

namespace troupe {

namespace {

class loaded_gateway final : public gateway_api {
public:
  loaded_gateway(const gateway_settings& s, const gateway_hooks& h) : gw_(s, h) {}
  bool start(std::string& error) override { return gw_.start(error); }
  std::string url() const override { return gw_.url(); }
  void stop() override { gw_.stop(); }
  void abort_task(const std::string& worker, const std::string& task_id) override {
    gw_.abort_task(worker, task_id);
  }

private:
  gateway gw_;
};

} // namespace

} // namespace troupe

extern "C" __attribute__((visibility("default"))) troupe::gateway_api*
troupe_gateway_make(const troupe::gateway_settings& s, const troupe::gateway_hooks& h) {
  return new troupe::loaded_gateway(s, h);
}
